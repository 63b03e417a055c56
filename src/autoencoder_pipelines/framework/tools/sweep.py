"""Noise-robustness sweep (Vincent et al. 2010, section 7): `denoise` once per corruption
kind and level, each an MLflow run nested in one parent run; then a table and a figure of
test accuracy on corrupted inputs and denoised MSE against level, pretrained vs random init.

    .venv/bin/python -m autoencoder_pipelines.framework.tools.sweep --kinds masking gaussian salt_and_pepper --levels 0.1 0.25 0.4

Writes everything under data/tools/sweep/<timestamp>/: one folder per point with that run's
outputs, and noise_sweep.csv and noise_sweep.png (also logged to the parent run).
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

COLUMNS = {
    "finetune.noisy_test_accuracy": "pretrained_noisy_accuracy",
    "finetune.random_init_noisy_test_accuracy": "random_init_noisy_accuracy",
    "finetune.test_accuracy": "pretrained_accuracy",
    "finetune.random_init_test_accuracy": "random_init_accuracy",
    "denoise.test_mse_noisy": "noisy_mse",
    "denoise.test_mse_denoised": "denoised_mse",
}


def run_sweep(
    project_path: Path, kinds: list[str], levels: list[float], env: str | None = None
) -> tuple[pd.DataFrame, Path]:
    """Noise-robustness sweep: every corruption kind x level. The table, and its folder."""
    folder = tool_folder(project_path, "sweep")
    points = [(f"{kind}-{level}", {"corruption": {"kind": kind, "level": level}}) for kind in kinds for level in levels]
    results, parent_run_id = run_nested(project_path, folder, points, "noise_sweep", env)
    table = pd.DataFrame([
        {"kind": params["corruption"]["kind"], "level": params["corruption"]["level"],
         **{new: metrics.get(old) for old, new in COLUMNS.items()}, "seconds": metrics["seconds"]}
        for (_, params), metrics in zip(points, results, strict=True)
    ])
    publish(folder, "noise_sweep", table, plot_sweep(table), parent_run_id)
    return table, folder


def plot_sweep(table: pd.DataFrame):
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for kind, rows in table.groupby("kind"):
        line = left.plot(rows["level"], rows["pretrained_noisy_accuracy"], marker="o", label=f"{kind}, pretrained")[0]
        left.plot(rows["level"], rows["random_init_noisy_accuracy"], marker="x", linestyle="--",
                  color=line.get_color(), label=f"{kind}, random init")
        right.plot(rows["level"], rows["denoised_mse"], marker="o", color=line.get_color(), label=f"{kind}, denoised")
        right.plot(rows["level"], rows["noisy_mse"], linestyle=":", color=line.get_color(), label=f"{kind}, corrupted")
    left.set_title("Test accuracy on corrupted inputs")
    left.set_xlabel("corruption level (fraction or sigma)")
    left.set_ylabel("accuracy")
    left.legend(fontsize=7)
    right.set_title("Test MSE against the clean rows")
    right.set_xlabel("corruption level (fraction or sigma)")
    right.set_ylabel("MSE per value")
    right.legend(fontsize=7)
    figure.suptitle("Noise robustness")
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=["masking", "gaussian", "salt_and_pepper"])
    parser.add_argument("--levels", nargs="+", type=float, default=[0.1, 0.25, 0.4])
    parser.add_argument("--env", default=None)
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    args = parser.parse_args()
    table, folder = run_sweep(args.project_path.resolve(), args.kinds, args.levels, args.env)
    print(table.to_string(index=False))
    print(f"outputs: {folder}")


if __name__ == "__main__":
    main()
