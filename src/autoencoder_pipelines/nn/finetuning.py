"""Fine-tuning: an encoder with a classifier head, and the whole autoencoder end to end on
reconstruction (noisy -> clean for the denoiser, clean -> clean for reduction and anomalies)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec, corrupt
from autoencoder_pipelines.nn.losses import reconstruction_loss
from autoencoder_pipelines.nn.networks import EncoderClassifier, apply_activation
from autoencoder_pipelines.nn.stacking import train_autoencoder
from autoencoder_pipelines.nn.trainer import History, Trainer

FINETUNE_MODES = ("full", "head_only")


def reconstruction_objective(loss: str):
    """Plain reconstruction of the whole network (what fine-tuning optimises), and its
    validation figures: the loss and the MSE of the outputs."""

    def network_loss(network: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, generator) -> torch.Tensor:
        return reconstruction_loss(network.forward_preactivation(noisy), clean, loss, network.output_activation)

    def network_metrics(network: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
        pre = network.forward_preactivation(noisy)  # in eval mode: decode_preactivation(encode(noisy)), every kind
        return {
            "val_loss": reconstruction_loss(pre, clean, loss, network.output_activation).item(),
            "val_mse": F.mse_loss(apply_activation(network.output_activation, pre).float(), clean).item(),
        }

    return network_loss, network_metrics


def fine_tune(
    autoencoder: nn.Module,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    trainer: Trainer,
    name: str,
    loss: str = "bce",
    corruption: CorruptionSpec = IDENTITY,
    noisy_val: torch.Tensor | None = None,
) -> tuple[nn.Module, History]:
    """Fine-tune a copy of `autoencoder` (any kind) end to end, corruption(x) -> x."""
    tuned = copy.deepcopy(autoencoder)
    tuned.requires_grad_(True)
    network_loss, network_metrics = reconstruction_objective(loss)
    history = train_autoencoder(tuned, network_loss, network_metrics, x_train, x_val, corruption, trainer, name, noisy_val)
    return tuned, history


def train_classifier(
    classifier: EncoderClassifier,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    trainer: Trainer,
    name: str,
    mode: str = "full",
    input_corruption: CorruptionSpec = IDENTITY,
) -> History:
    """Train `classifier` in place; `head_only` freezes the encoder. `input_corruption`
    corrupts each training batch afresh (augmentation). Without validation rows (`x_val`
    None) no validation metrics are recorded."""
    if mode not in FINETUNE_MODES:
        raise ValueError(f"finetune.mode is '{mode}'; expected one of {', '.join(FINETUNE_MODES)}.")
    classifier.encoder.requires_grad_(mode == "full")

    def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        x, y = batch
        if mode == "head_only":
            classifier.encoder.eval()
        return F.cross_entropy(classifier(corrupt(x, input_corruption, generator)).float(), y)

    def evaluate() -> dict[str, float]:
        logits = classifier(x_val).float()
        return {
            "val_loss": F.cross_entropy(logits, y_val).item(),
            "val_accuracy": (logits.argmax(dim=1) == y_val).float().mean().item(),
        }

    history = trainer.fit(classifier, batch_loss, (x_train, y_train), None if x_val is None else evaluate, name=name)
    classifier.requires_grad_(True)
    return history
