"""Turns the `runtime` parameters and a phase's budget into device, precision and TrainSettings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autoencoder_pipelines.config import PhaseParams, RuntimeParams, parse
from autoencoder_pipelines.nn.device import resolve_device, resolve_precision
from autoencoder_pipelines.nn.distributed import launched_by_torchrun, local_device, torchrun_world_size
from autoencoder_pipelines.nn.training import TrainSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    params: RuntimeParams
    device: torch.device
    dtype: torch.dtype

    @property
    def seed(self) -> int:
        return self.params.seed

    def train_settings(self, phase: PhaseParams, name: str, seed_offset: int = 0) -> TrainSettings:
        """`name` names the phase's checkpoint file under runtime.checkpoint_dir."""
        data_parallel = self.params.strategy == "ddp"
        # Off under ddp: ranks would write one checkpoint file each, and compiled DDP is untested here.
        checkpointing = self.params.checkpoint_every > 0 and not data_parallel
        return TrainSettings(
            epochs=phase.epochs,
            batch_size=phase.batch_size or self.params.batch_size,
            learning_rate=phase.learning_rate,
            weight_decay=phase.weight_decay,
            patience=phase.patience,
            lr_schedule=phase.lr_schedule,
            grad_clip=phase.grad_clip,
            precision=self.dtype,
            seed=self.seed + seed_offset,
            log_every=self.params.log_every,
            compile=self.params.compile and not data_parallel,
            checkpoint_path=str(Path(self.params.checkpoint_dir) / f"{name}.pt") if checkpointing else None,
            checkpoint_every=max(self.params.checkpoint_every, 1),
            world_size=self.world_size,
        )


    @property
    def world_size(self) -> int:
        """Processes training each phase: torchrun's, or runtime.num_processes started per phase."""
        if self.params.strategy != "ddp":
            return 1
        return torchrun_world_size() if launched_by_torchrun() else self.params.num_processes

    def place(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Training tensors on the device when they fit, else in (pinned) host memory, where
        the training loop streams them a batch at a time: device memory then scales with
        the batch, not the data."""
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


def process_device(params: RuntimeParams) -> torch.device:
    """The device this process trains on: runtime.device, and under torchrun its local rank's GPU."""
    return local_device(resolve_device(params.device))


def setup_runtime(runtime: dict[str, Any], seed_offset: int = 0) -> Runtime:
    """Resolve device and precision, seed torch for weight init, set CPU threads."""
    params = parse(RuntimeParams, runtime, "runtime")
    device = process_device(params)
    dtype = resolve_precision(params.precision, device)
    if params.threads:
        torch.set_num_threads(params.threads)
    torch.manual_seed(params.seed + seed_offset)
    return Runtime(params=params, device=device, dtype=dtype)
