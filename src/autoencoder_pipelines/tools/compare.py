"""Compare autoencoder kinds side by side: `denoise` once per `model.kind`, each its own
MLflow run named by the kind (nested in one `compare_kinds` run), then a table and figure.

    .venv/bin/python -m autoencoder_pipelines.tools.compare --kinds undercomplete denoising sparse contractive vae conv

Writes everything under data/tools/compare/<timestamp>/: one folder per kind with that run's
outputs, and comparison.csv and comparison.png (also logged to the parent run). In the MLflow
UI, select the child runs and press Compare: `model.kind` is a parameter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from autoencoder_pipelines.nn.kinds import kind_names
from autoencoder_pipelines.tools.runs import publish, pyplot, run_nested, tool_folder

FIGURES = {
    "test_accuracy": "finetune.test_accuracy",
    "denoised_mse": "denoise.test_mse_denoised",
    "reduction_ae_mse": "reduction.ae_test_mse",
    "reduction_pca_mse": "reduction.pca_test_mse",
    "anomaly_roc_auc": "anomaly.roc_auc",
}


def run_comparison(project_path: Path, kinds: list[str], env: str | None = None) -> tuple[pd.DataFrame, Path]:
    """The comparison table, and the folder holding it and every kind's outputs."""
    folder = tool_folder(project_path, "compare")
    points = [(kind, {"model": {"kind": kind}}) for kind in kinds]
    results, parent_run_id = run_nested(project_path, folder, points, "compare_kinds", env)
    table = pd.DataFrame([
        {"kind": kind, **{column: metrics.get(key) for column, key in FIGURES.items()}, "seconds": metrics["seconds"]}
        for kind, metrics in zip(kinds, results)
    ])
    publish(folder, "comparison", table, plot_comparison(table), parent_run_id)
    return table, folder


def plot_comparison(table: pd.DataFrame):
    plt = pyplot()
    panels = [
        ("test_accuracy", "test accuracy (higher is better)"),
        ("denoised_mse", "denoised test MSE (lower is better)"),
        ("reduction_ae_mse", "reduction test MSE, PCA dashed (lower is better)"),
        ("anomaly_roc_auc", "anomaly ROC-AUC (higher is better)"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    for ax, (column, title) in zip(axes, panels):
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
