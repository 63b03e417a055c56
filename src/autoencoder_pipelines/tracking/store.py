"""The MLflow store: a default in the project, a check at start-up that fails naming the URI
when the store cannot be used (a folder that does not exist is refused, never created; a
tracking server is asked for its health with a short timeout), and its creation under a lock:
two processes starting on a new SQLite store at the same moment would both create its tables
(alembic), and all but one crash."""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from autoencoder_pipelines.data.errors import TrackingStoreError

SERVER_TIMEOUT_S = 5.0  # mlflow.yml server_timeout_seconds: how long a tracking server has to answer


def _writable_directory(directory: Path, uri: str, what: str, create: bool = False) -> None:
    """`directory` exists (or, with `create`, is made) and takes a file."""
    blocking = next((p for p in [directory, *directory.parents] if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise TrackingStoreError(
            f"MLflow {what} '{uri}' cannot be written ({blocking} is a file, not a folder). "
            "Set MLFLOW_TRACKING_URI to a writable store."
        )
    if not create and not directory.exists():
        raise TrackingStoreError(
            f"MLflow {what} '{uri}': the folder {directory} does not exist (a typo in MLFLOW_TRACKING_URI or "
            "mlflow.yml?); nothing was created. Create the folder for a new store, or point MLFLOW_TRACKING_URI "
            "at an existing one."
        )
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise TrackingStoreError(
            f"MLflow {what} '{uri}' cannot be written ({error.strerror or error}: {directory}). "
            "Set MLFLOW_TRACKING_URI to a writable store."
        ) from None


def check_server(uri: str, timeout: float = SERVER_TIMEOUT_S) -> None:
    """A tracking server answers its health check within `timeout` seconds (any HTTP answer
    will do: the server is up); MLflow's own client would retry in silence for minutes."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered (an authenticating proxy, an older server): up
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        raise TrackingStoreError(
            f"MLflow tracking server {uri} does not answer ({text}; asked {uri.rstrip('/')}/health with a "
            f"{timeout:g} s timeout): start it, or set MLFLOW_TRACKING_URI to a store that answers. Nothing was run."
        ) from None


def check_tracking_store(uri: str, project_path: Path, *, must_exist: bool = False,
                         server_timeout: float = SERVER_TIMEOUT_S) -> None:
    """Local stores (sqlite, file) are checked by writing to them, in a folder that exists (a new
    store is made in an existing folder only, and with `must_exist` not at all: a store to read
    from, the registry); a tracking server must answer its health check."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        check_server(uri, server_timeout)
        return
    path = sqlite_path(uri, project_path)
    if path is not None:
        _writable_directory(path.parent, uri, "tracking store")
        if must_exist and not path.exists():
            raise TrackingStoreError(
                f"MLflow tracking store '{uri}': there is no store at {path}; nothing was created. Point "
                "MLFLOW_TRACKING_URI at the store training registered its models in (or score a model folder: "
                "--params=model_uri=<folder>)."
            )
        try:
            connection = sqlite3.connect(path)
            connection.execute("CREATE TABLE IF NOT EXISTS _aep_write_check (x)")
            connection.execute("DROP TABLE IF EXISTS _aep_write_check")
            connection.close()
        except sqlite3.Error as error:
            raise TrackingStoreError(
                f"MLflow tracking store '{uri}' cannot be written ({error}). Set MLFLOW_TRACKING_URI to a writable store."
            ) from None
        # the SQLite store keeps artifacts in ./mlruns, the project's own
        _writable_directory(project_path / "mlruns", uri, "artifact store of", create=True)
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
    """Check the store, point MLflow at it, and create its tables and `experiment` once, under
    the store lock; returns the experiment id (None without an experiment)."""
    import mlflow

    with store_lock(uri, project_path):
        check_tracking_store(uri, project_path)
        mlflow.set_tracking_uri(uri)
        if experiment is None:
            mlflow.MlflowClient().search_experiments(max_results=1)  # creates the tables
            return None
        return mlflow.set_experiment(experiment).experiment_id
