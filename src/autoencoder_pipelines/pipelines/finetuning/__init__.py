"""Fine-tuning: encoder + classifier head (against a random-init twin), and the denoiser, with
the fixed noisy validation and test sets they are measured on."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
