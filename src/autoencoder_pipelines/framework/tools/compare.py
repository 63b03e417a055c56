"""Compare autoencoder kinds side by side: `denoise` once per `model.kind`, each its own
MLflow run named by the kind (nested in one `compare_kinds` run), then a table and figure.

    .venv/bin/python -m autoencoder_pipelines.framework.tools.compare --kinds undercomplete denoising sparse contractive vae conv

Writes everything under data/tools/compare/<timestamp>/: one folder per kind with that run's
outputs, comparison.csv and comparison.png, and the contraction analysis of each kind's
pretrained encoder side by side, contraction.csv and contraction.png (all also logged to the
parent run). In the MLflow UI, select the child runs and press Compare: `model.kind` is a
parameter. Which encoder contracts most (Rifai et al. 2011):

    .venv/bin/python -m autoencoder_pipelines.framework.tools.compare --kinds undercomplete denoising contractive
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from autoencoder_pipelines.framework.tools.runs import (
    publish,
    pyplot,
    run_nested,
    tool_folder,
)
from autoencoder_pipelines.nn.kinds import kind_names

FIGURES = {
    "test_accuracy": "finetune.test_accuracy",
    "denoised_mse": "denoise.test_mse_denoised",
    "reduction_ae_mse": "reduction.ae_test_mse",
    "reduction_pca_mse": "reduction.pca_test_mse",
    "anomaly_roc_auc": "anomaly.roc_auc",
    "codes_logistic_accuracy": "codes.logistic_regression.test_accuracy",
    "jacobian_frobenius": "contraction.jacobian_frobenius",
    "jacobian_frobenius_normalised": "contraction.jacobian_frobenius_normalised",
    "sensitive_directions": "contraction.sensitive_directions",
    "contraction_ratio_all": "contraction.ratio_all",
    "contraction_ratio_nearest": "contraction.ratio.q00_01",
    "normalised_ratio_nearest": "contraction.normalised_ratio.q00_01",
    "normalised_ratio_farthest": "contraction.normalised_ratio.q90_100",
}


def run_comparison(project_path: Path, kinds: list[str], env: str | None = None) -> tuple[pd.DataFrame, Path]:
    """The comparison table, and the folder holding it and every kind's outputs."""
    folder = tool_folder(project_path, "compare")
    points = [(kind, {"model": {"kind": kind}}) for kind in kinds]
    results, parent_run_id = run_nested(project_path, folder, points, "compare_kinds", env)
    table = pd.DataFrame([
        {"kind": kind, **{column: metrics.get(key) for column, key in FIGURES.items()}, "seconds": metrics["seconds"]}
        for kind, metrics in zip(kinds, results, strict=True)
    ])
    publish(folder, "comparison", table, plot_comparison(table), parent_run_id)
    curves = pd.concat([
        pd.read_csv(path).assign(kind=kind)
        for kind in kinds if (path := folder / kind / "08_reporting" / "contraction.csv").exists()
    ], ignore_index=True)
    publish(folder, "contraction", curves, plot_contraction_comparison(table, curves), parent_run_id)
    return table, folder


def plot_contraction_comparison(table: pd.DataFrame, curves: pd.DataFrame):
    """Each kind's pretrained encoder: Jacobian norm (raw and relative to its mean contraction
    of the data), the decay of its mean singular values, contraction ratio by the pairs' input
    distance (raw and relative to the kind's mean ratio)."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    positions = range(len(table))
    width = 0.4
    axes[0].bar([p - width / 2 for p in positions], table["jacobian_frobenius"], width, label="raw")
    twin = axes[0].twinx()
    twin.bar([p + width / 2 for p in positions], table["jacobian_frobenius_normalised"], width, color="C1", label="/ mean ratio")
    axes[0].set_xticks(list(positions), table["kind"], rotation=45, fontsize=8)
    axes[0].set_ylabel("mean ||J(x)||_F (raw, blue)")
    twin.set_ylabel("||J||_F / mean contraction ratio (orange)")
    axes[0].set_title("Encoder Jacobian norm on test rows", fontsize=9)
    for kind, part in curves.groupby("kind", sort=False):
        spectrum = part[part["measure"] == "singular_value"]
        axes[1].semilogy(spectrum["x"], spectrum["value"] / spectrum["value"].iloc[0], marker="o", markersize=3, label=kind)
        for ax, measure in ((axes[2], "ratio"), (axes[3], "normalised_ratio")):
            rows = part[part["measure"] == measure]
            ax.plot(rows["x"], rows["value"], marker="o", label=kind)
    axes[1].set(xlabel="singular value index", ylabel="mean singular value / the largest")
    axes[1].axhline(0.1, color="grey", linestyle=":")
    axes[1].set_title("Jacobian spectrum, relative to its largest value", fontsize=9)
    axes[2].set(xlabel="input distance of the pairs (bin mean)", ylabel="code distance / input distance")
    axes[2].set_title("Contraction ratio", fontsize=9)
    axes[3].set(xlabel="input distance of the pairs (bin mean)", ylabel="ratio / the kind's mean ratio")
    axes[3].axhline(1.0, color="grey", linestyle=":")
    axes[3].set_title("Contraction ratio, relative to the kind's mean", fontsize=9)
    for ax in axes[1:]:
        ax.legend(fontsize=7)
    figure.suptitle("Which encoder contracts most (Rifai et al. 2011): same data, budget and test rows")
    figure.tight_layout()
    return figure


def plot_comparison(table: pd.DataFrame):
    plt = pyplot()
    panels = [
        ("test_accuracy", "test accuracy (higher is better)"),
        ("denoised_mse", "denoised test MSE (lower is better)"),
        ("reduction_ae_mse", "reduction test MSE, PCA dashed (lower is better)"),
        ("anomaly_roc_auc", "anomaly ROC-AUC (higher is better)"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    for ax, (column, title) in zip(axes, panels, strict=True):
        values = pd.to_numeric(table[column], errors="coerce")
        bars = ax.bar(table["kind"], values)
        ax.bar_label(bars, fmt="%.3f" if column in ("test_accuracy", "anomaly_roc_auc") else "%.4f", fontsize=7)
        if column in ("test_accuracy", "anomaly_roc_auc") and values.notna().any():
            ax.set_ylim(max(0.0, values.min() - 0.05), 1.0)  # differences are small: zoom in
        if column == "reduction_ae_mse":
            for i, pca in enumerate(table["reduction_pca_mse"]):
                ax.hlines(pca, i - 0.4, i + 0.4, colors="black", linestyles="--")
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    figure.suptitle("Autoencoder kinds on the same data and budget")
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=list(kind_names()), choices=kind_names())
    parser.add_argument("--env", default=None)
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    args = parser.parse_args()
    table, folder = run_comparison(args.project_path.resolve(), args.kinds, args.env)
    print(table.to_string(index=False))
    print(f"outputs: {folder}")


if __name__ == "__main__":
    main()
