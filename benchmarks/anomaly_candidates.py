"""The candidates for the detector's default score (issue 29), measured on the tables of
anomaly_baselines.py against IsolationForest and PCA, paired: every score of one network comes
from the same fit on the same split.

    .venv/bin/python benchmarks/anomaly_candidates.py [--seeds 3] [--networks today pca_code] [--tables ...]

Networks (the detector trained through the pipeline's train_detector on rows this script
standardises itself, so the standardisation is a candidate too):

    today          commit 90f7aa1: sd floored at 1e-6, [2d, d // 4], relu
    constant_rule  a constant feature keeps sd 1 (StandardScaler's rule) instead of 1e-6
    pca_code       constant_rule, and a code as wide as the principal components holding 90% of
                   the variance (the default since issue 29)
    pca_code_95    the same at 95%
    pca_code_tanh  pca_code with tanh hidden units

Scores of each network (standardised parts: (value - mean) / sd over the normal validation rows):

    reconstruction   mean squared error of the standardised row (today's score)
    centre           mean squared standardised value: the distance from the centre
    mahalanobis      squared Mahalanobis distance from the centre, Ledoit-Wolf covariance
    avg_centre, max_centre             the standardised average / larger of reconstruction and centre
    avg_mahalanobis, max_mahalanobis   the same with the Mahalanobis distance (max: the default)
    hinge_centre     reconstruction plus the centre part beyond its 99th validation percentile
    chosen           the weighting of the three parts (8 candidates) that best separates the
                     validation rows from pseudo-anomalies made of them (scaled 2-3x out along the
                     network's structure, a quarter of the columns swapped in from another row,
                     one column 4 sd off): a choice made on the validation rows

Prints per candidate: mean ROC-AUC and AP over the tables, the shortfall against the better
baseline (mean and worst table) and the number of tables more than 0.01 below it; --per-table
prints each table's ROC-AUC for the candidates named.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from anomaly_baselines import frames
from anomaly_tables import TABLES
from sklearn.covariance import LedoitWolf
from sklearn.metrics import average_precision_score, roc_auc_score

from autoencoder_pipelines.config import AnomalyParams, RuntimeParams
from autoencoder_pipelines.data.frames import ModelInput
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.anomaly import train_detector
from autoencoder_pipelines.jobs.runtime import Runtime, resolve_runtime
from autoencoder_pipelines.nn.detector import principal_variances
from autoencoder_pipelines.nn.sizes import default_hidden_sizes, detector_code_size
from autoencoder_pipelines.pipelines.anomaly.nodes import score_baselines

NETWORKS = {
    "today": {"constant_rule": False, "code": None, "activation": "relu"},
    "constant_rule": {"constant_rule": True, "code": None, "activation": "relu"},
    "pca_code": {"constant_rule": True, "code": 0.9, "activation": "relu"},
    "pca_code_95": {"constant_rule": True, "code": 0.95, "activation": "relu"},
    "pca_code_tanh": {"constant_rule": True, "code": 0.9, "activation": "tanh"},
}
WEIGHTS = {"r": (1, 0, 0), "m": (0, 1, 0), "c": (0, 0, 1), "rm": (1, 1, 0), "rc": (1, 0, 1), "rmc": (1, 1, 1),
           "2r+m": (2, 1, 0), "2r+c": (2, 0, 1)}  # (reconstruction, mahalanobis, centre)
PARTS = ("reconstruction", "mahalanobis", "centre")


def standardise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return (values - reference.mean()) / max(reference.std(), 1e-12)


def fit_network(spec: dict, train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, schema: DataSchema, seed: int):
    """The network, and the standardised normal training, normal validation and test rows."""
    features = schema.features
    raw = {"train": train.loc[train["label"] == 0, features].to_numpy("float64"),
           "val": val.loc[val["label"] == 0, features].to_numpy("float64"), "test": test[features].to_numpy("float64")}
    mean, sd = raw["train"].mean(axis=0), raw["train"].std(axis=0, ddof=1)
    sd = np.where(sd < 1e-6, 1.0, sd) if spec["constant_rule"] else np.maximum(sd, 1e-6)
    z = {name: ((rows - mean) / sd).astype("float32") for name, rows in raw.items()}
    d = len(features)
    spectrum = principal_variances(torch.from_numpy(z["train"]))
    sizes = None if spec["code"] is None else default_hidden_sizes(d, detector_code_size(spectrum, d, spec["code"]))
    if sizes is None:
        sizes = [min(2 * d, 256), max(1, min(max(d // 4, 2), 64, d - 1))]  # commit 90f7aa1's rule

    def frame(rows: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(rows, columns=features)
        out.insert(0, "label", 0)
        out.insert(0, "id", [str(i) for i in range(len(out))])
        return out

    params = AnomalyParams(normal_classes=[0], standardize=False, score_rule="reconstruction", hidden_sizes=sizes,
                           activation=spec["activation"])
    runtime = resolve_runtime(RuntimeParams(device="cpu", seed=seed, log_every=0, checkpoint_every=0, threads=1))
    detector, _ = train_detector(ModelInput(frame(z["train"]), frame(z["val"]), frame(z["test"]), schema), params, runtime)
    return detector.network_.eval(), z


@torch.no_grad()
def parts(network, rows: np.ndarray, covariance: LedoitWolf) -> dict[str, np.ndarray]:
    x = torch.from_numpy(rows.astype("float32"))
    return {"reconstruction": ((network(x) - x) ** 2).mean(dim=1).double().numpy(),
            "mahalanobis": covariance.mahalanobis(rows.astype("float64")) / rows.shape[1],
            "centre": (rows.astype("float64") ** 2).mean(axis=1)}


def pseudo_anomalies(network, rows: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Made from the validation rows: farther out along the structure, columns swapped, one column off."""
    rows = np.tile(rows, (3, 1)) if len(rows) < 200 else rows
    n, d = rows.shape
    with torch.no_grad():
        rebuilt = network(torch.from_numpy(rows.astype("float32"))).double().numpy()
    far = rebuilt * rng.uniform(2, 3, size=(n, 1)) + (rows - rebuilt)
    swapped = rows.copy()
    for i in range(n):
        columns = rng.choice(d, max(1, d // 4), replace=False)
        swapped[i, columns] = rows[rng.integers(n), columns]
    shifted = rows.copy()
    shifted[np.arange(n), rng.integers(0, d, n)] += rng.choice([-4.0, 4.0], n)
    return {"far": far, "swapped": swapped, "shifted": shifted}


def candidate_scores(network, z: dict[str, np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], str]:
    covariance = LedoitWolf().fit(z["train"].astype("float64"))
    reference = z["val"] if len(z["val"]) >= 5 else z["train"]
    ref, test = parts(network, reference, covariance), parts(network, z["test"], covariance)
    std = {k: standardise(test[k], ref[k]) for k in PARTS}
    centre_q99 = np.quantile(standardise(ref["centre"], ref["centre"]), 0.99)
    scores = {"reconstruction": test["reconstruction"], "centre": test["centre"], "mahalanobis": test["mahalanobis"],
              "avg_centre": std["reconstruction"] + std["centre"], "max_centre": np.maximum(std["reconstruction"], std["centre"]),
              "avg_mahalanobis": std["reconstruction"] + std["mahalanobis"],
              "max_mahalanobis": np.maximum(std["reconstruction"], std["mahalanobis"]),
              "hinge_centre": std["reconstruction"] + np.maximum(0, std["centre"] - centre_q99)}

    def weighted(values: dict[str, np.ndarray], weights: tuple[int, ...]) -> np.ndarray:
        return sum(w * standardise(values[k], ref[k]) for w, k in zip(weights, PARTS, strict=True) if w)

    fakes = {name: parts(network, rows, covariance)
             for name, rows in pseudo_anomalies(network, reference, np.random.default_rng(seed + 99)).items()}
    best, choice = -1.0, "r"
    for name, weights in WEIGHTS.items():
        normal = weighted(ref, weights)
        separation = np.mean([roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(fake["centre"]))],
                                            np.r_[normal, weighted(fake, weights)])
                              for fake in fakes.values()])
        if separation > best + 1e-9:
            best, choice = separation, name
    scores["chosen"] = weighted(test, WEIGHTS[choice])
    return scores, choice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--per-table", nargs="*", default=[], metavar="NETWORK:SCORE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, choices = [], []
    for name in args.tables:
        started = time.perf_counter()
        for seed in range(args.seeds):
            x, y = TABLES[name](seed)
            train, val, test = frames(x, y, seed)
            features = [c for c in train.columns if c.startswith("x")]
            schema = DataSchema(source=name, features=features, classes=[0, 1], label_column="label", n_rows=len(x))
            truth = test["label"].to_numpy().astype(bool)
            _, baselines = score_baselines(ModelInput(train, val, test, schema), AnomalyParams(normal_classes=[0]),
                                           Runtime(RuntimeParams(seed=seed)))
            for method, key in (("IsolationForest", "isolation_forest"), ("PCA", "pca")):
                rows.append({"table": name, "seed": seed, "candidate": method, "roc": baselines[f"anomaly.{key}.roc_auc"],
                             "ap": baselines[f"anomaly.{key}.average_precision"]})
            for network_name in args.networks:
                network, z = fit_network(NETWORKS[network_name], train, val, test, schema, seed)
                scores, choice = candidate_scores(network, z, seed)
                choices.append({"table": name, "seed": seed, "network": network_name, "choice": choice})
                for score, values in scores.items():
                    rows.append({"table": name, "seed": seed, "candidate": f"{network_name}:{score}",
                                 "roc": roc_auc_score(truth, values), "ap": average_precision_score(truth, values)})
        print(f"{name}: {time.perf_counter() - started:.1f} s", flush=True)
    report(pd.DataFrame(rows), args.per_table)
    print("\nthe weighting chosen on the validation rows (table: per seed):")
    for (network, table), picks in pd.DataFrame(choices).groupby(["network", "table"], sort=False):
        print(f"  {network}:{table}: {' '.join(picks['choice'])}")


