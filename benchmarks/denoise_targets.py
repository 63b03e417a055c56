"""Runs `kedro run --pipelines=denoise` on the default config and prints the figures the
project promises, each against its target.

    .venv/bin/python benchmarks/denoise_targets.py [--repeats N] [extra kedro args...]

The run uses a temporary MLflow store (so benchmark runs stay out of yours) and writes
the usual outputs under data/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")


def run_once(extra: list[str], store: Path) -> tuple[float, dict]:
    """One timed `kedro run --pipelines=denoise` logging to the SQLite store in `store`:
    (wall seconds, metrics.json). pipeline_profile.py times its runs with it too."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [str(KEDRO), "run", "--pipelines=denoise", *extra], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise SystemExit(f"kedro run failed with exit code {result.returncode}")
    return wall, json.loads((ROOT / "data/08_reporting/metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    args, extra = parser.parse_known_args()
    walls, runs = [], []
    with tempfile.TemporaryDirectory() as store:
        for i in range(args.repeats):
            wall, metrics = run_once(extra, Path(store))
            walls.append(wall)
            runs.append(metrics)
            print(f"run {i + 1}: {wall:.1f} s wall, {metrics['run.seconds']:.1f} s inside the pipeline")
    m = runs[-1]
    ratio = m["denoise.test_mse_denoised"] / m["denoise.test_mse_noisy"]
    rows = [
        ("wall time of kedro run (s)", statistics.median(walls), "<= 90", statistics.median(walls) <= 90),
        ("finetune.test_accuracy", m.get("finetune.test_accuracy"), ">= 0.985", m.get("finetune.test_accuracy", 0) >= 0.985),
        ("finetune.random_init_test_accuracy", m.get("finetune.random_init_test_accuracy"), "(reference)", None),
        ("denoise.test_mse_noisy", m["denoise.test_mse_noisy"], "(reference)", None),
        ("denoise.test_mse_denoised", m["denoise.test_mse_denoised"], "<= 0.5 x noisy", ratio <= 0.5),
        ("denoised / noisy", ratio, "<= 0.5", ratio <= 0.5),
        ("reduction.ae_test_mse", m["reduction.ae_test_mse"], "< pca", m["reduction.ae_test_mse"] < m["reduction.pca_test_mse"]),
        ("reduction.pca_test_mse", m["reduction.pca_test_mse"], f"({m['reduction.pca_components']} components)", None),
        ("anomaly.roc_auc", m.get("anomaly.roc_auc"), "(reference)", None),
    ]
    print(f"\n{'figure':38} {'value':>10}  target")
    for name, value, target, ok in rows:
        shown = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) and value < 10 else f"{value:.1f}"
        verdict = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(f"{name:38} {shown:>10}  {target}{verdict}")


if __name__ == "__main__":
    main()
