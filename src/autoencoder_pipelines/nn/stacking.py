"""Pretraining: greedy layer-wise for the stacking kinds (Bengio et al. 2007; Vincent et al.
2010), end to end for the others; both through `train_autoencoder` and the kind's objective.

Layer k is trained on the clean codes of layers 1..k-1, which stay frozen; only layer k's
own input is corrupted (denoising kind).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch
from torch import nn

from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec, corrupt
from autoencoder_pipelines.nn.inference import predict_in_batches
from autoencoder_pipelines.nn.kinds.base import (
    Architecture,
    AutoencoderKind,
    NetworkLoss,
    NetworkMetrics,
)
from autoencoder_pipelines.nn.networks import StackedAutoencoder
from autoencoder_pipelines.nn.seeding import derive_seed
from autoencoder_pipelines.nn.trainer import Callback, History, Trainer

logger = logging.getLogger(__name__)

TrainerFor = Callable[[str], Trainer]  # a phase's name -> its configured Trainer


def train_autoencoder(
    network: nn.Module,
    network_loss: NetworkLoss,
    network_metrics: NetworkMetrics,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    corruption: CorruptionSpec,
    trainer: Trainer,
    name: str,
    noisy_val: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    callbacks: Sequence[Callback] = (),
) -> History:
    """Train `network` in place on corruption(x) -> x with fresh noise every batch; validation
    uses `noisy_val`, or `x_val` corrupted once with the phase's seeded generator. `labels`
    (one per training row) travel in each batch beside the rows, for `callbacks` of the
    objective; the reconstruction loss does not see them."""
    if noisy_val is None:
        generator = torch.Generator(device=x_val.device).manual_seed(derive_seed(trainer.settings.seed, "validation"))
        noisy_val = corrupt(x_val, corruption, generator)

    def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        clean = batch[0]
        return network_loss(network, corrupt(clean, corruption, generator), clean, generator)

    train_data = (x_train,) if labels is None else (x_train, labels)
    return trainer.fit(network, batch_loss, train_data, lambda: network_metrics(network, noisy_val, x_val),
                       name=name, callbacks=callbacks)


def pretrain(
    network: nn.Module,
    kind: AutoencoderKind,
    arch: Architecture,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    trainer_for: TrainerFor,
    losses: Sequence[str],
    corruptions: Sequence[CorruptionSpec],
    l1_weight: float = 0.0,
    labels: torch.Tensor | None = None,
) -> list[History]:
    """Pretrain `network` in place; one history per layer (stacking kinds) or one in all.

    `losses` and `corruptions` give one entry per layer of a stack (the first reconstructs the
    data, the others hidden codes); an end-to-end kind uses the first of each, and the kind's
    own callbacks (`kind.pretrain_callbacks`), which get `labels` when the kind uses them.
    """
    if not kind.stacks:
        name = f"pretrain.{kind.name}"
        if kind.uses_labels(arch) and labels is None:
            raise ValueError(f"model.kind '{kind.name}' with these options pretrains on labelled rows: pass labels")
        history = train_autoencoder(
            network, kind.pretrain_loss(arch, losses[0], l1_weight), kind.pretrain_metrics(arch, losses[0]),
            x_train, x_val, corruptions[0], trainer_for(name), name,
            labels=labels if kind.uses_labels(arch) else None, callbacks=kind.pretrain_callbacks(arch, network),
        )
        return [history]
    assert isinstance(network, StackedAutoencoder)
    if not len(losses) == len(corruptions) == len(network.layers):
        raise ValueError(f"{len(losses)} losses and {len(corruptions)} corruptions for {len(network.layers)} layers")
    device = next(network.parameters()).device
    histories = []
    for k, layer in enumerate(network.layers):
        for lower in network.layers[:k]:
            lower.requires_grad_(False)
            lower.eval()
        with torch.no_grad():
            # Frozen layers make these codes constant: computed once, not per batch (chunk by
            # chunk on the model's device, as x_train may be streamed from host memory).
            inputs = predict_in_batches(lambda chunk, depth=k: network.encode(chunk, depth=depth), x_train, device=device)
            val_inputs = network.encode(x_val, depth=k)
        name = f"pretrain.layer_{k + 1}"
        logger.info("pretraining layer %d/%d (%d -> %d)", k + 1, len(network.layers), layer.n_in, layer.n_hidden)
        histories.append(train_autoencoder(
            layer, kind.pretrain_loss(arch, losses[k], l1_weight), kind.pretrain_metrics(arch, losses[k]),
            inputs, val_inputs, corruptions[k].in_range(inputs), trainer_for(name), name,
        ))
    network.requires_grad_(True)
    return histories


def layer_corruptions(kind: AutoencoderKind, n_layers: int, shared: CorruptionSpec,
                      per_layer: Sequence[CorruptionSpec] | None = None) -> list[CorruptionSpec]:
    """Per-layer input noise: only kinds that corrupt inputs do; per layer, or the shared spec."""
    if not kind.corrupts_inputs:
        return [IDENTITY] * n_layers
    return list(per_layer) if per_layer is not None else [shared] * n_layers
