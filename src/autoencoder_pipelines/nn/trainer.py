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
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn

from autoencoder_pipelines.nn.atomic import atomic_file
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
    cuda_graphs: bool = False  # on CUDA: the whole step captured once and replayed (CudaGraphStep)


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
    weights are restored at the end. Without validation rows the training loss is monitored.

    With `anneal` > 0 the phase ends annealed instead of at the learning rate it plateaued at:
    when patience runs out (or the epoch cap is `anneal` epochs away), the learning rate goes
    from its value to 0 along a cosine over the next `anneal` epochs (`from_best`: starting
    from the best epoch's weights), then the phase stops; the best epoch of the whole phase
    (during the anneal, any improvement counts) is what is restored."""

    patience: int
    min_delta: float = 0.0
    monitor: str = "val_loss"
    anneal: int = 0
    from_best: bool = False

    def __post_init__(self) -> None:
        self.best = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.annealing: tuple[int, int, list[float]] | None = None  # (after epoch, epochs, base rates)

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.record.get(self.monitor, state.record["train_loss"])
        if self.annealing is not None:
            if value < self.best:
                self._keep(state, value)
            self._anneal_or_stop(state)
            return
        margin = self.min_delta * abs(self.best) if math.isfinite(self.best) else 0.0
        improved = value < self.best - margin
        if improved:
            self._keep(state, value)
        if not improved and state.epoch - state.history.best_epoch >= self.patience:
            if not self.anneal:
                state.stop = state.history.stopped_early = True
                logger.info("%s stopped early at epoch %d (best %d)", state.name, state.epoch, state.history.best_epoch)
                return
            self._start_annealing(state, "no improvement for %d epochs" % self.patience)
        elif self.anneal and state.settings.epochs - state.epoch <= self.anneal:
            self._start_annealing(state, "the epoch cap is near")

    def _keep(self, state: TrainState, value: float) -> None:
        self.best, state.history.best_epoch = value, state.epoch
        self.best_state = snapshot(state.model)

    def _start_annealing(self, state: TrainState, reason: str) -> None:
        epochs = min(self.anneal, state.settings.epochs - state.epoch)
        if epochs <= 0:
            return
        if self.from_best and self.best_state is not None:
            state.model.load_state_dict(self.best_state)
        self.annealing = (state.epoch, epochs, [float(group["lr"]) for group in state.optimizer.param_groups])
        logger.info("%s: annealing the learning rate over %d epochs from epoch %d (%s; best %d)",
                    state.name, epochs, state.epoch, reason, state.history.best_epoch)
        self._anneal_or_stop(state)

    def _anneal_or_stop(self, state: TrainState) -> None:
        start, epochs, rates = self.annealing
        done = state.epoch - start  # annealed epochs finished
        if done >= epochs:
            state.stop = state.history.stopped_early = state.epoch < state.settings.epochs
            return
        for group, rate in zip(state.optimizer.param_groups, rates, strict=True):
            set_learning_rate(group, rate * (1 + math.cos(math.pi * (done + 1) / (epochs + 1))) / 2)

    def on_fit_end(self, state: TrainState) -> None:
        if self.best_state is not None:
            state.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_state": self.best_state,
                "annealing": None if self.annealing is None else list(self.annealing)}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.best, self.best_state = saved["best"], saved["best_state"]
        self.annealing = None if saved.get("annealing") is None else tuple(saved["annealing"])

    def describe(self) -> str:
        annealed = f", anneal {self.anneal}{' from best' if self.from_best else ''}" if self.anneal else ""
        return f"EarlyStopping({self.patience}, {self.min_delta}, {self.monitor}{annealed})"


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
    every `every` epochs, but at most once every `min_seconds` (each write is flushed to disk:
    tens of milliseconds, more than an epoch of a small network), and when the phase ends; read
    back with `torch.load(weights_only=True)`. A phase killed mid-way resumes from its last
    write, so it repeats at most `min_seconds` of training.

    A fingerprint of the settings, the callbacks, the architecture, the initial weights and the
    data is stored with it; a checkpoint with another fingerprint is ignored, never resumed.
    Put it last: it restores the other callbacks' state and saves theirs after they ran.
    """

    def __init__(self, path: str | Path, every: int = 1, min_seconds: float = 0.0) -> None:
        self.path, self.every, self.min_seconds = Path(path), max(every, 1), min_seconds
        self.fingerprint = ""
        self.loaded_finished = False
        self.saved_at = 0.0

    def on_fit_start(self, state: TrainState) -> None:
        self.saved_at = time.monotonic()
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
        except Exception as error:  # noqa: BLE001 - a torn or foreign file: start afresh rather than fail
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
        if not state.stop and state.epoch % self.every == 0 and time.monotonic() - self.saved_at >= self.min_seconds:
            self._save(state, finished=False)
            self.saved_at = time.monotonic()

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


def set_learning_rate(group: dict[str, Any], rate: float) -> None:
    """A parameter group's rate, in place when it is a tensor (a captured step reads it there)."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(rate)
    else:
        group["lr"] = rate


def make_adam(parameters: list[nn.Parameter], settings: TrainSettings, capturable: bool = False) -> torch.optim.Adam:
    """Adam with its fused kernel where the parameters' device has one (CPU and CUDA do): one
    kernel per step instead of a Python loop over the tensors, about 30% faster steps for
    these small networks on CPU; the update rule is the same. `capturable` (for a CUDA graph):
    its step count and rate live on the device, so a replayed step reads the current rate."""
    options = {"lr": settings.learning_rate, "weight_decay": settings.weight_decay}
    if capturable:
        device = parameters[0].device
        return torch.optim.Adam(parameters, fused=True, capturable=True, weight_decay=settings.weight_decay,
                                lr=torch.tensor(settings.learning_rate, device=device))
    try:
        return torch.optim.Adam(parameters, fused=True, **options)
    except RuntimeError:  # a device or dtype without the fused kernel
        return torch.optim.Adam(parameters, **options)


Step = Callable[[Batch, torch.Generator], torch.Tensor]


def make_step(
    model: nn.Module, batch_loss: BatchLoss, optimizer: torch.optim.Optimizer, settings: TrainSettings,
    device: torch.device, world_size: int = 1,
) -> Step:
    """One optimizer step on one batch; returns the batch's loss, detached and left on the device
    (not read back). Built once per phase, so a step does only what the settings ask for:
    autocast for bf16 and fp16, loss scaling for fp16 (fused Adam then unscales, and skips a
    step with non-finite gradients, on the device), clipping when configured."""
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    loss_of = torch.compile(batch_loss) if settings.compile else batch_loss
    if world_size > 1:  # gradients averaged across ranks by DDP
        loss_of = nn.parallel.DistributedDataParallel(
            Objective(model, loss_of), device_ids=[device] if device.type == "cuda" else None
        )
    mixed, clip = settings.precision != torch.float32, settings.grad_clip
    # fp16 scales the loss so small gradients do not underflow
    scaler = torch.amp.GradScaler(device.type) if settings.precision == torch.float16 else None

    def step(batch: Batch, generator: torch.Generator) -> torch.Tensor:
        if mixed:  # a captured step recasts the weights at every replay: no cast cache across steps
            with torch.autocast(device_type=device.type, dtype=settings.precision, cache_enabled=not settings.cuda_graphs):
                loss = loss_of(batch, generator)
        else:
            loss = loss_of(batch, generator)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(parameters, clip)
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(parameters, clip)
            scaler.step(optimizer)
            scaler.update()
        return loss.detach()

    return step


class CudaGraphStep:
    """A step captured as one CUDA graph and replayed: forward, backward and Adam in one launch
    instead of dozens (on a GPU, a small network's step is launch-bound: 1.1e5 samples/s at 256
    rows of 784 features on an H200, whatever the precision). The first `warmup` steps run as
    they are, on a side stream (what capture needs settled: the allocator, the optimizer's
    state, the libraries' handles); the next full batch is captured and every batch of that
    size after it replays the graph, its rows copied into the graph's inputs; a batch of
    another size (an epoch's last) runs as it is. The noise generator is registered with the
    graph, so each replay draws fresh noise. Needs a capturable Adam (make_adam) and no work
    between steps on the host's side (no per-batch callbacks, no loss scaling, one process)."""

    def __init__(self, step: Step, generator: torch.Generator, warmup: int = 3) -> None:
        self.step, self.generator, self.warmup = step, generator, warmup
        self.graph: Any = None
        self.inputs: Batch = ()
        self.loss: torch.Tensor | None = None
        self.steps = 0
        self.side = torch.cuda.Stream()

    def __call__(self, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        if self.graph is None and self.steps == self.warmup:
            self._capture(batch)
        if self.graph is not None and batch[0].shape == self.inputs[0].shape:
            for static, rows in zip(self.inputs, batch, strict=True):
                static.copy_(rows)
            self.graph.replay()
            return self.loss.clone()
        self.steps += 1
        if self.graph is not None:
            return self.step(batch, generator)
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            loss = self.step(batch, generator)
        torch.cuda.current_stream().wait_stream(self.side)
        return loss

    def _capture(self, batch: Batch) -> None:
        """Record the step; a step that cannot be recorded (it reads a value back to the host, as
        the KL sparsity check does) runs as it is from then on, with a warning."""
        self.inputs = tuple(rows.clone() for rows in batch)
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.generator)
        try:
            with torch.cuda.graph(graph):  # records the kernels; nothing trains until a replay
                self.loss = self.step(self.inputs, self.generator)
        except Exception as error:  # noqa: BLE001 - any capture failure: the eager step still works
            logger.warning("this phase's step cannot be captured as a CUDA graph (%s); it runs step by step",
                           str(error).splitlines()[0][:200])
            self.steps += 1  # past the warm-up: never captured again
            return
        self.graph = graph


def use_cuda_graphs(settings: TrainSettings, device: torch.device, world_size: int, callbacks: Sequence[Callback]) -> bool:
    """Whether a phase's step is captured: asked for, on CUDA, and nothing the graph cannot hold
    (loss scaling's host-side decisions, torch.compile's own graphs, DDP's hooks, per-batch callbacks)."""
    per_batch = any(type(c).on_batch_end is not Callback.on_batch_end for c in callbacks)
    return (settings.cuda_graphs and device.type == "cuda" and world_size == 1 and not settings.compile
            and settings.precision != torch.float16 and not per_batch)


@dataclass
class Epochs:
    """How a phase walks its rows each epoch: a shuffled order (from `order`, on `order_device`),
    this rank's shard of it under DDP, batch by batch; rows held on another device than the
    model's (host memory, when they do not fit on the GPU) are moved over one batch at a time.
    `noise` is the phase's generator for per-batch noise (and the order, unless `order` is its own)."""

    train_data: Sequence[torch.Tensor]
    device: torch.device  # the model's
    batch_size: int
    noise: torch.Generator
    order: torch.Generator
    order_device: torch.device
    rank: int = 0
    world_size: int = 1
    skip_single: bool = False  # batch norm cannot train on one row: a last batch of one is left out

    @classmethod
    def of(cls, model: nn.Module, train_data: Sequence[torch.Tensor], settings: TrainSettings, rank: int,
           world_size: int) -> "Epochs":
        """Ranks share the epoch order but draw their own noise; the order is drawn on the CPU
        under DDP, where it does not depend on the GPU model, and on the data's device otherwise."""
        device = next(model.parameters(), train_data[0]).device
        data_device = train_data[0].device
        noise = torch.Generator(device=device).manual_seed(derive_seed(settings.seed, f"noise.{rank}"))
        order_device = torch.device("cpu") if world_size > 1 else data_device
        order = noise
        if data_device != device or world_size > 1:
            order = torch.Generator(device=order_device).manual_seed(derive_seed(settings.seed, "order"))
        skip_single = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules())
        return cls(train_data, device, settings.batch_size, noise, order, order_device, rank, world_size, skip_single)

    @property
    def generators(self) -> dict[str, torch.Generator]:
        return {"noise": self.noise} | ({"order": self.order} if self.order is not self.noise else {})

    def batches(self) -> Iterator[Batch]:
        data = self.train_data
        order = torch.randperm(data[0].shape[0], generator=self.order, device=self.order_device).to(data[0].device)
        if self.world_size > 1:
            order = shard(order, self.rank, self.world_size)
        streaming = data[0].device != self.device
        for start in range(0, order.numel(), self.batch_size):
            index = order[start : start + self.batch_size]
            if self.skip_single and index.numel() == 1:
                continue
            yield tuple(t[index].to(self.device, non_blocking=True) for t in data) if streaming else tuple(t[index] for t in data)


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
        epochs = Epochs.of(model, train_data, settings, rank, world_size)
        callbacks = [*objective_callbacks, NanGuard(), MetricHistory(), *self.callbacks]
        graphs = use_cuda_graphs(settings, epochs.device, world_size, callbacks)
        optimizer = make_adam([p for p in model.parameters() if p.requires_grad], settings, capturable=graphs)
        step = make_step(model, batch_loss, optimizer, settings, epochs.device, world_size)
        if graphs:
            step = CudaGraphStep(step, epochs.noise)
        state = TrainState(
            name=name, model=model, optimizer=optimizer, settings=settings, generators=epochs.generators,
            train_data=train_data, history=History(name=name), callbacks=callbacks, rank=rank,
        )
        started = time.perf_counter()
        for callback in callbacks:
            callback.on_fit_start(state)
        while state.epoch < settings.epochs and not (state.stop or state.finished):
            for callback in callbacks:
                callback.on_epoch_start(state)
            model.train()
            loss_sum, rows = self._train_epoch(state, epochs, step, callbacks)
            state.record = self._record(model, loss_sum, rows, evaluate, epochs)
            state.epoch += 1
            for callback in callbacks:
                callback.on_epoch_end(state)
        if not state.finished:
            state.history.seconds = time.perf_counter() - started
        for callback in callbacks:
            callback.on_fit_end(state)
        model.eval()
        return state.history

    @staticmethod
    def _train_epoch(state: TrainState, epochs: Epochs, step: Step, callbacks: Sequence[Callback]) -> tuple[torch.Tensor, int]:
        """One step per batch. Returns the sum of the batch losses weighted by their rows, on the
        device (added up once, at the end: no work and no host sync per step for it), and the rows.
        Only callbacks that override on_batch_end are called per batch."""
        batch_callbacks = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
        losses, rows = [], []
        for batch in epochs.batches():
            losses.append(step(batch, epochs.noise))
            rows.append(batch[0].shape[0])
            for callback in batch_callbacks:
                callback.on_batch_end(state, batch, epochs.noise)
        if not losses:
            return torch.zeros((), device=epochs.device), 0
        return torch.stack(losses).float() @ torch.tensor(rows, dtype=torch.float32, device=epochs.device), sum(rows)

    @staticmethod
    def _record(
        model: nn.Module, loss_sum: torch.Tensor, rows: int, evaluate: Evaluate | None, epochs: Epochs
    ) -> dict[str, float]:
        """The epoch's figures: the mean training loss (the epoch's one host sync) and `evaluate`'s."""
        if epochs.world_size > 1:
            dist.all_reduce(loss_sum)
        record = {"train_loss": (loss_sum / (rows * epochs.world_size)).item()}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                record.update(evaluate())
        if epochs.world_size > 1:
            # Every rank acts on rank 0's figures (divergence, early stopping): ranks deciding
            # alone could differ in the last bit across GPU models and leave the others waiting.
            values = torch.tensor(list(record.values()), dtype=torch.float64, device=epochs.device)
            dist.broadcast(values, src=0)
            record = dict(zip(record, values.tolist(), strict=True))
        return record


def _format(record: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.4f}" for key, value in record.items())
