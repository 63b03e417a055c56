from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced, settings
from autoencoder_pipelines.pipelines.data_processing.pipeline import ingestion
from autoencoder_pipelines.pipelines.reporting.pipeline import summary

from .nodes import (
    collect_metrics,
    plot_anomaly_curves,
    plot_anomaly_reasons,
    plot_anomaly_scores,
    score_anomalies,
    score_baselines,
    train_detector,
)


def core() -> Pipeline:
    """Fit, score, compare with the baselines, draw: what `denoise` runs of anomaly detection."""
    return settings("anomaly") + namespaced("anomaly", [
        node(train_detector, ["model_input", "params:anomaly", "runtime"], ["anomaly_model", "anomaly_history"],
             name="train_anomaly_model"),
        node(score_anomalies, ["anomaly_model", "model_input", "params:anomaly"], ["anomaly_scores", "detector_metrics"],
             name="score_anomalies"),
        node(score_baselines, ["model_input", "params:anomaly", "runtime"],
             ["anomaly_baseline_scores", "anomaly_baseline_metrics"], name="score_anomaly_baselines"),
        node(plot_anomaly_scores, ["anomaly_scores", "detector_metrics"], "anomaly_scores_plot", name="plot_anomaly_scores"),
        node(plot_anomaly_reasons, "anomaly_scores", "anomaly_reasons_plot", name="plot_anomaly_reasons"),
        node(plot_anomaly_curves, ["anomaly_scores", "anomaly_baseline_scores"], ["anomaly_roc_plot", "anomaly_pr_plot"],
             name="plot_anomaly_curves"),
        node(collect_metrics, ["detector_metrics", "anomaly_baseline_metrics"], "anomaly_metrics", name="collect_metrics"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    """`kedro run --pipelines=anomaly`: from raw data to scores, baselines and a report, with
    no classifier, denoiser or reduction model."""
    return ingestion() + core() + summary(metrics=["data_metrics", "anomaly_metrics"], histories=["anomaly_history"])
