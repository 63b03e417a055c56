"""1-D convolutional variational autoencoder for windows of a series (`data.source: windows`):
the VAE of `vae.py` (Gaussian encoder, reparameterisation, rec + beta * KL, the posterior mean
as the code, `sample` and `interpolate`) with a convolutional encoder and decoder over time.

Rows are windows flattened channel by channel (`window_shape` [channels, length]). Encoder:
(conv k + ReLU + maxpool 2) blocks for as many of `channels` as keep the length even, then
linear heads to the code's mean and log-variance. Decoder: linear to the bottleneck, then
(upsample 2 + conv k + ReLU) blocks and a final conv to the series' channels (logits).
"""

from __future__ import annotations

import math
from typing import Sequence

from pydantic import Field
from torch import nn

from autoencoder_pipelines.nn.kinds.base import Architecture
from autoencoder_pipelines.nn.kinds.conv import _Reshape
from autoencoder_pipelines.nn.kinds.vae import Vae, VaeOptions, VariationalAutoencoder


class Conv1dVaeOptions(VaeOptions):
    # With the per-value MSE of windows (model.loss auto), beta = 2 sigma^2 makes the objective the
    # ELBO of a Gaussian likelihood with noise deviation sigma per value (0.01: sigma ~ 0.07 of a
    # series' range). beta 1 there, or bce, let the KL win: on a sum of sines the posterior
    # collapsed and prior draws decoded to flat windows.
    beta: float = Field(
        0.01, ge=0,
        description="Weight of the KL term; with mse on windows, 2 x the noise variance per value (a Gaussian "
        "likelihood).",
    )
    channels: list[int] = Field(
        default_factory=lambda: [16, 32], min_length=1,
        description="Channels of each 1-D conv block over time.",
    )
    kernel_size: int = Field(
        5, ge=1,
        description="Time steps each convolution sees; odd keeps the length (\"same\" padding).",
    )


class Conv1dVariationalAutoencoder(VariationalAutoencoder):
    def __init__(self, window_shape: tuple[int, int], code_size: int, channels: Sequence[int] = (16, 32),
                 kernel_size: int = 5) -> None:
        nn.Module.__init__(self)
        n_channels, length = window_shape
        self.window_shape = (n_channels, length)
        self._n_features, self._code_size = n_channels * length, code_size
        padding = kernel_size // 2
        blocks: list[nn.Module] = []
        used, width = [], n_channels
        for out_channels in channels:
            if length % 2:
                break
            blocks += [nn.Conv1d(width, out_channels, kernel_size, padding=padding), nn.ReLU(), nn.MaxPool1d(2)]
            used.append(out_channels)
            width, length = out_channels, length // 2
        self.channels = tuple(used)
        bottleneck = (width, length)
        flat = math.prod(bottleneck)
        self.body = nn.Sequential(_Reshape(*self.window_shape), *blocks, nn.Flatten())
        self.mu_head = nn.Linear(flat, code_size)
        self.logvar_head = nn.Linear(flat, code_size)
        up: list[nn.Module] = []
        for k in reversed(range(len(used))):
            out_channels = used[k - 1] if k > 0 else used[0]
            up += [nn.Upsample(scale_factor=2, mode="nearest"),
                   nn.Conv1d(used[k], out_channels, kernel_size, padding=padding), nn.ReLU()]
        self.decoder_body = nn.Sequential(nn.Linear(code_size, flat), nn.ReLU(), _Reshape(*bottleneck), *up)
        self.decoder_out = nn.Sequential(
            nn.Conv1d(used[0] if used else n_channels, n_channels, kernel_size, padding=padding), nn.Flatten()
        )


class Conv1dVae(Vae):
    name = "conv1d_vae"
    Options = Conv1dVaeOptions

    def check_data(self, arch: Architecture) -> str | None:
        if not arch.window_shape:
            return "model.kind 'conv1d_vae' needs windows of a series: set data.source to windows"
        return super().check_data(arch)

    def network(self, arch: Architecture) -> nn.Module:
        options = self.options(arch)
        return Conv1dVariationalAutoencoder(arch.window_shape, arch.code_size, options.channels, options.kernel_size)


KIND = Conv1dVae()
