"""Data-parallel speed-up: training samples/s of the project's denoiser phase under DDP with 1, 2, ...
processes, each launched by torchrun, as `kedro run` under torchrun trains.

    .venv/bin/python benchmarks/ddp_scaling.py [--device cpu|cuda] [--processes 1 2 4 8]
        [--rows 200000] [--features 784] [--batch-size 256] [--epochs 3]

Weak scaling, as DDP is used: every process takes `--batch-size` rows a step, so the global
batch grows with the processes and an epoch has fewer steps. On CUDA each process drives
one GPU (NCCL); on CPU each process gets one thread (gloo), so on CPU the figure measures the
DDP machinery more than a speed-up. Prints samples/s, speed-up over one process, and
scaling efficiency (speed-up / processes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.device import resolve_device
    from autoencoder_pipelines.nn.distributed import (
        destroy_process_group,
        init_process_group,
        local_device,
    )
    from autoencoder_pipelines.nn.finetuning import fine_tune
    from autoencoder_pipelines.nn.networks import StackedAutoencoder
    from autoencoder_pipelines.nn.trainer import Trainer, TrainSettings

    torch.set_num_threads(1)
    device = local_device(resolve_device(args.device))
    backend = init_process_group(device)
    torch.manual_seed(0)
    x = torch.rand(args.rows, args.features, generator=torch.Generator().manual_seed(0)).to(device)
    val = x[: args.batch_size]
    stack = StackedAutoencoder.build(args.features, [256, 128, 24], "relu", "linear").to(device)
    spec = CorruptionSpec("masking", 0.25)

    # the project's denoiser phase (as the pipeline trains it), on synthetic rows
    world = dist.get_world_size()
    warm_up = Trainer(TrainSettings(epochs=1, batch_size=args.batch_size))
    fine_tune(stack, x[: args.batch_size * world * 20], val, warm_up, "warm_up", "bce", spec)
    trainer = Trainer(TrainSettings(epochs=args.epochs, batch_size=args.batch_size))
    dist.barrier()
    started = time.perf_counter()
    _, history = fine_tune(stack, x, val, trainer, "denoiser", "bce", spec)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dist.barrier()
    seconds = time.perf_counter() - started
    if dist.get_rank() == 0:
        print(json.dumps({
            "processes": world, "backend": backend, "seconds": seconds,
            "samples_per_s": args.rows * args.epochs / seconds,
            "final_train_loss": history.epochs[-1]["train_loss"],
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        }), flush=True)
    destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    from devices import device_or_exit

    device_or_exit(args.device)  # here, in one line: under torchrun the reason ends in the workers' tracebacks

    options = [f"--device={args.device}", f"--rows={args.rows}", f"--features={args.features}",
               f"--batch-size={args.batch_size}", f"--epochs={args.epochs}"]
    results = []
    for processes in args.processes:
        completed = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--rdzv-backend=c10d",
             "--rdzv-endpoint=127.0.0.1:0", f"--nproc-per-node={processes}",
             str(Path(__file__).resolve()), "--worker", *options],
            capture_output=True, text=True,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode or not lines:
            sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
            raise SystemExit(f"{processes} process(es): torchrun failed with exit code {completed.returncode}")
        results.append(json.loads(lines[-1]))

    base = results[0]["samples_per_s"] / results[0]["processes"]
    print(f"{args.rows} rows x {args.features} features, {args.epochs} epochs, batch {args.batch_size} per process, "
          f"device {results[0]['device']}, backend {results[0]['backend']}")
    print(f"{'processes':>9} {'global batch':>12} {'samples/s':>11} {'speed-up':>9} {'efficiency':>10} {'train loss':>10}")
    for r in results:
        speed_up = r["samples_per_s"] / base
        print(f"{r['processes']:>9} {args.batch_size * r['processes']:>12} {r['samples_per_s']:>11,.0f} "
              f"{speed_up:>9.2f} {speed_up / r['processes']:>10.2f} {r['final_train_loss']:>10.4f}")


if __name__ == "__main__":
    main()
