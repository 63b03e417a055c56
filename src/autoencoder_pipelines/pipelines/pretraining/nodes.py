"""Greedy layer-wise pretraining node."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autoencoder_pipelines.config import ConfigError, CorruptionParams, ModelParams, PretrainParams, parse
from autoencoder_pipelines.data import features_tensor
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.models import StackedAutoencoder
from autoencoder_pipelines.nn.stacking import LayerPlan, pretrain_greedy
from autoencoder_pipelines.runtime import setup_runtime

History = dict[str, list[float]]


def layer_corruptions(model: ModelParams, pretrain: PretrainParams, corruption: CorruptionParams) -> list[CorruptionSpec]:
    """Per-layer noise: none for a plain undercomplete stack, else per-layer or the shared spec."""
    n_layers = len(model.hidden_sizes)
    if model.kind == "undercomplete":
        return [CorruptionSpec(kind="none", level=0.0)] * n_layers
    chosen = pretrain.layer_corruption or [corruption] * n_layers
    return [CorruptionSpec(kind=c.kind, level=c.level) for c in chosen]


def pretrain_stack(
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    model: dict[str, Any],
    pretrain: dict[str, Any],
    corruption: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[StackedAutoencoder, History]:
    """Build the stack from `model.hidden_sizes` and pretrain it greedily, bottom layer first."""
    model_params = parse(ModelParams, model, "model")
    pretrain_params = parse(PretrainParams, pretrain, "pretrain")
    corruption_params = parse(CorruptionParams, corruption, "corruption")
    rt = setup_runtime(runtime, seed_offset=1)
    n_features = len(schema["features"])
    if model_params.hidden_sizes[-1] >= n_features:
        raise ConfigError(
            f"model.hidden_sizes: the code size {model_params.hidden_sizes[-1]} must be smaller than "
            f"the {n_features} input features (got {model_params.hidden_sizes})"
        )
    stack = StackedAutoencoder.build(
        n_features, model_params.hidden_sizes, model_params.activation, model_params.code_activation
    ).to(rt.device)
    plans = [
        LayerPlan(
            corruption=spec,
            settings=rt.train_settings(pretrain_params, name=f"pretrain.layer_{k + 1}", seed_offset=10 + k),
            loss=model_params.loss,
        )
        for k, spec in enumerate(layer_corruptions(model_params, pretrain_params, corruption_params))
    ]
    histories = pretrain_greedy(
        stack, features_tensor(train, schema, rt.device), features_tensor(val, schema, rt.device), plans
    )
    return stack.cpu(), {f"{h.name}.{key}": values for h in histories for key, values in h.series().items()}
