"""Register the scoring model a training run logged (`registry.run_id`) as a new version, once:
the step a training whose registration failed (a locked store) leaves to do."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
