"""`kedro run --pipelines=tune`: ingest and split the data, then an Optuna study of one job's
validation metric (tuning.py); the test rows are never seen."""

from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines.data_processing.pipeline import ingestion
from autoencoder_pipelines.pipelines.tune.nodes import run_search


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + pipeline([
        node(
            run_search,
            ["train_set", "val_set", "data_schema", "params:tune", "parameters", "runtime", "tune_study"],
            ["tune_trials", "tune_best_params", "tune_history_plot", "tune_importance_plot", "tune_metrics_mlflow"],
            name="tune",
        ),
    ])
