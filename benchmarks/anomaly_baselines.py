"""The project's anomaly detector against IsolationForest and PCA reconstruction error (and
PyOD's AutoEncoder with its defaults, when pyod is installed) on scikit-learn's bundled tables
and two synthetic ones, through the anomaly pipeline's own nodes, on the same splits.

    .venv/bin/python benchmarks/anomaly_baselines.py [--seeds 3] [--tables breast_cancer wine_2 ...] [--members 3] [--no-pyod]
    # PyOD too (a benchmark-only dependency): .venv/bin/pip install -r benchmarks/requirements.txt

Each table: normal rows and a subsample of anomalous rows (7% of rows; wine 10%, synthetic 5%),
a stratified 70/10/20 split per seed; every method is fitted on the normal training rows and
scored on the test rows. Prints ROC-AUC and average precision (mean and spread over seeds),
fit+score seconds, and where the autoencoder falls short of the target (ROC-AUC at least both
baselines', never more than 0.02 below the better).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import pandas as pd
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split

from autoencoder_pipelines.config import AnomalyParams, RuntimeParams
from autoencoder_pipelines.data.frames import ModelInput
from autoencoder_pipelines.data.scaling import apply_scaler, fit_scaler
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.anomaly import ranking_metrics, train_detector
from autoencoder_pipelines.jobs.runtime import Runtime, resolve_runtime
from autoencoder_pipelines.nn.seeding import derive_seed
from autoencoder_pipelines.pipelines.anomaly.nodes import (
    score_anomalies,
    score_baselines,
)

Table = Callable[[int], tuple[np.ndarray, np.ndarray]]


def _subsample(normal: np.ndarray, anomalous: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = min(max(int(round(share / (1 - share) * len(normal))), 3), len(anomalous))
    rows = np.vstack([normal, anomalous[rng.choice(len(anomalous), n, replace=False)]])
    return rows.astype("float64"), np.r_[np.zeros(len(normal), int), np.ones(n, int)]


def _sklearn(name: str, anomalous: Callable[[np.ndarray], np.ndarray], share: float = 0.07) -> Table:
    bunch = getattr(datasets, f"load_{name}")()
    return lambda seed: _subsample(bunch.data[~anomalous(bunch.target)], bunch.data[anomalous(bunch.target)], share, seed)


def _synthetic(nonlinear: bool) -> Table:
    """20 columns from a low-rank (linear) or curved (nonlinear) 3-4-dimensional structure plus
    noise; 5% anomalies keep their columns' spread but break the joint structure."""

    def make(seed: int) -> tuple[np.ndarray, np.ndarray]:
        fixed, rng = np.random.default_rng(12345 + nonlinear), np.random.default_rng(seed)
        n, d, n_bad = 2000, 20, 100
        loadings, phase = fixed.normal(size=(4, d)), fixed.uniform(0, 2 * np.pi, d)

        def rows(m: int) -> np.ndarray:
            latent = rng.normal(size=(m, 4))
            out = latent @ loadings
            if nonlinear:
                out = np.sin(out / 2 + phase) + 0.3 * latent[:, [0]] * np.tanh(out)
            return out + (0.05 if nonlinear else 1.0) * rng.normal(size=(m, d))

        good, bad, donors = rows(n - n_bad), rows(n_bad), rows(n_bad)
        for i in range(n_bad):  # columns swapped in from other rows: marginals kept, joints broken
            columns = rng.choice(d, 5, replace=False)
            bad[i, columns] = donors[(i + 1) % n_bad, columns]
        return np.vstack([good, bad]), np.r_[np.zeros(n - n_bad, int), np.ones(n_bad, int)]

    return make


TABLES: dict[str, Table] = {
    "breast_cancer": _sklearn("breast_cancer", lambda t: t == 0),  # malignant rows are the anomalies
    **{f"digits_{k}_anomalous": _sklearn("digits", lambda t, k=k: t == k) for k in (0, 3, 8)},
    **{f"digits_{k}_normal": _sklearn("digits", lambda t, k=k: t != k) for k in (0, 3, 8)},
    **{f"wine_{k}": _sklearn("wine", lambda t, k=k: t == k, share=0.10) for k in (0, 1, 2)},
    "synthetic_linear": _synthetic(False),
    "synthetic_nonlinear": _synthetic(True),
}


