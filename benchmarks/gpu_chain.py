"""The full chain on a GPU, with how busy the GPU is while it trains: `kedro run
--pipelines=denoise --env gpu` on 784-pixel digit tables of 10,000 and 60,000 rows, the bundled
digits on cuda and on the CPU, and the 10,000-row chain on the CPU for the quality reference.

    .venv/bin/python benchmarks/gpu_chain.py [--rows 10000 60000] [--image-table upsampled|jittered]
        [--no-cpu-reference] [--interval-ms 200]

Each run happens in a temporary copy of the project's conf (conf/local holding the table's
settings) with its own MLflow store, as in time_to_answer.py; the tables are Parquet (a
60,000-row CSV takes longer to parse than the GPU to train). `nvidia-smi` samples the GPU's
utilisation every --interval-ms during each run; the busy share printed is the mean over the
samples taken while a training node ran (node windows from the run's info.log), and over the
whole run. Prints, per run: wall seconds, the slowest nodes, the busy share and the headline
metrics; then the GPU figures of issue 30 against their targets. Run by scripts/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))
TRAINING_NODES = {
    "pretrain_stack", "finetune_classifier", "train_random_init_classifier", "finetune_denoiser",
    "train_anomaly_model", "finetune_reduction_autoencoder", "sweep_code_sizes",
}
HEADLINE = ("finetune.test_accuracy", "finetune.random_init_test_accuracy", "denoise.test_mse_denoised",
            "reduction.ae_test_mse", "anomaly.roc_auc", "codes.linear_svm.test_accuracy")


class GpuSampler:
    """nvidia-smi writing (time, utilisation %) every `interval_ms` to a file, while running."""

    def __init__(self, path: Path, interval_ms: int) -> None:
        self.path, self.interval_ms, self.process = path, interval_ms, None

    def __enter__(self) -> "GpuSampler":
        self.handle = self.path.open("w")
        self.process = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=timestamp,utilization.gpu", "--format=csv,noheader,nounits",
             "-lms", str(self.interval_ms), "-i", os.environ.get("AEP_GPU_INDEX", "0")],
            stdout=self.handle, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait()
        self.handle.close()

    def samples(self) -> list[tuple[float, float]]:
        out = []
        for line in self.path.read_text().splitlines():
            stamp, _, busy = line.rpartition(",")
            try:
                when = dt.datetime.strptime(stamp.strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
                out.append((when, float(busy)))
            except ValueError:
                continue
        return out


def node_windows(log: Path) -> dict[str, tuple[float, float]]:
    """(start, end) of each node, from Kedro's 'Running node' / 'Completed node' lines in info.log."""
    started, windows = {}, {}
    for line in log.read_text().splitlines():
        stamp, _, rest = line.partition(" - ")
        try:
            when = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        message = rest.rpartition(" - ")[2]
        if message.startswith("Running node: "):
            started[message.removeprefix("Running node: ").split(":")[0]] = when
        elif message.startswith("Completed node: "):
            name = message.removeprefix("Completed node: ").strip()
            if name in started:
                windows[name] = (started[name], when)
    return windows


def busy_share(samples: list[tuple[float, float]], windows: list[tuple[float, float]]) -> float:
    inside = [busy for when, busy in samples if any(start <= when <= end for start, end in windows)]
    return sum(inside) / len(inside) if inside else float("nan")


