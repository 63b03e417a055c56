"""Point the registry's alias (`champion`) at a registered version: the explicit step that
changes the model scheduled scoring uses."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
