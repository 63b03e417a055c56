"""The `score` pipeline: incremental, per-partition failures, atomic outputs, MLflow runs, and
the MLflow model giving the same rows as the pipeline."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from sklearn.datasets import load_digits

from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])


@pytest.fixture
def scoring_project(trained_project, tmp_path):
    """A copy of the trained project (outputs and MLflow store) with an empty inbox."""
    shutil.copytree(trained_project.root, tmp_path / "project")
    project = type(trained_project)(tmp_path / "project", {})
    shutil.copy(trained_project.path("conf/local/parameters.yml"), project.path("conf/local/parameters.yml"))
    project.path("data/01_raw/incoming").mkdir(parents=True)
    return project


def test_scoring_is_incremental_and_isolates_bad_partitions(scoring_project):
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
    assert "2 of 4 new partition(s) could not be scored (2 were)" in message
    assert "day3_bad.csv: 1 training feature column(s) missing, e.g. ['pixel_3_3']" in message
    assert "day4_nan.csv: 1 bad cell in 1 of 3 rows:\n  line 2, column 'pixel_0_0': missing (empty or NaN)" in message
    assert sorted(p.name for p in scored.iterdir()) == ["day1.csv.parquet", "day2.parquet.parquet"]
    day1 = pd.read_parquet(scored / "day1.csv.parquet")
    assert len(day1) == 40
    assert {"id", "z_0", "reconstruction_error", "is_anomaly", "predicted_class", "predicted_probability"} <= set(day1.columns)

    # fixed inputs: only they are scored; what was scored stays untouched
    stamp = (scored / "day1.csv.parquet").stat().st_mtime_ns
    (inbox / "day3_bad.csv").unlink()
    (inbox / "day4_nan.csv").unlink()
    DIGITS.iloc[100:110].to_csv(inbox / "day5.csv", index=False)
    project.run("score")
    assert (scored / "day1.csv.parquet").stat().st_mtime_ns == stamp
    assert (scored / "day5.csv.parquet").exists()
    assert not [p for p in scored.iterdir() if p.name.endswith(".tmp")]

    score_runs = [r for r in project.runs() if r.info.run_name == "score"]
    assert len(score_runs) == 3
    latest = max(score_runs, key=lambda r: r.info.start_time)
    assert latest.data.metrics["score.partitions_scored"] == 1
    assert latest.data.metrics["score.rows"] == 10
    assert "score.anomaly_rate" in latest.data.metrics and "score.seconds" in latest.data.metrics


def test_the_mlflow_model_scores_raw_rows_like_the_pipeline(scoring_project):
    import mlflow

    project = scoring_project
    DIGITS.iloc[200:230].to_csv(project.path("data/01_raw/incoming/rows.csv"), index=False)
    project.run("score")
    from_pipeline = pd.read_parquet(project.path("data/07_model_output/scored/rows.csv.parquet"))

    run = next(r for r in project.runs() if r.info.run_name == "denoise")
    model_uri = f"runs:/{run.info.run_id}/scoring_model"
    model = project.call(mlflow.pyfunc.load_model, model_uri)
    assert [c.name for c in model.metadata.get_input_schema().inputs] == list(DIGITS.columns)
    raw = pd.read_csv(project.path("data/01_raw/incoming/rows.csv")).astype("float64")
    from_mlflow = model.predict(raw)
    pd.testing.assert_frame_equal(from_mlflow.reset_index(drop=True), from_pipeline, check_dtype=False)
    # the score pipeline can take the same MLflow model
    project.run("score", model_uri=model_uri)


def test_scoring_runs_beside_a_training_and_touches_no_checkpoint(scoring_project):
    from autoencoder_pipelines.locks import TrainingLock

    project = scoring_project
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
