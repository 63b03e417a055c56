"""Anomaly detection nodes: the detector, its scores and flags, the baselines beside it."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import AnomalyParams
from autoencoder_pipelines.data.frames import ID, LABEL, ModelInput, features_tensor
from autoencoder_pipelines.jobs.anomaly import (
    TRUTH,
    Detector,
    normal_part,
    ranking_metrics,
    train_detector,
    truth,
)
from autoencoder_pipelines.jobs.figures import Figure, placeholder, pyplot
from autoencoder_pipelines.jobs.metrics import collect_metrics
from autoencoder_pipelines.jobs.runtime import Runtime

logger = logging.getLogger(__name__)
__all__ = [  # the node functions (some are the jobs layer's, shared with tune)
    "collect_metrics",
    "plot_anomaly_curves",
    "plot_anomaly_reasons",
    "plot_anomaly_scores",
    "score_anomalies",
    "score_baselines",
    "train_detector",
]


def score_anomalies(detector: Detector, data: ModelInput, params: AnomalyParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score and flag every row; a flagged row names its anomaly.top_features features with the
    largest shares of its reconstruction error (top_feature_1, top_share_1, ...). With labels,
    the test rows' ranking (ROC-AUC, average precision) and the flags at the threshold
    (precision, recall, F1, confusion counts)."""
    frames, schema = [], data.schema
    for split, part in data.parts().items():
        frame = part[[c for c in (ID, LABEL) if c in part.columns]].copy()
        frame.insert(1, "split", split)
        x = features_tensor(part, schema)
        frame["reconstruction_error"] = detector.decision_function(x)
        frame["is_anomaly"] = frame["reconstruction_error"] > detector.threshold_
        frame[TRUTH] = truth(part, schema, params).to_numpy()
        for column, values in detector.reasons(x, schema.features, frame["is_anomaly"].to_numpy()).items():
            frame[column] = values
        frames.append(frame)
    scores = pd.concat(frames, ignore_index=True)
    test_scores = scores[scores["split"] == "test"]
    metrics: dict[str, Any] = {
        "anomaly.threshold": detector.threshold_,
        "anomaly.contamination": params.contamination,
        "anomaly.train_flag_rate": float(scores.loc[scores["split"] == "train", "is_anomaly"].mean()),
        "anomaly.test_flag_rate": float(test_scores["is_anomaly"].mean()),
    }
    metrics.update(ranking_metrics("anomaly", test_scores[TRUTH], test_scores["reconstruction_error"]))
    metrics.update(threshold_metrics(test_scores[TRUTH], test_scores["is_anomaly"]))
    if "anomaly.roc_auc" in metrics:
        logger.info("anomaly ROC-AUC %.4f, average precision %.4f, F1 at the threshold %.4f",
                    metrics["anomaly.roc_auc"], metrics["anomaly.average_precision"], metrics["anomaly.f1"])
    else:
        logger.info("no ROC-AUC: %s", "the test rows hold only one of normal / anomalous" if test_scores[TRUTH].notna().any()
                    else "no normal classes named (anomaly.normal_classes)" if schema.has_labels else "the data has no labels")
    return scores, metrics


def threshold_metrics(truth: pd.Series, flagged: pd.Series) -> dict[str, float]:
    """Precision, recall, F1 and the confusion counts of the flags on labelled rows."""
    known = truth.notna()
    if known.sum() == 0 or truth[known].nunique() < 2:
        return {}
    y, f = truth[known].astype(bool).to_numpy(), flagged[known].astype(bool).to_numpy()
    tp, fp = int((y & f).sum()), int((~y & f).sum())
    fn, tn = int((y & ~f).sum()), int((~y & ~f).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"anomaly.precision": precision, "anomaly.recall": recall, "anomaly.f1": f1,
            "anomaly.true_positives": tp, "anomaly.false_positives": fp,
            "anomaly.false_negatives": fn, "anomaly.true_negatives": tn}


