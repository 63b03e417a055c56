"""Reconstruction losses, computed on the decoder's pre-activation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autoencoder_pipelines.nn.models import apply_activation

LOSSES = ("mse", "l1", "bce")


def reconstruction_loss(
    preactivation: torch.Tensor, target: torch.Tensor, kind: str, output_activation: str
) -> torch.Tensor:
    """Mean reconstruction loss per element.

    `bce` is binary cross-entropy for targets in [0, 1] and needs a sigmoid output; it is
    computed from logits, which is exact, stable, and allowed under autocast.
    """
    if kind == "bce":
        if output_activation != "sigmoid":
            raise ValueError(
                f"loss 'bce' needs a sigmoid output, but this decoder ends in '{output_activation}'; "
                "use 'mse' or 'l1'."
            )
        return F.binary_cross_entropy_with_logits(preactivation.float(), target.float())
    output = apply_activation(output_activation, preactivation).float()
    if kind == "mse":
        return F.mse_loss(output, target.float())
    if kind == "l1":
        return F.l1_loss(output, target.float())
    raise ValueError(f"loss is '{kind}'; expected one of {', '.join(LOSSES)}.")


def compatible_loss(kind: str, output_activation: str) -> str:
    """`bce` where the output is a sigmoid, else `mse` (e.g. a layer reconstructing ReLU codes)."""
    return kind if kind != "bce" or output_activation == "sigmoid" else "mse"
