"""The MLflow run of each `kedro run`: named after what sets it apart, the settings it is
compared on as parameters, figures only where they apply, the experiment opened where a model
trainer works; statuses earned (FINISHED, FAILED with the error, KILLED), runs of dead processes
closed, no telemetry."""

from __future__ import annotations

import json
import logging
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
    run_name,
)
from autoencoder_pipelines.tracking.store import check_tracking_store, prepare_store
from autoencoder_pipelines.tracking.ui import VIEW


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("Default")  # not the experiment an earlier run in this process set (another store's)
    yield MlflowClient(uri)
    while mlflow.active_run():
        mlflow.end_run()


def test_parameters_in_one_call_that_mlflow_splits_and_long_values_become_tags(store, monkeypatch):
    calls = []
    fluent = mlflow.tracking.fluent.log_params
    monkeypatch.setattr(mlflow, "log_params", lambda params: (calls.append(len(params)), fluent(params)))
    parameters = flatten({"model": {"hidden_sizes": [32, 8], "sparse": {"weight": 0.1}}, "many": {f"p{i}": i for i in range(150)},
                          "notes": {"text": "x" * (PARAM_VALUE_LIMIT + 1)}})
    with mlflow.start_run() as run:
        log_parameters(parameters)
    assert calls == [152]  # more than MLflow's 100 a request: MLflow batches them itself
    logged = store.get_run(run.info.run_id).data
    assert len(logged.params) == 152
    assert logged.params["model.hidden_sizes"] == "[32, 8]" and logged.params["model.sparse.weight"] == "0.1"
    assert "notes.text" not in logged.params and logged.tags["notes.text"].startswith("xxx")
    assert flatten({"a": {"b": {}}, "c": 1}) == {"a.b": {}, "c": 1}


def test_run_names_say_what_sets_a_run_apart():
    names = [run_name("denoise", {}), run_name("denoise", {"model.kind": "sparse"}),
             run_name("denoise", {"corruption.level": 0.5})]
    assert names == ["denoise", "denoise kind=sparse", "denoise corruption.level=0.5"]
    assert run_name("trial 3", {"learning_rate": 0.00123456, "width": 1.0, "sizes": [64, 32], "promote": True}) == \
        "trial 3 learning_rate=0.001235 width=1 sizes=[64,32] promote=true"
    assert len(run_name("denoise", {"data.label_column": "x" * 400})) == 250  # MLflow's limit
    # what sets runs of one table apart first, the data last, its path as the file's name
    assert run_name("tune", {"data.source": "csv", "data.path": "data/01_raw/breast_cancer.csv", "tune.objective": "accuracy"}) \
        == "tune tune.objective=accuracy data.source=csv data.path=breast_cancer.csv"


def test_an_overridden_run_is_named_after_its_overrides_and_opens_where_a_model_trainer_works(make_project, tiny, capsys):
    project = make_project(tiny)
    project.run("anomaly", anomaly={"epochs": 1}, split={"val_fraction": 0.15})
    (run,) = project.runs()
    assert run.info.run_name == "anomaly anomaly.epochs=1 split.val_fraction=0.15"
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("`session.run(pipeline_names=['anomaly'], runtime_params={'anomaly.epochs': 1, ")
    assert "metrics: test/anomaly.roc_auc " in note
    # only the sections the anomaly pipeline reads, and what the data decided
    assert {key.split(".")[0] for key in run.data.params} == {"anomaly", "data", "split", "runtime", "derived"}
    assert run.data.params["anomaly.epochs"] == "1" and len(run.data.metrics) <= 60
    experiment = project.client().get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(experiment.tags[f"mlflow.sharedViewState.{VIEW}"])  # a saved view, its state as JSON text
    columns = json.loads(view["state"])["selectedColumns"]
    assert columns[:3] == ["params.`derived.data.file`", "params.`model.kind`", "metrics.`test/finetune.test_accuracy`"]
    assert "metrics.`test/anomaly.roc_auc`" in columns and not any("score." in c or "monitor/" in c for c in columns)
    assert run.data.params["derived.data.file"] == "sklearn digits"  # the bundled data
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith(
        f"/#/experiments/{run.info.experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW}")


def test_the_scoring_experiment_shows_the_scoring_columns_first():
    from autoencoder_pipelines.tracking.ui import experiment_tags

    view = json.loads(json.loads(experiment_tags(scoring=True)[f"mlflow.sharedViewState.{VIEW}"])["state"])
    assert view["selectedColumns"][:3] == ["params.`model.name`", "params.`model.version`", "metrics.`score.rows_scored`"]
    assert not any("test/" in column or "model.kind" in column for column in view["selectedColumns"])


