"""Rows/s and peak memory of the pandas `score` path and of Spark local[2] (`score_spark`) on the
same registered model and the same rows, at 1M and 5M rows of 64 features, in one run.

    .venv/bin/python benchmarks/scale_scoring.py                      # 1M and 5M rows (5.5 min on 2 cores)
    .venv/bin/python benchmarks/scale_scoring.py --rows 100000        # a quick run
    .venv/bin/python benchmarks/scale_scoring.py --sides pandas       # without the `spark` extra

A throw-away MLflow store (in a temporary folder) gets the benchmark's scorer (the network of
benchmarks/scoring_throughput.py) registered as version 1. Each side then runs in a fresh
process on one Parquet file (row groups of 131,072 rows, so Spark has a task per row group):
- pandas: the score node (score_partitions: streamed in chunks, one Parquet file out), one
  process, torch with 1 thread (as each of Spark's Python workers);
- Spark: the score_spark nodes (SparkDataset read, mlflow.pyfunc.spark_udf, Parquet written
  partitioned by model version) on a session made from conf/base/spark.yml (local[2], each
  Python worker with one torch thread).
Peak memory is the largest sum of the resident memory of the side's process and all its
descendants (for Spark: the driver, the JVM and the Python workers), sampled every 0.2 s.
Needs pyspark (the `spark` extra) for the Spark side; without it that side is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
NAME = "scale-benchmark"


def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and its descendants (from /proc), in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            pid, parent = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(parent, []).append(pid)
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 2**20


def measure(command: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """Run `command`; its last JSON line, and the peak resident memory of its process tree."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    sampler.join()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        raise RuntimeError(f"{command[2:4]} failed ({process.returncode}): {err[-3000:]}")
    return json.loads(lines[-1]), peak[0]


def register_model(store: Path, n_features: int) -> str:
    """The benchmark scorer, logged and registered in a store of its own: its models:/ URI."""
    import mlflow
    from scoring_throughput import make_scorer

    from autoencoder_pipelines.tracking.models import log_scoring_model

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment("scale-benchmark")
    scorer = make_scorer([f"f{i}" for i in range(n_features)])
    scorer.example = [{f"f{i}": 0.5 for i in range(n_features)}]
    scorer_file = store / "scorer.pt"
    scorer.save(scorer_file)
    with mlflow.start_run():
        log_scoring_model(scorer, scorer_file, registered_name=NAME)
    return f"models:/{NAME}/1"


def pandas_side(source: str, output: str) -> None:
    import torch

    from autoencoder_pipelines.config import RegistryParams, ScoringParams
    from autoencoder_pipelines.data.tables import TableFile
    from autoencoder_pipelines.framework.datasets import ParquetPartitions
    from autoencoder_pipelines.pipelines.score.nodes import score_partitions
    from autoencoder_pipelines.tracking.models import load_scorer, resolve_scoring_model

    torch.set_num_threads(1)  # one core, as each of Spark's two Python workers
    started = time.perf_counter()
    model = resolve_scoring_model(RegistryParams(model_name=NAME, version=1))
    scorer = load_scorer(model)
    table = TableFile(source)
    loaded = time.perf_counter()
    report = score_partitions(scorer, model, {"input.parquet": lambda: table}, ParquetPartitions(Path(output)), ScoringParams())
    assert not report["errors"], report["errors"]
    done = time.perf_counter()
    print(json.dumps({"rows": report["rows_scored"], "scoring_seconds": done - loaded, "total_seconds": done - started}))


def spark_side(folder: str, output: str) -> None:
    import yaml
    from kedro_datasets.spark import SparkDataset

    from autoencoder_pipelines.config import RegistryParams
    from autoencoder_pipelines.framework.spark import (
        SOURCE_COLUMN,
        SourcedSparkDataset,
        spark_session,
    )
    from autoencoder_pipelines.pipelines.score_spark.nodes import (
        resolve_spark_model,
        score_with_spark,
    )

    started = time.perf_counter()
    settings = yaml.safe_load((REPO / "conf/base/spark.yml").read_text())
    session = spark_session(settings)
    model, _ = resolve_spark_model(RegistryParams(model_name=NAME, version=1))
    rows = SourcedSparkDataset(filepath=folder, file_format="parquet", source_column=SOURCE_COLUMN).load()
    ready = time.perf_counter()
    scored = score_with_spark(rows, model)
    SparkDataset(filepath=output, file_format="parquet",
                 save_args={"mode": "overwrite", "partitionBy": ["model_version"]}).save(scored)
    done = time.perf_counter()
    count = session.read.parquet(output).count()
    session.stop()
    print(json.dumps({"rows": count, "scoring_seconds": done - ready, "total_seconds": done - started}))


def write_input(path: Path, rows: int, n_features: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(n_features)]
    with pq.ParquetWriter(path, pa.schema([(n, pa.float32()) for n in names])) as writer:
        for start in range(0, rows, 131072):
            block = rng.random((min(131072, rows - start), n_features), dtype="float32")
            writer.write_table(pa.Table.from_arrays([pa.array(block[:, i]) for i in range(n_features)], names=names))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--sides", nargs="+", choices=["pandas", "spark"], default=["pandas", "spark"])
    parser.add_argument("--side", nargs=3, help=argparse.SUPPRESS)  # side, input, output
    args = parser.parse_args()
    if args.side:
        (pandas_side if args.side[0] == "pandas" else spark_side)(args.side[1], args.side[2])
        return
    sides = list(args.sides)
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if "spark" in sides:
            sides.remove("spark")
            print("pyspark is not installed (the `spark` extra): the Spark side is skipped")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        uri = register_model(folder, args.features)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1",
               "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
        print(f"{uri}: {args.features}-256-128-24 autoencoder, detector and 10-class classifier; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for rows in args.rows:
            source = folder / f"in_{rows}"
            source.mkdir()
            write_input(source / "part-0.parquet", rows, args.features)
            for side in sides:
                output = folder / f"out_{side}_{rows}"
                target = str(source / "part-0.parquet") if side == "pandas" else str(source)
                result, peak = measure([sys.executable, __file__, "--side", side, target, str(output)], env)
                assert result["rows"] == rows, result
                print(f"{rows:>10,} rows, {side:>6}: {rows / result['scoring_seconds']:>9,.0f} rows/s scoring "
                      f"({result['scoring_seconds']:.1f} s; {result['total_seconds']:.1f} s with start-up and model load), "
                      f"peak memory {peak:,.0f} MB", flush=True)
            for path in source.iterdir():
                path.unlink()


if __name__ == "__main__":
    main()
