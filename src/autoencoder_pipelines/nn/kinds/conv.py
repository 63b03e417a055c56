"""Convolutional autoencoder for images given as flat rows (`data.image_shape`: [height, width]
for one channel, [channels, height, width] for colour, channel first), trained end to end on
reconstruction."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from pydantic import Field
from torch import nn

from autoencoder_pipelines.nn.kinds.base import (
    Architecture,
    AutoencoderKind,
    KindOptions,
)
from autoencoder_pipelines.nn.networks import NetsAutoencoder


class ConvOptions(KindOptions):
    channels: list[int] = Field(
        default_factory=lambda: [16, 32], min_length=1,
        description="Channels of each conv/pool block of the encoder (the decoder mirrors them), for "
        "data.image_shape images.",
    )


class _Reshape(nn.Module):
    """Rows <-> images inside a Sequential (reshape, so non-contiguous rows work too)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class ConvAutoencoder(NetsAutoencoder):
    """Encoder: (conv 3x3 + ReLU + maxpool 2) blocks for as many of `channels` as keep the
    spatial size even (8x8: 8->4->2; 28x28: 28->14->7), then a linear map to the code.
    Decoder mirrors it with (upsample 2 + conv 3x3 + ReLU) blocks and a final conv to the
    image's channels of logits. Rows in, rows out, with the stack's interface."""

    def __init__(self, image_shape: tuple[int, ...], code_size: int, channels: Sequence[int] = (16, 32)) -> None:
        super().__init__()
        image_channels, height, width = (1, *image_shape) if len(image_shape) == 2 else image_shape
        self.image_shape = (image_channels, height, width)
        self._n_features, self._code_size = image_channels * height * width, code_size
        blocks: list[nn.Module] = []
        used, in_channels = [], image_channels
        for out_channels in channels:
            if height % 2 or width % 2:
                break
            blocks += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            used.append(out_channels)
            in_channels, height, width = out_channels, height // 2, width // 2
        self.channels = tuple(used)
        bottleneck = (in_channels, height, width)
        flat = math.prod(bottleneck)
        self.encoder_net = nn.Sequential(
            _Reshape(*self.image_shape), *blocks, nn.Flatten(), nn.Linear(flat, code_size)
        )
        up: list[nn.Module] = []
        for k in reversed(range(len(used))):
            out_channels = used[k - 1] if k > 0 else used[0]
            up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(used[k], out_channels, 3, padding=1), nn.ReLU()]
        self.decoder_net = nn.Sequential(
            nn.Linear(code_size, flat), nn.ReLU(), _Reshape(*bottleneck), *up,
            nn.Conv2d(used[0] if used else image_channels, image_channels, 3, padding=1),
        )

    def decode_preactivation(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_net(z).flatten(start_dim=1)


class Conv(AutoencoderKind):
    name = "conv"
    stacks = False
    Options = ConvOptions

    def check_data(self, arch: Architecture) -> str | None:
        if not arch.image_shape or len(arch.image_shape) not in (2, 3):
            return ("model.kind 'conv' needs images: set data.image_shape to [height, width] or [channels, height, width] "
                    f"(got {arch.image_shape})")
        return super().check_data(arch)

    def network(self, arch: Architecture) -> nn.Module:
        return ConvAutoencoder(arch.image_shape, arch.code_size, channels=tuple(self.options(arch).channels))


KIND = Conv()
