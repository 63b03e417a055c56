"""Report nodes: flat metrics, per-epoch MLflow histories, figures, and the analyses of the
pretrained encoder (contraction, generation, codes against the prior)."""

from __future__ import annotations

import logging
import math
import time
from fnmatch import fnmatch
from typing import Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import ReportParams
from autoencoder_pipelines.data.frames import LABEL, ModelInput
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.figures import Figure, placeholder, pyplot
from autoencoder_pipelines.jobs.metrics import collect_metrics
from autoencoder_pipelines.jobs.runtime import History, Network, Runtime
from autoencoder_pipelines.tracking.ui import HEADLINE, TEST, history_name

__all__ = [  # the node functions (collect_metrics is the jobs layer's, shared by every pipeline)
    "analyse_contraction", "build_metrics", "collect_histories", "collect_metrics", "compare_codes_with_prior",
    "evaluate_generation", "plot_accuracy_comparison", "plot_clustering", "plot_codes_2d", "plot_confusion_matrix",
    "plot_denoising_grid", "plot_generated_samples", "plot_label_budget", "plot_learning_curves", "plot_reduction_by_code_size",
]
logger = logging.getLogger(__name__)
MlflowHistory = dict[str, list[dict[str, float]]]
# The metrics.json figures runs are compared on (fnmatch patterns): the MLflow run's test/<key>
# metrics, charted first, and its logged model's metrics. The rest of metrics.json (counts,
# breakdowns, baselines that do not change between runs on the same data) is in the run as its
# artifact metrics.json.
COMPARED = (
    "finetune.test_accuracy", "finetune.noisy_test_accuracy", "finetune.random_init_test_accuracy",
    "denoise.test_mse_*", "reduction.*_test_mse", "anomaly.roc_auc", "anomaly.average_precision", "anomaly.f1",
    "codes.*.test_accuracy", "contraction.ratio_all", "generation.mmd2*.generated", "prior.linear_separability",
    "label_budget.*.pretrained_test_accuracy", "cluster/*",
)


