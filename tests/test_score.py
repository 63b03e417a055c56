"""The `score` pipeline: the registered model the alias points to, pinned and stamped on every
row; incremental, per-partition failures, atomic outputs, runs in the scoring experiment with
the status they earned; a model that does not load (or a planted pickle) stops it cleanly."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from autoencoder_pipelines.jobs.scoring import Scorer
from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError
from autoencoder_pipelines.tracking.models import ModelLoadError, ModelNotFoundError

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])
NAME, SCORING = "autoencoder-pipelines", "autoencoder-pipelines-scoring"


@pytest.fixture
def scoring_project(trained_project, tmp_path):
    """A copy of the trained project (outputs, MLflow store, registered version 1) with version 1
    promoted to champion and an empty inbox."""
    project = trained_project.copy(tmp_path / "project")
    project.promote(1)
    project.path("data/01_raw/incoming").mkdir(parents=True)
    return project


def _training_run_id(project) -> str:
    return next(r for r in project.runs() if r.info.run_name == "denoise").info.run_id


def test_scoring_is_incremental_stamped_and_isolates_bad_partitions(scoring_project):
    project = scoring_project
    inbox, scored = project.path("data/01_raw/incoming"), project.path("data/07_model_output/scored")
    project.run("score")  # nothing in the inbox: nothing to do, and a success
    DIGITS.iloc[:40].to_csv(inbox / "day1.csv", index=False)
    DIGITS.iloc[40:100].to_parquet(inbox / "day2.parquet")
    DIGITS.iloc[:5].drop(columns=["pixel_3_3"]).to_csv(inbox / "day3_bad.csv", index=False)
    (inbox / "day4_nan.csv").write_text(DIGITS.iloc[:3].to_csv(index=False).replace("0.0,", ",", 1))

    with pytest.raises(ScoringFailedError) as error:
        project.run("score")
    message = str(error.value)
    assert "2 of 4 new partition(s) could not be scored (2 were, 100 rows)" in message
    assert "day3_bad.csv: 1 training feature column(s) missing, e.g. ['pixel_3_3']" in message
    assert "day4_nan.csv: 1 bad cell in 1 of 3 rows:\n  line 2, column 'pixel_0_0': missing (empty or NaN)" in message
    assert sorted(p.name for p in scored.iterdir()) == ["day1.csv.parquet", "day2.parquet.parquet"]
    day1, day2 = (pd.read_parquet(scored / f"{name}.parquet") for name in ("day1.csv", "day2.parquet"))
    assert len(day1) == 40
    assert {"id", "z_0", "reconstruction_error", "is_anomaly", "predicted_class", "predicted_probability"} <= set(day1.columns)
    # every row says which model scored it, and ids never repeat across files
    training_run = _training_run_id(project)
    for frame in (day1, day2):
        assert (frame["model_name"] == NAME).all() and (frame["model_version"] == 1).all()
        assert (frame["model_run_id"] == training_run).all()
    assert list(day1["id"].head(2)) == ["day1.csv:0", "day1.csv:1"]
    assert not set(day1["id"]) & set(day2["id"])

    # the run that scored 100 rows and refused 2 files ended FINISHED, with its figures
    assert [r.info.run_name for r in project.runs()] == ["denoise"]  # not in the training experiment
    partial = max(project.runs(SCORING), key=lambda r: r.info.start_time)
    assert partial.info.status == "FINISHED" and "ScoringFailedError" in partial.data.tags["error"]
    assert partial.data.metrics["score.rows_scored"] == 100
    assert partial.data.metrics["score.rows_refused"] == 8
    assert partial.data.metrics["score.partitions_failed"] == 2
    timings = project.call(mlflow.artifacts.load_dict, f"{partial.info.artifact_uri}/timings.json")
    assert timings["nodes"]["score_partitions"] > 0
    assert partial.data.params["model.version"] == "1" and partial.data.params["model.run_id"] == training_run

    # only bad files left: nothing could be scored, the run is FAILED
    with pytest.raises(ScoringFailedError):
        project.run("score")
    refused = max(project.runs(SCORING), key=lambda r: r.info.start_time)
    assert refused.info.status == "FAILED" and refused.data.metrics["score.rows_scored"] == 0

    # fixed inputs: only they are scored; what was scored stays untouched
    stamp = (scored / "day1.csv.parquet").stat().st_mtime_ns
    (inbox / "day3_bad.csv").unlink()
    (inbox / "day4_nan.csv").unlink()
    DIGITS.iloc[100:110].to_csv(inbox / "day5.csv", index=False)
    project.run("score")
    assert (scored / "day1.csv.parquet").stat().st_mtime_ns == stamp
    assert (scored / "day5.csv.parquet").exists()
    assert not [p for p in scored.iterdir() if p.name.endswith(".tmp")]

    runs = project.runs(SCORING)
    assert [r.info.status for r in sorted(runs, key=lambda r: r.info.start_time)] == [
        "FINISHED", "FINISHED", "FAILED", "FINISHED"]
    latest = max(runs, key=lambda r: r.info.start_time)
    assert latest.data.metrics["score.partitions_scored"] == 1
    assert latest.data.metrics["score.rows_scored"] == 10
    assert "score.anomaly_rate" in latest.data.metrics


def test_the_mlflow_model_scores_raw_rows_like_the_pipeline(scoring_project):
    project = scoring_project
    DIGITS.iloc[200:230].to_csv(project.path("data/01_raw/incoming/rows.csv"), index=False)
    project.run("score")
    from_pipeline = pd.read_parquet(project.path("data/07_model_output/scored/rows.csv.parquet"))

    model = project.call(mlflow.pyfunc.load_model, f"models:/{NAME}@champion")
    assert [c.name for c in model.metadata.get_input_schema().inputs] == list(DIGITS.columns)
    raw = pd.read_csv(project.path("data/01_raw/incoming/rows.csv")).astype("float64")
    from_mlflow = model.predict(raw)
    assert list(from_mlflow["id"].head(2)) == ["request:0", "request:1"]
    stamped = ["id", "model_name", "model_version", "model_run_id"]
    pd.testing.assert_frame_equal(from_mlflow.drop(columns="id").reset_index(drop=True),
                                  from_pipeline.drop(columns=stamped), check_dtype=False)


def test_scoring_without_a_champion_says_how_to_promote(trained_project, tmp_path):
    project = trained_project.copy(tmp_path / "project")  # version 1 registered, never promoted
    project.path("data/01_raw/incoming").mkdir(parents=True)
    DIGITS.iloc[:5].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)
    with pytest.raises(ModelNotFoundError) as error:
        project.run("score")
    message = str(error.value)
    assert "\n" not in message
    assert f"no model is registered as '{NAME}@champion'" in message and "registered versions: 1" in message
    assert "kedro run --pipelines=promote --params=registry.version=N" in message
    assert not project.path("data/07_model_output/scored").exists()
    (run,) = project.runs(SCORING)
    assert run.info.status == "FAILED"


def test_promotion_is_explicit_and_score_pins_the_version(trained_project, tmp_path):
    project = trained_project.copy(tmp_path / "project")
    training_run = _training_run_id(project)
    second = project.call(mlflow.register_model, f"runs:/{training_run}/scoring_model", NAME)
    assert int(second.version) == 2
    with pytest.raises(ModelNotFoundError, match="promoting needs the version to promote.*registered versions: 1, 2"):
        project.run("promote")
    with pytest.raises(ModelNotFoundError, match=f"'{NAME}' has no version 7.*registered versions: 1, 2"):
        project.run("promote", registry={"version": 7})
    project.run("promote", registry={"version": 2})
    assert int(project.client().get_model_version_by_alias(NAME, "champion").version) == 2
    assert project.runs(SCORING) == [] and len(project.runs()) == 1  # promotion opens no run

    inbox = project.path("data/01_raw/incoming")
    inbox.mkdir(parents=True)
    DIGITS.iloc[:5].to_csv(inbox / "a.csv", index=False)
    project.run("score")  # the champion
    DIGITS.iloc[5:10].to_csv(inbox / "b.csv", index=False)
    project.run("score", registry={"version": 1})  # a version set in config wins over the alias
    # a model folder copied out of the registry (a scoring machine without it) keeps its identity
    folder = project.call(mlflow.artifacts.download_artifacts, f"models:/{NAME}/1", dst_path=str(tmp_path / "copied"))
    DIGITS.iloc[10:15].to_csv(inbox / "c.csv", index=False)
    project.run("score", model_uri=folder)
    scored = project.path("data/07_model_output/scored")
    assert set(pd.read_parquet(scored / "a.csv.parquet")["model_version"]) == {2}
    assert set(pd.read_parquet(scored / "b.csv.parquet")["model_version"]) == {1}
    from_folder = pd.read_parquet(scored / "c.csv.parquet")
    assert set(from_folder["model_version"]) == {1} and set(from_folder["model_name"]) == {NAME}
    assert set(from_folder["model_run_id"]) == {training_run}
    assert max(project.runs(SCORING), key=lambda r: r.info.start_time).data.params["model.uri"] == folder


class _WritesAFile:
    """What a planted model file would run if it were unpickled."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _register_copy(project) -> tuple[int, Path]:
    """A new registered version (its artifacts in the copy's own store) and its stored scorer file."""
    from autoencoder_pipelines.tracking.models import log_scoring_model

    scorer_file = next(project.path("data/06_models/scoring_model.pt").glob("*/scoring_model.pt"))

    def log():
        # its own artifact folder: MLflow's default root is resolved against the first cwd it saw
        experiment = mlflow.create_experiment("planted", artifact_location=project.path("mlruns/planted").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            return log_scoring_model(Scorer.load(scorer_file), scorer_file, registered_name=NAME)

    version = int(project.call(log).registered_model_version)
    location = project.call(mlflow.models.get_model_info, f"models:/{NAME}/{version}").artifact_path
    stored = Path(location.removeprefix("file://")) / "artifacts" / "scoring_model.pt"
    assert stored.is_file() and project.root in stored.parents
    return version, stored


def test_a_planted_pickle_is_refused_and_never_runs(scoring_project, tmp_path):
    project = scoring_project
    version, stored = _register_copy(project)
    marker = stored.with_name("written_by_the_model_file")
    torch.save({"format": 1, "json": "{}", "state_dicts": {"x": _WritesAFile(marker)}}, stored)
    project.promote(version)
    DIGITS.iloc[:5].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)

    with pytest.raises(ModelLoadError) as error:
        project.run("score")
    message = str(error.value)
    assert "\n" not in message
    assert f"model '{NAME}' version {version} does not load: {stored}: refused" in message
    assert "never unpickled" in message and "posix.system" in message
    assert not marker.exists()
    assert not project.path("data/07_model_output/scored").exists()


