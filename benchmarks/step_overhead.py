"""Per-step overhead of the project's training loop at a small batch: samples/s of the Trainer
a pipeline phase gets (`jobs.runtime.Runtime.trainer`: NaN guard, history, early stopping, the
cosine schedule, progress lines and a checkpoint every epoch, with the phase's validation
figures) against a bare torch loop, on the same network, data, batch size, epochs and device,
in one process, alternating, repeated.

    .venv/bin/python benchmarks/step_overhead.py [--device cpu] [--rows 20000] [--batch-size 32]
        [--epochs 3] [--repeats 5] [--threads 1]

The network is the project's unrolled stack 64-32-16 (StackedAutoencoder, decoder mirrored),
trained clean -> clean on mse (the reduction phase's objective). The bare loop is what a careful
person writes: data on the device, randperm, fused Adam, the validation loss read once an epoch.
At batch 32 a step is a few hundred microseconds on a CPU: whatever the loop adds per step
(a host sync, a context manager, a callback call) shows here, as it does on a GPU at any batch.
Prints both figures per repeat, their medians and, last, `ratio: X` (project / bare; target >= 0.9).
Samples/s are by wall clock; on a busy machine (load average above the cores) the wall clock
mostly measures waiting for a core, so the ratio of CPU seconds (time.process_time: both loops
are single-threaded with --threads 1) is printed too, and `--clock cpu` makes it the last line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from devices import device_or_exit  # beside this script

from autoencoder_pipelines.config import PhaseParams, RuntimeParams
from autoencoder_pipelines.jobs.runtime import Runtime
from autoencoder_pipelines.nn.finetuning import fine_tune
from autoencoder_pipelines.nn.networks import StackedAutoencoder

SIZES = [32, 16]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model, x, x_val, epochs: int, batch_size: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    generator = torch.Generator(device=x.device).manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(x.shape[0], generator=generator, device=x.device)
        for start in range(0, x.shape[0], batch_size):
            batch = x[order[start : start + batch_size]]
            loss = F.mse_loss(torch.sigmoid(model.forward_preactivation(batch)), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            F.mse_loss(model(x_val), x_val).item()


def project_loop(model, x, x_val, epochs: int, batch_size: int, runtime: Runtime, folder: Path) -> None:
    runtime.checkpoints = folder  # a fresh folder: a finished phase's checkpoint would be loaded, not trained
    phase = PhaseParams(epochs=epochs, learning_rate=1e-3, patience=10, lr_schedule="cosine", batch_size=batch_size)
    fine_tune(model, x, x_val, runtime.trainer(phase, "step_overhead", len(x)), "step_overhead", loss="mse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (runtime.threads' default: 1)")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"], help="the clock of the last line's ratio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runtime = Runtime(RuntimeParams(device=args.device, threads=args.threads, log_every=10), checkpoints=Path(folder))
        device_or_exit(args.device)  # one line where there is no such device
        device = runtime.device  # sets the threads
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(args.rows, args.features, generator=generator).to(device)
        x_val = torch.rand(args.rows // 10, args.features, generator=generator).to(device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
        print(f"device {name}, {args.rows} rows x {args.features} features, batch {args.batch_size}, {args.epochs} epochs, "
              f"network {args.features}-{'-'.join(map(str, SIZES))} (decoder mirrored); load average {os.getloadavg()[0]:.2f}",
              flush=True)
        samples = args.rows * args.epochs
        rates: dict[str, list[float]] = {"bare": [], "project": []}
        cpu_rates: dict[str, list[float]] = {"bare": [], "project": []}
        for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
            for label in (("bare", "project") if repeat % 2 else ("project", "bare")):
                torch.manual_seed(0)
                model = StackedAutoencoder.build(args.features, SIZES, "relu", "linear").to(device)
                sync(device)
                started, cpu_started = time.perf_counter(), time.process_time()
                if label == "bare":
                    bare_loop(model, x, x_val, args.epochs, args.batch_size)
                else:
                    project_loop(model, x, x_val, args.epochs, args.batch_size, runtime, Path(folder) / f"{repeat}")
                sync(device)
                if repeat:
                    rates[label].append(samples / (time.perf_counter() - started))
                    cpu_rates[label].append(samples / (time.process_time() - cpu_started))
            if repeat:
                print(f"repeat {repeat}: bare {rates['bare'][-1]:,.0f} samples/s, project {rates['project'][-1]:,.0f} samples/s",
                      flush=True)
    bare, project = statistics.median(rates["bare"]), statistics.median(rates["project"])
    cpu_ratio = statistics.median(cpu_rates["project"]) / statistics.median(cpu_rates["bare"])
    print(f"median: bare {bare:,.0f} samples/s, project {project:,.0f} samples/s; load average {os.getloadavg()[0]:.2f}")
    print(f"ratio of CPU seconds (bare / project): {cpu_ratio:.3f}; of wall seconds: {project / bare:.3f}")
    print(f"ratio: {(cpu_ratio if args.clock == 'cpu' else project / bare):.3f}")


if __name__ == "__main__":
    main()
