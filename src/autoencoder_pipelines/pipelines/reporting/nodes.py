"""Report nodes: flat metrics, per-epoch MLflow histories, figures."""

from __future__ import annotations

import math
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI, cron, servers

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from autoencoder_pipelines.config import ReportParams, parse
from autoencoder_pipelines.data import LABEL

History = dict[str, list[float]]
MlflowHistory = dict[str, list[dict[str, float]]]


def build_metrics(
    classification: dict[str, Any],
    denoising: dict[str, Any],
    reduction: dict[str, Any],
    anomaly: dict[str, Any],
    run_started_at: float,
) -> tuple[dict[str, Any], MlflowHistory]:
    """One flat dict of final metrics (metrics.json) and the same for MLflow."""
    metrics = {**classification, **denoising, **reduction, **anomaly}
    metrics["run.seconds"] = time.time() - run_started_at
    metrics = dict(sorted(metrics.items()))
    for_mlflow = {
        key: [{"value": float(value), "step": 0}]
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
    return metrics, for_mlflow


def collect_histories(*histories: History) -> MlflowHistory:
    """Per-epoch series of every training phase as MLflow metric histories (step = epoch)."""
    return {
        key: [{"value": float(value), "step": step} for step, value in enumerate(values, start=1)]
        for history in histories
        for key, values in history.items()
    }


def plot_learning_curves(*histories: History) -> Figure:
    """One panel per training phase: train and validation loss per epoch."""
    merged: History = {k: v for h in histories for k, v in h.items()}
    phases = sorted({key.rsplit(".", 1)[0] for key in merged}, key=list(dict.fromkeys(k.rsplit(".", 1)[0] for k in merged)).index)
    columns = min(3, max(len(phases), 1))
    rows = max(1, math.ceil(len(phases) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, phase in zip(axes.flat, phases):
        for metric in ("train_loss", "val_loss"):
            values = merged.get(f"{phase}.{metric}")
            if values:
                ax.plot(range(1, len(values) + 1), values, label=metric.replace("_", " "))
        ax.set_title(phase)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
    for ax in list(axes.flat)[len(phases):]:
        ax.set_visible(False)
    figure.suptitle("Learning curves")
    figure.tight_layout()
    return figure


def plot_denoising_grid(
    test: pd.DataFrame, noisy_test: pd.DataFrame, denoised_test: pd.DataFrame, schema: dict[str, Any], report: dict[str, Any]
) -> Figure:
    """Clean / corrupted / denoised test rows: images when the shape is known, else line plots."""
    n = min(parse(ReportParams, report, "report").grid_samples, len(test))
    features = schema["features"]
    rows = [("clean", test), ("corrupted", noisy_test), ("denoised", denoised_test)]
    shape = schema.get("image_shape")
    figure, axes = plt.subplots(3, n, figsize=(1.3 * n, 4.3), squeeze=False)
    for r, (title, frame) in enumerate(rows):
        values = frame[features].to_numpy()[:n]
        for c in range(n):
            ax = axes[r, c]
            if shape:
                ax.imshow(values[c].reshape(shape), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.plot(values[c])
                ax.set_ylim(-0.05, 1.05)
                ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel(title)
    figure.suptitle("Test rows: clean, corrupted, denoised")
    figure.tight_layout()
    return figure


def plot_codes_2d(embeddings: pd.DataFrame, report: dict[str, Any]) -> Figure:
    """The test codes projected to 2-D with PCA, coloured by label when there is one."""
    limit = parse(ReportParams, report, "report").max_points_2d
    test = embeddings[embeddings["split"] == "test"].head(limit)
    codes = test[[c for c in test.columns if c.startswith("z_")]].to_numpy()
    points = PCA(n_components=2).fit_transform(codes) if codes.shape[1] > 2 else codes
    figure, ax = plt.subplots(figsize=(6, 5))
    if LABEL in test.columns:
        labels = test[LABEL].astype(str).to_numpy()
        for value in sorted(set(labels), key=lambda v: (len(v), v)):
            mask = labels == value
            ax.scatter(points[mask, 0], points[mask, 1], s=10, label=value)
        ax.legend(title="label", fontsize=7, markerscale=1.5, loc="best")
    else:
        ax.scatter(points[:, 0], points[:, 1], s=10)
    ax.set_title("Autoencoder codes of the test set (2-D PCA view)")
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    figure.tight_layout()
    return figure


def plot_anomaly_scores(scores: pd.DataFrame, anomaly_metrics: dict[str, Any]) -> Figure:
    """Histogram of test reconstruction errors with the threshold."""
    test = scores[scores["split"] == "test"]
    figure, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(test["reconstruction_error"], bins=40)
    ax.hist(test["reconstruction_error"], bins=bins, alpha=0.8, label="test rows")
    ax.axvline(anomaly_metrics["anomaly.threshold"], color="red", linestyle="--", label="threshold")
    ax.set_title("Anomaly score (reconstruction error), test set")
    ax.set_xlabel("mean squared reconstruction error")
    ax.set_ylabel("rows")
    ax.legend()
    figure.tight_layout()
    return figure