def build_metrics(runtime: Runtime, *parts: dict[str, Any]) -> tuple[dict[str, Any], MlflowHistory]:
    """One flat dict of final metrics (metrics.json), and for MLflow those of COMPARED (under
    test/) and `run.seconds` (since this run started)."""
    metrics = {key: value for part in parts for key, value in part.items()}
    metrics["run.seconds"] = time.time() - runtime.started_at
    metrics = dict(sorted(metrics.items()))
    compared = {f"{TEST}{key}": value for key, value in metrics.items() if any(fnmatch(key, p) for p in COMPARED)}
    # the headline first: MLflow's compare page plots the first metric a run logged
    order = sorted(compared, key=lambda key: (HEADLINE.index(key) if key in HEADLINE else len(HEADLINE), key))
    for_mlflow = {
        key: [{"value": float(value), "step": 0}]
        for key, value in ({key: compared[key] for key in order} | {"run.seconds": metrics["run.seconds"]}).items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
    return metrics, for_mlflow


def collect_histories(*histories: History) -> MlflowHistory:
    """Per-epoch series of every training phase as MLflow metric histories (step = epoch), and
    the epochs each phase used (<phase>.epochs_used: fewer than its cap when it stopped early),
    in a chart section per phase (training.<phase>/...)."""
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
    return {history_name(key): values for key, values in (series | used).items()}


def plot_learning_curves(*histories: History) -> Figure:
    """One panel per training phase: train and validation loss per epoch."""
    plt = pyplot()
    merged: History = {k: v for h in histories for k, v in h.items()}
    phases = sorted({key.rsplit(".", 1)[0] for key in merged}, key=list(dict.fromkeys(k.rsplit(".", 1)[0] for k in merged)).index)
    columns = min(3, max(len(phases), 1))
    rows = max(1, math.ceil(len(phases) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, phase in zip(axes.flat, phases, strict=False):
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
    data: ModelInput, noisy_test: pd.DataFrame, denoised_test: pd.DataFrame, report: ReportParams
) -> Figure:
    """Clean / corrupted / denoised test rows: images when the shape is known, else line plots."""
    n = min(report.grid_samples, len(data.test))
    features = data.schema.features
    rows = [("clean", data.test), ("corrupted", noisy_test), ("denoised", denoised_test)]
    grid = [(title, frame[features].to_numpy()[:n]) for title, frame in rows]
    return _draw_rows(grid, data.schema, "Test rows: clean, corrupted, denoised")


def _draw_rows(grid: list[tuple[str, np.ndarray]], schema: DataSchema, title: str) -> Figure:
    """One figure row per (label, rows): images when the data has an image shape, one line per
    channel for windows of a series, else the row's values as a line."""
    plt = pyplot()
    shape, window = schema.image_shape, schema.window_shape
    n = len(grid[0][1])
    figure, axes = plt.subplots(len(grid), n, figsize=(1.3 * n, 1.45 * len(grid)), squeeze=False)
    for r, (label, values) in enumerate(grid):
        for c in range(n):
            ax = axes[r, c]
            if shape:
                if len(shape) == 3:  # colour, channel first: imshow takes height x width x channels
                    ax.imshow(np.clip(values[c].reshape(shape).transpose(1, 2, 0), 0, 1))
                else:
                    ax.imshow(values[c].reshape(shape), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                for line in values[c].reshape(window) if window else [values[c]]:
                    ax.plot(line, linewidth=0.8)
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
    random_init = [classification["finetune.random_init_test_accuracy"],
                   classification["finetune.random_init_noisy_test_accuracy"]]
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
                   for n, f in zip(table["labelled_rows"], table["fraction"], strict=True)], fontsize=7)
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


def plot_clustering(table: pd.DataFrame) -> Figure:
    """k-means on the raw inputs, PCA codes and autoencoder codes: a panel per score (ARI and NMI
    against the labels where there are labels, the silhouette always), a bar per feature set."""
    if table.empty:
        return placeholder("k-means clusters", "reduction.clustering.enabled is false")
    plt = pyplot()
    scores = {"ari": "adjusted Rand index", "nmi": "normalised mutual information", "silhouette": "silhouette"}
    scores = {key: title for key, title in scores.items() if key in table.columns}
    names = {"raw": "raw inputs", "pca": "PCA codes", "codes": "autoencoder codes"}
    table = table.set_index("features").loc[[name for name in names if name in set(table["features"])]]
    figure, axes = plt.subplots(1, len(scores), figsize=(3.6 * len(scores) + 0.4, 3.6), squeeze=False)
    for ax, (score, title) in zip(axes[0], scores.items(), strict=True):
        values = table[score].to_numpy(dtype=float)
        labels = [f"{names[n]}\n({d} dims)" for n, d in zip(table.index, table["dimensions"], strict=True)]
        bars = ax.bar(labels, np.nan_to_num(values), color=["#9e9e9e", "#6baed6", "#d94801"][: len(values)])
        ax.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.3f}" for v in values])
        ax.set_title(title)
        ax.set_ylim(min(0.0, np.nanmin(values, initial=0.0)) * 1.15, max(1e-9, np.nanmax(values, initial=0.0)) * 1.15)
        ax.tick_params(axis="x", labelsize=8)
    k, test_rows, sampled = (int(table[column].iloc[0]) for column in ("n_clusters", "test_rows", "silhouette_rows"))
    figure.suptitle(f"k-means, k={k}, fitted on the training rows; {test_rows} test rows (silhouette on {sampled})")
    figure.tight_layout()
    return figure


def plot_generated_samples(model: Network, data: ModelInput) -> Figure:
    """Generative kinds (those whose network can `sample`): a grid of rows decoded from prior
    draws, and a walk between two test rows' codes."""
    if not hasattr(model, "sample"):
        return placeholder("Generated samples", "this model.kind does not generate")
    import torch

    model.eval()
    samples = model.sample(24, generator=torch.Generator().manual_seed(0)).detach().numpy()
    x = torch.tensor(data.values("test")[:2])
    walk = model.interpolate(x[0:1], x[1:2], 8).detach().numpy()
    return _draw_rows(
        [("prior samples", samples[:8]), ("", samples[8:16]), ("", samples[16:]), ("interpolation", walk)],
        data.schema,
        "Decoded from prior draws, and from the line between two test rows' codes",
    )


def evaluate_generation(model: Network, data: ModelInput, report: ReportParams) -> tuple[dict[str, float], Figure]:
    """Generative kinds: how close rows decoded from prior draws are to the test rows, as MMD^2
    with an RBF kernel (nn/generation.py) whose bandwidth is the median distance between test
    rows (`generation.mmd2.*`: at that scale it sees mostly the first two moments) and a quarter
    of it (`generation.mmd2_local.*`: finer structure), beside the same for a Gaussian fitted to
    the training rows and for training rows themselves (what a perfect generator would score,
    about 0); and a figure of real against generated rows, with the mean power spectrum of each
    series for windows."""
    if not hasattr(model, "sample"):
        return {}, placeholder("Generated against real rows", "this model.kind does not generate")
    import torch

    from autoencoder_pipelines.nn.generation import (
        gaussian_baseline,
        median_bandwidth,
        mmd2,
    )

    n = min(len(data.test), report.generation_rows)
    rng = np.random.default_rng(0)
    real = data.values("test")[rng.choice(len(data.test), n, replace=False)]
    x_train = data.values("train")
    model.eval()
    generated = model.sample(n, generator=torch.Generator().manual_seed(0)).detach().numpy()
    candidates = {
        "generated": generated,
        "gaussian_baseline": gaussian_baseline(x_train, n),
        "training_rows": x_train[rng.choice(len(x_train), min(n, len(x_train)), replace=False)],
    }
    bandwidth = median_bandwidth(torch.tensor(real))
    metrics = {f"generation.{measure}.{name}": mmd2(torch.tensor(real), torch.tensor(rows), bandwidth * scale)
               for measure, scale in (("mmd2", 1.0), ("mmd2_local", 0.25)) for name, rows in candidates.items()}
    metrics["generation.rows"] = n
    return metrics, plot_generated_against_real(real, candidates, data.schema, metrics)


