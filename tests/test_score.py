"""The `score` pipeline: incremental, per-partition failures, atomic outputs, MLflow runs, and
the pyfunc model giving the same rows as the pipeline."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_digits

from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError
from tests.test_pipeline_integration import TINY, make_project, run_pipeline

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("score_project"), TINY)
    uri = run_pipeline(root)
    (root / "data/01_raw/incoming").mkdir()
    return root, uri


def _inbox(root):
    return root / "data/01_raw/incoming"


def _scored(root):
    return root / "data/07_model_output/scored"


def test_scoring_is_incremental_and_isolates_bad_partitions(trained):
    root, uri = trained
    # nothing in the inbox: nothing to do, and a success
    run_pipeline(root, "score")
    DIGITS.iloc[:40].to_csv(_inbox(root) / "day1.csv", index=False)
    DIGITS.iloc[40:100].to_parquet(_inbox(root) / "day2.parquet")
    bad = DIGITS.iloc[:5].drop(columns=["pixel_3_3"])
    bad.to_csv(_inbox(root) / "day3_bad.csv", index=False)
    (_inbox(root) / "day4_nan.csv").write_text(DIGITS.iloc[:3].to_csv(index=False).replace("0.0,", ",", 1))

    with pytest.raises(ScoringFailedError) as error:
        run_pipeline(root, "score")
    message = str(error.value)
    assert "2 of 4 new partition(s) could not be scored (2 were)" in message
    assert "day3_bad.csv: 1 training feature column(s) missing, e.g. ['pixel_3_3']" in message
    assert "day4_nan.csv: column 'pixel_0_0' has 1 NaN" in message
    assert sorted(p.name for p in _scored(root).iterdir()) == ["day1.csv.parquet", "day2.parquet.parquet"]
    day1 = pd.read_parquet(_scored(root) / "day1.csv.parquet")
    assert len(day1) == 40
    assert {"id", "z_0", "reconstruction_error", "is_anomaly", "predicted_class", "predicted_probability"} <= set(day1.columns)

    # fixed inputs: only they are scored; what was scored stays untouched
    stamp = (_scored(root) / "day1.csv.parquet").stat().st_mtime_ns
    (_inbox(root) / "day3_bad.csv").unlink()
    (_inbox(root) / "day4_nan.csv").unlink()
    DIGITS.iloc[100:110].to_csv(_inbox(root) / "day5.csv", index=False)
    run_pipeline(root, "score")
    assert (_scored(root) / "day1.csv.parquet").stat().st_mtime_ns == stamp
    assert (_scored(root) / "day5.csv.parquet").exists()
    assert not [p for p in _scored(root).iterdir() if p.name.endswith(".tmp")]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("autoencoder_pipelines")
    score_runs = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == "score"]
    assert len(score_runs) == 3
    latest = max(score_runs, key=lambda r: r.info.start_time)
    assert latest.data.metrics["score.partitions_scored"] == 1
    assert latest.data.metrics["score.rows"] == 10
    assert "score.anomaly_rate" in latest.data.metrics and "score.seconds" in latest.data.metrics


def test_the_mlflow_pyfunc_model_scores_raw_rows_like_the_pipeline(trained):
    root, uri = trained
    DIGITS.iloc[200:230].to_csv(_inbox(root) / "pyfunc.csv", index=False)
    run_pipeline(root, "score")
    from_pipeline = pd.read_parquet(_scored(root) / "pyfunc.csv.parquet")

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name("autoencoder_pipelines")
    logged = [m for m in mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list") if m.name == "scoring_model"]
    assert len(logged) == 1
    raw = pd.read_csv(_inbox(root) / "pyfunc.csv")
    from_mlflow = mlflow.pyfunc.load_model(logged[0].model_uri).predict(raw)
    pd.testing.assert_frame_equal(from_mlflow.reset_index(drop=True), from_pipeline, check_dtype=False)


def test_scoring_without_a_trained_model_says_what_to_do(tmp_path):
    root = make_project(tmp_path, TINY)
    with pytest.raises(Exception, match="no trained scorer; run `kedro run --pipelines=denoise` first"):
        run_pipeline(root, "score")


def test_the_scorer_can_come_from_an_mlflow_model_uri(trained):
    from autoencoder_pipelines.datasets import ScorerDataset
    from autoencoder_pipelines.scoring import Scorer

    root, uri = trained
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name("autoencoder_pipelines")
    model = next(m for m in mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list") if m.name == "scoring_model")
    from_uri = ScorerDataset(filepath="unused", model_uri=model.model_uri).load()
    local = ScorerDataset(filepath=str(root / "data/06_models/scoring_model.pkl")).load()
    assert isinstance(from_uri, Scorer) and isinstance(local, Scorer)
    rows = DIGITS.iloc[:7]
    pd.testing.assert_frame_equal(from_uri.score(rows), local.score(rows))