def test_a_model_that_does_not_load_stops_scoring_in_one_line_and_leaves_the_inbox(scoring_project, tmp_path):
    project = scoring_project
    version, stored = _register_copy(project)
    stored.write_bytes(stored.read_bytes()[:200])  # truncated: a damaged upload
    project.promote(version)
    DIGITS.iloc[:5].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)

    result = project.kedro("run", "--pipelines=score")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    block = output.strip().splitlines()[-2:]  # the one-screen refusal: the error, where its traceback is
    assert block[0].startswith(f"Error: model '{NAME}' version {version} does not load: {stored}: not a model file"), output[-2000:]
    assert block[1] == "(traceback in errors.log; --verbose prints it here)"
    assert "Traceback" not in output
    assert not project.path("data/07_model_output/scored").exists()

    project.promote(1)  # the next scheduled run, after a fix, scores what was left
    project.run("score")
    assert (project.path("data/07_model_output/scored/day1.csv.parquet")).exists()


def test_the_readme_cron_line_runs_as_written(scoring_project):
    """The command of README's cron line (after the schedule), in a shell with cron's sparse
    environment, on a trained project with a champion: it scores the inbox and logs the run."""
    project = scoring_project
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (line,) = re.findall(r"```cron\n(.+?)\n```", readme)
    command = line.split(maxsplit=5)[5]
    assert command.startswith("cd /srv/autoencoder-pipelines && ") and ".venv/bin/kedro" in command
    command = command.replace("/srv/autoencoder-pipelines", shlex.quote(str(project.root)))
    command = command.replace(".venv/bin/kedro", shlex.quote(str(Path(sys.executable).with_name("kedro"))))
    DIGITS.iloc[:20].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)
    environment = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), "SHELL": "/bin/sh",
                   **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {})}
    result = subprocess.run(["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)
    log = project.path("logs/score.log").read_text()
    assert result.returncode == 0, log[-3000:]
    assert len(pd.read_parquet(project.path("data/07_model_output/scored/day1.csv.parquet"))) == 20
    summary = log.strip().splitlines()[-5:]  # the run's summary ends the log
    assert summary[0].startswith("MLflow run ") and "(score) FINISHED" in summary[0]
    assert summary[1].startswith("  metrics: score.rows_scored 20, score.rows_refused 0")
    assert summary[2] == f"  model: scored with '{NAME}' version 1"
    assert summary[4].startswith("  UI: mlflow ui --backend-store-uri ")


def test_scoring_runs_beside_a_training_and_touches_no_checkpoint(scoring_project):
    from autoencoder_pipelines.framework.locks import TrainingLock

    project = scoring_project
    project.promote(1)
    checkpoint = project.path("data/06_models/checkpoints/denoise-0123456789ab/finetune.pt")
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"an interrupted training's checkpoint")
    DIGITS.iloc[:20].to_csv(project.path("data/01_raw/incoming/rows.csv"), index=False)
    training = TrainingLock(project.path("data"))
    training.acquire("refuse")  # a training holds the project's data folder
    try:
        project.run("score", runtime={"on_busy": "refuse"})  # would refuse if scoring took the lock
    finally:
        training.release()
    assert project.path("data/07_model_output/scored/rows.csv.parquet").exists()
    assert checkpoint.read_bytes() == b"an interrupted training's checkpoint"
