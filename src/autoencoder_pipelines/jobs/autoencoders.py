"""Glue between the parameters, the data's schema, the kind registry and the trainers: the
pieces several pipelines' nodes share (imported inside the nodes, with torch)."""

from __future__ import annotations

import pandas as pd
from torch import nn

from autoencoder_pipelines.config import ModelParams, PhaseParams, parse
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.data.frames import ModelInput, features_tensor
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.runtime import History, Runtime, history_series
from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec
from autoencoder_pipelines.nn.finetuning import fine_tune
from autoencoder_pipelines.nn.kinds import get_kind, kind_names
from autoencoder_pipelines.nn.kinds.base import Architecture, AutoencoderKind
from autoencoder_pipelines.nn.seeding import seeded


def check_kind_settings(model: ModelParams) -> AutoencoderKind:
    """Every `model.<kind>` block against its kind's schema, and the chosen kind's own rules."""
    for name in kind_names():
        options = parse(get_kind(name).Options, model.kind_options(name), f"model.{name}")
        if name == model.kind:
            problem = get_kind(name).check_settings(model.activation, model.code_activation, options)
            if problem:
                raise ConfigError(f"Invalid parameters: {problem}")
    return get_kind(model.kind)


def architecture(model: ModelParams, schema: DataSchema) -> Architecture:
    return Architecture(
        kind=model.kind,
        n_features=schema.n_features,
        hidden_sizes=tuple(model.hidden_sizes_for(schema.n_features)),
        activation=model.activation,
        code_activation=model.code_activation,
        image_shape=tuple(schema.image_shape) if schema.image_shape else None,
        options=model.kind_options(),
        n_classes=schema.n_classes,
        window_shape=tuple(schema.window_shape) if schema.window_shape else None,
    )


def check_model_on_data(model: ModelParams, schema: DataSchema) -> None:
    problem = get_kind(model.kind).check_data(architecture(model, schema))
    if problem:
        raise ConfigError(f"{schema.source}: {problem}")


def build_autoencoder(model: ModelParams, schema: DataSchema, seed: int, stream: str) -> nn.Module:
    """A freshly initialised network of `model.kind` for the data, its weights drawn from the
    run's stream `stream`."""
    check_model_on_data(model, schema)
    with seeded(seed, stream):
        return get_kind(model.kind).build(architecture(model, schema))


def layer_losses(model: ModelParams, schema: DataSchema) -> list[str]:
    """The first layer reconstructs the data (`loss`), the others hidden codes (`hidden_loss`)."""
    n_layers = len(model.hidden_sizes_for(schema.n_features))
    return [model.loss_for(schema)] + [model.hidden_loss] * (n_layers - 1)


def fine_tune_phase(
    autoencoder: nn.Module,
    data: ModelInput,
    model: ModelParams,
    phase: PhaseParams,
    runtime: Runtime,
    name: str,
    corruption: CorruptionSpec = IDENTITY,
    noisy_val: pd.DataFrame | None = None,
) -> tuple[nn.Module, History]:
    """A copy of `autoencoder` fine-tuned end to end on the training rows, corruption(x) -> x,
    on the run's device; validation on `noisy_val` (the fixed noisy set) when given, else on the
    validation rows. Returns it on the CPU."""
    schema, val = data.schema, data.val
    (x_train,) = runtime.place(features_tensor(data.train, schema))
    trained, history = fine_tune(
        autoencoder.to(runtime.device), x_train, runtime.features(val, schema), runtime.trainer(phase, name, len(x_train)), name,
        model.loss_for(schema), corruption, None if noisy_val is None else runtime.features(noisy_val, schema),
    )
    autoencoder.cpu()
    return trained.cpu(), history_series(history)


def fixed_noise(data: ModelInput, corruption: CorruptionSpec, seed: int, parts: tuple[str, ...]) -> list[pd.DataFrame]:
    """Noisy copies of `parts` (in this order: val, then test), drawn from one generator seeded
    with `seed`: the same noise whoever asks (the noisy evaluation sets, the denoiser's
    validation)."""
    import torch

    from autoencoder_pipelines.nn.corruption import corrupt

    generator = torch.Generator().manual_seed(seed)
    noisy = []
    for name in parts:
        part = getattr(data, name)
        out = part.copy()
        out[data.schema.features] = corrupt(features_tensor(part, data.schema), corruption, generator).numpy()
        noisy.append(out)
    return noisy
