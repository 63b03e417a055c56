"""The scoring runs over time: anomaly rate and drift per run, with the thresholds
(`kedro run --pipelines=monitor`)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
