"""Undercomplete: a plain bottleneck autoencoder, pretrained greedily without noise."""

from autoencoder_pipelines.nn.kinds.base import AutoencoderKind


class Undercomplete(AutoencoderKind):
    name = "undercomplete"


KIND = Undercomplete()
