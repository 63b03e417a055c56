"""The kind comparison and the noise sweep: each point a nested MLflow run writing to its own
folder under data/tools/, never over the main run's outputs; a table and a figure per tool."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from autoencoder_pipelines.framework.tools.compare import run_comparison
from autoencoder_pipelines.framework.tools.sweep import run_sweep


def _tools_project(make_project, tiny):
    """A tiny config on 500 of the digits (8x8 images, all ten classes): each run is short."""
    from sklearn.datasets import load_digits

    tiny["reduction"]["sweep_code_sizes"] = []
    tiny["data"] = {"source": "csv", "path": "data/01_raw/digits.csv", "label_column": "target",
                    "image_shape": [8, 8], "min_rows": 2}
    tiny["anomaly"] = {**tiny["anomaly"], "normal_classes": list(range(9))}
    project = make_project(tiny)
    load_digits(as_frame=True).frame.head(500).to_csv(project.path("data/01_raw/digits.csv"), index=False)
    return project


def test_comparison_runs_each_kind_in_its_own_folder(make_project, tiny):
    tiny["registry"] = {"promote": True}  # a user's standing setting: tools still never promote
    project = _tools_project(make_project, tiny)
    kinds = ["adversarial", "vae"]
    table, folder = project.call(run_comparison, project.root, kinds)
    assert folder.parent == project.path("data/tools/compare")
    saved = pd.read_csv(folder / "comparison.csv")
    assert list(saved["kind"]) == kinds
    for column in ("test_accuracy", "denoised_mse", "reduction_ae_mse", "reduction_pca_mse", "anomaly_roc_auc", "seconds"):
        assert saved[column].notna().all(), column
    assert (folder / "comparison.png").stat().st_size > 1000
    for column in ("jacobian_frobenius", "jacobian_frobenius_normalised", "contraction_ratio_nearest", "codes_logistic_accuracy"):
        assert saved[column].notna().all() and (saved[column] > 0).all(), column
    curves = pd.read_csv(folder / "contraction.csv")
    assert set(curves["kind"]) == set(kinds) and set(curves["measure"]) == {"singular_value", "ratio", "normalised_ratio"}
    assert (folder / "contraction.png").stat().st_size > 1000
    assert (folder / "vae" / "08_reporting" / "generated_samples.png").exists()
    assert not project.path("data/08_reporting").exists() and not project.path("data/06_models").exists()

    client = MlflowClient(project.uri)
    by_name = {r.info.run_name: r for r in project.runs()}
    for kind in kinds:
        assert by_name[kind].data.params["model.kind"] == kind
        assert "test/finetune.test_accuracy" in by_name[kind].data.metrics
    assert "training.pretrain/vae.val_loss" in client.get_run(by_name["vae"].info.run_id).data.metrics
    # each kind's model is logged with its run, and nothing is registered or promoted
    assert all(client.search_logged_models([by_name[kind].info.experiment_id], filter_string=
               f"source_run_id = '{by_name[kind].info.run_id}'") for kind in kinds)
    assert client.search_registered_models() == []
    # the adversarial phase's losses per epoch, beside the reconstruction's
    adversarial = by_name["adversarial"].info.run_id
    for metric in ("train_loss", "val_loss", "discriminator_loss", "generator_loss"):
        history = client.get_metric_history(adversarial, f"training.pretrain/adversarial.{metric}")
        assert [m.step for m in history] == [1, 2], metric
    for kind in kinds:
        for figure in ("generated_samples.png", "codes_vs_prior.png", "generated_vs_real.png"):
            assert (folder / kind / "08_reporting" / figure).stat().st_size > 1000
        assert "test/generation.mmd2.generated" in by_name[kind].data.metrics


def test_noise_sweep_runs_each_point_as_a_nested_run(make_project, tiny):
    project = _tools_project(make_project, tiny)
    table, folder = project.call(run_sweep, project.root, ["masking", "gaussian"], [0.2])
    assert list(table["kind"]) == ["masking", "gaussian"]
    saved = pd.read_csv(folder / "noise_sweep.csv")
    assert {"pretrained_noisy_accuracy", "random_init_noisy_accuracy", "denoised_mse", "noisy_mse"} <= set(saved.columns)
    assert (folder / "noise_sweep.png").stat().st_size > 1000
    assert not project.path("data/08_reporting").exists()

    runs = project.runs()
    parent = next(r for r in runs if r.info.run_name == "noise_sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["gaussian-0.2", "masking-0.2"]
    assert {r.data.params["corruption.kind"] for r in children} == {"masking", "gaussian"}
    assert all(r.data.params["corruption.level"] == "0.2" for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)
    client = MlflowClient(project.uri)
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"noise_sweep.csv", "noise_sweep.png"}
