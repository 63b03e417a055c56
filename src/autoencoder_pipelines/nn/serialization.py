"""Models on disk as tensors plus JSON, never a pickle: one file holding
{"format": 1, "json": "<how to build it>", "state_dicts": {name: {key: tensor}}, "tensors":
{name: {key: tensor}}} (a detector's fitted tensors besides its network's weights; absent from
files written before the detector had any), and optionally "named_tensors": {key: tensor} (a bundle's
own arrays: the scorer's reference profile), written atomically
and read with `torch.load(weights_only=True)`, which refuses anything but tensors and plain
containers. The JSON names the kind (through the registry), the architecture and, for a
classifier or a detector, what sits on top of the network."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autoencoder_pipelines.nn.atomic import atomic_file
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.kinds.base import Architecture
from autoencoder_pipelines.nn.networks import DenseAutoencoder, EncoderClassifier

FORMAT = 1
Saveable = nn.Module | AutoencoderDetector


class ModelFileError(ValueError):
    """A model file that cannot be used: unreadable, not ours, or of another kind than expected."""


def describe(obj: Saveable) -> dict[str, Any]:
    """How to build `obj` again (weights aside)."""
    if isinstance(obj, AutoencoderDetector):
        return {"type": "detector", "network": describe(obj.network_), **obj.to_json()}
    if isinstance(obj, DenseAutoencoder):
        return {"type": "dense", "config": obj.config}
    if isinstance(obj, EncoderClassifier):
        return {"type": "classifier", "architecture": _architecture(obj).to_json(),
                "n_classes": obj.n_classes, "dropout": obj.head[0].p}
    return {"type": "autoencoder", "architecture": _architecture(obj).to_json()}


def build(description: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> Saveable:
    """A freshly initialised object of that description (a detector with its fitted `tensors`)."""
    kind_of = description["type"]
    if kind_of == "detector":
        return AutoencoderDetector.from_json(description, build(description["network"]), tensors)
    if kind_of == "dense":
        return DenseAutoencoder(**description["config"])
    arch = Architecture.from_json(description["architecture"])
    autoencoder = get_kind(arch.kind).build(arch)
    if kind_of == "classifier":
        return EncoderClassifier.on(autoencoder, description["n_classes"], description["dropout"])
    return autoencoder


def save_bundle(
    path: str | Path, parts: dict[str, Saveable], meta: dict[str, Any] | None = None,
    tensors: dict[str, torch.Tensor] | None = None,
) -> None:
    """Several models (and JSON `meta`, and plain named `tensors`) in one file, written atomically.
    A reader that knows nothing of `tensors` (an older version) still loads the models."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "json": json.dumps({"meta": meta or {}, "parts": {name: describe(obj) for name, obj in parts.items()}}),
        "state_dicts": {name: _module(obj).state_dict() for name, obj in parts.items()},
        "tensors": {name: obj.tensors() for name, obj in parts.items() if isinstance(obj, AutoencoderDetector)},
    }
    if tensors:
        payload["named_tensors"] = dict(tensors)  # beside "tensors": the detectors' fitted tensors, by part
    with atomic_file(path) as handle:
        torch.save(payload, handle)


def load_bundle(path: str | Path) -> tuple[dict[str, Any], dict[str, Saveable]]:
    """(meta, models by name) of a file written by `save_bundle`."""
    meta, parts, _ = read_bundle(path)
    return meta, parts


def read_bundle(path: str | Path) -> tuple[dict[str, Any], dict[str, Saveable], dict[str, torch.Tensor]]:
    """(meta, models by name, plain tensors by name: empty in a file written without them)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or "json" not in payload:
            raise TypeError(f"holds a {type(payload).__name__}, not a model bundle")
        description = json.loads(payload["json"])
        parts = {}
        for name, part in description["parts"].items():
            parts[name] = build(part, payload.get("tensors", {}).get(name))
            _module(parts[name]).load_state_dict(payload["state_dicts"][name])
            _module(parts[name]).eval()
        tensors = payload.get("named_tensors") or {}
        if not all(isinstance(value, torch.Tensor) for value in tensors.values()):
            raise TypeError("its 'named_tensors' hold something other than tensors")
    except pickle.UnpicklingError as error:
        # torch's message is several paragraphs and suggests weights_only=False: keep its reason only
        raise ModelFileError(
            f"{path}: refused: it holds Python objects, not only tensors, and is never unpickled "
            f"({_unpickling_reason(error)})"
        ) from None
    except Exception as error:  # noqa: BLE001 - whatever a foreign or torn file raises, it is named
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ModelFileError(f"{path}: not a model file of this project, or damaged ({type(error).__name__}: {reason})") from None
    return description["meta"], parts, tensors


def _unpickling_reason(error: Exception) -> str:
    """The line of torch's weights-only refusal that says what was found."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or line.startswith("Unsupported"):
            return line
    return lines[0] if lines else type(error).__name__


def save(obj: Saveable, path: str | Path) -> None:
    save_bundle(path, {"model": obj})


def load(path: str | Path, expected: type | None = None) -> Saveable:
    obj = load_bundle(path)[1].get("model")
    if obj is None:
        raise ModelFileError(f"{path}: a bundle of several models, not one model (load it with load_bundle)")
    if expected is not None and not isinstance(obj, expected):
        raise ModelFileError(f"{path}: holds a {type(obj).__name__}, expected a {expected.__name__}")
    return obj


def _module(obj: Saveable) -> nn.Module:
    return obj.network_ if isinstance(obj, AutoencoderDetector) else obj


def _architecture(module: nn.Module) -> Architecture:
    arch = getattr(module, "architecture", None)
    if arch is None:
        raise ValueError(f"{type(module).__name__} was not built by a kind (no architecture): it cannot be saved")
    return arch
