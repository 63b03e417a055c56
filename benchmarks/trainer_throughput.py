"""Samples/s of the project's training loop (`nn.trainer.Trainer`) against a bare PyTorch loop
on the same model, data, batch size and device: in one process, alternating, repeated.

    .venv/bin/python benchmarks/trainer_throughput.py [--device cpu] [--features 64] [--rows 20000]
        [--batch-size 64] [--epochs 3] [--repeats 5] [--precision fp32|bf16] [--threads N] [--cuda-graphs]

Prints both figures per repeat, their medians and a line `ratio: X` (project / bare).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from devices import device_or_exit  # beside this script

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.device import autocast, resolve_precision
from autoencoder_pipelines.nn.networks import StackedAutoencoder
from autoencoder_pipelines.nn.trainer import Progress, Trainer, TrainSettings


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model, x, spec, epochs, batch_size, dtype) -> None:
    """What a careful person writes by hand: on-device data, randperm, fused Adam, BCE on logits."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    generator = torch.Generator(device=x.device).manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator, device=x.device)
        for start in range(0, x.shape[0], batch_size):
            clean = x[order[start : start + batch_size]]
            with autocast(x.device, dtype):
                loss = F.binary_cross_entropy_with_logits(
                    model.forward_preactivation(corrupt(clean, spec, generator)).float(), clean
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def project_loop(model, x, spec, epochs, batch_size, dtype, cuda_graphs=False) -> None:
    from autoencoder_pipelines.nn.losses import reconstruction_loss

    def batch_loss(batch, generator):
        (clean,) = batch
        return reconstruction_loss(model.forward_preactivation(corrupt(clean, spec, generator)), clean, "bce", "sigmoid")

    # with the callbacks a pipeline phase has (NaN guard and history are always on)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, precision=dtype, cuda_graphs=cuda_graphs)
    Trainer(settings, [Progress(log_every=0)]).fit(
        model, batch_loss, (x,)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="the project's step as a replayed CUDA graph (runtime.cuda_graphs)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = device_or_exit(args.device)
    dtype = resolve_precision(args.precision)
    x = torch.rand(args.rows, args.features, device=device)
    spec = CorruptionSpec("masking", 0.25)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device {name}, {args.rows} rows x {args.features} features, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.precision}, model {args.features}-256-128-32"
          f"{', project step as a CUDA graph' if args.cuda_graphs else ''}")
    samples = args.rows * args.epochs
    rates: dict[str, list[float]] = {"bare": [], "project": []}
    loops = {"bare": bare_loop, "project": lambda *a: project_loop(*a, cuda_graphs=args.cuda_graphs)}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for label in (("bare", "project") if repeat % 2 else ("project", "bare")):
            torch.manual_seed(0)
            model = StackedAutoencoder.build(args.features, [256, 128, 32], "relu", "linear").to(device)
            sync(device)
            started = time.perf_counter()
            loops[label](model, x, spec, args.epochs, args.batch_size, dtype)
            sync(device)
            rate = samples / (time.perf_counter() - started)
            if repeat:
                rates[label].append(rate)
        if repeat:
            print(f"repeat {repeat}: bare {rates['bare'][-1]:,.0f} samples/s, project {rates['project'][-1]:,.0f} samples/s")
    bare, project = statistics.median(rates["bare"]), statistics.median(rates["project"])
    print(f"median: bare {bare:,.0f} samples/s, project {project:,.0f} samples/s")
    print(f"ratio: {project / bare:.3f}")


if __name__ == "__main__":
    main()