def chain(label: str, local: dict, table: Path | None, env: str | None, interval_ms: int, gpu: bool) -> dict:
    """One `kedro run --pipelines=denoise` in a fresh copy of the project: its figures."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("pyproject.toml", ".telemetry"):
            shutil.copy(REPO / name, root / name)
        (root / "src").mkdir()
        shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
        # `--env gpu` reads conf/gpu instead of conf/local: the table's settings go where the run reads them
        folder_of_env = root / "conf" / (env or "local")
        folder_of_env.mkdir(exist_ok=True)
        env_file = folder_of_env / "parameters.yml"
        settings = merged(yaml.safe_load(env_file.read_text()) if env_file.exists() else {}, local)
        env_file.write_text(yaml.safe_dump(settings))
        (root / "data" / "01_raw").mkdir(parents=True)
        if table is not None:
            shutil.copy(table, root / "data" / "01_raw" / table.name)
        run_env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
        run_env.pop("PYTHONPATH", None)
        command = [KEDRO, "run", "--pipelines=denoise", *(["--env", env] if env else [])]
        sampler = GpuSampler(root / "gpu.csv", interval_ms) if gpu else None
        started = time.perf_counter()
        if sampler:
            sampler.__enter__()
        try:
            result = subprocess.run(command, cwd=root, env=run_env, capture_output=True, text=True)
        finally:
            if sampler:
                sampler.__exit__()
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"{label}: {' '.join(command)} failed:\n{(result.stdout + result.stderr)[-4000:]}")
        metrics = json.loads((root / "data" / "08_reporting" / "metrics.json").read_text())
        windows = node_windows(root / "info.log")
        figures = {"label": label, "wall": wall, "metrics": metrics,
                   "nodes": {name: end - start for name, (start, end) in windows.items()}}
        if sampler:
            samples = sampler.samples()
            training = [w for name, w in windows.items() if name.rpartition(".")[2] in TRAINING_NODES]  # <pipeline>.<node>
            figures["busy_training"] = busy_share(samples, training)
            figures["busy_all"] = sum(b for _, b in samples) / max(len(samples), 1)
            figures["samples"] = len(samples)
    return figures


def merged(base: dict, over: dict) -> dict:
    out = dict(base or {})
    for key, value in over.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def report(figures: dict) -> None:
    m = figures["metrics"]
    slowest = sorted(figures["nodes"].items(), key=lambda kv: -kv[1])[:8]
    busy = (f"; GPU busy {figures['busy_training']:.0f}% while training, {figures['busy_all']:.0f}% over the run "
            f"({figures['samples']} samples)") if "busy_training" in figures else ""
    print(f"{figures['label']}: {figures['wall']:.1f} s wall{busy}", flush=True)
    print("    nodes: " + ", ".join(f"{k} {v:.1f}" for k, v in slowest))
    print("    " + ", ".join(f"{k} {m[k]:.4f}" for k in HEADLINE if k in m), flush=True)


def refuse_without_a_gpu() -> None:
    """Stop with one line, before any run, where there is no CUDA device or no nvidia-smi to sample it."""
    from devices import device_or_exit

    device_or_exit("cuda", "measures a CUDA GPU and finds none")
    if shutil.which("nvidia-smi") is None:
        sys.exit("gpu_chain.py samples the GPU's utilisation with nvidia-smi, which is not on PATH here")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", type=int, default=[10_000, 60_000])
    parser.add_argument("--image-table", default="upsampled", choices=["upsampled", "jittered"])
    parser.add_argument("--no-cpu-reference", action="store_true", help="skip the CPU runs (digits and the first table)")
    parser.add_argument("--interval-ms", type=int, default=200)
    args = parser.parse_args()
    refuse_without_a_gpu()
    sys.path.insert(0, str(Path(__file__).parent))
    from time_to_answer import image_table, jittered_image_table

    build = image_table if args.image_table == "upsampled" else jittered_image_table
    cpu = {"runtime": {"device": "cpu", "log_every": 0}}  # the CPU defaults (one thread): the digits' race
    cpu_all_cores = {"runtime": {"device": "cpu", "threads": None, "log_every": 0}}  # the 784-pixel quality reference
    gpu = {"runtime": {"log_every": 0}}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        digits_gpu = chain("digits, --env gpu", gpu, None, "gpu", args.interval_ms, True)
        report(digits_gpu)
        if not args.no_cpu_reference:
            digits_cpu = chain("digits, CPU", cpu, None, None, args.interval_ms, False)
            report(digits_cpu)
            results["digits_cpu"] = digits_cpu
        results["digits_gpu"] = digits_gpu
        for rows in args.rows:
            started = time.perf_counter()
            table = build(Path(folder) / f"images_{rows}.parquet", rows=rows)
            print(f"built the {rows}-row {args.image_table} table in {time.perf_counter() - started:.1f} s", flush=True)
            local = {"data": {"source": "parquet", "path": f"data/01_raw/{table.name}", "label_column": "digit",
                              "image_shape": [28, 28]}, "anomaly": {"normal_classes": list(range(9))}}
            results[f"gpu_{rows}"] = chain(f"{rows} x 784, --env gpu", {**local, **gpu}, table, "gpu", args.interval_ms, True)
            report(results[f"gpu_{rows}"])
            if rows == args.rows[0] and not args.no_cpu_reference:
                results[f"cpu_{rows}"] = chain(f"{rows} x 784, CPU (all cores)", {**local, **cpu_all_cores}, table, None,
                                               args.interval_ms, False)
                report(results[f"cpu_{rows}"])
    print("\nissue 30, GPU figures:")
    largest = results.get(f"gpu_{max(args.rows)}")
    if largest:
        print(f"  {max(args.rows)} x 784 full chain --env gpu: {largest['wall']:.1f} s (target <= 30)")
    for key in (f"gpu_{rows}" for rows in args.rows):
        print(f"  GPU busy while training, {key}: {results[key]['busy_training']:.0f}% (target >= 50)")
    if "digits_cpu" in results:
        print(f"  digits on cuda {results['digits_gpu']['wall']:.1f} s vs CPU {results['digits_cpu']['wall']:.1f} s "
              f"(target: cuda no slower)")
    for gpu_key, cpu_key in (("digits_gpu", "digits_cpu"), (f"gpu_{args.rows[0]}", f"cpu_{args.rows[0]}")):
        if cpu_key in results:
            a, b = results[gpu_key]["metrics"], results[cpu_key]["metrics"]
            print(f"  quality {gpu_key} vs {cpu_key}: " + ", ".join(
                f"{k} {a[k]:.4f} vs {b[k]:.4f}" for k in HEADLINE if k in a and k in b))


if __name__ == "__main__":
    main()
