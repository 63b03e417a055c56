"""Batch scoring of new files in the inbox with the registered model the alias points to (for
scheduled jobs)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
