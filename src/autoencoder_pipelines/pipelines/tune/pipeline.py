"""`kedro run --pipelines=tune`: ingest and split the data (the project hook checks every
setting the search can reach against it), then an Optuna study of one job's validation metric
(jobs/tuning.py); the test rows are never seen."""

from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced
from autoencoder_pipelines.pipelines.data_processing.pipeline import ingestion
from autoencoder_pipelines.pipelines.tune.nodes import run_search


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + namespaced("tune", [
        node(run_search, ["model_input", "params:tune", "parameters", "runtime", "tune_study"],
             ["tune_trials", "tune_best_params", "tune_optimization_history_plot", "tune_param_importances_plot",
              "tune_metrics_mlflow"],
             name="search"),
    ])
