"""Greedy layer-wise pretraining of the stacked (denoising) autoencoder."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
