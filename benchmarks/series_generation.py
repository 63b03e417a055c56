"""Generating windows of a series: `denoise` on a synthetic series of known structure, cut into
windows (`data.source: windows`), once per generative kind; prints the MMD^2 of generated
windows against the test windows (RBF kernel at the median distance and a quarter of it)
beside a Gaussian fitted to the training windows, and the spectrum peaks of real, generated
and Gaussian windows.

    .venv/bin/python benchmarks/series_generation.py [--kinds conv1d_vae vae] [--steps 5000]

The series: two columns over a time column (stored out of order), `a` = sin(2 pi 2 t / 32) +
0.6 sin(2 pi 5 t / 32 + 1) + noise 0.1, `b` = 3 + 2 sin(2 pi 3 t / 32 + 0.5) + noise 0.2, so
windows of 32 steps have spectrum peaks at 2 and 5 (a) and 3 (b) cycles per window. Each run
writes under data/benchmarks/series_generation/<kind>/ and logs to a temporary MLflow store.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
LENGTH = 32


def synthetic_series(steps: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    return pd.DataFrame({
        "step": t,
        "a": np.sin(2 * np.pi * 2 * t / LENGTH) + 0.6 * np.sin(2 * np.pi * 5 * t / LENGTH + 1.0)
             + 0.1 * rng.standard_normal(steps),
        "b": 3.0 + 2.0 * np.sin(2 * np.pi * 3 * t / LENGTH + 0.5) + 0.2 * rng.standard_normal(steps),
    }).sample(frac=1.0, random_state=seed)


def run(kind: str, csv: Path, store: Path) -> tuple[float, Path]:
    folder = ROOT / "data" / "benchmarks" / "series_generation" / kind
    params = ",".join([
        "data.source=windows", f"data.path={csv}", "data.time_column=step", f"data.window_length={LENGTH}",
        "data.window_stride=4", f"model.kind={kind}", f"data_dir={folder}",
    ])
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
    started = time.perf_counter()
    result = subprocess.run([str(KEDRO), "run", "--pipelines=denoise", f"--params={params}"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise SystemExit(f"kedro run failed for {kind}")
    return time.perf_counter() - started, folder


def peaks(folder: Path, n: int = 500) -> dict[str, list[list[int]]]:
    import torch

    from autoencoder_pipelines.nn.generation import (
        gaussian_baseline,
        mean_power_spectrum,
        spectrum_peaks,
    )
    from autoencoder_pipelines.nn.serialization import load

    schema = json.loads((folder / "02_intermediate" / "data_schema.json").read_text())
    train, test = (pd.read_parquet(folder / "05_model_input" / f"{part}.parquet")[schema["features"]].to_numpy()
                   for part in ("train", "test"))
    model = load(next((folder / "06_models" / "pretrained_stack.pt").glob("*/pretrained_stack.pt")))
    rows = {"test windows": test, "generated": model.sample(n, torch.Generator().manual_seed(0)).numpy(),
            "Gaussian fit": gaussian_baseline(train, n)}
    return {name: spectrum_peaks(mean_power_spectrum(values, schema["window_shape"]), 3) for name, values in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=["conv1d_vae", "vae"])
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    csv = ROOT / "data" / "01_raw" / "synthetic_series.csv"
    synthetic_series(args.steps).to_csv(csv, index=False)
    with tempfile.TemporaryDirectory() as store:
        for kind in args.kinds:
            wall, folder = run(kind, csv, Path(store))
            metrics = json.loads((folder / "08_reporting" / "metrics.json").read_text())
            print(f"\n{kind}: {wall:.0f} s wall, {metrics['generation.rows']} test windows")
            print(f"  {'MMD^2 against the test windows':36} {'median bandwidth':>17} {'a quarter of it':>16}")
            for name in ("generated", "gaussian_baseline", "training_rows"):
                print(f"  {name:36} {metrics[f'generation.mmd2.{name}']:+17.4f} "
                      f"{metrics[f'generation.mmd2_local.{name}']:+16.4f}")
            for name, found in peaks(folder).items():
                print(f"  spectrum peaks (a, b) {name:13} {found}")
            print(f"  figures: {folder / '08_reporting'}")


if __name__ == "__main__":
    main()