def score_baselines(data: ModelInput, params: AnomalyParams, runtime: Runtime) -> tuple[pd.DataFrame, dict[str, Any]]:
    """scikit-learn's IsolationForest (defaults) and PCA reconstruction error (standardised
    features, components for 90% of the variance), fitted on the same normal training rows
    and scored on the same test rows as the detector."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    schema, test = data.schema, data.test
    x_normal = normal_part(data.train, schema, params)[schema.features].to_numpy(dtype="float64")
    x_test = test[schema.features].to_numpy(dtype="float64")
    forest = IsolationForest(random_state=runtime.seed_for("isolation_forest")).fit(x_normal)
    pca = make_pipeline(StandardScaler(), PCA(n_components=0.9, svd_solver="full")).fit(x_normal)
    standardized = pca[0].transform(x_test)
    rebuilt = pca[1].inverse_transform(pca[1].transform(standardized))
    scores = pd.DataFrame({
        ID: test[ID].to_numpy(),
        "isolation_forest": -forest.score_samples(x_test),  # higher = more anomalous
        "pca": ((standardized - rebuilt) ** 2).mean(axis=1),
        TRUTH: truth(test, schema, params).to_numpy(),
    })
    metrics: dict[str, Any] = {"anomaly.pca.components": int(pca[1].n_components_)}
    for name in ("isolation_forest", "pca"):
        metrics.update(ranking_metrics(f"anomaly.{name}", scores[TRUTH], scores[name]))
    metrics.pop("anomaly.test_anomaly_rate", None)
    return scores, metrics


def plot_anomaly_scores(scores: pd.DataFrame, metrics: dict[str, Any]) -> Figure:
    """Histogram of the test rows' scores with the threshold, split normal/anomalous when known."""
    plt = pyplot()
    test = scores[scores["split"] == "test"]
    figure, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(test["reconstruction_error"], bins=40)
    known = test[TRUTH].notna()
    if known.any():
        anomalous = test[TRUTH].where(known, False).astype(bool)
        ax.hist(test.loc[known & ~anomalous, "reconstruction_error"], bins=bins, alpha=0.7, label="normal rows")
        ax.hist(test.loc[anomalous, "reconstruction_error"], bins=bins, alpha=0.7, label="anomalous rows")
        if not known.all():  # an unlabelled row is neither
            ax.hist(test.loc[~known, "reconstruction_error"], bins=bins, alpha=0.5, label="unlabelled rows")
    else:
        ax.hist(test["reconstruction_error"], bins=bins, alpha=0.8, label="test rows")
    ax.axvline(metrics["anomaly.threshold"], color="red", linestyle="--", label="threshold")
    ax.set_title("Anomaly score, test set")
    ax.set_xlabel("the detector's score (column reconstruction_error; anomaly.score_rule)")
    ax.set_ylabel("rows")
    ax.legend()
    figure.tight_layout()
    return figure


def plot_anomaly_reasons(scores: pd.DataFrame) -> Figure:
    """Why test rows were flagged: how often each feature has the largest share of a flagged
    row's reconstruction error, and that share's spread."""
    flagged = scores[(scores["split"] == "test") & scores["is_anomaly"]]
    if "top_feature_1" not in flagged.columns or flagged.empty:
        return placeholder("Reasons for the flagged test rows", "no test row is flagged")
    plt = pyplot()
    counts = flagged["top_feature_1"].value_counts().head(15)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 0.35 * len(counts) + 1.8))
    left.barh(counts.index[::-1].astype(str), counts.to_numpy()[::-1])
    left.set_title(f"Top feature of the {len(flagged)} flagged test rows")
    left.set_xlabel("flagged rows")
    shares = [flagged.loc[flagged["top_feature_1"] == name, "top_share_1"].to_numpy() for name in counts.index[::-1]]
    right.boxplot(shares, orientation="horizontal", tick_labels=list(counts.index[::-1].astype(str)))
    right.set_xlim(0, 1)
    right.set_title("Its share of the row's reconstruction error")
    right.set_xlabel("share")
    figure.tight_layout()
    return figure


def plot_anomaly_curves(scores: pd.DataFrame, baselines: pd.DataFrame) -> tuple[Figure, Figure]:
    """ROC and precision-recall curves of the detector and both baselines on the test rows."""
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    test = scores[scores["split"] == "test"]
    # the rows whose truth is known, as the metrics take them (ranking_metrics): an unlabelled
    # row counted as normal would draw curves the logged ROC-AUC does not match
    # (the baselines' rows are the test rows, in their order: score_baselines)
    known = test[TRUTH].notna().to_numpy()
    labelled_truth = test[TRUTH][known]
    if labelled_truth.nunique() < 2:
        reason = "needs labels with normal and anomalous test rows"
        return placeholder("Anomaly ROC curve", reason), placeholder("Anomaly precision-recall curve", reason)
    plt = pyplot()
    truth = labelled_truth.astype(bool).to_numpy()
    curves = [("autoencoder", test["reconstruction_error"].to_numpy()[known]),
              ("IsolationForest", baselines["isolation_forest"].to_numpy()[known]),
              ("PCA reconstruction", baselines["pca"].to_numpy()[known])]
    subset = "" if known.all() else f" ({known.sum()} labelled of {len(test)} rows)"
    figures = []
    for display, title, xlabel, ylabel in (
        (RocCurveDisplay, "Anomaly detection ROC, test set", "false positive rate", "true positive rate"),
        (PrecisionRecallDisplay, "Anomaly detection precision-recall, test set", "recall", "precision"),
    ):
        figure, ax = plt.subplots(figsize=(5.5, 5))
        for name, values in curves:
            display.from_predictions(truth, values, ax=ax, name=name)
        ax.set_title(title + subset)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        figure.tight_layout()
        figures.append(figure)
    return figures[0], figures[1]
