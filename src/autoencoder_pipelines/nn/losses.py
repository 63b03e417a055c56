"""Reconstruction losses (computed on the decoder's pre-activation) and the penalties kinds add."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from autoencoder_pipelines.nn.networks import DenseAutoencoderLayer, apply_activation

LOSSES = ("mse", "l1", "bce")
_EPS = 1e-6


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


def sparsity_penalty(codes: torch.Tensor, kind: str = "kl", target: float = 0.05, weight: float = 1.0) -> torch.Tensor:
    """Push code activations towards zero, so each input is explained by few units.

    l1: weight * mean over the batch of sum_j |h_j| (any activation).
    kl: weight * sum_j KL(target || mean activation of unit j over the batch) (Ng's sparse
    autoencoder); the mean activation is a probability only for units in [0, 1] (sigmoid),
    so other codes are rejected rather than silently giving a meaningless penalty.
    """
    if kind == "l1":
        return weight * codes.float().abs().sum(dim=1).mean()
    if kind != "kl":
        raise ValueError(f"sparsity kind is '{kind}'; expected l1 or kl.")
    if not 0.0 < target < 1.0:
        raise ValueError(f"sparsity target is {target}; a KL target activation must be in (0, 1).")
    if bool(((codes < 0) | (codes > 1)).any()):
        raise ValueError(
            f"KL sparsity needs codes in [0, 1] (sigmoid units), got values in "
            f"[{float(codes.min()):.3g}, {float(codes.max()):.3g}]; use kind 'l1' for other activations."
        )
    rho_hat = codes.float().mean(dim=0).clamp(_EPS, 1 - _EPS)
    rho = torch.full_like(rho_hat, target)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return weight * kl.sum()


def jacobian_sq_frobenius(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Mean over the rows of x of ||d encode(x_row) / d x_row||_F^2, by autograd.

    jacrev is vmapped over rows, so rows are encoded one at a time (no cross-row coupling)
    and the result stays differentiable w.r.t. the encoder's parameters.
    """

    def one_row(row: torch.Tensor) -> torch.Tensor:
        return encode(row.unsqueeze(0)).squeeze(0)

    jacobians = torch.func.vmap(torch.func.jacrev(one_row))(x.float())
    return jacobians.pow(2).flatten(start_dim=1).sum(dim=1).mean()


def contractive_penalty(network: nn.Module, x: torch.Tensor, codes: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """weight * mean over the batch of ||d codes / d x||_F^2 (Rifai et al. 2011).

    A dense layer h = f(W x + b) with an element-wise f has the Jacobian diag(f'(a)) W, so
    its squared norm is sum_j f'(a_j)^2 sum_i W_ji^2, with f' read off the codes (sigmoid
    h(1-h), tanh 1-h^2, relu 1[h>0], linear 1): no extra backward passes. Any other network
    with `encode` (e.g. a whole stack) uses autograd.
    """
    if isinstance(network, DenseAutoencoderLayer):
        row_norms = network.encoder[0].weight.float().pow(2).sum(dim=1)  # sum_i W_ji^2, per unit j
        slopes = _activation_slope(network.activation, codes.float()).pow(2)
        return weight * (slopes @ row_norms).mean()
    return weight * jacobian_sq_frobenius(network.encode, x)


def _activation_slope(activation: str, h: torch.Tensor) -> torch.Tensor:
    """f'(a) written in terms of h = f(a)."""
    if activation == "sigmoid":
        return h * (1 - h)
    if activation == "tanh":
        return 1 - h * h
    if activation == "relu":
        return (h > 0).to(h.dtype)
    if activation == "linear":
        return torch.ones_like(h)
    raise ValueError(f"no closed-form slope for activation '{activation}'")


def l1_weight_penalty(model: nn.Module, weight: float = 1.0) -> torch.Tensor:
    """weight * sum of |w| over weight matrices and kernels (biases excluded: they set offsets,
    not which inputs a unit listens to, so shrinking them only biases the fit)."""
    terms = [p.float().abs().sum() for name, p in model.named_parameters() if name.endswith("weight") and p.dim() >= 2]
    if not terms:
        return torch.zeros((), device=next(model.parameters()).device)
    return weight * torch.stack(terms).sum()
