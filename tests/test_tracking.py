"""The MLflow run of each `kedro run`: every parameter flattened in a few calls, statuses
earned (FINISHED, FAILED with the error, KILLED), runs of dead processes closed, no telemetry."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from autoencoder_pipelines.config import flatten
from autoencoder_pipelines.data.errors import TrackingStoreError
from autoencoder_pipelines.tracking.hook import (
    PARAM_VALUE_LIMIT,
    log_parameters,
    mark_dead_runs_killed,
)
from autoencoder_pipelines.tracking.store import check_tracking_store


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("Default")  # not the experiment an earlier run in this process set (another store's)
    yield MlflowClient(uri)
    while mlflow.active_run():
        mlflow.end_run()


def test_parameters_are_flattened_batched_and_long_values_become_tags(store, monkeypatch):
    calls = []
    monkeypatch.setattr(mlflow, "log_params", lambda params: (calls.append(len(params)), mlflow.tracking.fluent.log_params(params)))
    parameters = {"model": {"hidden_sizes": [32, 8], "sparse": {"weight": 0.1}}, "many": {f"p{i}": i for i in range(150)},
                  "notes": {"text": "x" * (PARAM_VALUE_LIMIT + 1)}}
    with mlflow.start_run() as run:
        log_parameters(parameters)
    assert calls == [100, 52]  # MLflow takes at most 100 parameters a call
    logged = store.get_run(run.info.run_id).data
    assert logged.params["model.hidden_sizes"] == "[32, 8]" and logged.params["model.sparse.weight"] == "0.1"
    assert "notes.text" not in logged.params and logged.tags["notes.text"].startswith("xxx")
    assert flatten({"a": {"b": {}}, "c": 1}) == {"a.b": {}, "c": 1}


def test_a_failed_run_ends_failed_with_the_error(make_project, tiny):
    tiny["data"] = {"source": "csv", "path": "data/01_raw/rows.csv"}
    project = make_project(tiny)
    project.path("data/01_raw/rows.csv").write_text("a,b\n1,x\n2,y\n")
    with pytest.raises(Exception, match="2 rows; at least 20 are needed"):
        project.run("anomaly")
    (run,) = project.runs()
    assert run.info.status == "FAILED"
    assert "2 rows; at least 20 are needed" in run.data.tags["error"]


def test_refused_parameters_open_no_run(make_project, tiny):
    tiny["corruption"] = {"kind": "masking", "level": 2.0}
    project = make_project(tiny)
    with pytest.raises(Exception, match="corruption.level"):
        project.run("anomaly")
    assert project.runs() == []


def test_runs_left_running_by_a_dead_process_are_marked_killed(store):
    experiment = store.create_experiment("e")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = store.create_run(experiment, tags={"aep.host": socket.gethostname(), "aep.pid": dead}).info.run_id
    alive = store.create_run(experiment, tags={"aep.host": socket.gethostname(), "aep.pid": str(os.getpid())}).info.run_id
    other_host = store.create_run(experiment, tags={"aep.host": "elsewhere", "aep.pid": dead}).info.run_id
    mark_dead_runs_killed(experiment)
    assert store.get_run(stale).info.status == "KILLED"
    assert store.get_run(alive).info.status == "RUNNING"
    assert store.get_run(other_host).info.status == "RUNNING"


def test_tracking_store_check(tmp_path):
    (tmp_path / "ok").mkdir()
    check_tracking_store(f"sqlite:///{tmp_path / 'ok' / 'mlflow.db'}", tmp_path)  # a new store in a folder
    (tmp_path / "a_file").write_text("")
    with pytest.raises(TrackingStoreError, match="'sqlite:///.*a_file/mlflow.db' cannot be written"):
        check_tracking_store(f"sqlite:///{tmp_path / 'a_file' / 'mlflow.db'}", tmp_path)
    with pytest.raises(TrackingStoreError, match="cannot be written"):
        check_tracking_store(f"file://{tmp_path / 'a_file' / 'store'}", tmp_path)
    # a store to read the registry from must exist
    with pytest.raises(TrackingStoreError, match=r"there is no store at .*ok/other.db; nothing was created"):
        check_tracking_store(f"sqlite:///{tmp_path / 'ok' / 'other.db'}", tmp_path, must_exist=True)
    assert not (tmp_path / "ok" / "other.db").exists()


def test_a_store_in_a_folder_that_does_not_exist_is_refused_and_nothing_is_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'typo' / 'mlflow.db'}"
    for must_exist in (False, True):
        with pytest.raises(TrackingStoreError) as error:
            check_tracking_store(uri, tmp_path, must_exist=must_exist)
        assert str(error.value).startswith(f"MLflow tracking store '{uri}': the folder {tmp_path / 'typo'} does not "
                                           "exist (a typo in MLFLOW_TRACKING_URI or mlflow.yml?); nothing was created.")
    assert not (tmp_path / "typo").exists()


def test_a_tracking_server_that_does_not_answer_is_named_at_once(tmp_path):
    import time

    started = time.monotonic()
    with pytest.raises(TrackingStoreError) as error:
        check_tracking_store("http://127.0.0.1:9", tmp_path)  # the discard port: closed
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert "\n" not in message and message.startswith("MLflow tracking server http://127.0.0.1:9 does not answer (")
    assert "asked http://127.0.0.1:9/health with a 5 s timeout" in message


def test_mlflow_and_kedro_telemetry_are_off_when_the_project_is_loaded(tmp_path):
    """Also where no .telemetry file says so: the packaged project on a scoring machine (there,
    kedro-telemetry's catalog hook also imported every dataset class, Spark's included).
    kedro_telemetry.plugin._check_for_telemetry_consent is private: pinned here."""
    code = ("import autoencoder_pipelines.settings, pathlib, sys; "
            "from mlflow.telemetry import get_telemetry_client; "
            "from kedro_telemetry.plugin import _check_for_telemetry_consent; "
            "print(get_telemetry_client(), _check_for_telemetry_consent(pathlib.Path(sys.argv[1])))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_DISABLE_TELEMETRY", "KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "CI")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "None False"


def _interruptible_kedro(project) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": project.uri, "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines=denoise"], cwd=project.root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # a child of a process that ignores Ctrl-C (a background job, some CI runners) would too
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_ctrl_c_and_sigterm_end_a_real_run_killed_and_keep_its_checkpoints(make_project, tiny):
    """Both signals mid-training: one line on the screen, exit 130 / 143, the MLflow run KILLED,
    the data folder free for the next training, the checkpoints kept for the restart."""
    from autoencoder_pipelines.framework.locks import TrainingLock

    tiny["pretrain"] = {"epochs": 200, "batch_size": 128, "patience": None}
    projects = {signal.SIGINT: make_project(tiny, name="interrupted"), signal.SIGTERM: make_project(tiny, name="terminated")}
    runs = {sig: _interruptible_kedro(project) for sig, project in projects.items()}
    deadline = time.time() + 240
    for sig, project in projects.items():
        while not list(project.path("data/06_models/checkpoints").glob("*/pretrain.layer_1.pt")):
            assert runs[sig].poll() is None and time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        runs[sig].send_signal(sig)
    for sig, project in projects.items():
        output, _ = runs[sig].communicate(timeout=120)
        assert runs[sig].returncode == 128 + sig, output[-3000:]
        assert "Traceback" not in output
        if sig == signal.SIGINT:
            assert output.strip().splitlines()[-1].startswith("Interrupted: the MLflow run ends KILLED")
        (run,) = project.runs()
        assert run.info.status == "KILLED", sig
        assert list(project.path("data/06_models/checkpoints").glob("*/pretrain.layer_1.pt")), "kept for the restart"
        lock = TrainingLock(project.path("data"))
        lock.acquire("refuse")  # the folder is free
        lock.release()


# -- a store another process holds locked (issue 32) ---------------------------------------

def _hold_lock(database, seconds: float | None):
    """Another writer: an exclusive SQLite transaction on `database`, released after `seconds`
    (None: when the returned function is called)."""
    import sqlite3
    import threading

    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release():
        if not released.is_set():
            released.set()
            holder.execute("COMMIT")
            holder.close()

    if seconds is not None:
        threading.Timer(seconds, release).start()
    return release


def test_a_locked_store_is_waited_for_then_refused_in_one_line_without_sql(tmp_path):
    from autoencoder_pipelines.tracking.store import StoreLockedError

    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    check_tracking_store(uri, tmp_path)
    _hold_lock(database, 1.5)
    started = time.monotonic()
    check_tracking_store(uri, tmp_path, wait=30)  # waits for the other writer, then goes on
    assert 1.0 < time.monotonic() - started < 20
    release = _hold_lock(database, None)
    try:
        started = time.monotonic()
        with pytest.raises(StoreLockedError) as error:
            check_tracking_store(uri, tmp_path, wait=1)
        assert time.monotonic() - started < 10
    finally:
        release()
    message = str(error.value)
    assert message.startswith(f"the MLflow tracking store '{uri}' stayed locked by another process for 1 s")
    assert "store_wait_seconds" in message and "\n" not in message and "SQL" not in message
    assert error.value.exit_code == 75


def test_waiting_for_store_retries_only_a_lock_and_only_for_the_wait():
    import sqlite3

    import sqlalchemy.exc

    from autoencoder_pipelines.data.errors import user_error
    from autoencoder_pipelines.tracking.store import StoreLockedError, waiting_for_store

    def locked():
        return sqlalchemy.exc.OperationalError("INSERT INTO model_versions (name, version) VALUES (?, ?)", ("m", 2),
                                               sqlite3.OperationalError("database is locked"))

    calls = []

    def twice_locked():
        calls.append(1)
        if len(calls) < 3:
            raise locked()
        return "registered"

    assert waiting_for_store(twice_locked, "registering", "sqlite:///x.db", wait=30) == "registered" and len(calls) == 3
    with pytest.raises(StoreLockedError, match="stayed locked by another process for 0 s while registering"):
        waiting_for_store(lambda: (_ for _ in ()).throw(locked()), "registering", "sqlite:///x.db", wait=0)
    with pytest.raises(ZeroDivisionError):  # anything else is not waited for
        waiting_for_store(lambda: 1 / 0, "registering", "sqlite:///x.db", wait=30)
    # a lock that surfaces anywhere else is one short refusal too, without its SQL
    message = user_error(locked()).format_message()
    assert message.startswith("the MLflow tracking store is locked by another process") and "INSERT" not in message


def test_mlflow_s_own_records_of_a_locked_store_are_left_out_of_the_log():
    import logging
    import sqlite3

    import sqlalchemy.exc

    from autoencoder_pipelines.tracking.store import configure_wait

    configure_wait(60)
    logger = logging.getLogger("mlflow.store.db.utils")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        try:
            raise sqlalchemy.exc.OperationalError("SELECT runs.run_uuid FROM runs", (),
                                                  sqlite3.OperationalError("database is locked"))
        except sqlalchemy.exc.OperationalError:
            logger.exception("SQLAlchemy database error. The following exception is caught.")
        logger.error("another error")
    finally:
        logger.removeHandler(handler)
    assert seen == ["another error"]
