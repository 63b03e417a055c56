"""The MLflow store: a default in the project, a check at start-up that fails naming the URI
when the store cannot be used (a folder that does not exist is refused, never created; a
tracking server is asked for its health with a short timeout), and its creation under a lock:
two processes starting on a new SQLite store at the same moment would both create its tables
(alembic), and all but one crash."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import unquote, urlparse

from autoencoder_pipelines.config import TrackingConfig
from autoencoder_pipelines.data.errors import TrackingStoreError
from autoencoder_pipelines.tracking.ui import experiment_tags

logger = logging.getLogger(__name__)

# mlflow.yml's defaults (config.TrackingConfig): how long a tracking server has to answer, how long
# a locked SQLite store is waited for
SERVER_TIMEOUT_S = TrackingConfig.model_fields["server_timeout_seconds"].default
STORE_WAIT_S = TrackingConfig.model_fields["store_wait_seconds"].default
T = TypeVar("T")


class StoreLockedError(TrackingStoreError):
    """The SQLite store stayed locked by another process for longer than the wait allows."""

    exit_code = 75  # EX_TEMPFAIL: try again later


def is_locked(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps) is SQLite's "database is locked"."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if "database is locked" in (str(error).splitlines() or [""])[0]:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def locked_message(uri: str, waited: float, doing: str) -> str:
    return (f"the MLflow tracking store '{uri}' stayed locked by another process for {waited:.0f} s while {doing} "
            "(store_wait_seconds in conf/base/mlflow.yml sets the wait); try again when it is free")


_wait = {"seconds": STORE_WAIT_S}  # this process's wait: mlflow.yml's, set by the tracking hook


class QuietLockedStore(logging.Filter):
    """Drops MLflow's own log records of a locked store (each an SQL statement and a traceback):
    waiting_for_store says it once, in a line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (is_locked(error) or "database is locked" in record.getMessage())


def configure_wait(seconds: float) -> None:
    """How long this process waits for a store another process holds locked (store_wait_seconds);
    MLflow's records of the lock are left out of the log."""
    _wait["seconds"] = float(seconds)
    mlflow_db = logging.getLogger("mlflow.store.db.utils")
    if not any(isinstance(f, QuietLockedStore) for f in mlflow_db.filters):
        mlflow_db.addFilter(QuietLockedStore())


def store_wait() -> float:
    return _wait["seconds"]


def waiting_for_store(action: Callable[[], T], doing: str, uri: str | None = None, wait: float | None = None) -> T:
    """`action()`, retried while the store is locked by another process, for up to `wait`
    seconds (store_wait(): mlflow.yml's store_wait_seconds; each MLflow call also waits up to
    20 s itself); then StoreLockedError, one line, no SQL. Other errors pass through."""
    if uri is None:
        import mlflow

        uri = mlflow.get_tracking_uri()
    wait = store_wait() if wait is None else wait
    started = time.monotonic()
    warned = False
    while True:
        try:
            return action()
        except Exception as error:
            if not is_locked(error):
                raise
            waited = time.monotonic() - started
            if waited >= wait:
                raise StoreLockedError(locked_message(uri, waited, doing)) from None
            if not warned:
                logger.warning("the MLflow tracking store '%s' is locked by another process while %s; waiting for it "
                               "(up to %.0f s)", uri, doing, wait)
                warned = True
            time.sleep(min(1.0, max(wait - waited, 0.0)))


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
                         server_timeout: float = SERVER_TIMEOUT_S, wait: float | None = None) -> None:
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
        _write_check(path, uri, store_wait() if wait is None else wait)
        # the SQLite store keeps artifacts in ./mlruns, the project's own
        _writable_directory(project_path / "mlruns", uri, "artifact store of", create=True)
    elif parsed.scheme in ("", "file"):
        _writable_directory(Path(unquote(parsed.path)), uri, "tracking store")


def _write_check(path: Path, uri: str, wait: float) -> None:
    """Write to the SQLite file (a table made and dropped), waiting up to `wait` seconds for a
    lock another process holds (said in the log when it has to wait)."""
    def write(timeout: float) -> None:
        connection = sqlite3.connect(path, timeout=timeout)
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS _aep_write_check (x)")
            connection.execute("DROP TABLE IF EXISTS _aep_write_check")
        finally:
            connection.close()

    started = time.monotonic()
    try:
        try:
            write(0.2)
        except sqlite3.OperationalError as error:
            if not is_locked(error) or wait <= 0.2:
                raise
            logger.warning("the MLflow tracking store '%s' is locked by another process; waiting for it (up to %.0f s, "
                           "store_wait_seconds in conf/base/mlflow.yml)", uri, wait)
            write(wait)
    except sqlite3.Error as error:
        if is_locked(error):
            raise StoreLockedError(locked_message(uri, time.monotonic() - started, "starting the run")) from None
        raise TrackingStoreError(
            f"MLflow tracking store '{uri}' cannot be written ({error}). Set MLFLOW_TRACKING_URI to a writable store."
        ) from None


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


def prepare_store(uri: str, project_path: Path, experiment: str | None, scoring: bool = False) -> str | None:
    """Check the store, point MLflow at it, and create its tables and `experiment` (with the
    experiment_tags it lacks: how the UI opens it; `scoring`: the scoring runs' experiment) once,
    under the store lock, waiting
    (store_wait()) for a store another process holds locked; returns the experiment id (None
    without an experiment)."""
    import mlflow

    def prepare() -> str | None:
        if experiment is None:
            mlflow.MlflowClient().search_experiments(max_results=1)  # creates the tables
            return None
        found = mlflow.set_experiment(experiment)
        for key, value in experiment_tags(scoring).items():
            if key not in found.tags:
                mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id

    with store_lock(uri, project_path):
        check_tracking_store(uri, project_path)
        mlflow.set_tracking_uri(uri)
        return waiting_for_store(prepare, "opening the experiment", uri)
