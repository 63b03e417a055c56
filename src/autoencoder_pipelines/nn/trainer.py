"""The one training loop (`Trainer`) and the callbacks that give it its behaviour.

The Trainer does the epoch/batch loop and nothing else: shuffled mini-batches sliced from
tensors (no DataLoader), the per-batch loss, mixed precision (`torch.autocast`, with a
`GradScaler` enabled for fp16), gradient clipping and the optimizer step. The epoch loss is
accumulated on the device and read back once per epoch, so the hot path makes no host syncs.
Everything else is a callback, called in list order (`Callback`: on_fit_start,
on_epoch_start, on_batch_end after each optimizer step, on_epoch_end, on_fit_end):

- `NanGuard`: a non-finite loss stops the phase, naming it and the epoch, with the last good
  weights restored (always on);
- `MetricHistory`: the per-epoch records (always on);
- `EarlyStopping`: stop when the validation loss stops improving, keep the best weights;
- `LRSchedule`: cosine annealing of the learning rate;
- `Progress`: a bar on a terminal, log lines elsewhere;
- `Checkpoint`: resumable state in one file, saved every few epochs and at the end;
- `Pruning`: one phase's per-epoch validation figure reported to a search trial (Optuna), which
  ends the trial when its pruner says so.

An objective may bring callbacks of its own to `fit` (an adversarial autoencoder's
regularisation phase, with its own optimizers, after every reconstruction step): they run
first, so the figures they add to an epoch's record are checked and recorded like the loss.

Under torchrun (a process group is initialised) the same loop trains with
DistributedDataParallel: each rank takes its DistributedSampler shard of the epoch's order.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn

from autoencoder_pipelines.nn.atomic import atomic_file
from autoencoder_pipelines.nn.device import autocast
from autoencoder_pipelines.nn.distributed import Objective, is_worker, shard
from autoencoder_pipelines.nn.seeding import derive_seed

logger = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, ...]
BatchLoss = Callable[[Batch, torch.Generator], torch.Tensor]
Evaluate = Callable[[], dict[str, float]]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the model holds its last good weights."""


@dataclass(frozen=True)
class TrainSettings:
    """The optimisation of one phase: Adam over `epochs` of shuffled mini-batches."""

    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = None
    precision: torch.dtype = torch.float32
    seed: int = 0  # the phase's stream: epoch order and per-batch noise
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


@dataclass
class TrainState:
    """What callbacks see and may change (`stop`, the model's weights)."""

    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    settings: TrainSettings
    generators: dict[str, torch.Generator]
    train_data: Sequence[torch.Tensor]
    history: History
    callbacks: Sequence["Callback"] = ()
    rank: int = 0
    epoch: int = 0  # epochs completed (in on_epoch_end: including the one just finished)
    record: dict[str, float] = field(default_factory=dict)
    stop: bool = False
    finished: bool = False  # a resumed phase that had already finished


class Callback:
    """Behaviour around the loop. `state_dict`/`load_state_dict` carry what a resume needs."""

    def on_fit_start(self, state: TrainState) -> None: ...

    def on_epoch_start(self, state: TrainState) -> None: ...

    def on_batch_end(self, state: TrainState, batch: Batch, generator: torch.Generator) -> None:
        """After each optimizer step, with the step's batch and the phase's noise generator.
        Only callbacks that override it are called (the hot path pays nothing otherwise)."""

    def on_epoch_end(self, state: TrainState) -> None: ...

    def on_fit_end(self, state: TrainState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, saved: dict[str, Any]) -> None: ...

    def describe(self) -> str:
        """What of this callback changes the result (part of a checkpoint's fingerprint)."""
        return ""


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


class NanGuard(Callback):
    def __init__(self) -> None:
        self.last_good: dict[str, torch.Tensor] | None = None

    def on_epoch_start(self, state: TrainState) -> None:
        self.last_good = snapshot(state.model)

    def on_epoch_end(self, state: TrainState) -> None:
        if all(math.isfinite(value) for value in state.record.values()):
            return
        state.model.load_state_dict(self.last_good)
        raise TrainingDivergedError(
            f"{state.name}: loss became non-finite at epoch {state.epoch} ({state.record}); "
            f"weights were restored to epoch {state.epoch - 1}. Lower the learning rate or set a gradient clip."
        )


