"""Rows/s of the project's scoring (validate, scale, codes, anomaly score, class, atomic
Parquet write) against a bare torch forward of the same models plus Parquet read and write.

    .venv/bin/python benchmarks/scoring_throughput.py [--rows 50000] [--features 64 784] [--repeats 5] [--threads 1]

Prints both and `ratio: X` (project / bare) per feature count; target >= 0.5.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autoencoder_pipelines.datasets import AtomicParquetDataset, TabularFileDataset
from autoencoder_pipelines.config import ModelParams
from autoencoder_pipelines.jobs import architecture
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.networks import EncoderClassifier
from autoencoder_pipelines.scoring import Scorer


def make_scorer(features: list[str]) -> Scorer:
    torch.manual_seed(0)
    n = len(features)
    schema = {"features": features, "classes": list(range(10)), "id_column": None, "label_column": None}
    arch = architecture(ModelParams(kind="undercomplete", hidden_sizes=[256, 128, 24]), schema)
    autoencoder, anomaly = get_kind("undercomplete").build(arch), get_kind("undercomplete").build(arch)
    detector = AutoencoderDetector(anomaly)
    detector.threshold_ = 0.05
    classifier = EncoderClassifier.on(autoencoder, 10)
    scaler = {"kind": "global", "features": features, "minimum": [0.0] * n, "maximum": [1.0] * n}
    return Scorer(schema, scaler, autoencoder, detector, classifier)


def project(scorer: Scorer, source: Path, target: Path) -> None:
    AtomicParquetDataset(str(target)).save(scorer.score(TabularFileDataset(str(source)).load(), source=source.name))


@torch.no_grad()
def bare(scorer: Scorer, source: Path, target: Path) -> None:
    frame = pd.read_parquet(source)
    x = torch.tensor(frame.to_numpy(dtype="float32"))
    codes = scorer.autoencoder.encode(x)
    errors = ((scorer.detector.network(x) - x) ** 2).mean(dim=1)
    probabilities = torch.softmax(scorer.classifier(x), dim=1)
    best = probabilities.max(dim=1)
    out = pd.DataFrame(codes.numpy(), columns=[f"z_{i}" for i in range(codes.shape[1])])
    out["reconstruction_error"] = errors.numpy()
    out["predicted_class"] = best.indices.numpy()
    out["predicted_probability"] = best.values.numpy()
    out.to_parquet(target, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--features", type=int, nargs="+", default=[64, 784])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for n_features in args.features:
            features = [f"f{i}" for i in range(n_features)]
            source = folder / f"in_{n_features}.parquet"
            pd.DataFrame(rng.random((args.rows, n_features), dtype="float32"), columns=features).to_parquet(source)
            scorer = make_scorer(features)
            rates = {"bare": [], "project": []}
            for repeat in range(args.repeats + 1):  # round 0 warms up
                for label, function in (("bare", bare), ("project", project)) if repeat % 2 else (("project", project), ("bare", bare)):
                    started = time.perf_counter()
                    function(scorer, source, folder / f"out_{label}.parquet")
                    if repeat:
                        rates[label].append(args.rows / (time.perf_counter() - started))
            b, p = statistics.median(rates["bare"]), statistics.median(rates["project"])
            print(f"{n_features} features, {args.rows} rows, {args.threads} thread(s): bare {b:,.0f} rows/s, project {p:,.0f} rows/s")
            print(f"ratio: {p / b:.3f}")


if __name__ == "__main__":
    main()