def plot_generated_against_real(
    real: np.ndarray, candidates: dict[str, np.ndarray], schema: DataSchema, metrics: dict[str, float]
) -> Figure:
    title = (f"Real test rows against generated ones (MMD^2 {metrics['generation.mmd2.generated']:.4f}; "
             f"Gaussian baseline {metrics['generation.mmd2.gaussian_baseline']:.4f}; "
             f"training rows {metrics['generation.mmd2.training_rows']:.4f})")
    window = schema.window_shape
    if not window:
        grid = [("real (test)", real[:8]), ("generated", candidates["generated"][:8]),
                ("Gaussian fit", candidates["gaussian_baseline"][:8])]
        return _draw_rows(grid, schema, title)
    from autoencoder_pipelines.nn.generation import mean_power_spectrum

    plt = pyplot()
    channels, length = window
    names = schema.series_columns or [f"series {c}" for c in range(channels)]
    figure, axes = plt.subplots(channels, 3, figsize=(14, 3.0 * channels), squeeze=False)
    for c in range(channels):
        for ax, (label, rows) in zip(axes[c, :2], (("real (test)", real), ("generated", candidates["generated"])), strict=True):
            for row in rows[:6]:
                ax.plot(row.reshape(window)[c], linewidth=0.8)
            ax.set_title(f"{names[c]}: {label} windows", fontsize=9)
            ax.set_ylim(-0.1, 1.1)
            ax.set_xlabel("time step")
        spectra = {"real (test)": real, "generated": candidates["generated"], "Gaussian fit": candidates["gaussian_baseline"]}
        for label, rows in spectra.items():
            spectrum = mean_power_spectrum(rows, window)[c]
            axes[c, 2].semilogy(range(1, len(spectrum)), spectrum[1:], marker="o", markersize=3, label=label)
        axes[c, 2].set_xlabel(f"cycles per window of {length} steps")
        axes[c, 2].set_ylabel("mean power")
        axes[c, 2].set_title(f"{names[c]}: power spectrum", fontsize=9)
        axes[c, 2].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def compare_codes_with_prior(model: Network, data: ModelInput, report: ReportParams) -> tuple[dict[str, float], Figure]:
    """Networks with a prior over their codes (`sample_prior`: adversarial, vae): how far the
    test rows' codes are from as many prior draws (from each row's class component where the
    prior has one per class): `prior.linear_separability`, the 3-fold cross-validated accuracy
    of a logistic regression telling codes from draws (0.5: a linear classifier cannot), the
    distance between their means and the codes' mean deviation per dimension; and both in one
    2-D view (the codes themselves when 2-D, else the first two principal axes of both)."""
    if not hasattr(model, "sample_prior"):
        return {}, placeholder("Codes against the prior", "this model.kind has no prior over its codes")
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from autoencoder_pipelines.data.frames import labelled_part, labels_tensor

    # with labels, each code is set against a draw from its own class's component
    schema = data.schema
    rows = (labelled_part(data.test) if schema.has_labels else data.test).head(report.max_points_2d)
    model.eval()
    with torch.no_grad():
        codes = model.encode(torch.tensor(rows[schema.features].to_numpy(dtype="float32"))).numpy()
        labels = labels_tensor(rows, schema) if schema.has_labels else None
        prior = model.sample_prior(len(rows), torch.Generator().manual_seed(0), labels).numpy()
    both, is_draw = np.vstack([codes, prior]), np.r_[np.zeros(len(codes)), np.ones(len(prior))]
    separability = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), both, is_draw,
                                   cv=3).mean()
    metrics = {
        "prior.linear_separability": float(separability),
        "prior.mean_distance": float(np.linalg.norm(codes.mean(axis=0) - prior.mean(axis=0))),
        "prior.code_std": float(codes.std(axis=0).mean()),
    }
    if separability > 0.9:  # chance is 0.5: the prior's regularisation did not take
        logger.warning(
            "the codes do not follow the prior: a logistic regression tells them from the prior's draws %.0f%% of the "
            "time (prior.linear_separability; 0.5 would be a match), so samples drawn from the prior are not rows "
            "like the data's. A narrower code helps (docs/results.md, Adversarial autoencoder: 24 units 0.99, 8 units "
            "0.51: model.hidden_sizes=[256,128,8])", 100 * separability)
    return metrics, _plot_codes_against_prior(codes, prior, rows, metrics)


