"""Report nodes: flat metrics, per-epoch MLflow histories, figures."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import ReportParams
from autoencoder_pipelines.data import LABEL
from autoencoder_pipelines.runtime import History, Network

MlflowHistory = dict[str, list[dict[str, float]]]
Figure = Any  # matplotlib.figure.Figure (matplotlib is imported when a figure is drawn)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: CI, cron, servers
    import matplotlib.pyplot as plt

    return plt


def build_metrics(run_started_at: float, *parts: dict[str, Any]) -> tuple[dict[str, Any], MlflowHistory]:
    """One flat dict of final metrics (metrics.json) and the same for MLflow."""
    metrics = {key: value for part in parts for key, value in part.items()}
    metrics["run.seconds"] = time.time() - run_started_at
    metrics = dict(sorted(metrics.items()))
    for_mlflow = {
        key: [{"value": float(value), "step": 0}]
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
    return metrics, for_mlflow


def collect_histories(*histories: History) -> MlflowHistory:
    """Per-epoch series of every training phase as MLflow metric histories (step = epoch), and
    the epochs each phase used (<phase>.epochs_used: fewer than its cap when it stopped early)."""
    series = {
        key: [{"value": float(value), "step": step} for step, value in enumerate(values, start=1)]
        for history in histories
        for key, values in history.items()
    }
    used = {
        f"{key.removesuffix('.train_loss')}.epochs_used": [{"value": float(len(values)), "step": 0}]
        for key, values in series.items()
        if key.endswith(".train_loss")
    }
    return series | used


def plot_learning_curves(*histories: History) -> Figure:
    """One panel per training phase: train and validation loss per epoch."""
    plt = pyplot()
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
    test: pd.DataFrame, noisy_test: pd.DataFrame, denoised_test: pd.DataFrame, schema: dict[str, Any], report: ReportParams
) -> Figure:
    """Clean / corrupted / denoised test rows: images when the shape is known, else line plots."""
    n = min(report.grid_samples, len(test))
    features = schema["features"]
    rows = [("clean", test), ("corrupted", noisy_test), ("denoised", denoised_test)]
    grid = [(title, frame[features].to_numpy()[:n]) for title, frame in rows]
    return _draw_rows(grid, schema.get("image_shape"), "Test rows: clean, corrupted, denoised")


def _draw_rows(grid: list[tuple[str, np.ndarray]], shape: list[int] | None, title: str) -> Figure:
    """One figure row per (label, rows): images when the shape is known, else line plots."""
    plt = pyplot()
    n = len(grid[0][1])
    figure, axes = plt.subplots(len(grid), n, figsize=(1.3 * n, 1.45 * len(grid)), squeeze=False)
    for r, (label, values) in enumerate(grid):
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
                ax.set_ylabel(label)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_codes_2d(embeddings: pd.DataFrame, report: ReportParams) -> Figure:
    """The test codes projected to 2-D with PCA, coloured by label when there is one."""
    plt = pyplot()
    from sklearn.decomposition import PCA

    limit = report.max_points_2d
    test = embeddings[embeddings["split"] == "test"].head(limit)
    codes = test[[c for c in test.columns if c.startswith("z_")]].to_numpy()
    points = PCA(n_components=2).fit_transform(codes) if codes.shape[1] > 2 else codes
    figure, ax = plt.subplots(figsize=(6, 5))
    if LABEL in test.columns:
        labels = test[LABEL].astype(object).where(test[LABEL].notna(), "unlabelled").astype(str).to_numpy()
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


def placeholder(title: str, reason: str) -> Figure:
    """Kedro cannot save None: a figure that says why there is nothing to show."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.4, reason, ha="center", va="center")
    return figure


def plot_confusion_matrix(predictions: pd.DataFrame) -> Figure:
    """Test-set confusion matrix of the pretrained classifier."""
    plt = pyplot()
    if "predicted" not in predictions.columns:
        return placeholder("Confusion matrix", "no labels in the data: no classifier")
    figure, ax = plt.subplots(figsize=(6.5, 5.5))
    from sklearn.metrics import ConfusionMatrixDisplay

    ConfusionMatrixDisplay.from_predictions(
        predictions["label"].astype(str), predictions["predicted"].astype(str), ax=ax, colorbar=False
    )
    ax.set_title("Classifier confusion matrix, test set")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    figure.tight_layout()
    return figure


