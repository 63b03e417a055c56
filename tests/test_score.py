"""The `score` pipeline: the registered model the alias points to, pinned and stamped on every
row; incremental, per-partition failures, atomic outputs, runs in the scoring experiment with
the status they earned; a model that does not load (or a planted pickle) stops it cleanly."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from autoencoder_pipelines.data.errors import MonitoringAlert
from autoencoder_pipelines.jobs.scoring import Scorer
from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError
from autoencoder_pipelines.tracking.models import ModelLoadError, ModelNotFoundError

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])
NAME, SCORING = "autoencoder-pipelines", "autoencoder-pipelines-scoring"


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
    pd.testing.assert_frame_equal(from_mlflow.drop(columns="id").reset_index(drop=True).infer_objects(),
                                  from_pipeline.drop(columns=stamped), check_dtype=False)
    # what the HTTP server writes is strict JSON: an unflagged row's empty share is null, not NaN
    assert from_mlflow["top_share_1"].isna().any()
    json.dumps(from_mlflow.to_dict(orient="records"), allow_nan=False)


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
    assert block[0].startswith(f"Error: model '{NAME}' version {version} does not load: "
                               f"{stored}: not a model file"), output[-2000:]
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


def test_a_file_that_changes_after_it_was_scored_is_scored_again_and_the_old_output_kept(scoring_project, capsys):
    project = scoring_project
    inbox, scored = project.path("data/01_raw/incoming"), project.path("data/07_model_output/scored")
    DIGITS.iloc[:50].to_csv(inbox / "day1.csv", index=False)
    project.run("score")
    first = (scored / "day1.csv.parquet").stat().st_mtime_ns
    capsys.readouterr()

    project.run("score")  # unchanged: not scored again
    os.utime(inbox / "day1.csv")  # touched, same content: not scored again either
    project.run("score")
    assert (scored / "day1.csv.parquet").stat().st_mtime_ns == first
    assert "rescored" not in capsys.readouterr().out

    DIGITS.iloc[:120].to_csv(inbox / "day1.csv", index=False)  # the same name, 70 more rows
    project.run("score")
    assert len(pd.read_parquet(scored / "day1.csv.parquet")) == 120
    (kept,) = (scored / "_replaced").iterdir()
    assert re.fullmatch(r"day1\.csv\.\d{8}T\d{6}Z\.parquet", kept.name) and len(pd.read_parquet(kept)) == 50
    run = max(project.runs(SCORING), key=lambda r: r.info.start_time)
    assert run.data.metrics["score.partitions_rescored"] == 1 and run.data.metrics["score.rows_scored"] == 120
    assert run.data.tags["score.rescored"] == "day1.csv"
    out = capsys.readouterr().out
    assert ("  rescored: day1.csv (changed since scored; outputs replaced, the previous ones kept in "
            "data/07_model_output/scored/_replaced)") in out
    project.run("score")  # the kept output is not an output of its own
    assert max(project.runs(SCORING), key=lambda r: r.info.start_time).data.metrics["score.partitions_new"] == 0


def test_a_file_that_changes_while_it_is_scored_is_not_published(scoring_project, monkeypatch):
    from autoencoder_pipelines.data.tables import TableFile

    project = scoring_project
    inbox, scored = project.path("data/01_raw/incoming"), project.path("data/07_model_output/scored")
    DIGITS.iloc[:30].to_csv(inbox / "day1.csv", index=False)
    original = TableFile.chunks

    def appended_to_while_read(self, rows, text_columns=()):
        yield from original(self, rows, text_columns)
        with open(self.path, "a") as handle:  # an upload still under way
            handle.write(DIGITS.iloc[:1].to_csv(index=False, header=False))

    monkeypatch.setattr(TableFile, "chunks", appended_to_while_read)
    with pytest.raises(ScoringFailedError, match=r"day1.csv: changed while it was scored \(still being written\?\); "
                                                 "nothing published, it is scored again on the next run"):
        project.run("score")
    assert not scored.exists() or not list(scored.iterdir())
    monkeypatch.setattr(TableFile, "chunks", original)
    project.run("score")  # the next run scores the complete file
    assert len(pd.read_parquet(scored / "day1.csv.parquet")) == 31


def test_only_data_files_are_read_from_the_inbox(scoring_project):
    """Stray files (notes, a Spark marker, hidden files, a partial upload) are skipped with one
    log line; compressed CSV is data. Run as a user runs it, reading what it prints."""
    import gzip

    project = scoring_project
    inbox, scored = project.path("data/01_raw/incoming"), project.path("data/07_model_output/scored")
    DIGITS.iloc[:10].to_csv(inbox / "day1.csv", index=False)
    (inbox / "day2.csv.gz").write_bytes(gzip.compress(DIGITS.iloc[10:20].to_csv(index=False).encode()))
    DIGITS.iloc[20:30].to_csv(inbox / "DAY3.CSV", index=False)
    (inbox / "notes.txt").write_text("scored on Monday\n")
    (inbox / "_SUCCESS").write_text("")
    (inbox / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (inbox / ".day4.csv.part").write_text("pixel_0_0\n1\n")
    (inbox / "_temporary").mkdir()
    DIGITS.iloc[:3].to_csv(inbox / "_temporary" / "part-0.csv", index=False)
    result = project.kedro("run", "--pipelines=score")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert sorted(p.name for p in scored.iterdir()) == ["DAY3.CSV.parquet", "day1.csv.parquet", "day2.csv.gz.parquet"]
    assert len(pd.read_parquet(scored / "day2.csv.gz.parquet")) == 10
    (line,) = [line for line in project.path("info.log").read_text().splitlines() if "skipped" in line]
    assert "skipped 5 file(s) that are not data (.csv, .parquet, .csv.gz, .csv.bz2, .csv.xz, .csv.zip, .png, .jpg, .jpeg, " \
           "not hidden): .DS_Store, .day4.csv.part, _SUCCESS, _temporary/part-0.csv, notes.txt" in line


def test_an_output_folder_that_is_a_file_stops_the_run_once_before_any_file_is_scored(scoring_project):
    project = scoring_project
    for name in ("day1.csv", "day2.csv", "day3.csv"):
        DIGITS.iloc[:5].to_csv(project.path(f"data/01_raw/incoming/{name}"), index=False)
    project.path("data/07_model_output").mkdir(parents=True, exist_ok=True)
    project.path("data/07_model_output/scored").write_text("not a folder")
    result = project.kedro("run", "--pipelines=score")
    output = result.stdout + result.stderr
    assert result.returncode == 1
    block = output[output.rindex("Error: "):].strip().splitlines()
    assert block == [f"Error: {project.path('data/07_model_output/scored')}: is a file, not a folder; the scored outputs go "
                     "in a folder of that name (catalog: scored_partitions). Move the file away and run again; "
                     "nothing was scored",
                     "(traceback in errors.log; --verbose prints it here)"], output[-3000:]
    assert output.count("is a file, not a folder") == 1 and "FileExistsError" not in output
    assert project.path("data/07_model_output/scored").read_text() == "not a folder"


def test_a_killed_score_run_leaves_no_temporary_file_after_the_next_run(scoring_project):
    project = scoring_project
    scored = project.path("data/07_model_output/scored")
    scored.mkdir(parents=True)
    left = scored / ".day1.csv.parquet.4194999.5f3a1b.tmp"  # what a kill -9 mid-file leaves
    left.write_bytes(b"PAR1half a file")
    os.utime(left, (0, 0))
    DIGITS.iloc[:5].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)
    project.run("score")
    assert sorted(p.name for p in scored.iterdir()) == ["day1.csv.parquet"]


def _download(project, uri: str, folder: Path) -> subprocess.CompletedProcess:
    """README's `mlflow artifacts download -u <uri> -d <folder>`, against the project's store."""
    return subprocess.run([sys.executable, "-m", "mlflow", "artifacts", "download", "-u", uri, "-d", str(folder)],
                          cwd=project.root, env={**os.environ, "MLFLOW_TRACKING_URI": project.uri},
                          capture_output=True, text=True, timeout=300)


def test_a_downloaded_model_folder_scores_from_another_store_or_none_stamped_with_its_path(
        scoring_project, make_project, tmp_path):
    """README's way to score without the training store: download the champion, then score with
    --params=model_uri=model, in a project with a fresh store, and in one with none at all."""
    downloaded = _download(scoring_project, f"models:/{NAME}@champion", tmp_path / "model")
    assert downloaded.returncode == 0, downloaded.stderr[-2000:]
    for name, mlflow_yml in (("fresh", None), ("none", "disable_for_pipelines: [score]\n")):
        project = make_project(name=name)  # a store of its own, in which nothing was registered
        if mlflow_yml:
            project.path("conf/local/mlflow.yml").write_text(mlflow_yml)
            project.path("mlflow.db").unlink()
        shutil.copytree(tmp_path / "model", project.path("model"))
        project.path("data/01_raw/incoming").mkdir(parents=True)
        DIGITS.iloc[:25].to_csv(project.path("data/01_raw/incoming/day1.csv"), index=False)
        result = project.kedro("run", "--pipelines=score", "--params=model_uri=model")
        log = project.path("info.log").read_text()
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        rows = pd.read_parquet(project.path("data/07_model_output/scored/day1.csv.parquet"))
        assert len(rows) == 25 and set(rows["model_name"]) == {str(project.path("model"))}
        assert rows["model_version"].isna().all() and rows["model_run_id"].isna().all()  # nothing confirms them
        assert f"says it is version 1 of '{NAME}', but " in log and "stamped with the folder, not a version" in log
        if mlflow_yml:
            assert not project.path("mlflow.db").exists() and "there is no registry to confirm it" in log
        else:
            assert "has no such version" in log
            run = max(project.runs(SCORING), key=lambda r: r.info.start_time)
            assert run.data.params["model.uri"] == str(project.path("model")) and run.data.params["model.version"] == ""


def test_a_model_folder_claiming_a_version_is_trusted_only_when_the_registry_confirms_it(scoring_project, tmp_path):
    import yaml

    project = scoring_project
    inbox, scored = project.path("data/01_raw/incoming"), project.path("data/07_model_output/scored")
    # the download itself is README's command in the test above; here it only makes the folder
    project.call(mlflow.artifacts.download_artifacts, artifact_uri=f"models:/{NAME}/1", dst_path=str(tmp_path / "model"))
    meta = tmp_path / "model" / "registered_model_meta"
    assert yaml.safe_load(meta.read_text()) == {"model_name": NAME, "model_version": "1"}

    meta.write_text(yaml.safe_dump({"model_name": NAME, "model_version": "99"}))  # spoofed: no such version
    DIGITS.iloc[:5].to_csv(inbox / "a.csv", index=False)
    project.run("score", model_uri=str(tmp_path / "model"))
    rows = pd.read_parquet(scored / "a.csv.parquet")
    assert rows["model_version"].isna().all() and set(rows["model_name"]) == {str(tmp_path / "model")}

    # version 1 claimed by a folder whose scorer is not version 1's (a threshold edited by hand)
    meta.write_text(yaml.safe_dump({"model_name": NAME, "model_version": "1"}))
    scorer_file = tmp_path / "model" / "artifacts" / "scoring_model.pt"
    edited = Scorer.load(scorer_file)
    edited.detector.threshold_ = 0.0
    edited.save(scorer_file)
    DIGITS.iloc[5:10].to_csv(inbox / "b.csv", index=False)
    with pytest.raises(MonitoringAlert):  # every row flagged: an anomaly rate far above the profile's; rows written
        project.run("score", model_uri=str(tmp_path / "model"))
    rows = pd.read_parquet(scored / "b.csv.parquet")
    assert rows["model_version"].isna().all() and rows["is_anomaly"].all()


def test_registered_versions_keep_loading_after_the_project_folder_moves(trained_project, tmp_path, caplog):
    """`mv project project2`: the store keeps the old absolute artifact paths; the versions are
    found under the moved project's own mlruns/."""
    from tests.conftest import Project

    copy = trained_project.copy(tmp_path / "project")
    copy.promote(1)
    shutil.move(copy.root, tmp_path / "project2")
    moved = object.__new__(Project)
    moved.root, moved.uri = tmp_path / "project2", f"sqlite:///{tmp_path / 'project2' / 'mlflow.db'}"
    recorded = moved.client().get_model_version_download_uri(NAME, "1")
    assert str(tmp_path / "project" / "mlruns") in recorded and not (tmp_path / "project").exists()

    moved.path("data/01_raw/incoming").mkdir(parents=True)
    DIGITS.iloc[:8].to_csv(moved.path("data/01_raw/incoming/day1.csv"), index=False)
    with caplog.at_level(logging.INFO, logger="autoencoder_pipelines.tracking.models"):
        moved.run("score")
    rows = pd.read_parquet(moved.path("data/07_model_output/scored/day1.csv.parquet"))
    assert len(rows) == 8 and set(rows["model_version"]) == {1}
    assert "which does not exist; found them at " + str(moved.path("mlruns")) in caplog.text
    assert not (tmp_path / "project").exists(), "nothing written at the old place"

    # the artifacts gone too: one line naming the path, and no advice to try another version
    shutil.rmtree(moved.path("mlruns"))
    DIGITS.iloc[8:10].to_csv(moved.path("data/01_raw/incoming/day2.csv"), index=False)
    with pytest.raises(ModelLoadError) as error:
        moved.run("score")
    message = str(error.value)
    assert "\n" not in message and message.startswith(
        f"model '{NAME}' version 1 does not load: its files are recorded at {tmp_path / 'project' / 'mlruns'}")
    assert "another version will not help" in message


