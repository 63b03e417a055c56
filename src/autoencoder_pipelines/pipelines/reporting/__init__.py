"""metrics.json, MLflow metrics and the figures people look at."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
