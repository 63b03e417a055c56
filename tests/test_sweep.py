"""The noise sweep: one nested MLflow run per point under one parent, a table and a figure."""

import pandas as pd
from mlflow.tracking import MlflowClient

from autoencoder_pipelines.sweep import run_sweep
from tests.test_pipeline_integration import TINY, in_project, make_project


def test_noise_sweep_runs_each_point_as_a_nested_run(tmp_path):
    root = make_project(tmp_path, {**TINY, "reduction": {**TINY["reduction"], "sweep_code_sizes": []}})
    table, uri = in_project(root, run_sweep, root, ["masking", "gaussian"], [0.2])
    assert list(table["kind"]) == ["masking", "gaussian"]
    saved = pd.read_csv(root / "data/08_reporting/noise_sweep.csv")
    assert {"pretrained_noisy_accuracy", "random_init_noisy_accuracy", "denoised_mse", "noisy_mse"} <= set(saved.columns)
    assert (root / "data/08_reporting/noise_sweep.png").stat().st_size > 1000

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("autoencoder_pipelines").experiment_id])
    parent = next(r for r in runs if r.info.run_name == "noise_sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["gaussian-0.2", "masking-0.2"]
    assert {r.data.params["corruption.kind"] for r in children} == {"masking", "gaussian"}
    assert all(r.data.params["corruption.level"] == "0.2" for r in children)
    assert all("finetune.noisy_test_accuracy" in r.data.metrics for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"noise_sweep.csv", "noise_sweep.png"}
