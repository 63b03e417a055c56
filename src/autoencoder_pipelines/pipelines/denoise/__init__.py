"""The whole training job: ingest -> pretrain -> fine-tune -> reduce -> score -> report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
