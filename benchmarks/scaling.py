"""Time and peak memory of one training epoch of the default architecture for 1k, 10k and
100k synthetic rows of 64 and 784 features. Each case runs in a fresh subprocess so its
peak memory is its own.

    .venv/bin/python benchmarks/scaling.py [--device cpu] [--rows 1000 10000 100000] [--features 64 784]

Prints seconds, seconds per 1k rows (flat = time linear in rows), peak host RSS and, on
CUDA, peak device memory next to the size of the data itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time, torch
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.finetuning import fine_tune
from autoencoder_pipelines.nn.device import resolve_device
from autoencoder_pipelines.nn.networks import StackedAutoencoder
from autoencoder_pipelines.nn.trainer import Trainer, TrainSettings
rows, features, device_name, batch, threads = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
device = resolve_device(device_name)
x = torch.rand(rows, features, device=device)
val = x[: min(rows, 1000)]
stack = StackedAutoencoder.build(features, [256, 128, 24], "relu", "linear").to(device)
trainer = Trainer(TrainSettings(epochs=1, batch_size=batch))
fine_tune(stack, x[:batch], val[:batch], trainer, "warm_up", "bce", CorruptionSpec("masking", 0.25))
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats(device); torch.cuda.synchronize(device)
started = time.perf_counter()
fine_tune(stack, x, val, trainer, "denoiser", "bce", CorruptionSpec("masking", 0.25))
if device.type == "cuda":
    torch.cuda.synchronize(device)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "device_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
                  "data_mb": x.numel() * 4 / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--features", type=int, nargs="+", default=[64, 784])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from devices import device_or_exit

    device_or_exit(args.device)  # here, once: in a case's subprocess the reason is lost in a CalledProcessError
    print(f"device {args.device}, batch {args.batch_size}, {args.threads} CPU thread(s), "
          "one epoch of the unrolled 256-128-24 stack")
    print(f"{'rows':>8} {'features':>8} {'seconds':>9} {'s/1k rows':>10} {'peak RSS MB':>12} {'device MB':>10} {'data MB':>8}")
    for features in args.features:
        for rows in args.rows:
            out = subprocess.run(
                [sys.executable, "-c", CASE, str(rows), str(features), args.device, str(args.batch_size), str(args.threads)],
                capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            device_mb = "-" if r["device_mb"] is None else f"{r['device_mb']:.0f}"
            print(f"{rows:>8} {features:>8} {r['seconds']:>9.2f} {1000 * r['seconds'] / rows:>10.3f} "
                  f"{r['rss_mb']:>12.0f} {device_mb:>10} {r['data_mb']:>8.1f}")


if __name__ == "__main__":
    main()
