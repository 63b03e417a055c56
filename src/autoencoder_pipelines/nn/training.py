"""The one training loop every phase uses: layer pretraining, classifier and denoiser fine-tuning.

Data stays on the device as tensors and is sliced by a shuffled index each epoch, so there is
no per-batch DataLoader work; the epoch loss is accumulated on the device and read back once
per epoch, so the hot path makes no host syncs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import sys

import torch
from torch import nn
import torch.distributed as dist
from tqdm.auto import tqdm

from autoencoder_pipelines.nn.device import autocast
from autoencoder_pipelines.nn.distributed import Objective, fit_data_parallel, is_worker, shard

logger = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, ...]
BatchLoss = Callable[[Batch, torch.Generator], torch.Tensor]
Evaluate = Callable[[], dict[str, float]]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the model holds its last good weights."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = None  # early stopping on val_loss; None trains every epoch
    lr_schedule: str = "constant"  # constant | cosine (annealed to 0 over `epochs`, stepped per epoch)
    grad_clip: float | None = None
    precision: torch.dtype = torch.float32
    seed: int = 0
    log_every: int = 10
    compile: bool = False  # torch.compile the per-batch loss (model forward included)
    checkpoint_path: str | None = None  # resume from / save to this file
    checkpoint_every: int = 1  # epochs between checkpoints
    world_size: int = 1  # > 1: data-parallel over this many processes (nn.distributed)


@dataclass
class History:
    """Per-epoch records (train_loss plus whatever `evaluate` returned)."""

    name: str
    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    seconds: float = 0.0

    def series(self) -> dict[str, list[float]]:
        keys = self.epochs[0].keys() if self.epochs else ()
        return {key: [record[key] for record in self.epochs] for key in keys}


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def fit(
    model: nn.Module,
    batch_loss: BatchLoss,
    train_data: Sequence[torch.Tensor],
    settings: TrainSettings,
    evaluate: Evaluate | None = None,
    name: str = "train",
) -> History:
    """Minimise `batch_loss` over shuffled mini-batches of `train_data` with Adam.

    `batch_loss(batch, generator)` gets a tuple of tensors (one row slice of each of
    `train_data`) and the loop's seeded generator, for fresh per-batch corruption.
    `evaluate()` runs after every epoch in eval mode without gradients; when it returns
    `val_loss` and `settings.patience` is set, training stops early and the best weights
    are restored.
    """
    if settings.world_size > 1 and not is_worker():
        return fit_data_parallel(fit, model, batch_loss, train_data, settings, evaluate, name)
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if is_worker() else (0, 1)
    started = time.perf_counter()
    # Compute where the model is. Training data on another device (host memory, when it does
    # not fit on the GPU) is streamed: shuffled there, one batch at a time moved over.
    data_device = train_data[0].device
    device = next(model.parameters(), train_data[0]).device
    streaming = data_device != device
    n_rows = train_data[0].shape[0]
    # Data-parallel ranks share the epoch order but draw their own corruption noise.
    generator = torch.Generator(device=device).manual_seed(settings.seed + 1000 * rank)
    separate_order = streaming or world_size > 1
    # Data-parallel ranks must cut the same permutation: drawn on the CPU, where it does not
    # depend on the GPU model or on whether this rank streams from host memory.
    order_device = torch.device("cpu") if world_size > 1 else data_device
    order_generator = torch.Generator(device=order_device).manual_seed(settings.seed) if separate_order else generator
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_adam(parameters, settings)
    scaler = torch.amp.GradScaler(device.type) if settings.precision == torch.float16 else None
    schedule = _make_schedule(optimizer, settings)
    history = History(name=name)
    step_loss = torch.compile(batch_loss) if settings.compile else batch_loss
    if world_size > 1:  # gradients averaged across ranks by DDP
        step_loss = nn.parallel.DistributedDataParallel(
            Objective(model, step_loss), device_ids=[device] if device.type == "cuda" else None
        )
    state = {"best_loss": math.inf, "best_state": None, "last_good_state": _snapshot(model)}
    checkpoint = _Checkpoint(settings, model, train_data) if settings.checkpoint_path else None
    first_epoch = 0
    if checkpoint is not None:
        saved = checkpoint.load()
        if saved is not None:
            model.load_state_dict(saved["model"])
            history = saved["history"]
            if saved["finished"]:
                logger.info("%s: finished earlier, loaded from %s", name, checkpoint.path)
                model.eval()
                return history
            optimizer.load_state_dict(saved["optimizer"])
            if schedule is not None:
                schedule.load_state_dict(saved["schedule"])
            if scaler is not None:
                scaler.load_state_dict(saved["scaler"])
            generator.set_state(saved["generator"])
            if separate_order and saved.get("order_generator") is not None:
                order_generator.set_state(saved["order_generator"])
            torch.set_rng_state(saved["torch_rng"])
            state = saved["state"]
            first_epoch = len(history.epochs)
            logger.info("%s: resuming at epoch %d from %s", name, first_epoch + 1, checkpoint.path)

    # A bar per phase on a terminal; plain log lines every `log_every` epochs otherwise (CI, cron).
    interactive = _interactive() and rank == 0
    bar = tqdm(total=settings.epochs, initial=first_epoch, desc=name, unit="epoch", leave=False, disable=not interactive)
    for epoch in range(first_epoch, settings.epochs):
        model.train()
        order = torch.randperm(n_rows, generator=order_generator, device=order_device).to(data_device)
        if world_size > 1:
            order = shard(order, rank, world_size)
        loss_sum = torch.zeros((), device=device)
        for start in range(0, order.numel(), settings.batch_size):
            index = order[start : start + settings.batch_size]
            batch = tuple(
                tensor[index].to(device, non_blocking=True) if streaming else tensor[index] for tensor in train_data
            )
            with autocast(device, settings.precision):
                loss = step_loss(batch, generator)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                if settings.grad_clip:
                    nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
                optimizer.step()
            else:  # fp16: scale the loss so small gradients do not underflow
                scaler.scale(loss).backward()
                if settings.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            loss_sum.add_(loss.detach(), alpha=index.numel())

        if schedule is not None:
            schedule.step()
        if world_size > 1:
            dist.all_reduce(loss_sum)
        record = {"train_loss": (loss_sum / (order.numel() * world_size)).item()}  # the epoch's one host sync
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                record.update(evaluate())
        if world_size > 1:
            # Every rank acts on rank 0's figures (divergence, early stopping): ranks deciding
            # alone could differ in the last bit across GPU models and leave the others waiting.
            values = torch.tensor(list(record.values()), dtype=torch.float64, device=device)
            dist.broadcast(values, src=0)
            record = dict(zip(record, values.tolist()))
        if not all(math.isfinite(value) for value in record.values()):
            model.load_state_dict(state["last_good_state"])
            bar.close()
            raise TrainingDivergedError(
                f"{name}: loss became non-finite at epoch {epoch + 1} ({record}); "
                f"weights were restored to epoch {len(history.epochs)}. "
                "Lower the learning rate or set a gradient clip."
            )
        history.epochs.append(record)
        state["last_good_state"] = _snapshot(model)

        monitored = record.get("val_loss", record["train_loss"])
        if monitored < state["best_loss"]:
            state["best_loss"], history.best_epoch = monitored, epoch
            if settings.patience is not None:
                state["best_state"] = state["last_good_state"]
        bar.set_postfix_str(_format(record), refresh=False)
        bar.update()
        if rank == 0 and not interactive and settings.log_every and (
            (epoch + 1) % settings.log_every == 0 or epoch + 1 == settings.epochs
        ):
            logger.info("%s epoch %d/%d %s", name, epoch + 1, settings.epochs, _format(record))
        if settings.patience is not None and epoch - history.best_epoch >= settings.patience:
            history.stopped_early = True
            logger.info("%s stopped early at epoch %d (best %d)", name, epoch + 1, history.best_epoch + 1)
            break
        if checkpoint is not None and (epoch + 1) % settings.checkpoint_every == 0:
            checkpoint.save(model, optimizer, schedule, scaler, (generator, order_generator), history, state, finished=False)

    bar.close()
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    history.seconds = time.perf_counter() - started
    if history.epochs and rank == 0:
        logger.info(
            "%s: %d epochs in %.1f s, last %s", name, len(history.epochs), history.seconds, _format(history.epochs[-1])
        )
    if checkpoint is not None:
        checkpoint.save(model, optimizer, schedule, scaler, (generator, order_generator), history, state, finished=True)
    return history


def make_adam(parameters: list[nn.Parameter], settings: TrainSettings) -> torch.optim.Adam:
    """Adam with its fused kernel where the parameters' device has one (CPU and CUDA do): one
    kernel per step instead of a Python loop over the tensors, about 30% faster steps for
    these small networks on CPU; the update rule is the same."""
    options = {"lr": settings.learning_rate, "weight_decay": settings.weight_decay}
    try:
        return torch.optim.Adam(parameters, fused=True, **options)
    except RuntimeError:  # a device or dtype without the fused kernel
        return torch.optim.Adam(parameters, **options)


LR_SCHEDULES = ("constant", "cosine")


def _make_schedule(optimizer: torch.optim.Optimizer, settings: TrainSettings):
    if settings.lr_schedule == "constant":
        return None
    if settings.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs, eta_min=0.0)
    raise ValueError(f"lr_schedule is '{settings.lr_schedule}'; expected one of {', '.join(LR_SCHEDULES)}.")


class _Checkpoint:
    """One phase's resumable state in one file, written atomically (temp file, then rename).

    A fingerprint of the settings, the architecture, the initial weights and the data is
    stored with it; a checkpoint with another fingerprint is ignored, never resumed.
    """

    def __init__(self, settings: TrainSettings, model: nn.Module, train_data: Sequence[torch.Tensor]) -> None:
        self.path = Path(settings.checkpoint_path)  # type: ignore[arg-type]
        digest = hashlib.sha256()
        kept = dataclasses.replace(settings, checkpoint_path=None, checkpoint_every=1, log_every=0)
        digest.update(repr(kept).encode())
        digest.update(repr(model).encode())
        for tensor in [*model.state_dict().values(), *train_data]:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        self.fingerprint = digest.hexdigest()

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        saved = torch.load(self.path, map_location="cpu", weights_only=False)
        if saved.get("fingerprint") != self.fingerprint:
            logger.warning("%s belongs to another configuration or data; starting afresh", self.path)
            return None
        return saved

    def save(self, model, optimizer, schedule, scaler, generators, history, state, finished: bool) -> None:
        generator, order_generator = generators
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        torch.save(
            {
                "fingerprint": self.fingerprint,
                "finished": finished,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": None if schedule is None else schedule.state_dict(),
                "scaler": None if scaler is None else scaler.state_dict(),
                "generator": generator.get_state(),
                "order_generator": None if order_generator is generator else order_generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "state": state,
            },
            temporary,
        )
        os.replace(temporary, self.path)


def _interactive() -> bool:
    return sys.stderr.isatty()


def _format(record: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.4f}" for key, value in record.items())


@torch.no_grad()
def predict_in_batches(
    function: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    batch_size: int = 4096,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Apply `function` to `x` in chunks, so inference memory is bounded by the batch.

    With `device` (where the model is) different from `x`'s, each chunk is moved there and
    its result back to `x`'s device (data streamed from host memory).
    """
    if device is None or device == x.device:
        if x.shape[0] <= batch_size:
            return function(x)
        return torch.cat([function(x[start : start + batch_size]) for start in range(0, x.shape[0], batch_size)])
    return torch.cat([
        function(x[start : start + batch_size].to(device, non_blocking=True)).to(x.device)
        for start in range(0, x.shape[0], batch_size)
    ])


@torch.no_grad()
def reconstruction_errors(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Mean squared reconstruction error per row (the anomaly score), in batches, eval mode."""
    model.eval()
    return predict_in_batches(lambda batch: ((model(batch) - batch) ** 2).mean(dim=1), x, batch_size)
