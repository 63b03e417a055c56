"""`denoise` with runtime.strategy=ddp on 2 CPU processes: one MLflow run, one set of outputs,
and quality within noise of a single-process run."""

import json

import pandas as pd
from mlflow.tracking import MlflowClient

from tests.test_pipeline_integration import TINY, make_project, run_pipeline

PHASES = ("pretrain", "finetune", "denoiser", "reduction", "anomaly")


def _config(batch_size: int, runtime: dict) -> dict:
    config = {
        **TINY,
        "runtime": {**TINY["runtime"], **runtime},
        "pretrain": {"epochs": 3},
        "finetune": {"epochs": 10, "patience": None, "learning_rate": 0.01},
        "denoiser": {"epochs": 15},
        "reduction": {"epochs": 15, "sweep_code_sizes": []},
        "anomaly": {"epochs": 3},
    }
    for phase in PHASES:
        config[phase]["batch_size"] = batch_size
    return config


def _run(root, batch_size, runtime):
    make_project(root, _config(batch_size, runtime))
    uri = run_pipeline(root)
    return json.loads((root / "data/08_reporting/metrics.json").read_text()), uri


def test_ddp_run_matches_a_single_process_run(tmp_path):
    (tmp_path / "single").mkdir()
    (tmp_path / "ddp").mkdir()
    single, _ = _run(tmp_path / "single", 64, {})
    # two processes with half the batch each: the same global batch and steps as the single run
    parallel, uri = _run(tmp_path / "ddp", 32, {"strategy": "ddp", "num_processes": 2})

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("autoencoder_pipelines").experiment_id])
    assert len(runs) == 1 and runs[0].data.params["runtime.strategy"] == "ddp"
    assert len(list((tmp_path / "ddp" / "data/06_models/denoiser.pkl").iterdir())) == 1
    assert len(pd.read_parquet(tmp_path / "ddp" / "data/07_model_output/embeddings.parquet")) == 1797

    for metrics in (single, parallel):
        assert metrics["denoise.test_mse_denoised"] < metrics["denoise.test_mse_noisy"]
    for key in ("denoise.test_mse_denoised", "reduction.ae_test_mse"):
        assert abs(parallel[key] - single[key]) <= 0.15 * single[key], (key, parallel[key], single[key])
    assert abs(parallel["finetune.test_accuracy"] - single["finetune.test_accuracy"]) <= 0.05
