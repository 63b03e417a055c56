"""The Checkpoint callback: a phase interrupted mid-training resumes to the very result of an
uninterrupted run; checkpoints of anything else, torn files and foreign files are ignored."""

import logging

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn import trainer as trainer_module
from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.trainer import (
    Callback,
    Checkpoint,
    EarlyStopping,
    LRSchedule,
    Trainer,
    TrainSettings,
)

EPOCHS = 6


class Interrupted(Exception):
    pass


class CountEpochs(Callback):
    """Counts the epochs this run trained, and dies at the end of epoch `interrupt_at`."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.interrupt_at, self.trained = interrupt_at, 0

    def on_epoch_end(self, state) -> None:
        self.trained += 1
        if state.epoch == self.interrupt_at:
            raise Interrupted


@pytest.fixture
def x():
    return torch.rand(64, 6, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def path(tmp_path):
    return tmp_path / "phase.pt"


@pytest.fixture
def train(x, path):
    """One phase with everything a resume must restore: dropout (the global RNG), per-batch
    noise (the phase's generator), Adam's moments, early stopping and the LR schedule.
    Returns (model, history, epochs trained by this call)."""

    def run(checkpoint=True, interrupt_at=None, every=1, seed_weights=0, data=x, learning_rate=0.01, patience=10, anneal=0):
        torch.manual_seed(seed_weights)
        model = nn.Sequential(nn.Linear(6, 12), nn.Dropout(0.2), nn.ReLU(), nn.Linear(12, 6))
        spec = CorruptionSpec("masking", 0.3)
        def loss(batch, generator):
            return nn.functional.mse_loss(model(corrupt(batch[0], spec, generator)), batch[0])
        def evaluate():
            return {"val_loss": nn.functional.mse_loss(model(data), data).item()}
        counter = CountEpochs(interrupt_at)
        schedule = [] if anneal else [LRSchedule(EPOCHS)]  # anneal: the end of the phase annealed instead
        callbacks = [EarlyStopping(patience, anneal=anneal), *schedule, counter]
        if checkpoint:
            callbacks.append(Checkpoint(path, every))
        settings = TrainSettings(epochs=EPOCHS, batch_size=16, learning_rate=learning_rate)
        history = Trainer(settings, callbacks).fit(model, loss, (data,), evaluate, name="phase")
        return model, history, counter.trained

    return run


@pytest.fixture
def reference(train):
    """The uninterrupted run, without a checkpoint."""
    return train(checkpoint=False)


def _saved(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("every, saved_epochs", [(1, 3), (2, 2)])
def test_resume_after_an_interruption_equals_an_uninterrupted_run(
    train, path, reference, same_weights, every, saved_epochs
):
    with pytest.raises(Interrupted):
        train(interrupt_at=4, every=every)  # dies at the end of epoch 4, before its checkpoint
    assert len(_saved(path)["history"]["epochs"]) == saved_epochs and not _saved(path)["finished"]
    model, history, trained = train(every=every)
    assert trained == EPOCHS - saved_epochs  # resumed, not started over
    assert history.epochs == reference[1].epochs and history.best_epoch == reference[1].best_epoch
    assert same_weights(model, reference[0])


def test_checkpoints_are_written_at_most_every_min_seconds_and_at_the_end(x, path, monkeypatch):
    saves = []
    real_save = torch.save
    monkeypatch.setattr(trainer_module.torch, "save", lambda obj, f: saves.append(obj["finished"]) or real_save(obj, f))
    model = nn.Linear(6, 6)
    def loss(batch, generator):
        return nn.functional.mse_loss(model(batch[0]), batch[0])
    Trainer(TrainSettings(epochs=EPOCHS, batch_size=16), [Checkpoint(path, every=1, min_seconds=3600)]).fit(model, loss, (x,))
    assert saves == [True]  # no epoch is an hour after the start: only the phase's end
    saves.clear()
    Trainer(TrainSettings(epochs=EPOCHS, batch_size=16), [Checkpoint(path.with_name("b.pt"), every=2)]).fit(model, loss, (x,))
    assert saves == [False] * (EPOCHS // 2) + [True]  # min_seconds 0: every 2nd epoch


def test_a_phase_interrupted_while_annealing_resumes_to_the_same_result(train, path, same_weights):
    # the cap (6) is 3 epochs away after epoch 3: epochs 4 to 6 anneal; it dies at the end of epoch 4
    reference_model, reference_history, _ = train(checkpoint=False, anneal=3)
    with pytest.raises(Interrupted):
        train(interrupt_at=4, anneal=3)
    saved = next(v for k, v in _saved(path)["callbacks"].items() if k.endswith("EarlyStopping"))
    assert saved["annealing"][0] == 3  # saved mid-anneal (after epoch 3, the anneal begun)
    model, history, trained = train(anneal=3)
    assert trained == EPOCHS - 3
    assert history.epochs == reference_history.epochs and same_weights(model, reference_model)


@pytest.mark.parametrize("options", [{}, {"patience": 1, "learning_rate": 0.1}], ids=["all-epochs", "stopped-early"])
def test_a_finished_phase_is_loaded_without_training(train, same_weights, options):
    reference, reference_history, _ = train(checkpoint=False, **options)
    assert reference_history.stopped_early == bool(options)
    train(**options)
    model, history, trained = train(interrupt_at=1, **options)  # would raise if it trained epoch 1
    assert trained == 0  # not even the epochs an early stop left out
    assert history.epochs == reference_history.epochs and history.stopped_early == reference_history.stopped_early
    assert same_weights(model, reference)


@pytest.mark.parametrize(
    "change",
    [{"seed_weights": 5}, {"learning_rate": 0.02}, {"data": torch.rand(64, 6, generator=torch.Generator().manual_seed(9))}],
    ids=["initial-weights", "settings", "data"],
)
def test_a_checkpoint_of_another_configuration_or_data_is_ignored(train, same_weights, caplog, change):
    train()
    with caplog.at_level(logging.WARNING, logger=trainer_module.__name__):
        model, history, trained = train(**change)
    assert "belongs to another configuration or data" in caplog.text
    assert trained == EPOCHS
    fresh, fresh_history, _ = train(checkpoint=False, **change)
    assert same_weights(model, fresh) and history.epochs == fresh_history.epochs


def _garbage(path, plant_pickle):
    path.write_bytes(b"\x00not a checkpoint" * 10)


def _torn(path, plant_pickle):
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def _not_a_dict(path, plant_pickle):
    torch.save(torch.zeros(3), path)


def _pickle(path, plant_pickle):
    return plant_pickle(path)


@pytest.mark.parametrize("spoil", [_garbage, _torn, _not_a_dict, _pickle], ids=lambda f: f.__name__.strip("_"))
def test_an_unreadable_checkpoint_is_ignored_with_a_warning(
    train, path, reference, same_weights, caplog, plant_pickle, spoil
):
    train()
    marker = spoil(path, plant_pickle)
    with caplog.at_level(logging.WARNING, logger=trainer_module.__name__):
        model, history, trained = train()
    assert f"{path} cannot be read" in caplog.text
    assert trained == EPOCHS and same_weights(model, reference[0])
    if marker is not None:
        assert not marker.exists()  # nothing was unpickled


def test_the_checkpoint_is_plain_tensors_written_atomically(train, path, same_weights):
    model, history, _ = train()
    saved = _saved(path)  # weights_only: would raise on anything but tensors and containers
    assert saved["finished"] and len(saved["history"]["epochs"]) == EPOCHS
    assert same_weights(saved["model"], model)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
