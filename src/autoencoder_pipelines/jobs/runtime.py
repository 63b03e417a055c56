"""The `runtime` parameters resolved once per run (device, precision, threads, this run's
checkpoint folder, its start), and the Trainer each phase gets from them (its seed, early
stopping, schedule, progress, checkpoint)."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from autoencoder_pipelines.config import PhaseParams, RuntimeParams
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.data.frames import features_tensor
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.nn.seeding import derive_seed

if TYPE_CHECKING:  # torch is imported where it is used: commands that train nothing skip it
    import torch

    from autoencoder_pipelines.nn.trainer import Callback, Trainer

logger = logging.getLogger(__name__)

# Node signatures name torch objects with these, so Kedro can read the signatures without torch.
Network = Any  # an autoencoder of a registered kind (nn/kinds), or a classifier on one
History = dict[str, list[float]]  # per-epoch series, keyed "<phase>.<metric>"


class Runtime:
    """The runtime of one run. The device and precision are resolved (and torch imported, CPU
    threads set) on first use, so a run reaches its first node without torch; a device named
    explicitly (cuda, cuda:N, mps) is resolved at once by `resolve_runtime`, so an absent one
    fails before any work. `checkpoints`: this run's own checkpoint folder (checkpoint_folder);
    None: runtime.checkpoint_dir itself. `started_at`: when the run started (time.time())."""

    def __init__(
        self, params: RuntimeParams, device: "torch.device | None" = None, checkpoints: Path | None = None
    ) -> None:
        self.params = params
        self.checkpoints = checkpoints
        self.started_at = time.time()
        self.callbacks: tuple["Callback", ...] = ()  # added to every phase's own (a search trial's pruner)
        self.progress = True  # a bar or log lines per phase
        if device is not None:
            self.__dict__["device"] = device

    def for_trial(self, *callbacks: "Callback") -> "Runtime":
        """This runtime for one trial of a search (tuning.py): the same device, no checkpoints (a
        study resumes trial by trial), no per-phase progress, and `callbacks` in every phase."""
        trial = Runtime(self.params.model_copy(update={"checkpoint_every": 0, "log_every": 0}), self.device)
        trial.callbacks, trial.progress = tuple(callbacks), False
        return trial

    @functools.cached_property
    def device(self) -> "torch.device":
        import torch

        from autoencoder_pipelines.nn.device import (
            DeviceUnavailableError,
            resolve_device,
        )
        from autoencoder_pipelines.nn.distributed import local_device

        if self.params.threads:
            torch.set_num_threads(self.params.threads)
        try:
            return local_device(resolve_device(self.params.device))
        except DeviceUnavailableError as error:
            raise ConfigError(str(error)) from None

    @functools.cached_property
    def dtype(self) -> "torch.dtype":
        from autoencoder_pipelines.nn.device import resolve_precision

        return resolve_precision(self.params.precision)

    @property
    def seed(self) -> int:
        return self.params.seed

    def seed_for(self, stream: str) -> int:
        return derive_seed(self.params.seed, stream)

    def trainer(self, phase: PhaseParams, name: str, n_rows: int) -> "Trainer":
        """The Trainer of phase `name` (which also names its seed and checkpoint file) on
        `n_rows` training rows (which set the batch size unless one is configured)."""
        from autoencoder_pipelines.nn.trainer import (
            Checkpoint,
            EarlyStopping,
            LRSchedule,
            Progress,
            Trainer,
            TrainSettings,
        )

        data_parallel = self.params.strategy == "ddp"
        settings = TrainSettings(
            epochs=phase.epochs,
            batch_size=self.batch_size(n_rows, phase.batch_size),
            learning_rate=self.params.learning_rate_for(phase.learning_rate, n_rows, phase.batch_size, self.device.type),
            weight_decay=phase.weight_decay,
            grad_clip=phase.grad_clip,
            precision=self.dtype,
            seed=self.seed_for(f"train.{name}"),
            compile=self.params.compile and not data_parallel,  # compiled DDP is untested here
            cuda_graphs=self.params.cuda_graphs,  # where a graph can hold the step (trainer.use_cuda_graphs)
        )
        callbacks: list[Callback] = []
        if phase.lr_schedule == "anneal_on_plateau":  # without patience: annealed over the cap's last epochs
            callbacks.append(EarlyStopping(phase.patience or phase.epochs, phase.min_delta, anneal=phase.anneal_epochs))
        elif phase.patience is not None:
            callbacks.append(EarlyStopping(phase.patience, phase.min_delta))
        if phase.lr_schedule == "cosine":
            callbacks.append(LRSchedule(phase.epochs))
        if self.progress:
            callbacks.append(Progress(self.params.log_every))
        callbacks.extend(self.callbacks)
        # Off under ddp: every rank would write the same file.
        if self.params.checkpoint_every > 0 and not data_parallel:
            folder = self.checkpoints or Path(self.params.checkpoint_dir)
            callbacks.append(Checkpoint(folder / f"{name}.pt", self.params.checkpoint_every, self.params.checkpoint_seconds))
        return Trainer(settings, callbacks)

    def batch_size(self, n_rows: int, phase: int | None = None) -> int:
        """The batch of a phase on `n_rows` training rows here: its own, runtime.batch_size, or
        the rule for this device (nn.sizes.default_batch_size)."""
        return self.params.batch_size_for(n_rows, phase, self.device.type)

    def features(self, frame: pd.DataFrame, schema: DataSchema) -> "torch.Tensor":
        """Evaluation rows on the training device."""
        return features_tensor(frame, schema, self.device)

    def place(self, *tensors: "torch.Tensor") -> tuple["torch.Tensor", ...]:
        """Training tensors on the device when they fit, else in (pinned) host memory, where
        the Trainer streams them a batch at a time: device memory then scales with the
        batch, not the data."""
        import torch

        if self.device.type != "cuda":
            return tuple(t.to(self.device) for t in tensors)
        needed = sum(t.numel() * t.element_size() for t in tensors)
        free, _ = torch.cuda.mem_get_info(self.device)
        if needed <= self.params.device_memory_fraction * free:
            return tuple(t.to(self.device) for t in tensors)
        logger.info(
            "training data (%.0f MiB) exceeds %.0f%% of free %s memory (%.0f MiB): streaming batches from host memory",
            needed / 2**20, 100 * self.params.device_memory_fraction, self.device, free / 2**20,
        )
        return tuple(t.cpu().pin_memory() if self.params.pin_memory else t.cpu() for t in tensors)


def history_series(*histories: Any) -> History:
    """Per-epoch series of trainer histories, keyed "<phase>.<metric>"."""
    return {f"{h.name}.{key}": values for h in histories for key, values in h.series().items()}


# Runtime settings that do not change what a run computes: a restart with other values still
# finds (and resumes from) the same checkpoint folder.
_NOT_IN_RUN_KEY = {"log_every", "checkpoint_every", "checkpoint_seconds", "checkpoint_dir", "on_busy", "threads",
                   "pin_memory", "device_memory_fraction"}


def result_parameters(sections: dict[str, Any]) -> dict[str, Any]:
    """Every validated parameter that can change what a run computes, as JSON-ready dicts (the
    sections; not the run options data_dir and model_uri)."""
    from pydantic import BaseModel

    parameters = {name: section.model_dump(mode="json") for name, section in sections.items() if isinstance(section, BaseModel)}
    if "runtime" in parameters:
        parameters["runtime"] = {k: v for k, v in parameters["runtime"].items() if k not in _NOT_IN_RUN_KEY}
    return parameters


def run_key(sections: dict[str, Any], run_params: dict[str, Any], data_dir: str | Path) -> str:
    """What makes two runs the same run: the pipelines and node filters, every validated
    parameter (but the settings above), the data folder and the input file (path, size,
    modification time). Stable across a restart of the same command; see checkpoint_folder."""
    import hashlib
    import json

    parameters = result_parameters(sections)
    data = parameters["data"]
    source = None
    if data.get("path") and Path(data["path"]).is_file():
        stat = Path(data["path"]).stat()
        source = [str(Path(data["path"]).resolve()), stat.st_size, stat.st_mtime_ns]
    selection = {key: run_params.get(key) for key in (
        "pipeline_names", "tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs", "namespaces")}
    text = json.dumps([parameters, selection, str(Path(data_dir).resolve()), source], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_folder(checkpoint_dir: Path, run_params: dict[str, Any], key: str) -> Path:
    """<checkpoint_dir>/<pipelines>-<key>: the checkpoints of one run, and only its; a restart of
    the same command finds the same folder, a run with other settings or data another one."""
    names = "+".join(sorted(run_params.get("pipeline_names") or ["__default__"]))
    return Path(checkpoint_dir) / f"{names}-{key[:12]}"


def resolve_runtime(params: RuntimeParams, checkpoints: Path | None = None) -> Runtime:
    """Check the launch (and a device named explicitly, and a half precision on the CPU) against
    this machine: once per run."""
    from autoencoder_pipelines.nn.launch import (
        launched_by_torchrun,
        torchrun_world_size,
    )

    if torchrun_world_size() > 1 and params.strategy != "ddp":
        raise ConfigError(
            f"runtime.strategy is '{params.strategy}' but torchrun started {torchrun_world_size()} processes; "
            "add --params=runtime.strategy=ddp, or run without torchrun"
        )
    if params.strategy == "ddp" and not launched_by_torchrun():
        raise ConfigError(
            "runtime.strategy 'ddp' trains one process per GPU (or CPU worker) under torchrun, e.g. "
            "`torchrun --nnodes=1 --rdzv-backend=c10d --rdzv-endpoint=127.0.0.1:0 --nproc-per-node=2 --no-python kedro run ...` "
            "(docs/gpu.md: data-parallel training)"
        )
    runtime = Runtime(params, checkpoints=checkpoints)
    if params.device not in ("auto", "cpu") or launched_by_torchrun():
        runtime.device  # noqa: B018 - resolve now: an absent GPU fails before any work
    if params.precision != "fp32" and runtime.device.type == "cpu":
        # --env gpu with runtime.device=auto on a machine without one: said, not silent
        logger.warning("runtime.precision is %s on the CPU (runtime.device %s): autocast in %s there changes the "
                       "figures against an fp32 run's; set runtime.precision=fp32 unless that is what you want",
                       params.precision, params.device, params.precision)
    return runtime
