from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.framework.locks import NO_LOCK_TAG

from .nodes import (
    fail_on_bad_partitions,
    load_scoring_model,
    monitor_scoring,
    score_partitions,
    scoring_metrics,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(load_scoring_model, "params:registry", ["scorer", "scoring_model_ref", "scoring_model_params_mlflow"],
                 name="load_scoring_model"),
            node(score_partitions, ["scorer", "scoring_model_ref", "incoming_partitions", "scored_partitions", "params:scoring"],
                 "scoring_report", name="score_partitions"),
            node(scoring_metrics, "scoring_report", ["scoring_metrics_mlflow", "scoring_report_logged"],
                 name="scoring_metrics"),
            node(monitor_scoring, ["scorer", "scoring_report_logged", "params:monitoring"],
                 ["monitoring_metrics_mlflow", "monitoring_scoring_drift_table", "scoring_report_monitored"],
                 name="monitor_scoring"),
            node(fail_on_bad_partitions, "scoring_report_monitored", None, name="fail_on_bad_partitions"),
        ],
        # reads its pinned model and writes its own folder: runs beside a training (no lock)
        tags=[NO_LOCK_TAG],
    )
