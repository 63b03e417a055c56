"""The project's anomaly detector against IsolationForest and PCA reconstruction error (and
PyOD's AutoEncoder with its defaults, when pyod is installed) on the 23 tables of
anomaly_tables.py (scikit-learn's bundled ones and generated ones of known shape), through the
anomaly pipeline's own nodes, on the same splits.

    .venv/bin/python benchmarks/anomaly_baselines.py [--seeds 5] [--first-seed 0]
        [--tables breast_cancer wine_2 ...] [--members 3] [--no-pyod]
        [--params score_rule=reconstruction activation=tanh ...]   # anomaly.* settings of the detector
    # PyOD too (a benchmark-only dependency): .venv/bin/pip install -r benchmarks/requirements.txt

Each table: normal rows and anomalous ones (5-10% of rows), a stratified 70/10/20 split per
seed; every method is fitted on the normal training rows and scored on the test rows. Prints,
per table, ROC-AUC and average precision (mean and spread over seeds) and the shortfall: the
autoencoder's mean minus the better baseline's (IsolationForest or PCA), for both; then the
mean and worst shortfall over the tables, fit+score seconds, and the tables more than 0.01
ROC-AUC below the better baseline (the target of issue 29: none). Each ROC-AUC shortfall comes
with its paired standard error over the seeds, and the tables whose paired 95% interval
(Student's t) lies wholly below -0.01 are named apart: for the others, a loss beyond -0.01 is
not shown beyond the splits' noise (which is not to say there is none).

The detector's defaults were chosen on seeds 0-4 of these tables (anomaly_candidates.py used
0-2), so their figures lean its way; `--first-seed 5` measures on seeds no choice has seen.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
import yaml
from anomaly_tables import TABLES
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
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first-seed .. first-seed + seeds - 1 (5: seeds no default was chosen on)")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--members", type=int, default=1,
                        help="detectors of different seeds whose scores are averaged (an ensemble)")
    parser.add_argument("--no-pyod", action="store_true", help="leave PyOD out")
    parser.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE",
                        help="anomaly.* settings of the detector (values as YAML), e.g. score_rule=reconstruction")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.params)}
    anomaly = AnomalyParams(normal_classes=[0], **settings)
    if settings:
        print(f"detector settings: {settings}")
    results = []
    for name in args.tables:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
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
                   "if_roc": baselines["anomaly.isolation_forest.roc_auc"],
                   "if_ap": baselines["anomaly.isolation_forest.average_precision"],
                   "pca_roc": baselines["anomaly.pca.roc_auc"], "pca_ap": baselines["anomaly.pca.average_precision"]}
            started = time.perf_counter()
            scores = None if args.no_pyod else pyod_scores(train, test, features)
            if scores is not None:
                pyod = ranking_metrics("pyod", test["label"].astype(bool), pd.Series(scores))
                row.update(pyod_seconds=time.perf_counter() - started,
                           pyod_roc=pyod["pyod.roc_auc"], pyod_ap=pyod["pyod.average_precision"])
            results.append(row)
        print(f"{name}: done", flush=True)
    report(pd.DataFrame(results))


def standard_errors(table: pd.DataFrame, means: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per table, the standard error of the ROC-AUC shortfall over the seeds, paired: each seed's
    autoencoder minus the same seed's better baseline (the one better on average), so the split's
    own luck, which moves both alike, cancels; and the half-width of its two-sided 95%
    interval (Student's t with seeds - 1 degrees of freedom: 2.78 standard errors at 5 seeds).
    Both NaN with one seed."""
    from scipy.stats import t

    better = (means["if_roc"] >= means["pca_roc"]).map({True: "if_roc", False: "pca_roc"})
    gaps = table["ae_roc"] - table.apply(lambda row: row[better[row["table"]]], axis=1)
    grouped = gaps.groupby(table["table"], sort=False)
    seeds = grouped.count()
    error = grouped.std(ddof=1) / np.sqrt(seeds)
    return error, error * t.ppf(0.975, (seeds - 1).where(seeds > 1))


def report(table: pd.DataFrame) -> None:
    methods = [m for m in ("ae", "if", "pca", "pyod") if f"{m}_roc" in table]
    names = {"ae": "autoencoder", "if": "IsolationForest", "pca": "PCA", "pyod": "PyOD AE"}
    print(f"\nROC-AUC, mean ± sd over {table['seed'].nunique()} seeds (average precision in brackets); "
          "shortfall: the autoencoder's mean minus the better baseline's (IsolationForest or PCA)")
    print(f"{'table':22} " + " ".join(f"{names[m]:>22}" for m in methods) + "   shortfall ROC-AUC [AP]")
    means = table.groupby("table", sort=False).mean(numeric_only=True)
    short_roc = means["ae_roc"] - means[["if_roc", "pca_roc"]].max(axis=1)
    short_ap = means["ae_ap"] - means[["if_ap", "pca_ap"]].max(axis=1)
    error, interval = standard_errors(table, means)
    print(f"{'':22} " + " ".join(f"{'':>22}" for _ in methods) + "   (± its standard error over the seeds, paired)")
    for name, rows in table.groupby("table", sort=False):
        cells = [f"{rows[f'{m}_roc'].mean():.3f}±{rows[f'{m}_roc'].std(ddof=0):.3f} [{rows[f'{m}_ap'].mean():.2f}]"
                 for m in methods]
        mark = "" if short_roc[name] >= -0.01 else "  SHORT"
        if mark and short_roc[name] + interval[name] >= -0.01:
            mark += " (-0.01 inside its 95% interval)"
        print(f"{name:22} " + " ".join(f"{c:>22}" for c in cells)
              + f"   {short_roc[name]:+.3f}±{error[name]:.3f} [{short_ap[name]:+.2f}]{mark}")
    print("mean over tables: " + ", ".join(f"{names[m]} ROC-AUC {means[f'{m}_roc'].mean():.3f} AP {means[f'{m}_ap'].mean():.3f}"
                                           for m in methods))
    print(f"shortfall ROC-AUC: mean {short_roc.mean():+.3f}, worst {short_roc.min():+.3f} ({short_roc.idxmin()}); "
          f"AP: mean {short_ap.mean():+.3f}, worst {short_ap.min():+.3f} ({short_ap.idxmin()})")
    print(f"autoencoder >= both baselines on {int((short_roc >= 0).sum())} of {len(means)} tables (ROC-AUC), "
          f"{int((short_ap >= 0).sum())} (AP); more than 0.01 ROC-AUC below the better on: "
          f"{', '.join(short_roc.index[short_roc < -0.01]) or 'none'}")
    if table["seed"].nunique() < 2:
        print("of those, short beyond the seeds' noise: n/a (one seed)")
    else:
        beyond = short_roc.index[short_roc + interval < -0.01]
        print(f"of those, short beyond the seeds' noise (-0.01 outside the paired 95% interval, Student's t): "
              f"{', '.join(beyond) or 'none'}")
    seconds = {"ae": table["ae_seconds"].sum()}
    if "pyod_seconds" in table:
        seconds["pyod"] = table["pyod_seconds"].sum()
    print("fit + score seconds, all splits: " + ", ".join(f"{names[m]} {v:.1f}" for m, v in seconds.items()))


if __name__ == "__main__":
    main()
