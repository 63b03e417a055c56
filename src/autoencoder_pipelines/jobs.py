"""Glue between frames, parameters and the nn trainers, for jobs several pipelines run."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from autoencoder_pipelines.config import PhaseParams
from autoencoder_pipelines.data import features_tensor
from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.finetuning import train_denoiser
from autoencoder_pipelines.nn.models import StackedAutoencoder
from autoencoder_pipelines.runtime import setup_runtime

History = dict[str, list[float]]


def fine_tune_unrolled(
    stack: StackedAutoencoder,
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
) -> tuple[StackedAutoencoder, History]:
    """Fine-tune a copy of the unrolled stack end to end, `corruption`(x) -> x.

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
        features_tensor(train, schema, rt.device),
        x_val,
        x_val_noisy,
        corruption,
        rt.train_settings(phase, name=name, seed_offset=seed_offset),
        loss=loss,
        name=name,
    )
    stack.cpu()
    return trained.cpu(), {f"{name}.{key}": values for key, values in history.series().items()}