def test_a_training_in_a_moved_project_says_where_its_artifacts_would_go(trained_project, tmp_path):
    from tests.conftest import Project

    copy = trained_project.copy(tmp_path / "project")
    shutil.move(copy.root, tmp_path / "project2")
    moved = object.__new__(Project)
    moved.root, moved.uri = tmp_path / "project2", f"sqlite:///{tmp_path / 'project2' / 'mlflow.db'}"
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("autoencoder_pipelines.tracking.hook")
    logger.addHandler(handler)
    try:
        moved.run("scorer")
        assert any(f"keeps its artifacts at {tmp_path / 'project' / 'mlruns'}" in w for w in warnings), warnings
        moved.path("conf/local/mlflow.yml").write_text("experiment: autoencoder_pipelines_moved\n")
        shutil.rmtree(tmp_path / "project")
        warnings.clear()
        moved.run("scorer")  # the remedy the warning gives: a new experiment, its artifacts in the project
    finally:
        logger.removeHandler(handler)
    assert not [w for w in warnings if "keeps its artifacts at" in w] and not (tmp_path / "project").exists()


def test_promote_refuses_a_version_that_does_not_load_in_one_line(scoring_project):
    project = scoring_project  # version 1 is the champion
    version, stored = _register_copy(project)
    model_dir = stored.parent.parent
    for damage, expected in (
        (lambda: stored.write_bytes(stored.read_bytes()[:200]), f"{stored}: not a model file"),
        (lambda: shutil.rmtree(model_dir / "code"), f"{model_dir} lacks code"),
        (lambda: shutil.rmtree(model_dir), f"its files are recorded at {model_dir}, which does not exist"),
    ):
        damage()
        with pytest.raises(ModelLoadError) as error:
            project.run("promote", registry={"version": version})
        message = str(error.value)
        assert "\n" not in message and message.startswith(f"model '{NAME}' version {version} does not load (")
        assert expected in message and message.endswith("): not promoted, @champion still points to version 1")
        assert int(project.client().get_model_version_by_alias(NAME, "champion").version) == 1