def test_the_experiment_view_is_set_once_and_a_changed_one_is_kept(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = prepare_store(uri, tmp_path, "e")
    client = MlflowClient(uri)
    assert client.get_experiment(experiment).tags["mlflow.experimentKind"] == "custom_model_development"
    client.set_experiment_tag(experiment, f"mlflow.sharedViewState.{VIEW}", '{"selectedColumns": []}')  # a user's own
    assert prepare_store(uri, tmp_path, "e") == experiment
    assert client.get_experiment(experiment).tags[f"mlflow.sharedViewState.{VIEW}"] == '{"selectedColumns": []}'


def test_a_figure_that_does_not_apply_is_neither_written_nor_logged_and_an_older_one_goes(store, tmp_path, caplog):
    from autoencoder_pipelines.jobs.figures import placeholder, pyplot
    from autoencoder_pipelines.tracking.datasets import ArtifactDataset

    path = tmp_path / "generated_samples.png"
    path.write_bytes(b"an earlier run's figure")
    dataset = ArtifactDataset({"type": "autoencoder_pipelines.framework.datasets.MatplotlibDataset",
                               "filepath": str(path)}, artifact_path="figures")
    with mlflow.start_run() as run, caplog.at_level(logging.INFO, logger="autoencoder_pipelines"):
        dataset.save(placeholder("Generated samples", "this model.kind does not generate"))
        assert not path.exists() and store.list_artifacts(run.info.run_id) == []
        assert "generated samples does not apply: this model.kind does not generate (removed an earlier run's)" \
            in caplog.text
        dataset.save(pyplot().figure())  # a figure that applies: written and logged
    assert path.stat().st_size > 0
    assert [a.path for a in store.list_artifacts(run.info.run_id, "figures")] == ["figures/generated_samples.png"]


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
    kedro-telemetry's catalog hook also imported every dataset class, Spark's included). Nor
    does a run pay for what it does not use: MLflow's Databricks serverless-GPU probe (it
    imported IPython, 0.3 s) is off, and the figures' dataset imports matplotlib only when the
    catalog asks for it. kedro_telemetry.plugin._check_for_telemetry_consent and
    mlflow.tracking.fluent._get_sgc_job_run_id_tag_key and the variable behind it are private:
    pinned here."""
    code = ("import autoencoder_pipelines.settings, pathlib, sys; "
            "import autoencoder_pipelines.framework.datasets as datasets; "
            "from mlflow.telemetry import get_telemetry_client; "
            "from kedro_telemetry.plugin import _check_for_telemetry_consent; "
            "from mlflow.tracking.fluent import _get_sgc_job_run_id_tag_key; "
            "from mlflow.environment_variables import _MLFLOW_ENABLE_SGC_RUN_RESUMPTION_FOR_DATABRICKS_JOBS as sgc; "
            "print(get_telemetry_client(), _check_for_telemetry_consent(pathlib.Path(sys.argv[1])), sgc.get(), "
            "_get_sgc_job_run_id_tag_key(), 'IPython' in sys.modules, 'matplotlib' in sys.modules, "
            "datasets.MatplotlibDataset.__module__)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_DISABLE_TELEMETRY", "KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "CI",
                        "MLFLOW_ENABLE_SGC_RUN_RESUMPTION_FOR_DATABRICKS_JOBS")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         check=True).stdout
    # sgc.get() False: the probe is off whether or not IPython is installed (kedro-viz brings it)
    assert out.strip().splitlines()[-1] == "None False False None False False autoencoder_pipelines.framework.datasets"


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


def test_a_training_run_is_compared_on_what_it_trains_with_not_on_scoring_or_effort_settings():
    from autoencoder_pipelines.tracking.hook import tracked_parameters

    parameters = {
        "model": {"kind": "denoising", "hidden_sizes": [32, 8], "vae": {"beta": 1.0}},
        "anomaly": {"lr_schedule": "constant", "anneal_epochs": 5, "epochs": 2},
        "finetune": {"lr_schedule": "anneal_on_plateau", "anneal_epochs": 5},
        "report": {"contraction_rows": 300, "generation_rows": 500},
        "reduction": {"classifier_rows": 2000, "clustering": {"enabled": True, "n_init": 10}},
        "runtime": {"seed": 42, "cuda_graphs": False, "checkpoint_seconds": 30.0},
    }
    tracked = tracked_parameters(parameters, set(parameters))
    assert sorted(tracked) == ["anomaly.epochs", "anomaly.lr_schedule", "finetune.anneal_epochs",
                               "finetune.lr_schedule", "model.hidden_sizes", "model.kind",
                               "reduction.clustering.enabled", "runtime.seed"]
    contractive = tracked_parameters({**parameters, "model": {"kind": "contractive"}}, set(parameters))
    assert "report.contraction_rows" in contractive and "report.generation_rows" not in contractive
