"""Every registered pipeline builds, and every dataset it names resolves: declared in the
catalog, a parameter, or one of the in-memory hand-overs listed here (so a typo in a node's
input or output name fails this test instead of silently becoming a MemoryDataset)."""

from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

REPO = Path(__file__).resolve().parents[1]
IN_MEMORY = {
    "run_started_at", "runtime", "derived_settings",  # set by the project hook during a run
    "pretrain_history", "finetune_history", "random_init_history", "denoiser_history",
    "reduction_history", "anomaly_history",
    "data_metrics", "classification_metrics", "label_budget_metrics", "denoising_metrics", "reduction_metrics",
    "anomaly_metrics", "anomaly_baseline_metrics", "feature_classifier_metrics", "contraction_metrics",
    "generation_metrics", "prior_metrics",
    "scoring_report", "scoring_report_logged", "scoring_model_ref",
    "scoring_report_monitored", "spark_monitoring_alert",  # monitoring's hand-overs to the exit code
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:  # keep the repository's own store untouched
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
        bootstrap_project(REPO)
        with KedroSession.create(project_path=REPO) as session:
            return session.load_context().catalog


def test_every_pipeline_builds_and_every_dataset_resolves(catalog):
    names = set(pipelines.keys())
    assert {"denoise", "score", "__default__", "data_processing", "pretraining", "finetuning", "reduction",
            "anomaly", "scorer", "reporting", "promote", "monitor"} <= names
    declared = set(catalog.keys())
    for name in names:
        pipeline = pipelines[name]
        assert pipeline.nodes, name
        for dataset in pipeline.datasets():
            if dataset.startswith("params:") or dataset == "parameters":
                continue
            assert dataset in declared or dataset in IN_MEMORY, f"{name}: '{dataset}' is in no catalog entry"
    assert all(node.name for node in pipelines["denoise"].nodes)


def test_denoise_is_the_default(catalog):
    assert pipelines["__default__"].nodes == pipelines["denoise"].nodes


def test_every_typed_node_input_gets_its_section_model(catalog):
    """Kedro hands nodes validated parameter objects by reading their type hints; a wiring
    that put a section on the wrong argument would validate it against the wrong model."""
    from kedro.validation.type_extractor import TypeExtractor

    from autoencoder_pipelines.config import SECTIONS

    required = TypeExtractor(dict(pipelines)).extract_types_from_pipelines()
    assert {key: required[key] for key in required} == {key: SECTIONS[key] for key in required}
    assert {"model", "pretrain", "finetune", "denoiser", "reduction", "anomaly", "runtime", "data"} <= set(required)
