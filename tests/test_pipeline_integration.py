"""Runs the real `denoise` pipeline through a KedroSession on a tiny config, in a copy of the
project with its own MLflow store, and checks the outputs and the logged run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "runtime": {"device": "cpu", "batch_size": 128, "log_every": 0, "threads": 1},
    "model": {"hidden_sizes": [32, 8]},
    "pretrain": {"epochs": 2, "batch_size": 128},
    "finetune": {"epochs": 3, "batch_size": 128, "patience": None},
    "denoiser": {"epochs": 3, "batch_size": 128},
    "anomaly": {"epochs": 2, "batch_size": 128},
    "reduction": {"epochs": 2, "batch_size": 128},
}
REQUIRED_METRICS = [
    "finetune.test_accuracy",
    "finetune.random_init_test_accuracy",
    "denoise.test_mse_noisy",
    "denoise.test_mse_denoised",
    "reduction.ae_test_mse",
    "reduction.pca_test_mse",
    "anomaly.threshold",
    "anomaly.roc_auc",
    "run.seconds",
]
FIGURES = ["learning_curves.png", "denoising_grid.png", "codes_2d.png", "anomaly_scores.png"]


def make_project(root: Path, local_parameters: dict) -> Path:
    """A copy of the project's configuration, with `local_parameters` as conf/local."""
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(REPO / ".telemetry", root / ".telemetry")
    (root / "src").mkdir()  # bootstrap_project wants src/; the package itself is installed
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(local_parameters))
    for folder in ("01_raw", "02_intermediate", "05_model_input", "06_models", "07_model_output", "08_reporting"):
        (root / "data" / folder).mkdir(parents=True)
    return root


def run_pipeline(root: Path, pipeline: str = "denoise", monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    """Run `pipeline` in `root` with a tracking store inside it; returns the tracking URI."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        bootstrap_project(root)
        with KedroSession.create(project_path=root) as session:
            session.run(pipeline_names=[pipeline])
    return uri


def in_project(root: Path, function, *args):
    """Call `function(*args)` from inside `root`, with the project's own MLflow store."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        return function(*args), uri


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> tuple[Path, str]:
    root = make_project(tmp_path_factory.mktemp("digits_project"), TINY)
    return root, run_pipeline(root)


def test_metrics_json_has_every_required_key(digits_run):
    root, _ = digits_run
    metrics = json.loads((root / "data/08_reporting/metrics.json").read_text())
    for key in REQUIRED_METRICS:
        assert key in metrics and math.isfinite(metrics[key]), key
    assert 0 <= metrics["finetune.test_accuracy"] <= 1
    assert metrics["run.seconds"] > 0


def test_outputs_are_written(digits_run):
    root, _ = digits_run
    embeddings = pd.read_parquet(root / "data/07_model_output/embeddings.parquet")
    assert list(embeddings.columns) == ["id", "split", "label"] + [f"z_{i}" for i in range(8)]
    assert len(embeddings) == 1797 and embeddings["id"].is_unique
    assert embeddings["split"].value_counts().to_dict() == {"train": 1258, "test": 359, "val": 180}
    pca = pd.read_parquet(root / "data/07_model_output/pca_embeddings.parquet")
    assert [c for c in pca.columns if c.startswith("pc_")] == [f"pc_{i}" for i in range(8)]
    scores = pd.read_parquet(root / "data/07_model_output/anomaly_scores.parquet")
    threshold = json.loads((root / "data/08_reporting/metrics.json").read_text())["anomaly.threshold"]
    assert (scores["is_anomaly"] == (scores["reconstruction_error"] > threshold)).all()
    for figure in FIGURES:
        assert (root / "data/08_reporting" / figure).stat().st_size > 1000


def test_models_are_saved_versioned(digits_run):
    root, _ = digits_run
    for name in ("pretrained_stack", "classifier", "denoiser", "reduction_autoencoder", "anomaly_model"):
        versions = list((root / "data/06_models" / f"{name}.pkl").iterdir())
        assert len(versions) == 1 and (versions[0] / f"{name}.pkl").exists()
    assert len(list((root / "data/06_models/scaler.json").iterdir())) == 1


def test_one_mlflow_run_with_params_histories_metrics_figures_and_models(digits_run):
    root, uri = digits_run
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("autoencoder_pipelines")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    # flattened parameters
    assert run.data.params["model.hidden_sizes"] == "[32, 8]"
    assert run.data.params["corruption.kind"] == "masking"
    assert run.data.params["runtime.device"] == "cpu"
    # per-epoch histories with steps, for every phase
    for key, epochs in [("pretrain.layer_1.train_loss", 2), ("pretrain.layer_2.val_loss", 2), ("finetune.train_loss", 3), ("random_init.train_loss", 3), ("denoiser.val_loss", 3)]:
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == list(range(1, epochs + 1)), key
    for key in REQUIRED_METRICS:
        assert key in run.data.metrics, key
    assert run.data.metrics["node_seconds.pretrain_stack"] > 0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {f"figures/{f}" for f in FIGURES} <= artifacts
    assert "metrics.json" in {a.path for a in client.list_artifacts(run.info.run_id)}

    # the models are logged (pytorch flavour) and load back to the same predictions
    mlflow.set_tracking_uri(uri)
    logged = {m.name: m for m in mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")}
    assert {"classifier", "denoiser", "reduction_autoencoder", "anomaly_model"} <= set(logged)
    classifier = mlflow.pytorch.load_model(logged["classifier"].model_uri)
    local = pd.read_pickle(next((root / "data/06_models/classifier.pkl").iterdir()) / "classifier.pkl")
    x = torch.rand(5, 64)
    assert torch.allclose(classifier(x), local(x))


def test_unlabelled_csv_runs_without_a_classifier(tmp_path):
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.random((120, 6)), columns=[f"s{i}" for i in range(6)])
    data.insert(0, "sensor_id", [f"row-{i}" for i in range(120)])
    parameters = {
        **TINY,
        "model": {"hidden_sizes": [4, 2]},
        "data": {"source": "csv", "path": "data/01_raw/sensors.csv", "id_column": "sensor_id"},
        "split": {"scaling": "per_feature"},
        "anomaly": {**TINY["anomaly"], "normal_classes": None},
    }
    root = make_project(tmp_path, parameters)
    data.to_csv(root / "data/01_raw/sensors.csv", index=False)
    run_pipeline(root)
    metrics = json.loads((root / "data/08_reporting/metrics.json").read_text())
    assert "finetune.test_accuracy" not in metrics and "anomaly.roc_auc" not in metrics
    assert {"denoise.test_mse_denoised", "reduction.ae_test_mse", "anomaly.threshold"} <= set(metrics)
    embeddings = pd.read_parquet(root / "data/07_model_output/embeddings.parquet")
    assert set(embeddings["id"]) == set(data["sensor_id"]) and "label" not in embeddings.columns
