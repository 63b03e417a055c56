"""The reduction autoencoder: the pretrained stack fine-tuned end to end, and its reconstruction error."""

from __future__ import annotations

import logging

import numpy as np

from autoencoder_pipelines.config import ModelParams, ReductionParams
from autoencoder_pipelines.data.frames import ModelInput
from autoencoder_pipelines.jobs.runtime import History, Network, Runtime

logger = logging.getLogger(__name__)


def finetune_reduction_autoencoder(
    stack: Network, data: ModelInput, model: ModelParams, reduction: ReductionParams, runtime: Runtime
) -> tuple[Network, History]:
    """Fine-tune the unrolled stack clean -> clean: the best reconstruction for its code size
    (the denoiser trades clean-input fidelity for robustness to noise)."""
    from autoencoder_pipelines.jobs import autoencoders

    return autoencoders.fine_tune_phase(stack, data, model, reduction, runtime, "reduction")


def reconstruction_mse(autoencoder: Network, x: np.ndarray) -> float:
    """Mean squared error per value of the autoencoder's reconstruction of `x` (its rows, float32)."""
    import torch

    from autoencoder_pipelines.nn.inference import predict_in_batches

    autoencoder.eval()
    reconstruction = predict_in_batches(autoencoder, torch.tensor(x)).numpy()
    return float(((reconstruction - x) ** 2).mean())
