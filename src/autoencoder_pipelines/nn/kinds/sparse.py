"""Sparse: a penalty on each layer's codes, L1 of the activations or the KL divergence of each
unit's mean activation from `target` (Ng's sparse autoencoder; needs codes in [0, 1])."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from autoencoder_pipelines.nn.kinds.base import AutoencoderKind, KindOptions
from autoencoder_pipelines.nn.losses import sparsity_penalty


class SparseOptions(KindOptions):
    sparsity: Literal["l1", "kl"] = Field(
        "l1",
        description="l1: L1 of the code activations; kl: KL divergence of each unit's mean activation from `target` "
        "(needs sigmoid activations).",
    )
    target: float = Field(0.05, gt=0, lt=1, description="rho: the mean activation kl aims at.")
    weight: float = Field(0.001, ge=0, description="Weight of the sparsity penalty in each layer's loss.")


class Sparse(AutoencoderKind):
    name = "sparse"
    Options = SparseOptions

    def check_settings(self, activation: str, code_activation: str, options: SparseOptions) -> str | None:
        if options.sparsity == "kl" and (activation != "sigmoid" or code_activation != "sigmoid"):
            return (
                "model.sparse.sparsity 'kl' needs codes in [0, 1]: set model.activation and "
                "model.code_activation to sigmoid, or use 'l1'"
            )
        return None

    def penalty(self, options: SparseOptions, network: nn.Module, noisy: torch.Tensor, codes: torch.Tensor):
        return sparsity_penalty(codes, options.sparsity, options.target, options.weight)


KIND = Sparse()
