"""The scoring model in the MLflow Model Registry: registered by training with a signature, an
input example and requirements that cover everything its code imports; promoted only when
asked; servable the way `mlflow models serve` serves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_digits

from autoencoder_pipelines.tracking.models import PIP_REQUIREMENTS

NAME = "autoencoder-pipelines"
DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])


def _model_dir(project, uri: str = f"models:/{NAME}/1") -> Path:
    location = project.call(mlflow.models.get_model_info, uri).artifact_path
    return Path(location.removeprefix("file://"))


def test_training_registers_a_version_it_does_not_promote(trained_project):
    client = trained_project.client()
    (version,) = client.search_model_versions(f"name = '{NAME}'")
    training = next(r for r in trained_project.runs() if r.info.run_name == "denoise")
    assert int(version.version) == 1 and version.run_id == training.info.run_id
    assert client.get_registered_model(NAME).aliases == {}  # finishing a run promotes nothing

    model = _model_dir(trained_project)
    assert (model / "requirements.txt").read_text().split() == PIP_REQUIREMENTS
    assert not [p for p in model.rglob("*") if p.suffix in (".pkl", ".pickle", ".cloudpickle")]
    assert (model / "code" / "autoencoder_pipelines" / "jobs" / "scoring.py").is_file()
    info = trained_project.call(mlflow.models.get_model_info, f"models:/{NAME}/1")
    assert [c.name for c in info.signature.inputs.inputs] == list(DIGITS.columns)
    outputs = [c.name for c in info.signature.outputs.inputs]
    assert outputs[0] == "id" and {"z_0", "reconstruction_error", "is_anomaly", "predicted_class"} <= set(outputs)
    example = json.loads((model / "serving_input_example.json").read_text())["dataframe_split"]
    assert example["columns"] == list(DIGITS.columns) and len(example["data"]) == 5


def test_a_training_run_promotes_only_when_asked(trained_project, tmp_path, capsys):
    project = trained_project.copy(tmp_path / "project")
    project.run("scorer")  # the training step that builds and registers the scoring model
    assert project.client().get_registered_model(NAME).aliases == {}
    assert "registered 'autoencoder-pipelines' version 2, not promoted: kedro run --pipelines=promote " \
           "--params=registry.version=2" in capsys.readouterr().out

    project.run("scorer", registry={"promote": True})
    assert project.client().get_registered_model(NAME).aliases == {"champion": 3}
    summary = capsys.readouterr().out.strip().splitlines()[-4:]  # printed last
    assert summary[0].startswith("MLflow run ")  # named after its override
    assert summary[0].endswith(" (scorer registry.promote=true) FINISHED, experiment 'autoencoder_pipelines'")
    assert summary[1] == "  model: registered 'autoencoder-pipelines' version 3, promoted to @champion"
    assert summary[2] == "  outputs: data/06_models"
    assert summary[3] == (f"  UI: mlflow ui --backend-store-uri {project.uri}   then http://127.0.0.1:5000/#/experiments/1/"
                          "runs?workflowType=machine_learning&viewStateShareKey=autoencoder-pipelines")


def test_promote_on_a_run_that_cannot_register_is_refused_before_a_run_opens(trained_project, tmp_path):
    from autoencoder_pipelines.data.errors import ConfigError

    project = trained_project.copy(tmp_path / "project")
    project.path("conf/local/mlflow.yml").write_text("disable_for_pipelines: [scorer]\n")
    before = len(project.runs())
    with pytest.raises(ConfigError, match="registry.promote=true needs an MLflow run to register the model in"):
        project.run("scorer", registry={"promote": True})
    assert len(project.runs()) == before and len(project.client().search_model_versions(f"name = '{NAME}'")) == 1


# The modules the model's own code (this package, and MLflow's copy of scoring_pyfunc.py)
# imports while MLflow loads the model and predicts on its input example, in a fresh
# interpreter: recorded at every `import` statement those modules execute, so optional imports
# of the libraries themselves (pandas trying pyarrow, ...) are theirs to declare.
_IMPORTS = """
import builtins, json, sys
imported, real_import = set(), builtins.__import__
def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__") or ""
    if level == 0 and importer.startswith(("autoencoder_pipelines", "code_model")):
        imported.add(name.split(".")[0])
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = recording_import
import mlflow.pyfunc
from mlflow.models import Model
model = mlflow.pyfunc.load_model(sys.argv[1])
model.predict(Model.load(sys.argv[1]).load_input_example(sys.argv[1]))
print(json.dumps({"imported": sorted(imported), "from": sys.modules["autoencoder_pipelines"].__file__}))
"""


def test_the_model_code_imports_only_its_requirements(trained_project, tmp_path):
    from packaging.utils import canonicalize_name

    required = {}
    for requirement in PIP_REQUIREMENTS:  # pinned to the versions the project runs and tests with
        name, version = requirement.split("==")
        assert metadata.version(name).split("+")[0] == version, requirement  # torch: 2.13.0+cpu
        required[canonicalize_name(name)] = requirement
    model = _model_dir(trained_project)
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", _IMPORTS, str(model)], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["from"].startswith(str(model / "code"))  # the model's own copy of the package
    imported = set(report["imported"]) - set(sys.stdlib_module_names) - {"autoencoder_pipelines"}
    assert {"torch", "pandas", "numpy", "mlflow"} <= imported
    providers = metadata.packages_distributions()
    undeclared = {module: providers.get(module, ["?"]) for module in sorted(imported)
                  if not {canonicalize_name(d) for d in providers.get(module, [])} & set(required)}
    assert not undeclared, f"the model's code imports these, its requirements do not install them: {undeclared}"


def test_the_served_model_answers_a_dataframe_split_request(trained_project, tmp_path, monkeypatch):
    """What `mlflow models serve -m models:/<name>@champion` does with a POST to /invocations."""
    from mlflow.pyfunc.scoring_server import invocations

    project = trained_project.copy(tmp_path / "project")
    project.promote(1)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    model = project.call(mlflow.pyfunc.load_model, f"models:/{NAME}@champion")
    request = (_model_dir(project) / "serving_input_example.json").read_text()  # the curl of docs/scoring.md sends it
    response = invocations(request, "application/json", model, model.metadata.get_input_schema())
    assert response.status == 200, response.response
    predictions = pd.DataFrame(json.loads(response.response)["predictions"])
    assert list(predictions.columns) == [c.name for c in model.metadata.get_output_schema().inputs]
    assert len(predictions) == 5 and predictions["is_anomaly"].isin([True, False]).all()

    # a user's own rows, with integer values as a CSV export gives them
    rows = DIGITS.iloc[:3]
    own = json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": rows.astype(int).values.tolist()}})
    response = invocations(own, "application/json", model, model.metadata.get_input_schema())
    assert response.status == 200, response.response
    assert [row["id"] for row in json.loads(response.response)["predictions"]] == ["request:0", "request:1", "request:2"]
    # a missing column is refused by the signature (the server answers 400 with this message)
    missing = json.dumps({"dataframe_split": {"columns": list(rows.columns[:-1]), "data": rows.iloc[:, :-1].values.tolist()}})
    with pytest.raises(MlflowException, match=r"Model is missing inputs \['pixel_7_7'\]"):
        invocations(missing, "application/json", model, model.metadata.get_input_schema())


def _locked_store_error():
    """What MLflow raises when SQLite keeps a write waiting past its busy timeout."""
    import sqlite3

    import sqlalchemy.exc

    return sqlalchemy.exc.OperationalError(
        "INSERT INTO model_versions (name, version, creation_time) VALUES (?, ?, ?)", ("autoencoder-pipelines", 2, 0),
        sqlite3.OperationalError("database is locked"))


def test_a_training_whose_registration_fails_keeps_its_result_and_one_command_registers_it(
        trained_project, tmp_path, monkeypatch, capsys):
    from autoencoder_pipelines.tracking.hook import RegistrationFailedError

    project = trained_project.copy(tmp_path / "project")
    project.path("conf/local/mlflow.yml").write_text("store_wait_seconds: 1\n")

    def locked(*args, **kwargs):
        raise _locked_store_error()

    with monkeypatch.context() as patch:
        patch.setattr(mlflow, "register_model", locked)  # the store stays locked at registration
        with pytest.raises(RegistrationFailedError) as error:
            project.run("scorer", registry={"promote": True})
    run = max(project.runs(), key=lambda r: r.info.start_time)
    message = str(error.value)
    assert message.startswith(f"training finished (MLflow run {run.info.run_id} FINISHED, its scoring model logged), "
                              "but registering its model failed: the MLflow tracking store ")
    assert message.endswith(f"Later: kedro run --pipelines=register --params=registry.run_id={run.info.run_id},"
                            "registry.promote=true")
    assert "SQL" not in message and "INSERT" not in message and "\n" not in message
    assert run.info.status == "FINISHED" and "stayed locked" in run.data.tags["aep.registration_failed"]
    assert [output.model_id for output in run.outputs.model_outputs], "the model stays logged"
    assert len(project.client().search_model_versions(f"name = '{NAME}'")) == 1
    printed = capsys.readouterr().out
    assert "  model: logged (models:/m-" in printed and (
        f"NOT registered (see below); later: kedro run --pipelines=register --params=registry.run_id={run.info.run_id}"
        ",registry.promote=true") in printed

    project.run("register", registry={"run_id": run.info.run_id, "promote": True})  # the command it printed
    (version,) = project.client().search_model_versions(f"name = '{NAME}' and run_id = '{run.info.run_id}'")
    assert int(version.version) == 2 and project.client().get_registered_model(NAME).aliases == {"champion": 2}
    assert f"training run {run.info.run_id} is '{NAME}' version 2" in capsys.readouterr().out
    project.run("register", registry={"run_id": run.info.run_id})  # once only
    assert len(project.client().search_model_versions(f"name = '{NAME}'")) == 2


def test_register_refuses_a_run_without_a_scoring_model_or_no_run_at_all(trained_project, tmp_path):
    from autoencoder_pipelines.data.errors import ConfigError
    from autoencoder_pipelines.tracking.models import ModelNotFoundError

    project = trained_project.copy(tmp_path / "project")
    with pytest.raises(ConfigError, match="registering needs the training run: `kedro run --pipelines=register"):
        project.run("register")
    with pytest.raises(ModelNotFoundError, match="registry.run_id: there is no run 0123abc in the registry at"):
        project.run("register", registry={"run_id": "0123abc"})
    other = project.client().create_run(project.client().get_experiment_by_name("autoencoder_pipelines").experiment_id)
    with pytest.raises(ModelNotFoundError, match=f"run {other.info.run_id} .* logged no scoring model"):
        project.run("register", registry={"run_id": other.info.run_id})


def test_scoring_waits_for_a_store_another_process_holds_then_refuses_in_one_line(trained_project, tmp_path):
    from autoencoder_pipelines.tracking.store import StoreLockedError
    from tests.test_tracking import _hold_lock

    project = trained_project.copy(tmp_path / "project")
    project.promote(1)
    project.path("data/01_raw/incoming").mkdir(parents=True)
    DIGITS.iloc[:5].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)
    _hold_lock(project.path("mlflow.db"), 2.0)  # a writer that finishes in 2 s: waited for
    project.run("score")
    assert project.path("data/07_model_output/scored/day1.csv.parquet").exists()

    project.path("conf/local/mlflow.yml").write_text("store_wait_seconds: 1\n")
    DIGITS.iloc[5:10].to_csv(project.path("data/01_raw/incoming/day2.csv"), index=False)
    release = _hold_lock(project.path("mlflow.db"), None)  # a writer that does not let go
    try:
        started = time.monotonic()
        with pytest.raises(StoreLockedError) as error:
            project.run("score")
        assert time.monotonic() - started < 30
    finally:
        release()
    message = str(error.value)
    assert "stayed locked by another process for 1 s" in message and "SQL" not in message
    assert "Set MLFLOW_TRACKING_URI" not in message  # the store is fine; it is busy
    assert not project.path("data/07_model_output/scored/day2.csv.parquet").exists()


def test_timings_that_cannot_be_logged_do_not_cost_the_registration(trained_project, tmp_path, monkeypatch):
    project = trained_project.copy(tmp_path / "project")
    project.path("conf/local/mlflow.yml").write_text("store_wait_seconds: 0\n")

    def locked(*args, **kwargs):
        raise _locked_store_error()

    monkeypatch.setattr(mlflow, "log_metrics", locked)  # what the project hook logs the node timings with
    project.run("scorer")
    run = max(project.runs(), key=lambda r: r.info.start_time)
    assert run.info.status == "FINISHED" and "time/startup" not in run.data.metrics
    assert len(project.client().search_model_versions(f"name = '{NAME}' and run_id = '{run.info.run_id}'")) == 1
