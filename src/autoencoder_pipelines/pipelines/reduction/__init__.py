"""Dimensionality reduction: bottleneck codes per row, and PCA with as many components as the baseline."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
