from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced, settings

from .nodes import corrupt_eval_sets, count_rows, ingest, split_and_scale


def ingestion() -> Pipeline:
    """Read and validate the table, check the settings against it, split it and fit the scaler:
    the start of every training."""
    return settings("data") + namespaced("data_processing", [
        node(ingest, "params:data", ["validated_data", "data_schema"], name="ingest"),
        node(split_and_scale, ["validated_data", "data_schema", "params:split", "runtime"], ["model_input", "scaler"],
             name="split_and_scale"),
        node(count_rows, "model_input", "data_metrics", name="count_rows"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    """Ingestion, and the fixed noisy copies of the validation and test rows that the denoiser
    and the classifiers are measured on: all of data/05_model_input."""
    return ingestion() + namespaced("data_processing", [
        node(corrupt_eval_sets, ["model_input", "params:corruption", "runtime"], ["noisy_val_set", "noisy_test_set"],
             name="corrupt_eval_sets"),
    ])
