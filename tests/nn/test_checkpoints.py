"""A phase interrupted mid-training resumes from its checkpoint to the very same result."""

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.training import TrainSettings, fit


class Interrupted(Exception):
    pass


def _train(path, x, interrupt_at_batch=None, seed=0, epochs=6, lr_schedule="cosine"):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12), nn.Dropout(0.2), nn.ReLU(), nn.Linear(12, 6))
    spec = CorruptionSpec("masking", 0.3)
    calls = {"n": 0}

    def loss(batch, generator):
        calls["n"] += 1
        if interrupt_at_batch is not None and calls["n"] == interrupt_at_batch:
            raise Interrupted
        return nn.functional.mse_loss(model(corrupt(batch[0], spec, generator)), batch[0])

    evaluate = lambda: {"val_loss": nn.functional.mse_loss(model(x), x).item()}
    settings = TrainSettings(
        epochs=epochs, batch_size=16, learning_rate=0.01, patience=10, log_every=0, lr_schedule=lr_schedule,
        checkpoint_path=None if path is None else str(path),
    )
    history = fit(model, loss, (x,), settings, evaluate, name="phase")
    return model, history


@pytest.fixture
def x():
    return torch.rand(64, 6, generator=torch.Generator().manual_seed(1))


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, x):
    reference, reference_history = _train(None, x)
    path = tmp_path / "phase.pt"
    with pytest.raises(Interrupted):
        _train(path, x, interrupt_at_batch=4 * 3 + 2)  # 4 batches an epoch: dies in epoch 4
    assert path.exists()
    resumed, history = _train(path, x)
    assert [e["val_loss"] for e in history.epochs] == [e["val_loss"] for e in reference_history.epochs]
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_a_finished_phase_is_not_trained_again(tmp_path, x):
    path = tmp_path / "phase.pt"
    first, _ = _train(path, x)
    again, history = _train(path, x, interrupt_at_batch=1)  # would raise if it trained
    assert len(history.epochs) == 6
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_of_another_configuration_is_ignored(tmp_path, x):
    path = tmp_path / "phase.pt"
    _train(path, x, epochs=3)
    _, history = _train(path, x, seed=5)  # other initial weights: another fingerprint
    assert len(history.epochs) == 6


def test_checkpoints_are_written_atomically(tmp_path, x):
    path = tmp_path / "phase.pt"
    _train(path, x)
    assert [p.name for p in tmp_path.iterdir()] == ["phase.pt"]
