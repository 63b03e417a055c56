"""Fixtures shared by the unit tests of `autoencoder_pipelines.nn`: tiny data sets, small
architectures of every kind, and callbacks that record what the Trainer did."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn.kinds.base import Architecture
from autoencoder_pipelines.nn.trainer import Callback, History, Trainer, TrainSettings

N_FEATURES = 16  # every kind's test network reads rows of 16 values (conv: 4x4 images)


# -- data -----------------------------------------------------------------------------------


@pytest.fixture
def regression() -> tuple[torch.Tensor, torch.Tensor]:
    """y = x w + 0.1 exactly: a linear model can drive the loss to ~0."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=generator)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1


def _structured_rows(n: int, d: int = N_FEATURES, seed: int = 0) -> torch.Tensor:
    """Rows in (0, 1) driven by 3 latent factors around per-feature offsets, so there is
    structure to learn (and a per-feature mean that a fresh network does not know yet)."""
    generator = torch.Generator().manual_seed(seed)
    basis, offsets = torch.randn(3, d, generator=generator), 2 * torch.randn(d, generator=generator)
    factors = torch.randn(n, 3, generator=generator)
    return torch.sigmoid(2 * factors @ basis + offsets + 0.1 * torch.randn(n, d, generator=generator))


@pytest.fixture
def rows() -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) rows in (0, 1) with N_FEATURES columns, of one distribution."""
    x = _structured_rows(256)
    return x[:192], x[192:]


@pytest.fixture
def structured_rows() -> Callable[..., torch.Tensor]:
    return _structured_rows


# -- networks -------------------------------------------------------------------------------


@pytest.fixture
def arch_for() -> Callable[..., Architecture]:
    """A small Architecture of the named kind for N_FEATURES inputs (options as given)."""

    def make(kind: str, **changes) -> Architecture:
        if kind == "conv":
            base = dict(hidden_sizes=(3,), image_shape=(4, 4), options={"channels": [4, 8]})
        elif kind == "conv1d_vae":  # windows of 2 series x 8 time steps
            base = dict(hidden_sizes=(3,), window_shape=(2, 8), options={"channels": [4, 8], "kernel_size": 3})
        else:
            base = dict(hidden_sizes=(8, 4), activation="sigmoid", code_activation="sigmoid")
        return Architecture(kind=kind, **{"n_features": N_FEATURES, **base, **changes})

    return make


def _small_settings(**changes) -> TrainSettings:
    return TrainSettings(**{"epochs": 4, "batch_size": 32, "learning_rate": 0.01, **changes})


@pytest.fixture
def trainer_for() -> Callable[..., Trainer]:
    """`trainer_for(name)`: a small Trainer per phase, as `stacking.pretrain` asks for one;
    extra callbacks and settings by keyword."""

    def make(name: str = "phase", callbacks=(), **changes) -> Trainer:
        return Trainer(_small_settings(**changes), callbacks)

    return make


@pytest.fixture
def fit_regression(regression) -> Callable[..., tuple[nn.Module, History]]:
    """Train a linear model (or `model`) on `regression` with validation on the whole set."""
    x, y = regression

    def fit(model: nn.Module | None = None, callbacks=(), seed_weights: int = 0, **changes):
        if model is None:
            torch.manual_seed(seed_weights)
            model = nn.Linear(4, 1)
        settings = TrainSettings(**{"epochs": 30, "batch_size": 32, "learning_rate": 0.05, **changes})
        def loss(batch, generator):
            return nn.functional.mse_loss(model(batch[0]).float(), batch[1])
        def evaluate():
            return {"val_loss": nn.functional.mse_loss(model(x), y).item()}
        return model, Trainer(settings, callbacks).fit(model, loss, (x, y), evaluate, name="regression")

    return fit


# -- what the Trainer did -----------------------------------------------------------------------


def weights_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


class Recorder(Callback):
    """Per optimizer step: the learning rate and the norm of the gradients about to be applied;
    per epoch: the weights at its end (index 0: before training)."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self.grad_norms: list[float] = []
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_fit_start(self, state) -> None:
        self.weights.append(weights_of(state.model))
        state.optimizer.register_step_pre_hook(self._before_step)

    def _before_step(self, optimizer, args, kwargs) -> None:
        self.rates.append(optimizer.param_groups[0]["lr"])
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.grad_norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    def on_epoch_end(self, state) -> None:
        self.weights.append(weights_of(state.model))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def same_weights() -> Callable[[nn.Module | dict, nn.Module | dict], bool]:
    """Whether two modules (or state dicts) hold exactly the same tensors."""

    def same(a, b) -> bool:
        a, b = (m.state_dict() if isinstance(m, nn.Module) else m for m in (a, b))
        return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)

    return same


# -- files ----------------------------------------------------------------------------------


class _WritesAMarker:
    """Unpickling this calls Path.write_text(marker, ...): what a malicious pickle could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "unpickled")


@pytest.fixture
def plant_pickle(tmp_path) -> Callable[[Path], Path]:
    """`plant_pickle(path)` writes a torch file at `path` whose unpickling (torch.load without
    weights_only) would write a marker file; returns the marker's path (not yet written)."""

    def plant(path: Path) -> Path:
        marker = tmp_path / "unpickled.marker"
        torch.save({"format": 1, "json": "{}", "fingerprint": "", "state_dicts": _WritesAMarker(marker)}, path)
        return marker

    return plant
