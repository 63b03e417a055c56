"""Every model kind runs through the same pipelines; the comparison table has a row per kind,
and each kind is its own MLflow run named by it, logging model.kind."""

import pandas as pd
from mlflow.tracking import MlflowClient

from autoencoder_pipelines.compare import run_comparison
from tests.test_pipeline_integration import TINY, in_project, make_project

# undercomplete and contractive are covered node-level (tests/pipelines); these three exercise
# every code path of the comparison: a stacking kind, the VAE and the conv network.
KINDS = ["sparse", "vae", "conv"]


def test_comparison_runs_every_kind(tmp_path):
    root = make_project(tmp_path, {**TINY, "reduction": {**TINY["reduction"], "sweep_code_sizes": []}})
    table, uri = in_project(root, run_comparison, root, KINDS)
    saved = pd.read_csv(root / "data/08_reporting/comparison.csv")
    assert list(saved["kind"]) == KINDS
    for column in ("test_accuracy", "denoised_mse", "reduction_ae_mse", "reduction_pca_mse", "anomaly_roc_auc", "seconds"):
        assert saved[column].notna().all(), column
    assert (root / "data/08_reporting/comparison.png").stat().st_size > 1000

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("autoencoder_pipelines").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    for kind in KINDS:
        assert by_name[kind].data.params["model.kind"] == kind
        assert "finetune.test_accuracy" in by_name[kind].data.metrics
    assert "pretrain.vae.val_loss" in {m for m in client.get_run(by_name["vae"].info.run_id).data.metrics}
    assert (root / "data/08_reporting/vae_samples.png").exists()