class MetricHistory(Callback):
    def on_epoch_end(self, state: TrainState) -> None:
        state.history.epochs.append(dict(state.record))


@dataclass
class EarlyStopping(Callback):
    """Stop after `patience` epochs without the monitored value improving by more than the
    share `min_delta` of its best (0.001: by 0.1%, whatever the loss's scale); the best epoch's
    weights are restored at the end. Without validation rows the training loss is monitored."""

    patience: int
    min_delta: float = 0.0
    monitor: str = "val_loss"

    def __post_init__(self) -> None:
        self.best = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.record.get(self.monitor, state.record["train_loss"])
        margin = self.min_delta * abs(self.best) if math.isfinite(self.best) else 0.0
        if value < self.best - margin:
            self.best, state.history.best_epoch = value, state.epoch
            self.best_state = snapshot(state.model)
        elif state.epoch - state.history.best_epoch >= self.patience:
            state.stop = state.history.stopped_early = True
            logger.info("%s stopped early at epoch %d (best %d)", state.name, state.epoch, state.history.best_epoch)

    def on_fit_end(self, state: TrainState) -> None:
        if self.best_state is not None:
            state.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_state": self.best_state}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.best, self.best_state = saved["best"], saved["best_state"]

    def describe(self) -> str:
        return f"EarlyStopping({self.patience}, {self.min_delta}, {self.monitor})"


