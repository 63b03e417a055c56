"""`kedro run --pipelines=promote --params=registry.version=N`."""

from __future__ import annotations

from autoencoder_pipelines.config import RegistryParams


def promote_version(registry: RegistryParams) -> None:
    """Set `registry.alias` to `registry.version` of `registry.model_name` (which must exist)."""
    from autoencoder_pipelines.tracking.models import promote

    promote(registry.model_name, registry.alias, registry.version)  # the tracking hook prints the result
