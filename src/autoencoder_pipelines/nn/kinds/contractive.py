"""Contractive (Rifai et al. 2011): `weight` x the squared Frobenius norm of each layer's
encoder Jacobian, in closed form for element-wise activations."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from autoencoder_pipelines.nn.kinds.base import AutoencoderKind, KindOptions
from autoencoder_pipelines.nn.losses import contractive_penalty


class ContractiveOptions(KindOptions):
    weight: float = Field(
        0.01, ge=0,
        description="lambda: times the squared Frobenius norm of each layer's encoder Jacobian (Rifai et al. 2011).",
    )


class Contractive(AutoencoderKind):
    name = "contractive"
    Options = ContractiveOptions

    def penalty(self, options: ContractiveOptions, network: nn.Module, noisy: torch.Tensor, codes: torch.Tensor):
        return contractive_penalty(network, noisy, codes, options.weight)


KIND = Contractive()