def _plot_codes_against_prior(codes: np.ndarray, prior: np.ndarray, rows: pd.DataFrame, metrics: dict[str, float]) -> Figure:
    if codes.shape[1] > 2:
        from sklearn.decomposition import PCA

        projection = PCA(n_components=2).fit(np.vstack([codes, prior]))
        codes, prior = projection.transform(codes), projection.transform(prior)
        axis = "principal axis"
    else:
        axis = "code"
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(prior[:, 0], prior[:, 1], s=8, c="lightgrey", label="prior draws")
    if LABEL in rows.columns:
        values = rows[LABEL].astype(str).to_numpy()
        for value in sorted(set(values), key=lambda v: (len(v), v)):
            mask = values == value
            ax.scatter(codes[mask, 0], codes[mask, 1], s=8, label=value)
    else:
        ax.scatter(codes[:, 0], codes[:, 1], s=8, label="test codes")
    ax.legend(fontsize=7, markerscale=1.5, loc="best", title="codes by label" if LABEL in rows.columns else None)
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.set_title(f"Test codes against draws from the prior (told apart linearly: "
                 f"{metrics['prior.linear_separability']:.0%} of the time)", fontsize=9)
    figure.tight_layout()
    return figure


def analyse_contraction(model: Network, data: ModelInput, report: ReportParams) -> tuple[dict[str, float], pd.DataFrame, Figure]:
    """How much the pretrained encoder contracts the input space (nn/contraction.py) on the
    first `report.contraction_rows` test rows: metrics `contraction.*`, the curves as a table
    (the spectrum, the ratio by input distance) and a figure."""
    import torch

    from autoencoder_pipelines.nn.contraction import analyse

    model.eval()
    x = torch.tensor(data.values("test")[: report.contraction_rows])
    result = analyse(model.encode, x)
    metrics = {f"contraction.{key}": value for key, value in result.summary().items()}
    spectrum = result.singular_values.mean(dim=0).tolist()
    table = pd.DataFrame(
        [{"measure": "singular_value", "bin": "", "x": k, "value": v} for k, v in enumerate(spectrum, start=1)]
        + [{"measure": measure, "bin": row["bin"], "x": row["input_distance"], "value": row[measure]}
           for measure in ("ratio", "normalised_ratio") for row in result.bins()]
    )
    return metrics, table, plot_contraction(result, metrics)


def plot_contraction(result: Any, metrics: dict[str, float]) -> Figure:
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].hist(result.frobenius.numpy(), bins=30)
    axes[0].set_xlabel("||J(x)||_F of a test row")
    axes[0].set_ylabel("rows")
    axes[0].set_title(f"Encoder Jacobian norm (mean {metrics['contraction.jacobian_frobenius']:.3g})", fontsize=9)
    spectrum = result.singular_values.mean(dim=0).numpy()
    axes[1].semilogy(range(1, len(spectrum) + 1), spectrum, marker="o", markersize=3)
    axes[1].set_xlabel("singular value index")
    axes[1].set_ylabel("mean singular value of J(x)")
    directions = metrics["contraction.sensitive_directions"]
    axes[1].set_title(f"Jacobian spectrum ({directions:.1f} directions >= 10% of the top)", fontsize=9)
    generator = np.random.default_rng(0)
    shown = generator.choice(len(result.ratio), size=min(3000, len(result.ratio)), replace=False)
    axes[2].scatter(result.input_distance.numpy()[shown], result.ratio.numpy()[shown], s=2, c="lightgrey",
                    label="pairs of test rows")
    bins = result.bins()
    axes[2].plot([b["input_distance"] for b in bins], [b["ratio"] for b in bins], marker="o", color="C1",
                 label="mean by distance bin")
    axes[2].set_xlabel("input distance ||x_i - x_j||")
    axes[2].set_ylabel("code distance / input distance")
    axes[2].set_title("Contraction ratio of pairs of rows", fontsize=9)
    axes[2].legend(fontsize=7)
    figure.suptitle("How much the pretrained encoder contracts the input space (Rifai et al. 2011)")
    figure.tight_layout()
    return figure