def plot_accuracy_comparison(classification: dict[str, Any]) -> Figure:
    """Pretrained vs random-init test accuracy, on clean and on corrupted inputs."""
    plt = pyplot()
    if "finetune.test_accuracy" not in classification:
        return placeholder("Pretrained vs random init", "no labels in the data: no classifier")
    groups = ["clean test inputs", "corrupted test inputs"]
    pretrained = [classification["finetune.test_accuracy"], classification["finetune.noisy_test_accuracy"]]
    random_init = [classification["finetune.random_init_test_accuracy"], classification["finetune.random_init_noisy_test_accuracy"]]
    positions = np.arange(len(groups))
    figure, ax = plt.subplots(figsize=(6, 4))
    for offset, values, label in ((-0.2, pretrained, "pretrained encoder"), (0.2, random_init, "random init")):
        bars = ax.bar(positions + offset, values, width=0.4, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    majority = classification["finetune.test_majority_rate"]
    ax.axhline(majority, color="grey", linestyle=":", label=f"majority class ({majority:.3f})")
    ax.set_xticks(positions, groups)
    ax.set_ylim(max(0.0, min(pretrained + random_init + [majority]) - 0.1), 1.02)
    ax.set_ylabel("test accuracy")
    ax.set_title("What greedy pretraining bought (same network and budget)")
    ax.legend(loc="lower left")
    figure.tight_layout()
    return figure


def plot_label_budget(table: pd.DataFrame) -> Figure:
    """Test accuracy against the labelled rows used (log scale): the pretrained encoder, the
    same network from random init, and logistic regression on PCA codes."""
    if table.empty:
        return placeholder("Label budget", "no curve: finetune.label_fractions is empty, or the data has no labels")
    plt = pyplot()
    table = table.sort_values("labelled_rows")
    figure, ax = plt.subplots(figsize=(6.5, 4.5))
    for column, label, marker in (("pretrained_test_accuracy", "pretrained encoder", "o"),
                                  ("random_init_test_accuracy", "random init (same network, budget)", "s"),
                                  ("pca_logreg_test_accuracy", "logistic regression on PCA codes", "^")):
        ax.plot(table["labelled_rows"], table[column], marker=marker, label=label)
    ax.set_xscale("log")
    ax.set_xticks(table["labelled_rows"].tolist(),
                  [f"{int(n)}\n({f:.0%})" if f >= 0.01 else f"{int(n)}\n({f:.1%})"
                   for n, f in zip(table["labelled_rows"], table["fraction"])], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("labelled rows used (training + validation), share of the labels")
    ax.set_ylabel("test accuracy (all labelled test rows)")
    ax.set_title("Where pretraining pays: accuracy against labels")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figure.tight_layout()
    return figure


def plot_reduction_by_code_size(table: pd.DataFrame) -> Figure:
    """Autoencoder vs PCA test reconstruction error over code sizes."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(6, 4))
    ax.plot(table["code_size"], table["autoencoder_test_mse"], marker="o", label="autoencoder")
    ax.plot(table["code_size"], table["pca_test_mse"], marker="s", label="PCA")
    ax.set_xlabel("code size (dimensions)")
    ax.set_ylabel("test MSE per value")
    ax.set_xticks(table["code_size"])
    ax.set_title("Reconstruction error: autoencoder vs PCA")
    ax.legend()
    figure.tight_layout()
    return figure


def plot_generated_samples(model: Network, test: pd.DataFrame, schema: dict[str, Any]) -> Figure:
    """Generative kinds (those whose network can `sample`): rows decoded from the prior, and a
    walk between two test rows' codes."""
    if not hasattr(model, "sample"):
        return placeholder("Generated samples", "this model.kind does not generate")
    import torch

    model.eval()
    samples = model.sample(8, generator=torch.Generator().manual_seed(0)).detach().numpy()
    x = torch.tensor(test[schema["features"]].to_numpy(dtype="float32")[:2])
    walk = model.interpolate(x[0:1], x[1:2], 8).detach().numpy()
    return _draw_rows(
        [("prior samples", samples), ("interpolation", walk)],
        schema.get("image_shape"),
        "Decoded from the prior, and from the line between two test codes",
    )
