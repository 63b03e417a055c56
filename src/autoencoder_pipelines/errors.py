"""Errors a user fixes (config, data, environment), not bugs: the CLI shows them as one line.

They derive from click's ClickException, which `kedro run` prints as `Error: <message>`
with exit code 1 and no traceback; in Python they are ordinary ValueErrors.
"""

from __future__ import annotations

import click


class UserError(click.ClickException, ValueError):
    """Base of errors whose message says everything needed to fix them."""


class ConfigError(UserError):
    """A parameter is missing, unknown, mistyped or out of range."""


class DataValidationError(UserError):
    """Input data cannot be used as it is."""


class TrackingStoreError(UserError):
    """The MLflow tracking store cannot be written."""
