from kedro.pipeline import Pipeline, node, pipeline

from .nodes import count_rows, ingest, split_and_scale


def ingestion() -> Pipeline:
    """Read and validate the table, split it and fit the scaler: the start of every training."""
    return pipeline([
        node(ingest, "params:data", ["validated_data", "data_schema"], name="ingest"),
        node(
            split_and_scale,
            ["validated_data", "data_schema", "params:split", "params:runtime"],
            ["train_set", "val_set", "test_set", "scaler"],
            name="split_and_scale",
        ),
        node(count_rows, ["train_set", "val_set", "test_set", "data_schema"], "data_metrics", name="count_rows"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion()
