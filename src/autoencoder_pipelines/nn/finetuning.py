"""Supervised fine-tuning with a classifier head, and end-to-end denoiser fine-tuning."""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.losses import reconstruction_loss
from autoencoder_pipelines.nn.models import EncoderClassifier, StackedAutoencoder
from autoencoder_pipelines.nn.training import History, TrainSettings, fit

FINETUNE_MODES = ("full", "head_only")


def train_classifier(
    classifier: EncoderClassifier,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    settings: TrainSettings,
    mode: str = "full",
    input_corruption: CorruptionSpec | None = None,
    name: str = "finetune",
) -> History:
    """Train `classifier` in place; `head_only` freezes the encoder.

    `input_corruption`, when given, corrupts each training batch afresh (augmentation).
    Without validation rows (`x_val` None) no validation metrics are recorded.
    """
    if mode not in FINETUNE_MODES:
        raise ValueError(f"finetune.mode is '{mode}'; expected one of {', '.join(FINETUNE_MODES)}.")
    classifier.encoder.requires_grad_(mode == "full")
    spec = input_corruption or CorruptionSpec(kind="none", level=0.0)

    def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        x, y = batch
        if mode == "head_only":
            classifier.encoder.eval()
        return F.cross_entropy(classifier(corrupt(x, spec, generator)).float(), y)

    def evaluate() -> dict[str, float]:
        logits = classifier(x_val).float()
        return {
            "val_loss": F.cross_entropy(logits, y_val).item(),
            "val_accuracy": (logits.argmax(dim=1) == y_val).float().mean().item(),
        }

    history = fit(classifier, batch_loss, (x_train, y_train), settings, None if x_val is None else evaluate, name=name)
    classifier.requires_grad_(True)
    return history


def train_denoiser(
    stack: StackedAutoencoder,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    x_val_noisy: torch.Tensor,
    corruption: CorruptionSpec,
    settings: TrainSettings,
    loss: str = "bce",
    name: str = "denoise",
    regularizer: Callable[[StackedAutoencoder, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[StackedAutoencoder, History]:
    """Fine-tune a copy of the unrolled stack end to end from corrupted to clean inputs.

    `regularizer(model, noisy input, code)`, when given, is added to each training batch's
    loss (validation stays pure reconstruction). Any model with the stack's interface works
    (encode, decode, decode_preactivation, forward_preactivation, output_activation).
    """
    denoiser = copy.deepcopy(stack)
    denoiser.requires_grad_(True)
    activation = denoiser.output_activation

    def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        (clean,) = batch
        noisy = corrupt(clean, corruption, generator)
        if regularizer is None:
            return reconstruction_loss(denoiser.forward_preactivation(noisy), clean, loss, activation)
        code = denoiser.encode(noisy)
        return reconstruction_loss(denoiser.decode_preactivation(code), clean, loss, activation) + regularizer(
            denoiser, noisy, code
        )

    def evaluate() -> dict[str, float]:
        pre = denoiser.forward_preactivation(x_val_noisy)
        return {
            "val_loss": reconstruction_loss(pre, x_val, loss, activation).item(),
            "val_mse": F.mse_loss(denoiser.decode(denoiser.encode(x_val_noisy)).float(), x_val).item(),
        }

    history = fit(denoiser, batch_loss, (x_train,), settings, evaluate, name=name)
    return denoiser, history
