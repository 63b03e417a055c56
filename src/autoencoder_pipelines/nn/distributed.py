"""Data-parallel training with PyTorch's DistributedDataParallel, under `torchrun` only.

One process per GPU (or CPU worker), on one or many nodes: every process runs the whole job;
`init_process_group` joins them at the start (NCCL on GPUs, gloo on CPU) and the Trainer
trains each phase under DDP, each rank taking its DistributedSampler shard of the shared
shuffled order. The caller keeps outputs and logging to global rank 0 (`is_rank_zero`).
"""

from __future__ import annotations

import os
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from autoencoder_pipelines.nn.launch import launched_by_torchrun


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


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, each process takes the GPU of its local rank; other devices stay."""
    if device.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def loopback_interface() -> str | None:
    """The loopback network interface's name (lo on Linux, lo0 on macOS), if there is one."""
    import socket

    names = [name for _, name in socket.if_nameindex()]
    return next((name for name in ("lo", "lo0") if name in names), next((n for n in names if n.startswith("lo")), None))


def single_machine() -> bool:
    """Every rank on this machine (torchrun: the world is the local world)."""
    return int(os.environ.get("WORLD_SIZE", "1")) == int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def bind_to_loopback() -> str | None:
    """On one machine, the process group's sockets (gloo's pairs, NCCL's bootstrap) listen on the
    loopback interface only, not on the address the host name resolves to; a user's own
    GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME wins. Returns the interface set, if any."""
    interface = loopback_interface() if single_machine() else None
    if interface is None:
        return None
    for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
        os.environ.setdefault(variable, interface)
    return interface


def init_process_group(device: torch.device) -> str:
    """Join torchrun's processes: NCCL between GPUs, gloo on CPU; on one machine over the
    loopback interface (bind_to_loopback). Returns the backend."""
    if device.type == "cuda":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if torch.cuda.device_count() < local_world:
            raise RuntimeError(
                f"torchrun started {local_world} processes on this node but it has "
                f"{torch.cuda.device_count()} CUDA device(s); use --nproc-per-node={torch.cuda.device_count()}"
            )
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    bind_to_loopback()
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
