"""Glue between frames, parameters and the nn trainers, for jobs several pipelines run."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from autoencoder_pipelines.config import ModelParams, PhaseParams
from autoencoder_pipelines.errors import ConfigError
from autoencoder_pipelines.data import features_tensor
from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.finetuning import train_denoiser
from autoencoder_pipelines.nn.models import StackedAutoencoder
from autoencoder_pipelines.nn.variants import ConvAutoencoder, VariationalAutoencoder
from autoencoder_pipelines.runtime import setup_runtime

History = dict[str, list[float]]
Autoencoder = StackedAutoencoder | VariationalAutoencoder | ConvAutoencoder


def build_autoencoder(model: ModelParams, schema: dict[str, Any]) -> Autoencoder:
    """A freshly initialised network of `model.kind` for the data's features."""
    n_features = len(schema["features"])
    code_size = model.hidden_sizes[-1]
    if code_size >= n_features:
        raise ConfigError(
            f"model.hidden_sizes: the code size {code_size} must be smaller than "
            f"the {n_features} input features (got {model.hidden_sizes})"
        )
    if model.kind == "vae":
        return VariationalAutoencoder(n_features, model.hidden_sizes[:-1], code_size, activation=model.activation)
    if model.kind == "conv":
        shape = schema.get("image_shape")
        if not shape or len(shape) != 2:
            raise ConfigError(
                f"model.kind 'conv' needs images: set data.image_shape to [height, width] (got {shape})"
            )
        return ConvAutoencoder((shape[0], shape[1]), code_size, channels=tuple(model.conv.channels))
    return StackedAutoencoder.build(n_features, model.hidden_sizes, model.activation, model.code_activation)


def fine_tune_unrolled(
    stack: Autoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    corruption: CorruptionSpec,
    phase: PhaseParams,
    loss: str,
    runtime: dict[str, Any],
    name: str,
    seed_offset: int,
    noisy_val: pd.DataFrame | None = None,
) -> tuple[Autoencoder, History]:
    """Fine-tune a copy of the unrolled stack (or an end-to-end kind) end to end, `corruption`(x) -> x.

    Validation uses `noisy_val` when given (the fixed noisy set), else corrupts `val`
    once with a seeded generator. Returns the CPU model and its per-epoch history.
    """
    rt = setup_runtime(runtime, seed_offset=seed_offset)
    x_val = features_tensor(val, schema, rt.device)
    if noisy_val is not None:
        x_val_noisy = features_tensor(noisy_val, schema, rt.device)
    else:
        x_val_noisy = corrupt(x_val, corruption, torch.Generator(device=rt.device).manual_seed(rt.seed + seed_offset))
    trained, history = train_denoiser(
        stack.to(rt.device),
        rt.place(features_tensor(train, schema))[0],
        x_val,
        x_val_noisy,
        corruption,
        rt.train_settings(phase, name=name, seed_offset=seed_offset),
        loss=loss,
        name=name,
    )
    stack.cpu()
    return trained.cpu(), {f"{name}.{key}": values for key, values in history.series().items()}
