"""Ingest, validate, split and scale: the start of every training (no torch needed)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
