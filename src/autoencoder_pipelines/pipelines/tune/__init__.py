"""Tuning: an Optuna study (TPE or a grid) of the reconstruction, classifier or detector job,
each trial a nested MLflow run, the study in sqlite so a search resumes."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
