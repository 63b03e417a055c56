"""Turns the `runtime` parameters and a phase's budget into device, precision and TrainSettings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autoencoder_pipelines.config import PhaseParams, RuntimeParams, parse
from autoencoder_pipelines.nn.device import resolve_device, resolve_precision
from autoencoder_pipelines.nn.training import TrainSettings


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
        checkpointing = self.params.checkpoint_every > 0
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
            compile=self.params.compile,
            checkpoint_path=str(Path(self.params.checkpoint_dir) / f"{name}.pt") if checkpointing else None,
            checkpoint_every=max(self.params.checkpoint_every, 1),
        )


def setup_runtime(runtime: dict[str, Any], seed_offset: int = 0) -> Runtime:
    """Resolve device and precision, seed torch for weight init, set CPU threads."""
    params = parse(RuntimeParams, runtime, "runtime")
    device = resolve_device(params.device)
    dtype = resolve_precision(params.precision, device)
    if params.threads:
        torch.set_num_threads(params.threads)
    torch.manual_seed(params.seed + seed_offset)
    return Runtime(params=params, device=device, dtype=dtype)
