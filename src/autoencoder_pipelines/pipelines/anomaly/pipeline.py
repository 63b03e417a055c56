from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines import training_node
from autoencoder_pipelines.pipelines.data_processing.pipeline import ingestion
from autoencoder_pipelines.pipelines.reporting.nodes import (
    build_metrics,
    collect_histories,
    plot_learning_curves,
)

from .nodes import (
    plot_anomaly_curves,
    plot_anomaly_reasons,
    plot_anomaly_scores,
    score_anomalies,
    score_baselines,
    train_detector,
)


def core() -> Pipeline:
    """Fit, score, compare with the baselines, draw: what `denoise` runs of anomaly detection."""
    return pipeline([
        training_node(train_detector, ["anomaly_model", "anomaly_history"], "train_anomaly_model",
                      params={"anomaly": "anomaly"}),
        node(score_anomalies, ["anomaly_model", "train_set", "val_set", "test_set", "data_schema", "params:anomaly"],
             ["anomaly_scores", "anomaly_metrics"], name="score_anomalies"),
        node(score_baselines, ["train_set", "test_set", "data_schema", "params:anomaly", "params:runtime"],
             ["anomaly_baseline_scores", "anomaly_baseline_metrics"], name="score_anomaly_baselines"),
        node(plot_anomaly_scores, ["anomaly_scores", "anomaly_metrics"], "anomaly_scores_plot", name="plot_anomaly_scores"),
        node(plot_anomaly_reasons, "anomaly_scores", "anomaly_reasons_plot", name="plot_anomaly_reasons"),
        node(plot_anomaly_curves, ["anomaly_scores", "anomaly_baseline_scores"], ["anomaly_roc_plot", "anomaly_pr_plot"],
             name="plot_anomaly_curves"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    """`kedro run --pipelines=anomaly`: from raw data to scores, baselines and a report, with
    no classifier, denoiser or reduction model."""
    return ingestion() + core() + pipeline([
        node(build_metrics, ["run_started_at", "data_metrics", "anomaly_metrics", "anomaly_baseline_metrics"],
             ["metrics", "final_metrics_mlflow"], name="build_anomaly_metrics"),
        node(collect_histories, ["metrics", "anomaly_history"], "training_history_mlflow", name="collect_anomaly_histories"),
        node(plot_learning_curves, "anomaly_history", "learning_curves_plot", name="plot_anomaly_learning_curves"),
    ])
