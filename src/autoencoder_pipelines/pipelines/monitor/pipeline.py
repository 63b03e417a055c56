from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.framework.locks import NO_LOCK_TAG

from .nodes import load_scoring_history, plot_scoring_history


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(load_scoring_history, ["params:registry", "params:monitoring"], "monitoring_scoring_runs_table",
                 name="load_scoring_history"),
            node(plot_scoring_history, ["monitoring_scoring_runs_table", "params:monitoring"], "scoring_runs_plot",
                 name="plot_scoring_history"),
        ],
        tags=[NO_LOCK_TAG],  # reads the tracking store only
    )
