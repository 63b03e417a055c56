"""Wall time and quality of the jobs people run, each beside the same job done by a bare torch
script or scikit-learn in the same run:

  (a) `kedro run --pipelines=denoise` on the bundled digits   vs a bare torch classifier + denoiser
  (b) `kedro run --pipelines=anomaly` on breast_cancer and on a 50,000-row, 9-column table
                                                               vs scikit-learn's IsolationForest
  (c) the full chain on a 10,000-row, 784-column image table (digits upsampled to 28x28, with noise)
                                                               vs the bare torch script
  (d) the detector alone (fit + score, 5 splits)                vs PyOD's AutoEncoder (if installed)

    .venv/bin/python benchmarks/time_to_answer.py [--jobs a b c d] [--repo PATH] [--kedro PATH]

Each kedro run happens in a temporary copy of the project's conf (with conf/local holding the
job's data settings) and a temporary MLflow store. `--repo`/`--kedro` point at another checkout
and its kedro executable, to measure an earlier version the same way. Torch runs on the
threads `runtime.threads` sets (1 by default); the load average is printed, since timings on a
busy machine mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def kedro_run(
    repo: Path, kedro: str, pipeline: str, local: dict, data_file: Path | None = None, keep: Path | None = None
) -> tuple[float, dict]:
    """Wall seconds of one `kedro run` in a fresh copy of `repo`'s conf, and its metrics.json;
    `keep`: a folder the run's data/08_reporting is copied to."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("pyproject.toml", ".telemetry"):
            shutil.copy(repo / name, root / name)
        (root / "src").mkdir()
        shutil.copytree(repo / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
        (root / "conf" / "local").mkdir(exist_ok=True)
        (root / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(local))
        (root / "data" / "01_raw").mkdir(parents=True)
        if data_file is not None:
            shutil.copy(data_file, root / "data" / "01_raw" / data_file.name)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
        env.pop("PYTHONPATH", None)
        started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run([kedro, "run", f"--pipelines={pipeline}"], cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        print(f"    kedro run --pipelines={pipeline}: {wall:.1f} s wall, {cpu:.1f} CPU s (load average {os.getloadavg()[0]:.2f})",
              flush=True)
        if result.returncode != 0:
            sys.exit(f"kedro run --pipelines={pipeline} failed:\n{(result.stdout + result.stderr)[-3000:]}")
        if PROFILE:
            print_node_times(root)
        if keep is not None:
            shutil.copytree(root / "data" / "08_reporting", keep, dirs_exist_ok=True)
        return wall, json.loads((root / "data" / "08_reporting" / "metrics.json").read_text())


PROFILE = False


def print_node_times(root: Path) -> None:
    """The slowest nodes and saves of the run (its MLflow artifact timings.json) and the epochs
    each training phase used, with --profile."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    if not runs:
        return
    timings = mlflow.artifacts.load_dict(f"{runs[0].info.artifact_uri}/timings.json")
    times = {f"{kind[:-1]}.{name}": v for kind in ("nodes", "saves") for name, v in timings[kind].items()}
    print("    " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(times.items(), key=lambda kv: -kv[1])[:12]), flush=True)
    metrics = runs[0].data.metrics
    epochs = {k.removesuffix("/epochs_used"): int(v) for k, v in metrics.items() if k.endswith("/epochs_used")}
    if epochs:
        print("    epochs used: " + ", ".join(f"{k} {v}" for k, v in epochs.items()), flush=True)


# ---- tables ------------------------------------------------------------------------------


def breast_cancer_table(path: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    malignant = frame[frame.target == 0]
    frame = pd.concat([frame[frame.target == 1], malignant.iloc[rng.choice(len(malignant), 27, replace=False)]])
    frame["malignant"] = 1 - frame.pop("target")  # 357 benign, 27 malignant (7%)
    frame.sample(frac=1, random_state=0).to_csv(path, index=False)
    return path


def sensor_table(path: Path, rows: int = 50_000) -> Path:
    """9 correlated sensor columns from 3 latent signals; 2% rows break the correlations."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(rows, 3))
    values = latent @ rng.normal(size=(3, 9)) + 0.1 * rng.normal(size=(rows, 9))
    bad = rng.random(rows) < 0.02
    values[bad] += rng.normal(size=(int(bad.sum()), 9)) * 1.5
    frame = pd.DataFrame(values, columns=[f"sensor_{i}" for i in range(9)])
    frame["fault"] = bad.astype(int)
    frame.to_csv(path, index=False)
    return path


def image_table(path: Path, rows: int = 10_000) -> Path:
    """The bundled digits upsampled to 28x28 (bilinear), values 0-255, with Gaussian noise."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(digits.images), rows, replace=True)
    images = torch.tensor(digits.images[pick], dtype=torch.float32).unsqueeze(1) * 16
    large = torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False).squeeze(1)
    noisy = (large.numpy() + rng.normal(0, 12, size=large.shape)).clip(0, 255).reshape(rows, 784)
    frame = pd.DataFrame(noisy.round(1), columns=[f"p{i}" for i in range(784)])
    frame["digit"] = digits.target[pick]
    return write_table(frame, path)


def jittered_image_table(path: Path, rows: int = 10_000, seed: int = 0) -> Path:
    """A harder, MNIST-like 28x28 table from the bundled digits: each row is one of the 1,797
    8x8 images, upsampled (bicubic) into a 20x20 box centred in 28x28 as MNIST's digits are,
    then given its own random affine jitter (rotation +-12 degrees, scale 0.9-1.1, shear +-0.15,
    shift +-2 pixels) and elastic distortion (Simard et al. 2003: a Gaussian-smoothed random
    displacement field, sigma 4 pixels, up to about 2 pixels), values 0-255 with Gaussian noise
    (sd 8). No two rows are the same image; rows still share their source images (about 5.6 rows
    each), so the test rows are new distortions of digits the training rows have seen."""
    import math

    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(digits.images), (rows,), generator=generator)
    small = torch.tensor(digits.images, dtype=torch.float32)[pick].unsqueeze(1) / 16
    box = F.interpolate(small, size=(20, 20), mode="bicubic", align_corners=False).clamp(0, 1)
    images = F.pad(box, (4, 4, 4, 4))

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(rows, generator=generator)

    angle, scale, shear = uniform(-12, 12) * math.pi / 180, uniform(0.9, 1.1), uniform(-0.15, 0.15)
    shift = (torch.rand(rows, 2, generator=generator) - 0.5) * 2 * 2 / 14  # +-2 pixels, in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    # elastic: white noise displacements smoothed by a Gaussian kernel (sigma 4 px), scaled to ~2 px
    sigma, radius = 4.0, 12
    kernel = torch.exp(-((torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2) / 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    field = torch.rand(rows * 2, 1, 28, 28, generator=generator) * 2 - 1
    field = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="reflect"), kernel.unsqueeze(2))
    field = F.conv2d(F.pad(field, (0, 0, radius, radius), mode="reflect"), kernel.unsqueeze(3))
    field = field / field.abs().amax(dim=(2, 3), keepdim=True) * 2 / 14  # at most 2 px
    grid = grid + field.view(rows, 2, 28, 28).permute(0, 2, 3, 1)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False).squeeze(1)
    noise = torch.randn(warped.shape, generator=generator) * 8
    pixels = (warped * 255 + noise).clamp(0, 255).reshape(rows, 784).numpy()
    frame = pd.DataFrame(pixels.round(1), columns=[f"p{i}" for i in range(784)])
    frame["digit"] = digits.target[pick.numpy()]
    return write_table(frame, path)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """CSV, or Parquet for a .parquet path (60,000 rows of 784 pixels: a 250 MB CSV takes longer
    to parse than a GPU takes to train on it)."""
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


# ---- bare baselines -------------------------------------------------------------------------


def bare_torch(x: np.ndarray, y: np.ndarray, hidden: list[int], epochs: int = 30, seed: int = 0) -> dict:
    """What a careful person writes by hand: min-max scaling, an MLP classifier, and a
    denoising autoencoder (masking 25%), Adam, 80/20 split."""
    import torch
    import torch.nn.functional as F
    from sklearn.model_selection import train_test_split

    torch.manual_seed(seed)
    started = time.perf_counter()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    low, high = x_train.min(), x_train.max()
    xt, xv = (torch.tensor((v - low) / (high - low), dtype=torch.float32) for v in (x_train, x_test))
    yt, yv = torch.tensor(y_train), torch.tensor(y_test)
    sizes = [x.shape[1], *hidden]

    def mlp(widths):
        layers = []
        for a, b in pairwise(widths):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        return torch.nn.Sequential(*layers[:-1])

    classifier = torch.nn.Sequential(mlp(sizes), torch.nn.ReLU(), torch.nn.Linear(hidden[-1], int(y.max()) + 1))
    autoencoder = torch.nn.Sequential(mlp(sizes), torch.nn.ReLU(), mlp(sizes[::-1]))
    for model, loss_of in ((classifier, lambda b, i: F.cross_entropy(classifier(b), yt[i])),
                           (autoencoder, lambda b, i: F.binary_cross_entropy_with_logits(
                               autoencoder(b * (torch.rand_like(b) > 0.25)), b.clamp(0, 1)))):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            for i in torch.randperm(len(xt)).split(64):
                optimizer.zero_grad()
                loss_of(xt[i], i).backward()
                optimizer.step()
    with torch.no_grad():
        noisy = xv * (torch.rand_like(xv) > 0.25)
        return {"seconds": time.perf_counter() - started,
                "accuracy": float((classifier(xv).argmax(1) == yv).float().mean()),
                "mse_noisy": float(((noisy - xv) ** 2).mean()),
                "mse_denoised": float(((torch.sigmoid(autoencoder(noisy)) - xv) ** 2).mean())}


def isolation_forest(frame: pd.DataFrame, label: str) -> dict:
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    train, test = train_test_split(frame, test_size=0.2, stratify=frame[label], random_state=0)
    features = [c for c in frame.columns if c != label]
    forest = IsolationForest(random_state=0).fit(train.loc[train[label] == 0, features])
    auc = roc_auc_score(test[label], -forest.score_samples(test[features]))
    return {"seconds": time.perf_counter() - started, "roc_auc": auc}


def detector_vs_pyod(frame: pd.DataFrame, label: str, splits: int = 5) -> dict:
    """The project's AutoencoderDetector and PyOD's AutoEncoder (defaults) on the same splits:
    mean fit + score seconds and mean ± sd test ROC-AUC over `splits` stratified splits (a
    table with few anomalies has a handful in a test split: one split's ROC-AUC is noise)."""
    import torch
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from autoencoder_pipelines.nn.detector import AutoencoderDetector

    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        AutoEncoder = None
    torch.set_num_threads(1)
    features = [c for c in frame.columns if c != label]
    results: dict[str, list[tuple[float, float]]] = {"detector": [], "pyod": []}
    for split in range(splits):
        rest, test = train_test_split(frame, test_size=0.2, stratify=frame[label], random_state=split)
        train, val = train_test_split(rest, test_size=0.125, stratify=rest[label], random_state=split)
        normal = lambda part: part.loc[part[label] == 0, features].to_numpy("float32")  # noqa: E731
        x_test = test[features].to_numpy("float32")
        started = time.perf_counter()
        detector = AutoencoderDetector(random_state=split).fit(normal(train), X_val=normal(val))
        results["detector"].append((time.perf_counter() - started,
                                    roc_auc_score(test[label], detector.decision_function(x_test))))
        if AutoEncoder is not None:
            started = time.perf_counter()
            model = AutoEncoder(verbose=0, random_state=split).fit(normal(train))
            results["pyod"].append((time.perf_counter() - started, roc_auc_score(test[label], model.decision_function(x_test))))
    return {name: (float(np.mean([s for s, _ in runs])), float(np.mean([a for _, a in runs])),
                   float(np.std([a for _, a in runs])))
            for name, runs in results.items() if runs}


# ---- jobs ---------------------------------------------------------------------------------

RUNTIME = {"runtime": {"device": "cpu", "log_every": 0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", nargs="+", default=["a", "b", "c", "d"], choices=["a", "b", "c", "d"])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--kedro", default=str(Path(sys.executable).with_name("kedro")))
    parser.add_argument("--profile", action="store_true", help="print each kedro run's node seconds and epochs")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare torch baselines of (a) and (c)")
    parser.add_argument("--image-table", default="upsampled", choices=["upsampled", "jittered"],
                        help="(c)'s table: the digits upsampled with noise, or each row its own affine + elastic jitter")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; repo {args.repo}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        tables = Path(folder)
        if "a" in args.jobs:
            wall, m = kedro_run(args.repo, args.kedro, "denoise", RUNTIME)
            from sklearn.datasets import load_digits

            digits = load_digits()
            bare = None if args.no_bare else bare_torch(digits.data, digits.target, [256, 128, 24])
            print(f"(a) denoise on digits: {wall:.1f} s wall, accuracy {m['finetune.test_accuracy']:.4f}, "
                  f"denoised MSE {m['denoise.test_mse_denoised']:.4f} (noisy {m['denoise.test_mse_noisy']:.4f})")
            if bare is not None:
                print(f"    bare torch: {bare['seconds']:.1f} s, accuracy {bare['accuracy']:.4f}, "
                      f"denoised MSE {bare['mse_denoised']:.4f} (noisy {bare['mse_noisy']:.4f})", flush=True)
        if "b" in args.jobs or "d" in args.jobs:
            cancer = breast_cancer_table(tables / "breast_cancer.csv")
            sensors = sensor_table(tables / "sensors.csv")
        if "b" in args.jobs:
            for path, label, target in ((cancer, "malignant", 10), (sensors, "fault", 30)):
                local = {**RUNTIME, "data": {"source": "csv", "path": f"data/01_raw/{path.name}", "label_column": label}}
                wall, m = kedro_run(args.repo, args.kedro, "anomaly", local, path)
                forest = isolation_forest(pd.read_csv(path), label)
                print(f"(b) anomaly on {path.stem} ({len(pd.read_csv(path))} rows): {wall:.1f} s wall (target <= {target}), "
                      f"ROC-AUC {m['anomaly.roc_auc']:.4f}; "
                      f"IsolationForest {forest['seconds']:.1f} s, ROC-AUC {forest['roc_auc']:.4f}",
                      flush=True)
        if "c" in args.jobs:
            images = (image_table if args.image_table == "upsampled" else jittered_image_table)(tables / "images.csv")
            local = {**RUNTIME, "data": {"source": "csv", "path": "data/01_raw/images.csv", "label_column": "digit",
                                         "image_shape": [28, 28]}, "anomaly": {"normal_classes": list(range(9))}}
            wall, m = kedro_run(args.repo, args.kedro, "denoise", local, images)
            frame = None if args.no_bare else pd.read_csv(images)
            bare = None if frame is None else bare_torch(
                frame.drop(columns="digit").to_numpy(), frame["digit"].to_numpy(), [256, 128, 24], epochs=10)
            print(f"(c) full chain, 10,000 x 784 images ({args.image_table}): {wall:.1f} s wall (target <= 90), accuracy "
                  f"{m['finetune.test_accuracy']:.4f} (random init {m['finetune.random_init_test_accuracy']:.4f}), "
                  f"denoised MSE {m['denoise.test_mse_denoised']:.4f}, "
                  f"reduction MSE {m['reduction.ae_test_mse']:.4f} (PCA {m['reduction.pca_test_mse']:.4f}), "
                  f"anomaly ROC-AUC {m.get('anomaly.roc_auc', float('nan')):.4f}, linear SVM on codes / raw "
                  f"{m.get('codes.linear_svm.test_accuracy', float('nan')):.4f} / "
                  f"{m.get('raw.linear_svm.test_accuracy', float('nan')):.4f}")
            if bare is not None:
                print(f"    bare torch (10 epochs): {bare['seconds']:.1f} s, accuracy {bare['accuracy']:.4f}, "
                      f"denoised MSE {bare['mse_denoised']:.4f}", flush=True)
        if "d" in args.jobs:
            for path, label in ((cancer, "malignant"), (sensors, "fault")):
                result = detector_vs_pyod(pd.read_csv(path), label)
                line = ", ".join(f"{name} {sec:.2f} s, ROC-AUC {auc:.4f} ± {sd:.4f}" for name, (sec, auc, sd) in result.items())
                print(f"(d) fit + score on {path.stem}, mean of 5 splits: {line}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
