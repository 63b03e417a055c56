"""Anomaly detection by reconstruction error of an autoencoder of the normal rows."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
