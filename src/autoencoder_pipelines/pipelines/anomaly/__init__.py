"""Anomaly detection: the detector fitted on normal rows, its scores and flags, beside the
IsolationForest and PCA baselines on the same rows. Runs alone from raw data too."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
