"""Noise-robustness sweep (Vincent et al. 2010, section 7): `denoise` once per corruption
kind and level, each an MLflow run nested in one parent run; then a table and a figure of
test accuracy on corrupted inputs and denoised MSE against level, pretrained vs random init.

    .venv/bin/python -m autoencoder_pipelines.sweep --kinds masking gaussian salt_and_pepper --levels 0.1 0.25 0.4

Writes data/08_reporting/noise_sweep.csv and noise_sweep.png (also logged to the parent run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

COLUMNS = {
    "finetune.noisy_test_accuracy": "pretrained_noisy_accuracy",
    "finetune.random_init_noisy_test_accuracy": "random_init_noisy_accuracy",
    "finetune.test_accuracy": "pretrained_accuracy",
    "finetune.random_init_test_accuracy": "random_init_accuracy",
    "denoise.test_mse_noisy": "noisy_mse",
    "denoise.test_mse_denoised": "denoised_mse",
}


def _run_nested(
    project_path: Path,
    points: list[tuple[str, dict[str, Any]]],
    parent_name: str,
    env: str | None,
) -> tuple[list[dict[str, Any]], str]:
    """Run `denoise` once per (run name, runtime params) as MLflow runs nested in one parent;
    returns each point's metrics.json (plus seconds) and the parent run's id."""
    bootstrap_project(project_path)
    mlflow.set_experiment(_experiment_name(project_path, env))  # loading the context also sets the tracking URI
    results = []
    with mlflow.start_run(run_name=parent_name) as parent:
        for run_name, params in points:
            started = time.perf_counter()
            with mlflow.start_run(run_name=run_name, nested=True):
                with KedroSession.create(project_path=project_path, env=env, runtime_params=params) as session:
                    session.run(pipeline_names=["denoise"])
            metrics = json.loads((project_path / "data/08_reporting/metrics.json").read_text())
            results.append({**metrics, "seconds": time.perf_counter() - started})
            print(f"{run_name}: done in {results[-1]['seconds']:.1f} s", flush=True)
    return results, parent.info.run_id


def _publish(project_path: Path, stem: str, table: pd.DataFrame, figure: Any, parent_run_id: str) -> None:
    """data/08_reporting/<stem>.csv and .png, also logged to the parent run."""
    reporting = project_path / "data/08_reporting"
    paths = [reporting / f"{stem}.csv", reporting / f"{stem}.png"]
    table.to_csv(paths[0], index=False)
    figure.savefig(paths[1], dpi=100)
    client = mlflow.tracking.MlflowClient()
    for path in paths:
        client.log_artifact(parent_run_id, str(path))


def run_sweep(project_path: Path, kinds: list[str], levels: list[float], env: str | None = None) -> pd.DataFrame:
    """Noise-robustness sweep: every corruption kind x level."""
    points = [(f"{kind}-{level}", {"corruption": {"kind": kind, "level": level}}) for kind in kinds for level in levels]
    results, parent_run_id = _run_nested(project_path, points, "noise_sweep", env)
    table = pd.DataFrame([
        {"kind": params["corruption"]["kind"], "level": params["corruption"]["level"],
         **{new: metrics.get(old) for old, new in COLUMNS.items()}, "seconds": metrics["seconds"]}
        for (_, params), metrics in zip(points, results)
    ])
    _publish(project_path, "noise_sweep", table, plot_sweep(table), parent_run_id)
    return table


def _experiment_name(project_path: Path, env: str | None) -> str:
    with KedroSession.create(project_path=project_path, env=env) as session:
        config = session.load_context().config_loader.get("mlflow") or {}
    return config.get("tracking", {}).get("experiment", {}).get("name", "autoencoder_pipelines")


def plot_sweep(table: pd.DataFrame):
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
    table = run_sweep(args.project_path.resolve(), args.kinds, args.levels, args.env)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
