"""Data-parallel training with PyTorch's DistributedDataParallel, two ways in.

- Under `torchrun` (one process per GPU or CPU worker, one or many nodes): every process runs
  the whole job; `init_process_group` joins them at the start (NCCL on GPUs, gloo on CPU)
  and `fit` trains each phase under DDP directly. The caller keeps outputs and logging to
  global rank 0 (`is_rank_zero`).
- From a single process (`kedro run` with runtime.strategy ddp): `fit` hands each phase to
  `fit_data_parallel`, which starts `world_size` workers on this machine with
  torch.distributed's elastic launcher (standalone c10d rendezvous, gloo). The workers are
  forked, so the per-batch loss closures reach them without pickling; forked workers cannot
  use CUDA, so this way is for CPU. Rank 0 returns the weights and history to the caller.

Either way each rank takes its DistributedSampler shard of the shared shuffled order and DDP
averages the gradients.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.launcher.api import LaunchConfig, elastic_launch
from torch.utils.data import DistributedSampler


class Objective(nn.Module):
    """The per-batch loss as a module whose parameters are the model's, so DDP can wrap it:
    DDP syncs gradients for whatever its forward computes, not only `model.forward`."""

    def __init__(self, model: nn.Module, batch_loss: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.batch_loss = batch_loss

    def forward(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        return self.batch_loss(batch, generator)


def is_worker() -> bool:
    return dist.is_available() and dist.is_initialized()


def launched_by_torchrun() -> bool:
    """This process was started by torchrun (or torch.distributed's launcher), with any world size."""
    return dist.is_available() and dist.is_torchelastic_launched()


def torchrun_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1")) if launched_by_torchrun() else 1


def is_rank_zero() -> bool:
    """Global rank 0, the one process that writes outputs and logs (True without torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0 if launched_by_torchrun() else True


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, each process takes the GPU of its local rank; other devices stay."""
    if device.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def init_process_group(device: torch.device) -> str:
    """Join torchrun's processes: NCCL between GPUs, gloo on CPU. Returns the backend."""
    if device.type == "cuda":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if torch.cuda.device_count() < local_world:
            raise RuntimeError(
                f"torchrun started {local_world} processes on this node but it has "
                f"{torch.cuda.device_count()} CUDA device(s); use --nproc-per-node={torch.cuda.device_count()}"
            )
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not is_worker():
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    return backend


def destroy_process_group() -> None:
    if is_worker():
        dist.destroy_process_group()


def shard(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's rows of the epoch's shuffled order, chosen by PyTorch's DistributedSampler
    (no shuffle of its own: every rank already holds the same order). It pads, so that every
    rank runs the same number of batches: unequal counts would hang DDP's all-reduce."""
    sampler = DistributedSampler(range(order.numel()), num_replicas=world_size, rank=rank, shuffle=False)
    return order[torch.tensor(list(sampler), dtype=torch.long, device=order.device)]


def fit_data_parallel(
    fit: Callable[..., Any],
    model: nn.Module,
    batch_loss: Callable[..., torch.Tensor],
    train_data: Sequence[torch.Tensor],
    settings: Any,
    evaluate: Callable[[], dict[str, float]] | None,
    name: str,
):
    if next(model.parameters()).device.type != "cpu":
        raise RuntimeError("workers started from one process train on CPU (gloo); on GPUs launch the run with torchrun")
    worker_settings = dataclasses.replace(settings, checkpoint_path=None, compile=False)
    threads = torch.get_num_threads()

    def worker():
        torch.set_num_threads(threads)
        dist.init_process_group("gloo")
        try:
            history = fit(model, batch_loss, train_data, worker_settings, evaluate, name)
            if dist.get_rank() == 0:
                return {key: value.detach().clone() for key, value in model.state_dict().items()}, history
            return None
        finally:
            dist.destroy_process_group()

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=settings.world_size,
        run_id=f"{name}-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        start_method="fork",
        max_restarts=0,
        monitor_interval=0.1,
    )
    state, history = elastic_launch(config, worker)()[0]
    model.load_state_dict(state)
    model.eval()
    return history
