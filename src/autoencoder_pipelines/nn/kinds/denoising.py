"""Denoising (Vincent et al. 2010): each layer learns to undo the corruption of its own input
(`corruption`, or `pretrain.layer_corruption` per layer) from the clean codes below it."""

from autoencoder_pipelines.nn.kinds.base import AutoencoderKind


class Denoising(AutoencoderKind):
    name = "denoising"
    corrupts_inputs = True


KIND = Denoising()