def frames(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[pd.DataFrame, ...]:
    """The pipeline's split (70/10/20, stratified) and robust scaling, as frames its nodes take."""
    features = [f"x{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=features)
    frame.insert(0, "label", y)
    frame.insert(0, "id", [str(i) for i in range(len(frame))])
    rest, test = train_test_split(frame, test_size=0.2, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=0.125, stratify=rest["label"], random_state=seed)
    scaler = fit_scaler(train, features, "robust")
    return tuple(apply_scaler(part, scaler).reset_index(drop=True) for part in (train, val, test))


def pyod_scores(train: pd.DataFrame, test: pd.DataFrame, features: list[str]) -> np.ndarray | None:
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        return None
    model = AutoEncoder(verbose=0, random_state=0)  # PyOD's defaults
    model.fit(train.loc[train["label"] == 0, features].to_numpy())
    return model.decision_function(test[features].to_numpy())


def ensemble_metrics(data: ModelInput, anomaly: AnomalyParams, seed: int, members: int) -> dict:
    """The detector's test ranking; with members > 1, the mean score of that many detectors
    whose seeds differ (an ensemble; not part of the product: benchmarks/RESULTS.md)."""
    scores = []
    for member in range(members):
        run_seed = seed if member == 0 else derive_seed(seed, f"member.{member}")
        runtime = resolve_runtime(RuntimeParams(device="cpu", seed=run_seed, log_every=0, checkpoint_every=0, threads=1))
        detector, _ = train_detector(data, anomaly, runtime)
        table, metrics = score_anomalies(detector, data, anomaly)
        scores.append(table.loc[table["split"] == "test", "reconstruction_error"].to_numpy())
    if members == 1:
        return metrics
    return ranking_metrics("anomaly", data.test["label"].astype(bool).reset_index(drop=True), pd.Series(np.mean(scores, axis=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--members", type=int, default=1, help="detectors of different seeds whose scores are averaged (an ensemble)")
    parser.add_argument("--no-pyod", action="store_true", help="leave PyOD out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    anomaly = AnomalyParams(normal_classes=[0])
    results = []
    for name in args.tables:
        for seed in range(args.seeds):
            x, y = TABLES[name](seed)
            train, val, test = frames(x, y, seed)
            features = [c for c in train.columns if c.startswith("x")]
            schema = DataSchema(source=name, features=features, classes=[0, 1], label_column="label", n_rows=len(x))
            data = ModelInput(train, val, test, schema)
            started = time.perf_counter()
            metrics = ensemble_metrics(data, anomaly, seed, args.members)
            seconds = time.perf_counter() - started
            _, baselines = score_baselines(data, anomaly, Runtime(RuntimeParams(seed=seed)))
            row = {"table": name, "seed": seed, "rows": len(x), "features": x.shape[1], "ae_seconds": seconds,
                   "ae_roc": metrics["anomaly.roc_auc"], "ae_ap": metrics["anomaly.average_precision"],
                   "if_roc": baselines["anomaly.isolation_forest.roc_auc"], "if_ap": baselines["anomaly.isolation_forest.average_precision"],
                   "pca_roc": baselines["anomaly.pca.roc_auc"], "pca_ap": baselines["anomaly.pca.average_precision"]}
            started = time.perf_counter()
            scores = None if args.no_pyod else pyod_scores(train, test, features)
            if scores is not None:
                pyod = ranking_metrics("pyod", test["label"].astype(bool), pd.Series(scores))
                row.update(pyod_seconds=time.perf_counter() - started, pyod_roc=pyod["pyod.roc_auc"], pyod_ap=pyod["pyod.average_precision"])
            results.append(row)
        print(f"{name}: done", flush=True)
    report(pd.DataFrame(results))


def report(table: pd.DataFrame) -> None:
    methods = [m for m in ("ae", "if", "pca", "pyod") if f"{m}_roc" in table]
    names = {"ae": "autoencoder", "if": "IsolationForest", "pca": "PCA", "pyod": "PyOD AE"}
    print(f"\nROC-AUC, mean ± sd over {table['seed'].nunique()} seeds (average precision in brackets)")
    print(f"{'table':22} " + " ".join(f"{names[m]:>22}" for m in methods) + "   AE vs best baseline")
    short = []
    for name, rows in table.groupby("table", sort=False):
        cells = []
        for m in methods:
            roc, ap = rows[f"{m}_roc"], rows[f"{m}_ap"]
            cells.append(f"{roc.mean():.3f}±{roc.std(ddof=0):.3f} [{ap.mean():.2f}]")
        best = max(rows["if_roc"].mean(), rows["pca_roc"].mean())
        gap = rows["ae_roc"].mean() - best
        verdict = "at least both" if gap >= 0 else ("within 0.02" if gap >= -0.02 else "SHORT")
        if gap < -0.02:
            short.append(name)
        print(f"{name:22} " + " ".join(f"{c:>22}" for c in cells) + f"   {gap:+.3f} {verdict}")
    means = {m: table[f"{m}_roc"].mean() for m in methods}
    print("mean ROC-AUC: " + ", ".join(f"{names[m]} {v:.3f}" for m, v in means.items()))
    at_least = sum(table.groupby("table")["ae_roc"].mean() >= table.groupby("table")[["if_roc", "pca_roc"]].mean().max(axis=1))
    print(f"autoencoder >= both baselines on {at_least} of {table['table'].nunique()} tables; "
          f"more than 0.02 below the better on: {', '.join(short) or 'none'}")
    seconds = {"ae": table["ae_seconds"].sum()}
    if "pyod_seconds" in table:
        seconds["pyod"] = table["pyod_seconds"].sum()
    print("fit + score seconds, all splits: " + ", ".join(f"{names[m]} {v:.1f}" for m, v in seconds.items()))


if __name__ == "__main__":
    main()
