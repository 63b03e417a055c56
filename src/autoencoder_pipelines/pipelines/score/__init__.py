"""Batch scoring of new files in the inbox with the last trained scorer (for scheduled jobs)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
