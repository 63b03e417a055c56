"""Every registered pipeline builds, and every dataset it names resolves: declared in the
catalog (an entry or a pattern), a parameter, or one of the score pipeline's in-memory
hand-overs listed here (so a typo in a node's input or output name fails this test instead of
silently becoming a MemoryDataset). Nodes are narrow, and what the training pipelines pass
between nodes is saved (so --from-nodes works)."""

from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

REPO = Path(__file__).resolve().parents[1]
IN_MEMORY = {"scoring_report", "scoring_report_logged", "scoring_model_ref",  # a scoring run's, in one process
             "scoring_report_monitored", "spark_monitoring_alert"}  # monitoring's hand-overs to the exit code
TRAINING = ("denoise", "anomaly", "tune", "data_processing", "pretraining", "finetuning", "reduction", "scorer", "reporting")


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
            "anomaly", "scorer", "reporting", "promote", "register", "monitor"} <= names
    for name in names:
        pipeline = pipelines[name]
        assert pipeline.nodes, name
        for dataset in pipeline.datasets():
            if dataset.startswith("params:") or dataset == "parameters":
                continue
            assert dataset in catalog or dataset in IN_MEMORY, f"{name}: '{dataset}' is in no catalog entry"
    assert all(node.name for node in pipelines["denoise"].nodes)


def test_every_node_takes_at_most_six_inputs():
    wide = {node.name: len(node.inputs) for name in pipelines for node in pipelines[name].nodes if len(node.inputs) > 6}
    assert wide == {}


@pytest.mark.parametrize("name", TRAINING)
def test_the_training_pipelines_save_what_they_pass_on(catalog, name):
    """Nothing a training pipeline's node reads is held in memory only: a run can start at any
    node (--from-nodes) from the files of the last one."""
    read = {dataset for node in pipelines[name].nodes for dataset in node.inputs if not dataset.startswith("params:")}
    in_memory = sorted(d for d in read - {"parameters"} if isinstance(catalog.get(d), MemoryDataset))
    assert in_memory == []


def test_the_file_datasets_carry_their_layer_for_kedro_viz(catalog):
    layers = {}
    for dataset in pipelines["denoise"].datasets():
        if dataset in catalog and hasattr(catalog.get(dataset), "_filepath") or dataset in ("model_input", "data_schema"):
            layers[dataset] = ((getattr(catalog.get(dataset), "metadata", None) or {}).get("kedro-viz") or {}).get("layer")
    assert layers["validated_data"] == "intermediate" and layers["model_input"] == "model_input"
    assert layers["classifier"] == "models" and layers["embeddings"] == "model_output"
    assert layers["learning_curves_plot"] == layers["metrics"] == layers["data_metrics"] == "reporting"
    assert [name for name, layer in layers.items() if layer is None] == []


def test_the_runtime_is_a_dataset_that_exists_during_a_run_only(catalog):
    from kedro.io import DatasetError

    from autoencoder_pipelines.framework.datasets import RuntimeDataset

    assert isinstance(catalog.get("runtime"), RuntimeDataset) and not catalog.exists("runtime")
    with pytest.raises(DatasetError, match="during a kedro run only"):
        catalog.load("runtime")


@pytest.mark.parametrize("names", [["pretraining"], ["finetuning"], ["reduction"], ["anomaly"], ["denoise"],
                                   ["finetuning", "reduction"], ["pretraining", "finetuning", "reduction"],
                                   ["denoise", "reduction"], ["anomaly", "reduction"], ["data_processing", "pretraining"]])
def test_training_pipelines_run_on_their_own_or_together_end_with_one_report(catalog, names):
    """metrics.json, the MLflow run's metrics and histories: a phase of denoise run alone
    (`--pipelines=reduction`) too, not an empty MLflow run; phases named together (as Kedro
    loads only the pipelines named) share one report, and beside denoise or anomaly add none."""
    from kedro.pipeline import Pipeline

    try:
        pipelines.set_requested(names)
        combined = sum((pipelines[name] for name in names), Pipeline([]))  # as the session sums them
    finally:
        pipelines.set_requested(None)
    assert {"metrics", "final_metrics_mlflow", "training_history_mlflow"} <= combined.all_outputs()
    assert sum(node.name == "reporting.build_metrics" for node in combined.nodes) == 1
    if names == ["finetuning", "reduction"]:
        build = next(node for node in combined.nodes if node.name == "reporting.build_metrics")
        assert build.inputs == ["runtime", "finetuning_metrics", "reduction_metrics"]


def test_denoise_is_the_default(catalog):
    assert pipelines["__default__"].nodes == pipelines["denoise"].nodes


def test_every_typed_node_input_gets_its_section_model(catalog):
    """Kedro hands nodes validated parameter objects by reading their type hints; a wiring
    that put a section on the wrong argument would validate it against the wrong model."""
    from kedro.validation.type_extractor import TypeExtractor

    from autoencoder_pipelines.config import SECTIONS

    required = TypeExtractor(dict(pipelines)).extract_types_from_pipelines()
    assert {key: required[key] for key in required} == {key: SECTIONS[key] for key in required}
    assert {"model", "pretrain", "finetune", "denoiser", "reduction", "anomaly", "split", "data"} <= set(required)
