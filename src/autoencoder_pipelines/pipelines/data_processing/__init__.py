"""Ingest, validate, split, scale, and corrupt the evaluation sets."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
