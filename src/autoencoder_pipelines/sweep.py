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


def run_sweep(project_path: Path, kinds: list[str], levels: list[float], env: str | None = None) -> pd.DataFrame:
    bootstrap_project(project_path)  # also applies settings.py (tracking URI default)
    experiment = _experiment_name(project_path, env)
    mlflow.set_experiment(experiment)
    rows = []
    with mlflow.start_run(run_name="noise_sweep") as parent:
        mlflow.log_params({"sweep.kinds": ",".join(kinds), "sweep.levels": ",".join(map(str, levels))})
        for kind in kinds:
            for level in levels:
                started = time.perf_counter()
                with mlflow.start_run(run_name=f"{kind}-{level}", nested=True):
                    with KedroSession.create(
                        project_path=project_path, env=env, runtime_params={"corruption": {"kind": kind, "level": level}}
                    ) as session:
                        session.run(pipeline_names=["denoise"])
                metrics = json.loads((project_path / "data/08_reporting/metrics.json").read_text())
                rows.append({"kind": kind, "level": level, **{new: metrics.get(old) for old, new in COLUMNS.items()},
                             "seconds": time.perf_counter() - started})
                print(f"{kind} {level}: {rows[-1]}", flush=True)
        table = pd.DataFrame(rows)
        reporting = project_path / "data/08_reporting"
        table.to_csv(reporting / "noise_sweep.csv", index=False)
        figure = plot_sweep(table)
        figure.savefig(reporting / "noise_sweep.png", dpi=100)
        mlflow.log_artifact(str(reporting / "noise_sweep.csv"), run_id=parent.info.run_id)
        mlflow.log_artifact(str(reporting / "noise_sweep.png"), run_id=parent.info.run_id)
    return table


def _experiment_name(project_path: Path, env: str | None) -> str:
    from kedro.framework.session import KedroSession as Session

    with Session.create(project_path=project_path, env=env) as session:
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
