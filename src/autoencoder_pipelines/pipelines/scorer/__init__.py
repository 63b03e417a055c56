"""Bundle what training fitted into one versioned scorer (also logged as an MLflow pyfunc model)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
