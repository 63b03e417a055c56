"""The one training loop every phase uses: layer pretraining, classifier and denoiser fine-tuning.

Data stays on the device as tensors and is sliced by a shuffled index each epoch, so there is
no per-batch DataLoader work; the epoch loss is accumulated on the device and read back once
per epoch, so the hot path makes no host syncs.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from autoencoder_pipelines.nn.device import autocast

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
    grad_clip: float | None = None
    precision: torch.dtype = torch.float32
    seed: int = 0
    log_every: int = 10
    compile: bool = False  # torch.compile the per-batch loss (model forward included)


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
    started = time.perf_counter()
    device = train_data[0].device
    n_rows = train_data[0].shape[0]
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler(device.type) if settings.precision == torch.float16 else None
    history = History(name=name)
    step_loss = torch.compile(batch_loss) if settings.compile else batch_loss
    best_loss, best_state, last_good_state = math.inf, None, _snapshot(model)

    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(n_rows, generator=generator, device=device)
        loss_sum = torch.zeros((), device=device)
        for start in range(0, n_rows, settings.batch_size):
            index = order[start : start + settings.batch_size]
            batch = tuple(tensor[index] for tensor in train_data)
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

        record = {"train_loss": (loss_sum / n_rows).item()}  # the epoch's one host sync
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                record.update(evaluate())
        if not all(math.isfinite(value) for value in record.values()):
            model.load_state_dict(last_good_state)
            raise TrainingDivergedError(
                f"{name}: loss became non-finite at epoch {epoch + 1} ({record}); "
                f"weights were restored to epoch {len(history.epochs)}. "
                "Lower the learning rate or set a gradient clip."
            )
        history.epochs.append(record)
        last_good_state = _snapshot(model)

        monitored = record.get("val_loss", record["train_loss"])
        if monitored < best_loss:
            best_loss, history.best_epoch = monitored, epoch
            if settings.patience is not None:
                best_state = last_good_state
        if settings.log_every and ((epoch + 1) % settings.log_every == 0 or epoch + 1 == settings.epochs):
            logger.info("%s epoch %d/%d %s", name, epoch + 1, settings.epochs, _format(record))
        if settings.patience is not None and epoch - history.best_epoch >= settings.patience:
            history.stopped_early = True
            logger.info("%s stopped early at epoch %d (best %d)", name, epoch + 1, history.best_epoch + 1)
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history


def _format(record: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.4f}" for key, value in record.items())


@torch.no_grad()
def predict_in_batches(
    function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 4096
) -> torch.Tensor:
    """Apply `function` to `x` in chunks, so inference memory is bounded by the batch."""
    if x.shape[0] <= batch_size:
        return function(x)
    return torch.cat([function(x[start : start + batch_size]) for start in range(0, x.shape[0], batch_size)])
