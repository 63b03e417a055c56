"""Rows/s of the project's scoring against a bare torch forward of the same models plus Parquet
read and write, and peak memory as the file grows.

The project's side is the `score` pipeline's node itself (score_partitions: a file read in
chunks, validated, scaled, codes, anomaly score and flag, class and probability, ids, the
model stamped on every row, written to one Parquet file, atomically). The bare side reads the
whole file with pandas, runs the three networks on it at once and writes their outputs with
pandas: what a hand-written script does, with no checks.

    .venv/bin/python benchmarks/scoring_throughput.py                       # ratio at 64 and 784 features, 50k rows
    .venv/bin/python benchmarks/scoring_throughput.py --memory 1000000 10000000   # peak RSS per size, 64 features
    .venv/bin/python benchmarks/scoring_throughput.py --monitoring     # the node with a reference profile vs without

Prints rows/s of both and `ratio: X` (project / bare) per feature count (target >= 0.9), and
with --memory, per size and side: rows/s, peak RSS of a fresh process, and its growth over the
process after imports and model load (a streamed file should not grow it). With --monitoring,
the node's rows/s with the scorer's reference profile (every chunk tallied: jobs/monitoring.py)
against the same scorer without one, and `monitoring ratio: X` (monitored / not).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autoencoder_pipelines.config import ModelParams, ScoringParams
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.tables import TableFile
from autoencoder_pipelines.framework.datasets import ParquetPartitions
from autoencoder_pipelines.jobs.autoencoders import architecture
from autoencoder_pipelines.jobs.scoring import Scorer
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.networks import EncoderClassifier
from autoencoder_pipelines.pipelines.score.nodes import score_partitions


class _Model:
    """What the node stamps on every row (tracking.models.ScoringModelRef's columns)."""

    def columns(self):
        return {"model_name": "autoencoder-pipelines", "model_version": 7, "model_run_id": "0" * 32}


def make_scorer(features: list[str]) -> Scorer:
    torch.manual_seed(0)
    n = len(features)
    schema = DataSchema(source="generated", features=features, classes=list(range(10)), n_rows=0)
    arch = architecture(ModelParams(kind="undercomplete", hidden_sizes=[256, 128, 24]), schema)
    autoencoder, anomaly = get_kind("undercomplete").build(arch), get_kind("undercomplete").build(arch)
    detector = AutoencoderDetector.fitted(anomaly, threshold=0.05)
    classifier = EncoderClassifier.on(autoencoder, 10)
    scaler = {"kind": "global", "features": features, "minimum": [0.0] * n, "maximum": [1.0] * n}
    return Scorer(schema, scaler, autoencoder, detector, classifier)


def project(scorer: Scorer, source: Path, target: Path, params: ScoringParams = ScoringParams()) -> None:
    """The score node on one inbox file; its output goes to `target`."""
    table = TableFile(source)
    folder = ParquetPartitions(target.parent, suffix=".parquet")
    partition = target.name[: -len(".parquet")]
    report = score_partitions(scorer, _Model(), {partition: lambda: table}, folder, params)
    if report["errors"]:
        raise RuntimeError(report["errors"])


@torch.no_grad()
def bare(scorer: Scorer, source: Path, target: Path) -> None:
    frame = pd.read_parquet(source)
    x = torch.tensor(frame.to_numpy(dtype="float32"))
    codes = scorer.autoencoder.encode(x)
    errors = ((scorer.detector.network_(x) - x) ** 2).mean(dim=1)
    probabilities = torch.softmax(scorer.classifier(x), dim=1)
    best = probabilities.max(dim=1)
    out = pd.DataFrame(codes.numpy(), columns=[f"z_{i}" for i in range(codes.shape[1])])
    out["reconstruction_error"] = errors.numpy()
    out["predicted_class"] = best.indices.numpy()
    out["predicted_probability"] = best.values.numpy()
    out.to_parquet(target, index=False)


def write_input(path: Path, rows: int, n_features: int, seed: int = 0) -> None:
    """Random rows in [0, 1), written 1M rows at a time (so a 10M-row file never sits in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    features = [f"f{i}" for i in range(n_features)]
    with pq.ParquetWriter(path, pa.schema([(name, pa.float32()) for name in features])) as writer:
        for start in range(0, rows, 1 << 20):
            block = rng.random((min(1 << 20, rows - start), n_features), dtype="float32")
            writer.write_table(pa.Table.from_arrays([pa.array(block[:, i]) for i in range(n_features)], names=features))


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(side: str, source: str, n_features: int, threads: int) -> None:
    """One side on one file in this (fresh) process: rows/s, peak RSS and its growth, as JSON."""
    torch.set_num_threads(threads)
    scorer = make_scorer([f"f{i}" for i in range(n_features)])
    rows = TableFile(source).count_rows()
    with tempfile.TemporaryDirectory(dir=Path(source).parent) as folder:
        target = Path(folder) / "out.parquet"
        # warm up on a small file: what is left after it is the process before the big file
        small = Path(folder) / "warm.parquet"
        write_input(small, 8192, n_features, seed=1)
        (project if side == "project" else bare)(scorer, small, Path(folder) / "warm_out.parquet")
        before = _rss_mb()
        started = time.perf_counter()
        (project if side == "project" else bare)(scorer, Path(source), target)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"side": side, "rows": rows, "rows_per_s": rows / seconds, "peak_rss_mb": peak,
                      "growth_mb": peak - before, "seconds": seconds}))


def memory(sizes: list[int], n_features: int, threads: int, folder: Path, sides: list[str]) -> None:
    for rows in sizes:
        source = folder / f"in_{rows}.parquet"
        write_input(source, rows, n_features)
        for side in sides:
            result = subprocess.run(
                [sys.executable, __file__, "--child", side, str(source), "--features", str(n_features),
                 "--threads", str(threads)], capture_output=True, text=True)
            if result.returncode:
                print(f"{rows:>10,} rows, {side}: failed ({result.stderr.strip().splitlines()[-1:]})", flush=True)
                continue
            m = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{rows:>10,} rows x {n_features} features, {side:>7}: {m['rows_per_s']:>9,.0f} rows/s, "
                  f"peak RSS {m['peak_rss_mb']:>6,.0f} MB (+{m['growth_mb']:,.0f} MB over the loaded process)", flush=True)
        source.unlink()


def monitoring_overhead(n_features: int, rows: int, repeats: int, threads: int, folder: Path) -> None:
    """The score node with and without the scorer's reference profile, alternating, on one file."""
    source = folder / f"in_{n_features}.parquet"
    write_input(source, rows, n_features)
    features = [f"f{i}" for i in range(n_features)]
    plain = make_scorer(features)
    reference = pd.read_parquet(source).iloc[:4000]
    monitored = make_scorer(features).profiled(reference.iloc[:3000], reference.iloc[3000:], 100, 10)
    rates: dict[str, list[float]] = {"monitored": [], "not": []}
    for repeat in range(repeats + 1):  # round 0 warms up
        order = (("not", plain), ("monitored", monitored)) if repeat % 2 else (("monitored", monitored), ("not", plain))
        for label, scorer in order:
            target = folder / f"out_{label}.parquet"
            target.unlink(missing_ok=True)
            started = time.perf_counter()
            project(scorer, source, target)
            if repeat:
                rates[label].append(rows / (time.perf_counter() - started))
    m, n = statistics.median(rates["monitored"]), statistics.median(rates["not"])
    print(f"{n_features} features, {rows} rows, {threads} thread(s): monitored {m:,.0f} rows/s, not {n:,.0f} rows/s")
    print(f"monitoring ratio: {m / n:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--features", type=int, nargs="+", default=[64, 784])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory", type=int, nargs="*", metavar="ROWS",
                        help="peak memory at these sizes (64 features unless --features gives one), e.g. 1000000 10000000")
    parser.add_argument("--sides", nargs="+", default=["project", "bare"], help="with --memory")
    parser.add_argument("--monitoring", action="store_true",
                        help="the node with a reference profile against the same node without one")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child[0], args.child[1], args.features[0], args.threads)
        return
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if args.memory:
            n_features = args.features[0] if len(args.features) == 1 else 64
            memory(args.memory, n_features, args.threads, folder, args.sides)
            return
        if args.monitoring:
            for n_features in args.features:
                monitoring_overhead(n_features, args.rows, args.repeats, args.threads, folder)
            return
        for n_features in args.features:
            source = folder / f"in_{n_features}.parquet"
            write_input(source, args.rows, n_features)
            scorer = make_scorer([f"f{i}" for i in range(n_features)])
            rates: dict[str, list[float]] = {"bare": [], "project": []}
            for repeat in range(args.repeats + 1):  # round 0 warms up
                order = (("bare", bare), ("project", project)) if repeat % 2 else (("project", project), ("bare", bare))
                for label, function in order:
                    target = folder / f"out_{label}.parquet"
                    target.unlink(missing_ok=True)  # the node scores only files without an output
                    started = time.perf_counter()
                    function(scorer, source, target)
                    if repeat:
                        rates[label].append(args.rows / (time.perf_counter() - started))
            b, p = statistics.median(rates["bare"]), statistics.median(rates["project"])
            print(f"{n_features} features, {args.rows} rows, {args.threads} thread(s): "
                  f"bare {b:,.0f} rows/s, project {p:,.0f} rows/s")
            print(f"ratio: {p / b:.3f}", flush=True)


if __name__ == "__main__":
    main()
