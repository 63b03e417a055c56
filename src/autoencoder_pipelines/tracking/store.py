"""The MLflow store: a default in the project, a check at start-up that fails naming the URI
when the store cannot be written, and its creation under a lock: two processes starting on a
new SQLite store at the same moment would both create its tables (alembic), and all but one
crash."""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from autoencoder_pipelines.data.errors import TrackingStoreError
from autoencoder_pipelines.tracking.ui import experiment_tags

def _writable_directory(directory: Path, uri: str, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise TrackingStoreError(
            f"MLflow {what} '{uri}' cannot be written ({error.strerror or error}: {directory}). "
            "Set MLFLOW_TRACKING_URI to a writable store."
        ) from None


def check_tracking_store(uri: str, project_path: Path) -> None:
    """Local stores (sqlite, file) are checked by writing to them; remote ones are not contacted."""
    parsed = urlparse(uri)
    path = sqlite_path(uri, project_path)
    if path is not None:
        _writable_directory(path.parent, uri, "tracking store")
        try:
            connection = sqlite3.connect(path)
            connection.execute("CREATE TABLE IF NOT EXISTS _aep_write_check (x)")
            connection.execute("DROP TABLE IF EXISTS _aep_write_check")
            connection.close()
        except sqlite3.Error as error:
            raise TrackingStoreError(
                f"MLflow tracking store '{uri}' cannot be written ({error}). Set MLFLOW_TRACKING_URI to a writable store."
            ) from None
        # the SQLite store keeps artifacts in ./mlruns
        _writable_directory(project_path / "mlruns", uri, "artifact store of")
    elif parsed.scheme in ("", "file"):
        _writable_directory(Path(unquote(parsed.path)), uri, "tracking store")


def default_tracking_uri(project_path: Path) -> str:
    """A SQLite store in the project (MLflow 3.13+ refuses the plain file store); artifacts
    go to ./mlruns beside it."""
    return f"sqlite:///{Path(project_path) / 'mlflow.db'}"


def sqlite_path(uri: str, project_path: Path) -> Path | None:
    """The file of a SQLite store (sqlite:///relative.db, sqlite:////absolute.db); None for others."""
    if urlparse(uri).scheme != "sqlite":
        return None
    raw = unquote(uri[len("sqlite:///"):])
    return Path(raw) if raw.startswith("/") else Path(project_path) / raw


@contextmanager
def store_lock(uri: str, project_path: Path) -> Iterator[None]:
    """Held while a process creates or upgrades the store and its experiment: a file lock
    beside a SQLite store (`mlflow.db.lock`); nothing for remote stores (the server serialises)."""
    path = sqlite_path(uri, project_path)
    if path is None:
        yield
        return
    from filelock import FileLock

    _writable_directory(path.parent, uri, "tracking store")
    with FileLock(path.with_name(path.name + ".lock"), thread_local=False):
        yield


def prepare_store(uri: str, project_path: Path, experiment: str | None) -> str | None:
    """Check the store, point MLflow at it, and create its tables and `experiment` (with the
    experiment_tags it lacks: how the UI opens it) once, under the store lock; returns the
    experiment id (None without an experiment)."""
    import mlflow

    with store_lock(uri, project_path):
        check_tracking_store(uri, project_path)
        mlflow.set_tracking_uri(uri)
        if experiment is None:
            mlflow.MlflowClient().search_experiments(max_results=1)  # creates the tables
            return None
        found = mlflow.set_experiment(experiment)
        for key, value in experiment_tags().items():
            if key not in found.tags:
                mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id
