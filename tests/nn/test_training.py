import math
from unittest.mock import patch

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn.training import TrainingDivergedError, TrainSettings, fit, predict_in_batches


def _regression(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return x, y


def _fit(model, x, y, **kwargs):
    loss = lambda batch, generator: nn.functional.mse_loss(model(batch[0]), batch[1])
    evaluate = lambda: {"val_loss": nn.functional.mse_loss(model(x), y).item()}
    settings = TrainSettings(**{"epochs": 30, "batch_size": 32, "learning_rate": 0.05, "log_every": 0, **kwargs})
    return fit(model, loss, (x, y), settings, evaluate, name="regression")


def test_fit_reduces_the_loss_and_records_every_epoch():
    x, y = _regression()
    torch.manual_seed(0)
    history = _fit(nn.Linear(4, 1), x, y)
    series = history.series()
    assert len(series["train_loss"]) == 30 and len(series["val_loss"]) == 30
    assert series["val_loss"][-1] < 0.01 * series["val_loss"][0]


def test_same_seed_same_result():
    x, y = _regression()
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        _fit(model, x, y, epochs=5)
        results.append(model.weight.detach().clone())
    assert torch.equal(results[0], results[1])


def test_early_stopping_restores_the_best_weights():
    x, y = _regression()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    # a learning rate this high diverges after a good start, so the best epoch is early
    history = _fit(model, x, y, epochs=40, learning_rate=0.5, patience=3)
    assert history.stopped_early
    best = min(history.series()["val_loss"])
    assert nn.functional.mse_loss(model(x), y).item() == pytest.approx(best, rel=1e-5)


def test_a_non_finite_loss_stops_with_phase_and_epoch_and_keeps_last_good_weights():
    x, y = _regression()
    model = nn.Linear(4, 1)
    calls = {"n": 0}

    def loss(batch, generator):
        calls["n"] += 1
        value = nn.functional.mse_loss(model(batch[0]), batch[1])
        return value * math.nan if calls["n"] > 16 else value  # epoch 3 of 8 batches

    settings = TrainSettings(epochs=5, batch_size=32, learning_rate=0.01, log_every=0)
    with pytest.raises(TrainingDivergedError, match="layer_2: loss became non-finite at epoch 3"):
        fit(model, loss, (x, y), settings, name="layer_2")
    assert torch.isfinite(model.weight).all()


def test_gradient_clipping_is_applied_with_the_configured_norm():
    x, y = _regression()
    model = nn.Linear(4, 1)
    with patch("autoencoder_pipelines.nn.training.nn.utils.clip_grad_norm_", wraps=nn.utils.clip_grad_norm_) as clip:
        _fit(model, x, y, epochs=1, batch_size=256, grad_clip=0.5)
    assert clip.call_count == 1 and clip.call_args.args[1] == 0.5
    with patch("autoencoder_pipelines.nn.training.nn.utils.clip_grad_norm_") as clip:
        _fit(nn.Linear(4, 1), x, y, epochs=1, batch_size=256)
    clip.assert_not_called()


@pytest.mark.parametrize("precision", [torch.bfloat16, torch.float16])
def test_mixed_precision_trains_on_cpu(precision):
    x, y = _regression()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    seen = []
    loss = lambda batch, generator: seen.append(model(batch[0]).dtype) or nn.functional.mse_loss(model(batch[0]).float(), batch[1])
    evaluate = lambda: {"val_loss": nn.functional.mse_loss(model(x), y).item()}
    settings = TrainSettings(epochs=20, batch_size=32, learning_rate=0.01, precision=precision, log_every=0)
    history = fit(model, loss, (x, y), settings, evaluate)
    assert set(seen) == {precision}  # the forward really ran in reduced precision
    assert history.series()["val_loss"][-1] < 0.2 * history.series()["val_loss"][0]


def test_fp16_uses_gradient_scaling():
    x, y = _regression()
    with patch("autoencoder_pipelines.nn.training.torch.amp.GradScaler", wraps=torch.amp.GradScaler) as scaler:
        _fit(nn.Linear(4, 1), x, y, epochs=1, precision=torch.float16)
    scaler.assert_called_once()
    with patch("autoencoder_pipelines.nn.training.torch.amp.GradScaler") as scaler:
        _fit(nn.Linear(4, 1), x, y, epochs=1, precision=torch.bfloat16)
    scaler.assert_not_called()


def test_torch_compile_trains_on_cpu():
    x, y = _regression()
    torch.manual_seed(0)
    with patch("autoencoder_pipelines.nn.training.torch.compile", wraps=torch.compile) as compile_:
        history = _fit(nn.Linear(4, 1), x, y, epochs=3, compile=True)
    compile_.assert_called_once()
    assert history.series()["val_loss"][-1] < history.series()["val_loss"][0]


def test_predict_in_batches_matches_one_pass():
    x = torch.randn(1000, 3)
    assert torch.allclose(predict_in_batches(lambda b: b * 2, x, batch_size=64), x * 2)


def test_cosine_schedule_anneals_the_learning_rate_to_zero():
    x, y = _regression()
    model = nn.Linear(4, 1)
    rates = []
    real_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    with patch.object(torch.optim.Adam, "step", spy):
        _fit(model, x, y, epochs=4, batch_size=256, learning_rate=0.1, lr_schedule="cosine")
    assert rates == pytest.approx([0.1, 0.1 * (1 + math.cos(math.pi / 4)) / 2, 0.05, 0.1 * (1 + math.cos(3 * math.pi / 4)) / 2])


def test_progress_is_plain_log_lines_off_a_terminal_and_a_bar_on_one(caplog):
    import logging

    from autoencoder_pipelines.nn import training

    x, y = _regression()
    with caplog.at_level(logging.INFO, logger="autoencoder_pipelines.nn.training"):
        _fit(nn.Linear(4, 1), x, y, epochs=4, log_every=2)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("regression epoch 2/4 train_loss=") and "val_loss=" in line for line in lines)
    assert any(line.startswith("regression: 4 epochs in") for line in lines)

    caplog.clear()
    with patch.object(training, "_interactive", return_value=True), patch.object(training, "tqdm", wraps=training.tqdm) as bar:
        with caplog.at_level(logging.INFO, logger="autoencoder_pipelines.nn.training"):
            _fit(nn.Linear(4, 1), x, y, epochs=4, log_every=2)
    assert bar.call_args.kwargs["disable"] is False and bar.call_args.kwargs["total"] == 4
    assert not any("epoch 2/4" in r.getMessage() for r in caplog.records)
