"""Greedy layer-wise pretraining node."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autoencoder_pipelines.config import CorruptionParams, ModelParams, PretrainParams, parse
from autoencoder_pipelines.data import features_tensor
from autoencoder_pipelines.jobs import Autoencoder, build_autoencoder
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.finetuning import train_denoiser
from autoencoder_pipelines.nn.stacking import LayerPlan, pretrain_greedy
from autoencoder_pipelines.nn.variants import Regularizer, make_regularizer, train_vae
from autoencoder_pipelines.runtime import setup_runtime

History = dict[str, list[float]]


def layer_corruptions(model: ModelParams, pretrain: PretrainParams, corruption: CorruptionParams) -> list[CorruptionSpec]:
    """Per-layer input noise: only the denoising kind corrupts; per-layer or the shared spec."""
    n_layers = len(model.hidden_sizes)
    if model.kind != "denoising":
        return [CorruptionSpec(kind="none", level=0.0)] * n_layers
    chosen = pretrain.layer_corruption or [corruption] * n_layers
    return [CorruptionSpec(kind=c.kind, level=c.level) for c in chosen]


def layer_regularizer(model: ModelParams) -> Regularizer | None:
    """The kind's own penalty on each layer: sparsity of its codes, or its Jacobian (contractive)."""
    if model.kind == "sparse":
        return make_regularizer("sparse", sparsity=model.sparse.sparsity, target=model.sparse.target,
                                weight=model.sparse.weight, l1_weight=model.l1_weight)
    if model.kind == "contractive":
        return make_regularizer("contractive", weight=model.contractive.weight, l1_weight=model.l1_weight)
    return make_regularizer("none", l1_weight=model.l1_weight)


def pretrain_stack(
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    model: dict[str, Any],
    pretrain: dict[str, Any],
    corruption: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[Autoencoder, History]:
    """Stacking kinds: greedy layer-wise pretraining with the kind's loss, bottom layer first.
    vae and conv: trained end to end with the same budget (they do not stack)."""
    model_params = parse(ModelParams, model, "model")
    pretrain_params = parse(PretrainParams, pretrain, "pretrain")
    corruption_params = parse(CorruptionParams, corruption, "corruption")
    rt = setup_runtime(runtime, seed_offset=1)
    network = build_autoencoder(model_params, schema).to(rt.device)
    (x_train,) = rt.place(features_tensor(train, schema))
    x_val = features_tensor(val, schema, rt.device)
    if model_params.kind == "vae":
        settings = rt.train_settings(pretrain_params, name="pretrain.vae", seed_offset=10)
        history = train_vae(
            network, x_train, x_val, settings, beta=model_params.vae.beta, loss=model_params.loss,
            name="pretrain.vae", l1_weight=model_params.l1_weight,
        )
        return network.cpu(), {f"pretrain.vae.{key}": values for key, values in history.series().items()}
    if model_params.kind == "conv":
        settings = rt.train_settings(pretrain_params, name="pretrain.conv", seed_offset=10)
        trained, history = train_denoiser(
            network, x_train, x_val, x_val, CorruptionSpec("none", 0.0), settings, loss=model_params.loss,
            name="pretrain.conv", regularizer=make_regularizer("none", l1_weight=model_params.l1_weight),
        )
        return trained.cpu(), {f"pretrain.conv.{key}": values for key, values in history.series().items()}
    regularizer = layer_regularizer(model_params)
    plans = [
        LayerPlan(
            corruption=spec,
            settings=rt.train_settings(pretrain_params, name=f"pretrain.layer_{k + 1}", seed_offset=10 + k),
            loss=model_params.loss,
            regularizer=regularizer,
        )
        for k, spec in enumerate(layer_corruptions(model_params, pretrain_params, corruption_params))
    ]
    histories = pretrain_greedy(network, x_train, x_val, plans)
    return network.cpu(), {f"{h.name}.{key}": values for h in histories for key, values in h.series().items()}
