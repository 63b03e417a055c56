from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.framework.locks import NO_LOCK_TAG

from .nodes import (
    alert_on_drift,
    monitor_spark_scoring,
    resolve_spark_model,
    score_with_spark,
    spark_scoring_metrics,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(resolve_spark_model, "params:registry", ["spark_scoring_model_ref", "spark_scoring_model_params_mlflow"],
                 name="resolve_spark_model"),
            node(score_with_spark, ["spark_incoming", "spark_scoring_model_ref"], "spark_scored",
                 name="score_with_spark"),
            # reads back what was written (its small columns): the scoring runs once, at the save
            node(spark_scoring_metrics, ["spark_scored", "spark_scoring_model_ref"], "spark_scoring_metrics_mlflow",
                 name="spark_scoring_metrics"),
            # monitoring: the input's features and the written errors, counted by Spark aggregations
            node(monitor_spark_scoring, ["spark_incoming", "spark_scored", "spark_scoring_model_ref", "params:monitoring"],
                 ["spark_monitoring_metrics_mlflow", "monitoring_spark_scoring_drift_table", "spark_monitoring_alert"],
                 name="monitor_spark_scoring"),
            node(alert_on_drift, "spark_monitoring_alert", None, name="spark_alert_on_drift"),
        ],
        tags=[NO_LOCK_TAG],  # reads its pinned model and writes its own folder: runs beside a training
    )