def report(results: pd.DataFrame, per_table: list[str]) -> None:
    means = results.groupby(["candidate", "table"])[["roc", "ap"]].mean().reset_index()
    best = means[means["candidate"].isin(["IsolationForest", "PCA"])].groupby("table")[["roc", "ap"]].max()
    summary = []
    for candidate, group in means.groupby("candidate"):
        group = group.set_index("table")
        short_roc, short_ap = group["roc"] - best["roc"].loc[group.index], group["ap"] - best["ap"].loc[group.index]
        summary.append({"candidate": candidate, "ROC-AUC": group["roc"].mean(), "AP": group["ap"].mean(),
                        "shortfall mean": short_roc.mean(), "worst": short_roc.min(), "worst table": short_roc.idxmin(),
                        "tables < -0.01": int((short_roc < -0.01).sum()),
                        "AP shortfall mean": short_ap.mean(), "AP worst": short_ap.min()})
    pd.set_option("display.width", 250)
    print(f"\n{results['seed'].nunique()} seeds, {results['table'].nunique()} tables; "
          "shortfall: candidate minus the better baseline")
    print(pd.DataFrame(summary).sort_values("ROC-AUC", ascending=False).round(3).to_string(index=False))
    if per_table:
        table = means.pivot(index="table", columns="candidate", values="roc")
        print(table[["IsolationForest", "PCA", *per_table]].round(3).to_string())


if __name__ == "__main__":
    main()
