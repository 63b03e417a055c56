"""`kedro run --pipelines=register --params=registry.run_id=<run>` (and registry.promote=true to
promote the version too)."""

from __future__ import annotations

import logging

from autoencoder_pipelines.config import RegistryParams
from autoencoder_pipelines.data.errors import ConfigError

logger = logging.getLogger(__name__)


def register_version(registry: RegistryParams) -> None:
    """Register the scoring model of training run `registry.run_id` as a version of
    `registry.model_name` (once: a run already registered keeps its version), after checking
    that it loads; with `registry.promote`, point `registry.alias` at it."""
    from autoencoder_pipelines.tracking.models import promote, register_run

    if not registry.run_id:
        raise ConfigError("registering needs the training run: `kedro run --pipelines=register "
                          "--params=registry.run_id=<run id>` (the run's summary prints it)")
    version, new = register_run(registry.run_id, registry.model_name)
    logger.info("%s '%s' version %s (training run %s)", "registered" if new else "already registered as",
                registry.model_name, version, registry.run_id)
    if registry.promote:
        promote(registry.model_name, registry.alias, version)  # the tracking hook prints the result
