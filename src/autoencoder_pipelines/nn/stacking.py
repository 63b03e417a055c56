"""Greedy layer-wise pretraining (Bengio et al. 2007; Vincent et al. 2010).

Layer k is a denoising autoencoder trained on the clean codes of layers 1..k-1, which stay
frozen; only layer k's own input is corrupted.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.losses import compatible_loss, reconstruction_loss
from autoencoder_pipelines.nn.models import DenseAutoencoderLayer, StackedAutoencoder
from autoencoder_pipelines.nn.training import History, TrainSettings, fit, predict_in_batches
from autoencoder_pipelines.nn.variants import Regularizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerPlan:
    """How to pretrain one layer."""

    corruption: CorruptionSpec
    settings: TrainSettings
    loss: str = "bce"
    # Extra training penalty (e.g. `variants.make_regularizer`); val_loss stays pure reconstruction.
    regularizer: Regularizer | None = None


def _fit_to_range(spec: CorruptionSpec, codes: torch.Tensor) -> CorruptionSpec:
    """Salt-and-pepper for a hidden layer uses that layer's own code range."""
    if spec.kind != "salt_and_pepper":
        return spec
    return dataclasses.replace(spec, low=float(codes.min()), high=float(codes.max()))


def pretrain_layer(
    layer: DenseAutoencoderLayer,
    inputs: torch.Tensor,
    val_inputs: torch.Tensor,
    plan: LayerPlan,
    name: str,
) -> History:
    """Train one layer as a denoising autoencoder of `inputs` (clean codes of the layers below)."""
    spec = _fit_to_range(plan.corruption, inputs)
    loss_kind = compatible_loss(plan.loss, layer.output_activation)
    val_generator = torch.Generator(device=val_inputs.device).manual_seed(plan.settings.seed + 1)
    noisy_val = corrupt(val_inputs, spec, val_generator)

    def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        (clean,) = batch
        noisy = corrupt(clean, spec, generator)
        codes = layer.encode(noisy)
        loss = reconstruction_loss(layer.decode_preactivation(codes), clean, loss_kind, layer.output_activation)
        if plan.regularizer is not None:
            loss = loss + plan.regularizer(layer, noisy, codes)
        return loss

    def evaluate() -> dict[str, float]:
        pre = layer.decode_preactivation(layer.encode(noisy_val))
        return {"val_loss": reconstruction_loss(pre, val_inputs, loss_kind, layer.output_activation).item()}

    return fit(layer, batch_loss, (inputs,), plan.settings, evaluate, name=name)


def pretrain_greedy(
    stack: StackedAutoencoder,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    plans: Sequence[LayerPlan],
) -> list[History]:
    """Pretrain `stack` in place, bottom layer first; returns one history per layer."""
    if len(plans) != len(stack.layers):
        raise ValueError(f"{len(plans)} layer plans for a stack of {len(stack.layers)} layers")
    histories = []
    for k, (layer, plan) in enumerate(zip(stack.layers, plans)):
        frozen = stack.layers[:k]
        for lower in frozen:
            lower.requires_grad_(False)
            lower.eval()
        with torch.no_grad():
            # Frozen layers make these codes constant, so compute them once, not per batch.
            # x_train may be streamed from host memory: encode it chunk by chunk on the model's device
            device = next(stack.parameters()).device
            inputs = predict_in_batches(lambda chunk: stack.encode(chunk, depth=k), x_train, device=device)
            val_inputs = stack.encode(x_val, depth=k)
        logger.info("pretraining layer %d/%d (%d -> %d)", k + 1, len(stack.layers), layer.n_in, layer.n_hidden)
        histories.append(pretrain_layer(layer, inputs, val_inputs, plan, name=f"pretrain.layer_{k + 1}"))
    stack.requires_grad_(True)
    return histories