class LRSchedule(Callback):
    """Cosine annealing of the learning rate to 0 over the phase's epochs, stepped per epoch."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def on_fit_start(self, state: TrainState) -> None:
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(state.optimizer, T_max=self.epochs, eta_min=0.0)

    def on_epoch_end(self, state: TrainState) -> None:
        self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(saved)

    def describe(self) -> str:
        return f"cosine({self.epochs})"


class Progress(Callback):
    """A bar per phase on a terminal; plain log lines every `log_every` epochs otherwise (CI, cron)."""

    def __init__(self, log_every: int = 10) -> None:
        self.log_every = log_every
        self.bar = None

    def on_fit_start(self, state: TrainState) -> None:
        self.started = time.perf_counter()
        if state.rank == 0 and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.settings.epochs, desc=state.name, unit="epoch", leave=False)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(_format(state.record), refresh=False)
            self.bar.update(state.epoch - self.bar.n)  # more than one after a resume
        elif state.rank == 0 and self.log_every and (
            state.epoch % self.log_every == 0 or state.epoch == state.settings.epochs
        ):
            logger.info("%s epoch %d/%d %s", state.name, state.epoch, state.settings.epochs, _format(state.record))

    def on_fit_end(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.close()
        if state.history.epochs and state.rank == 0:
            logger.info(
                "%s: %d epochs in %.1f s, last %s", state.name, len(state.history.epochs),
                time.perf_counter() - self.started, _format(state.history.epochs[-1]),
            )


class Checkpoint(Callback):
    """One phase's resumable state in one file, written atomically (temporary file, then rename)
    every `every` epochs and when the phase ends; read back with `torch.load(weights_only=True)`.

    A fingerprint of the settings, the callbacks, the architecture, the initial weights and the
    data is stored with it; a checkpoint with another fingerprint is ignored, never resumed.
    Put it last: it restores the other callbacks' state and saves theirs after they ran.
    """

    def __init__(self, path: str | Path, every: int = 1) -> None:
        self.path, self.every = Path(path), max(every, 1)
        self.fingerprint = ""
        self.loaded_finished = False

    def on_fit_start(self, state: TrainState) -> None:
        digest = hashlib.sha256()
        digest.update(repr(state.settings).encode())
        digest.update("|".join(c.describe() for c in state.callbacks).encode())
        digest.update(repr(state.model).encode())
        for tensor in [*state.model.state_dict().values(), *state.train_data]:
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        self.fingerprint = digest.hexdigest()
        if not self.path.exists():
            return
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            if not isinstance(saved, dict):
                raise TypeError(f"holds a {type(saved).__name__}, not a checkpoint")
        except Exception as error:  # a torn or foreign file: start afresh rather than fail
            logger.warning("%s cannot be read (%s); starting afresh", self.path, error)
            return
        if saved.get("fingerprint") != self.fingerprint:
            logger.warning("%s belongs to another configuration or data; starting afresh", self.path)
            return
        state.model.load_state_dict(saved["model"])
        state.history = History(**saved["history"])
        state.epoch = len(state.history.epochs)
        if saved["finished"]:
            state.finished = self.loaded_finished = True
            logger.info("%s: finished earlier, loaded from %s", state.name, self.path)
            return
        state.optimizer.load_state_dict(saved["optimizer"])
        for name, generator in state.generators.items():
            generator.set_state(saved["generators"][name])
        torch.set_rng_state(saved["torch_rng"])
        for key, callback in _keyed(state.callbacks):
            callback.load_state_dict(saved["callbacks"].get(key, {}))
        logger.info("%s: resuming at epoch %d from %s", state.name, state.epoch + 1, self.path)

    def on_epoch_end(self, state: TrainState) -> None:
        if not state.stop and state.epoch % self.every == 0:
            self._save(state, finished=False)

    def on_fit_end(self, state: TrainState) -> None:
        if not self.loaded_finished:
            self._save(state, finished=True)

    def _save(self, state: TrainState, finished: bool) -> None:
        with atomic_file(self.path) as handle:  # a full disk says so, naming the file
            torch.save(
                {
                    "fingerprint": self.fingerprint,
                    "finished": finished,
                    "model": state.model.state_dict(),
                    "optimizer": state.optimizer.state_dict(),
                    "generators": {name: g.get_state() for name, g in state.generators.items()},
                    "torch_rng": torch.get_rng_state(),
                    "history": asdict(state.history),
                    "callbacks": {key: callback.state_dict() for key, callback in _keyed(state.callbacks)},
                },
                handle,
            )


class Pruning(Callback):
    """Report phase `phase`'s per-epoch `monitor` (times `sign`: the pruner compares in the
    study's direction) to a search trial, `trial.report(value, step=epoch)`; when
    `trial.should_prune()`, end the trial by raising `pruned` (optuna.TrialPruned: this module
    does not import Optuna). Other phases (pretraining layers) are not reported: their figures
    are not comparable between trials. `values` keeps what was reported."""

    def __init__(self, trial: Any, phase: str, monitor: str, sign: float, pruned: type[BaseException]) -> None:
        self.trial, self.phase, self.monitor, self.sign, self.pruned = trial, phase, monitor, sign, pruned
        self.values: list[float] = []

    def on_epoch_end(self, state: TrainState) -> None:
        if state.name != self.phase or self.monitor not in state.record:
            return
        value = self.sign * state.record[self.monitor]
        self.values.append(value)
        self.trial.report(value, step=state.epoch)
        if self.trial.should_prune():
            state.stop = True
            raise self.pruned(f"{state.name}: {self.monitor} {state.record[self.monitor]:.4g} at epoch {state.epoch}")


def _keyed(callbacks: Sequence[Callback]) -> list[tuple[str, Callback]]:
    return [(f"{i}.{type(c).__name__}", c) for i, c in enumerate(callbacks) if not isinstance(c, Checkpoint)]


def make_adam(parameters: list[nn.Parameter], settings: TrainSettings) -> torch.optim.Adam:
    """Adam with its fused kernel where the parameters' device has one (CPU and CUDA do): one
    kernel per step instead of a Python loop over the tensors, about 30% faster steps for
    these small networks on CPU; the update rule is the same."""
    options = {"lr": settings.learning_rate, "weight_decay": settings.weight_decay}
    try:
        return torch.optim.Adam(parameters, fused=True, **options)
    except RuntimeError:  # a device or dtype without the fused kernel
        return torch.optim.Adam(parameters, **options)


class Trainer:
    """Minimise a per-batch loss with Adam; behaviour comes from `callbacks` (in list order,
    after the always-on NanGuard and MetricHistory)."""

    def __init__(self, settings: TrainSettings, callbacks: Sequence[Callback] = ()) -> None:
        self.settings = settings
        self.callbacks = list(callbacks)

    def fit(
        self,
        model: nn.Module,
        batch_loss: BatchLoss,
        train_data: Sequence[torch.Tensor],
        evaluate: Evaluate | None = None,
        name: str = "train",
        callbacks: Sequence[Callback] = (),
    ) -> History:
        """`batch_loss(batch, generator)` gets one row slice of each of `train_data` and the
        phase's seeded generator, for fresh per-batch noise. `evaluate()` runs after every
        epoch in eval mode without gradients and adds its figures to the epoch's record.
        `callbacks` belong to this objective (not to the Trainer's behaviour): they run before
        every other callback, so what they add to the record is guarded and recorded.

        Draws from torch's global generator inside the phase (dropout, a VAE's sampling) come
        from the phase's own seed, whatever ran before, and the global state is left as it was:
        a phase gives the same result alone, after others, or after a resume."""
        device = next(model.parameters(), train_data[0]).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(derive_seed(self.settings.seed, "global"))
            return self._fit(model, batch_loss, train_data, evaluate, name, list(callbacks))

    def _fit(self, model, batch_loss, train_data, evaluate, name, objective_callbacks) -> History:
        settings = self.settings
        rank, world_size = (dist.get_rank(), dist.get_world_size()) if is_worker() else (0, 1)
        # Compute where the model is. Training data on another device (host memory, when it
        # does not fit on the GPU) is streamed: shuffled there, one batch at a time moved over.
        data_device = train_data[0].device
        device = next(model.parameters(), train_data[0]).device
        streaming = data_device != device
        # Ranks share the epoch order but draw their own noise; the order is drawn on the CPU
        # under DDP, where it does not depend on the GPU model or on streaming.
        generators = {"noise": torch.Generator(device=device).manual_seed(derive_seed(settings.seed, f"noise.{rank}"))}
        order_device = torch.device("cpu") if world_size > 1 else data_device
        if streaming or world_size > 1:
            generators["order"] = torch.Generator(device=order_device).manual_seed(derive_seed(settings.seed, "order"))
        noise_generator = generators["noise"]
        order_generator = generators.get("order", noise_generator)
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = make_adam(parameters, settings)
        # fp16 scales the loss so small gradients do not underflow; a no-op otherwise
        scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == torch.float16)
        step_loss = torch.compile(batch_loss) if settings.compile else batch_loss
        if world_size > 1:  # gradients averaged across ranks by DDP
            step_loss = nn.parallel.DistributedDataParallel(
                Objective(model, step_loss), device_ids=[device] if device.type == "cuda" else None
            )
        callbacks = [*objective_callbacks, NanGuard(), MetricHistory(), *self.callbacks]
        batch_callbacks = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
        state = TrainState(
            name=name, model=model, optimizer=optimizer, settings=settings, generators=generators,
            train_data=train_data, history=History(name=name), callbacks=callbacks, rank=rank,
        )
        started = time.perf_counter()
        for callback in callbacks:
            callback.on_fit_start(state)
        n_rows = train_data[0].shape[0]
        # Batch norm cannot train on one row: a last batch of one is left out of that epoch.
        skip_single = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules())
        while state.epoch < settings.epochs and not (state.stop or state.finished):
            for callback in callbacks:
                callback.on_epoch_start(state)
            model.train()
            order = torch.randperm(n_rows, generator=order_generator, device=order_device).to(data_device)
            if world_size > 1:
                order = shard(order, rank, world_size)
            loss_sum, rows = torch.zeros((), device=device), 0
            for start in range(0, order.numel(), settings.batch_size):
                index = order[start : start + settings.batch_size]
                if skip_single and index.numel() == 1:
                    continue
                rows += index.numel()
                batch = tuple(t[index].to(device, non_blocking=True) if streaming else t[index] for t in train_data)
                with autocast(device, settings.precision):
                    loss = step_loss(batch, noise_generator)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if settings.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                loss_sum.add_(loss.detach(), alpha=index.numel())
                for callback in batch_callbacks:
                    callback.on_batch_end(state, batch, noise_generator)
            if world_size > 1:
                dist.all_reduce(loss_sum)
            state.record = {"train_loss": (loss_sum / (rows * world_size)).item()}  # the one host sync
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    state.record.update(evaluate())
            if world_size > 1:
                # Every rank acts on rank 0's figures (divergence, early stopping): ranks deciding
                # alone could differ in the last bit across GPU models and leave the others waiting.
                values = torch.tensor(list(state.record.values()), dtype=torch.float64, device=device)
                dist.broadcast(values, src=0)
                state.record = dict(zip(state.record, values.tolist()))
            state.epoch += 1
            for callback in callbacks:
                callback.on_epoch_end(state)
        if not state.finished:
            state.history.seconds = time.perf_counter() - started
        for callback in callbacks:
            callback.on_fit_end(state)
        model.eval()
        return state.history


def _format(record: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.4f}" for key, value in record.items())
