"""Data-parallel training with PyTorch's DistributedDataParallel, launched from `fit`.

`fit` hands a phase to `fit_data_parallel` when `settings.world_size > 1`: torch.distributed's
elastic launcher starts the workers (standalone c10d rendezvous on this machine), each joins
the gloo process group and runs `fit` on its shard of every epoch, with DDP averaging the
gradients. Rank 0 returns the trained weights and history to the calling process, which alone
saves outputs and logs to MLflow.

Workers are forked, so the per-batch loss closures reach them without pickling. Forked workers
cannot use CUDA, so this runs on CPU; multi-GPU training is a later step (see README).
"""

from __future__ import annotations

import dataclasses
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
        raise RuntimeError("runtime.strategy 'ddp' trains on CPU (gloo) in this version")
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
