"""The label budget curve on the bundled digits over several seeds: test accuracy of the
pretrained encoder, the random-init twin and logistic regression on PCA codes against the
share of labels, mean and spread.

    .venv/bin/python benchmarks/label_budget.py [--seeds 42 1 2 3 4] [--fractions 0.01 0.02 ...]

Each seed is one `kedro run --pipelines=denoise --to-nodes=finetuning.label_budget_curve` (ingest,
split, pretraining, both classifiers, the curve; no denoiser, reduction, anomaly or report)
with `runtime.seed` set: the seed moves the split, the sampled labels and every weight init.
Outputs go to a temporary folder and a temporary MLflow store.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
ACCURACY = {"pretrained_test_accuracy": "pretrained", "random_init_test_accuracy": "random init",
            "pca_logreg_test_accuracy": "PCA + logreg"}


def run_seed(seed: int, fractions: list[float], folder: Path) -> pd.DataFrame:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
    data_dir = folder / f"seed{seed}"
    params = (f"runtime.seed={seed},runtime.log_every=0,data_dir={data_dir},"
              f"finetune.label_fractions=[{','.join(map(str, fractions))}]")
    result = subprocess.run([str(KEDRO), "run", "--pipelines=denoise", "--to-nodes=finetuning.label_budget_curve",
                             f"--params={params}"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise SystemExit(f"seed {seed}: kedro run failed with exit code {result.returncode}")
    return pd.read_csv(data_dir / "08_reporting/label_budget.csv").assign(seed=seed)


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per fraction: labelled rows, mean ± standard deviation of each accuracy, and the
    pretrained minus random-init gain with the number of seeds where pretraining won."""
    runs = runs.assign(gain=runs["pretrained_test_accuracy"] - runs["random_init_test_accuracy"])
    rows = []
    for fraction, group in runs.groupby("fraction"):
        row = {"fraction": fraction, "labelled rows": int(group["labelled_rows"].mean())}
        for column, name in ACCURACY.items():
            row[name] = f"{group[column].mean():.3f} ± {group[column].std():.3f}"
        row["gain"] = f"{group['gain'].mean():+.3f} ± {group['gain'].std():.3f}"
        row["pretrained ahead"] = f"{int((group['gain'] > 0).sum())}/{len(group)}"
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3, 4])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.02, 0.05, 0.1, 0.25, 1.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        for seed in args.seeds:
            started = time.perf_counter()
            runs.append(run_seed(seed, args.fractions, Path(folder)))
            print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    table = summary(pd.concat(runs, ignore_index=True)).astype(str)
    print("| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns))  # markdown, no tabulate
    for row in table.itertuples(index=False):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
