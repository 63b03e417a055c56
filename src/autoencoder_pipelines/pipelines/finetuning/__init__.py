"""Fine-tuning: encoder + classifier head (against a random-init twin), and the denoiser."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
