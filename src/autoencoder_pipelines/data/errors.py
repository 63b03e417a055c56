"""Errors a user fixes (config, data, environment), not bugs: the CLI shows them as one short
block (cli.py).

They derive from click's ClickException, which `kedro run` prints as `Error: <message>`
with exit code 1 and no traceback; in Python they are ordinary ValueErrors.
"""

from __future__ import annotations

import errno
import logging
import sys

import click


class UserError(click.ClickException, ValueError):
    """Base of errors whose message says everything needed to fix them."""


class ConfigError(UserError):
    """A parameter is missing, unknown, mistyped or out of range."""


class DataValidationError(UserError):
    """Input data cannot be used as it is."""


class TrackingStoreError(UserError):
    """The MLflow tracking store cannot be written."""


class DiskFullError(UserError):
    """A file could not be written: no space left on its device."""


# A scoring run whose inputs drifted from what the model was trained on: not 0 (a scheduler must
# notice), not 1 (a refused file, a failure), not 2 (click's usage errors), not 75 (busy: retry).
ALERT_EXIT_CODE = 3


class MonitoringAlert(UserError):
    """A scoring run breached a `monitoring.*` threshold (docs/monitoring.md). Its scored rows
    are written and its MLflow run ends FINISHED with the breaches as its `alert` tag; the
    command exits ALERT_EXIT_CODE, so cron and Airflow see it."""

    exit_code = ALERT_EXIT_CODE
    label = "Alert"  # the CLI's first word, in place of click's "Error"
    footer = "(the rows are scored and written; exit code 3: docs/monitoring.md)"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.run_status = "FINISHED"
        self.run_tags = {"alert": message}


def user_error(error: BaseException | None) -> UserError | None:
    """The UserError behind `error`: itself, or the cause Kedro wrapped (a dataset's DatasetError).
    A full disk is one too (the user frees space), named by the file it could not write, and a
    store another process keeps locked (without the SQL statement that waited)."""
    seen: set[int] = set()
    current = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UserError):
            return current
        if "database is locked" in (str(current).strip().splitlines() or [""])[0]:  # SQLite's, through MLflow
            return TrackingStoreError(
                "the MLflow tracking store is locked by another process, and stayed so past the wait "
                "(store_wait_seconds in conf/base/mlflow.yml); try again when it is free")
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            where = f"{current.filename}: " if current.filename else ""
            return DiskFullError(f"{where}no space left on device (an earlier version of the file is unchanged); "
                                 "free some space there and run again")
        seen.add(id(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


class HideRepeatedRefusal(logging.Filter):
    """On the console handlers (set by cli.py for `kedro run`): drops Kedro's "Node ... failed
    with error" record when the error is a refusal (a UserError: bad data or settings, an
    alert), which the run's last lines show anyway, and its advice to resume with --from-nodes
    (or to repeat the command): what fixes a refusal is what its message says. Kedro logs both
    inside its `except` block, so the error is sys.exc_info()'s. The log files keep them."""

    RESUME_HINTS = ("nodes that have not run", "No nodes ran")  # kedro.runner's _suggest_resume_scenario

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kedro"):
            return True
        if record.levelno >= logging.ERROR or any(hint in record.getMessage() for hint in self.RESUME_HINTS):
            return user_error(sys.exc_info()[1]) is None
        return True
