"""The Trainer's loop and its callbacks (early stopping, NaN guard, LR schedule, mixed
precision, gradient clipping, progress)."""

import logging
import math

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn import trainer as trainer_module
from autoencoder_pipelines.nn.trainer import (
    Callback,
    EarlyStopping,
    LRSchedule,
    Progress,
    Trainer,
    TrainingDivergedError,
    TrainSettings,
)


def test_fit_reduces_the_loss_and_records_every_epoch(fit_regression):
    model, history = fit_regression()
    series = history.series()
    assert history.name == "regression" and len(history.epochs) == 30
    assert set(series) == {"train_loss", "val_loss"}
    assert series["val_loss"][-1] < 0.01 * series["val_loss"][0]
    assert series["train_loss"][-1] < 0.01 * series["train_loss"][0]
    assert not model.training  # left in eval mode
    assert history.best_epoch == -1 and not history.stopped_early  # no early stopping asked for


def test_the_same_seed_gives_the_same_weights_and_another_seed_other_weights(fit_regression, same_weights):
    first, _ = fit_regression(epochs=3, seed=7)
    again, _ = fit_regression(epochs=3, seed=7)
    other, _ = fit_regression(epochs=3, seed=8)  # same initial weights, another batch order
    assert same_weights(first, again)
    assert not same_weights(first, other)


def test_a_phase_draws_from_its_own_seed_and_leaves_the_global_generator_as_it_was(fit_regression, same_weights):
    def run(global_seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))  # dropout: global draws
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        fit_regression(model, epochs=2)
        assert torch.equal(torch.get_rng_state(), before)
        return model

    assert same_weights(run(1), run(2))


def test_early_stopping_restores_the_best_weights(fit_regression, recorder, same_weights):
    # a learning rate this high diverges after a good start, so the best epoch is early
    model, history = fit_regression(callbacks=[EarlyStopping(patience=3), recorder], epochs=40, learning_rate=2.0)
    losses = history.series()["val_loss"]
    best = min(range(len(losses)), key=losses.__getitem__) + 1
    assert history.stopped_early and history.best_epoch == best
    assert len(losses) == best + 3  # stopped after `patience` epochs without improvement
    assert same_weights(model, recorder.weights[best])


class Scripted(Callback):
    """Replaces the validation loss by a scripted sequence (before EarlyStopping sees it)."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, state):
        state.record["val_loss"] = self.values[state.epoch - 1]


@pytest.mark.parametrize(
    "min_delta, best_epoch, epochs_run",
    [
        (0.0, 5, 6),  # every step down counts: the last improvement is epoch 5
        (0.05, 1, 3),  # steps of 0.02 are no improvement: best stays epoch 1, stop at 1 + patience
        (0.015, 5, 6),  # steps of 0.02 do count
    ],
)
def test_early_stopping_counts_only_improvements_larger_than_min_delta(
    fit_regression, recorder, same_weights, min_delta, best_epoch, epochs_run
):
    values = [1.0, 0.98, 0.96, 0.94, 0.92, 0.92]
    model, history = fit_regression(
        callbacks=[Scripted(values), EarlyStopping(patience=2, min_delta=min_delta), recorder], epochs=6
    )
    assert history.best_epoch == best_epoch and len(history.epochs) == epochs_run
    assert history.stopped_early == (epochs_run < 6)
    assert same_weights(model, recorder.weights[best_epoch])


def test_annealing_on_a_plateau_ends_the_phase_annealed_and_keeps_its_best_epoch(fit_regression, recorder, same_weights):
    # improvements until epoch 3, then a plateau: patience 2 runs out after epoch 5; the rate then
    # follows a cosine to 0 over 3 more epochs (6, 7, 8), during which any improvement counts
    values = [1.0, 0.9, 0.8, 0.8, 0.8, 0.85, 0.79, 0.795, 0.7, 0.7]
    model, history = fit_regression(
        callbacks=[Scripted(values), EarlyStopping(patience=2, min_delta=0.01, anneal=3), recorder],
        epochs=10, batch_size=256, learning_rate=0.1,
    )
    anneal = [0.1 * (1 + math.cos(math.pi * k / 4)) / 2 for k in (1, 2, 3)]
    assert recorder.rates == pytest.approx([0.1] * 5 + anneal)  # one step an epoch
    assert len(history.epochs) == 8 and history.stopped_early
    assert history.best_epoch == 7  # 0.79 during the anneal beats 0.8, though by less than min_delta
    assert same_weights(model, recorder.weights[7])


def test_annealing_begins_so_that_it_ends_at_the_epoch_cap(fit_regression, recorder):
    model, history = fit_regression(
        callbacks=[EarlyStopping(patience=50, anneal=4), recorder], epochs=6, batch_size=256, learning_rate=0.1)
    anneal = [0.1 * (1 + math.cos(math.pi * k / 5)) / 2 for k in (1, 2, 3, 4)]
    assert recorder.rates == pytest.approx([0.1] * 2 + anneal)  # epochs 3 to 6 anneal
    assert len(history.epochs) == 6 and not history.stopped_early


def test_a_non_finite_loss_names_phase_and_epoch_and_keeps_the_last_good_weights(regression, recorder, same_weights):
    x, y = regression
    model = nn.Linear(4, 1)
    calls = {"n": 0}

    def loss(batch, generator):
        calls["n"] += 1
        value = nn.functional.mse_loss(model(batch[0]), batch[1])
        return value * math.nan if calls["n"] > 16 else value  # epoch 3 of 8 batches each

    trainer = Trainer(TrainSettings(epochs=5, batch_size=32, learning_rate=0.01), [recorder])
    with pytest.raises(TrainingDivergedError, match="layer_2: loss became non-finite at epoch 3 .*restored to epoch 2"):
        trainer.fit(model, loss, (x, y), name="layer_2")
    assert len(recorder.weights) == 3  # before training, after epochs 1 and 2
    assert same_weights(model, recorder.weights[2])


def test_gradients_are_clipped_to_the_configured_norm(fit_regression, recorder):
    fit_regression(callbacks=[recorder], epochs=2, grad_clip=0.5)
    assert len(recorder.grad_norms) == 2 * 8
    assert max(recorder.grad_norms) <= 0.5 * (1 + 1e-5)
    unclipped = type(recorder)()
    fit_regression(callbacks=[unclipped], epochs=2)
    assert max(unclipped.grad_norms) > 0.5  # so the bound above is the clip's doing


def test_the_cosine_schedule_anneals_the_learning_rate_to_zero(fit_regression, recorder):
    schedule = LRSchedule(4)
    fit_regression(callbacks=[schedule, recorder], epochs=4, batch_size=256, learning_rate=0.1)
    cosine = [0.1 * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(4)]
    assert recorder.rates == pytest.approx(cosine)  # one step an epoch, each at its epoch's rate
    assert schedule.scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("precision", [torch.bfloat16, torch.float16])
def test_mixed_precision_trains_on_cpu_and_scales_gradients_only_for_fp16(fit_regression, monkeypatch, precision):
    scalers = []

    class RecordingScaler(torch.amp.GradScaler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            scalers.append(self)

    monkeypatch.setattr(trainer_module.torch.amp, "GradScaler", RecordingScaler)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    seen = []
    model.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype) if module.training else None)
    _, history = fit_regression(model, epochs=15, learning_rate=0.01, precision=precision)
    assert set(seen) == {precision}  # the training forward really ran in reduced precision
    assert history.series()["val_loss"][-1] < 0.2 * history.series()["val_loss"][0]
    # a loss scaler only where it does something (fp16); bf16 has fp32's exponent range
    assert [scaler.is_enabled() for scaler in scalers] == ([True] if precision == torch.float16 else [])


def test_full_precision_does_not_autocast_or_scale(fit_regression, monkeypatch):
    enabled = []
    real = torch.amp.GradScaler
    monkeypatch.setattr(
        trainer_module.torch.amp, "GradScaler", lambda *a, **k: enabled.append(k.get("enabled", True)) or real(*a, **k)
    )
    model = nn.Linear(4, 1)
    seen = []
    model.register_forward_hook(lambda module, inputs, output: seen.append(torch.is_autocast_enabled("cpu")))
    fit_regression(model, epochs=1)
    assert enabled == [] and seen and not any(seen)  # no scaler made, no forward autocast


def test_progress_logs_every_few_epochs_and_a_summary_off_a_terminal(fit_regression, caplog, monkeypatch):
    monkeypatch.setattr(trainer_module.sys.stderr, "isatty", lambda: False)
    with caplog.at_level(logging.INFO, logger=trainer_module.__name__):
        fit_regression(callbacks=[Progress(log_every=2)], epochs=5)
    lines = [record.getMessage() for record in caplog.records]
    epochs = [line.split()[2] for line in lines if line.startswith("regression epoch ")]
    assert epochs == ["2/5", "4/5", "5/5"]  # every 2nd and the last
    assert all("train_loss=" in line and "val_loss=" in line for line in lines if line.startswith("regression epoch"))
    assert any(line.startswith("regression: 5 epochs in") for line in lines)


def test_progress_is_a_bar_on_a_terminal(fit_regression, caplog, monkeypatch):
    import tqdm.auto

    bars, real_tqdm = [], tqdm.auto.tqdm
    monkeypatch.setattr(trainer_module.sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kwargs: bars.append(kwargs) or real_tqdm(**kwargs))
    with caplog.at_level(logging.INFO, logger=trainer_module.__name__):
        fit_regression(callbacks=[Progress(log_every=2)], epochs=4)
    assert [(bar["total"], bar["desc"]) for bar in bars] == [(4, "regression")]
    assert not any(" epoch " in record.getMessage() for record in caplog.records)  # the bar, not log lines


@pytest.mark.parametrize("compile", [True, False])
def test_compile_wraps_the_batch_loss(fit_regression, monkeypatch, compile):
    compiled_calls = []

    def fake_compile(function):  # torch.compile's contract (same results), without the compiler
        return lambda *args: compiled_calls.append(1) or function(*args)

    monkeypatch.setattr(trainer_module.torch, "compile", fake_compile)
    fit_regression(epochs=2, compile=compile)
    assert len(compiled_calls) == (2 * 8 if compile else 0)


def test_the_loss_gets_every_row_once_an_epoch_in_shuffled_aligned_slices():
    x = torch.arange(250, dtype=torch.float32).unsqueeze(1)
    y = 2 * x
    model = nn.Linear(1, 1)
    seen = []

    def loss(batch, generator):
        seen.append(batch)
        return nn.functional.mse_loss(model(batch[0]), batch[1])

    Trainer(TrainSettings(epochs=2, batch_size=100)).fit(model, loss, (x, y))
    assert [b[0].shape[0] for b in seen] == [100, 100, 50] * 2  # the last batch is what is left
    orders = [torch.cat([b[0] for b in seen[e : e + 3]]).squeeze(1) for e in (0, 3)]
    for order in orders:
        assert torch.equal(order.sort().values, x.squeeze(1))  # every row once
        assert not torch.equal(order, x.squeeze(1))  # shuffled
    assert not torch.equal(orders[0], orders[1])  # afresh every epoch
    assert all(torch.equal(2 * xb, yb) for xb, yb in seen)  # rows of x and y stay paired


class StepAfterStep(Callback):
    """An objective's callback: after every optimizer step, sees the step's batch and the
    weights that step produced; adds an epoch figure of its own to the record."""

    def __init__(self, figure=1.0):
        self.figure, self.batches, self.weights, self.order = figure, [], [], []

    def on_batch_end(self, state, batch, generator):
        self.batches.append(batch)
        self.weights.append(state.model.weight.detach().clone())
        self.generator = generator

    def on_epoch_end(self, state):
        self.order.append(sorted(state.record))
        state.record["extra_figure"] = self.figure


def test_objective_callbacks_run_after_every_step_and_their_figures_are_recorded():
    x = torch.arange(250, dtype=torch.float32).unsqueeze(1) / 250
    model, seen = nn.Linear(1, 1), []

    def loss(batch, generator):
        seen.append(batch)
        return nn.functional.mse_loss(model(batch[0]), 2 * batch[0])

    objective = StepAfterStep()
    weights_before_steps = []
    recorder = Callback()
    recorder.on_fit_start = lambda state: state.optimizer.register_step_pre_hook(
        lambda *args: weights_before_steps.append(model.weight.detach().clone()))
    history = Trainer(TrainSettings(epochs=2, batch_size=100), [recorder]).fit(
        model, loss, (x,), name="phase", callbacks=[objective])
    assert len(objective.batches) == len(seen) == 6  # once per optimizer step, with that step's batch
    assert all(torch.equal(a[0], b[0]) for a, b in zip(objective.batches, seen, strict=True))
    # called after the step: the weights it sees are the next step's starting weights
    assert all(torch.equal(a, b) for a, b in zip(objective.weights, weights_before_steps[1:], strict=False))
    assert isinstance(objective.generator, torch.Generator)
    # its figure reaches the history (it runs before MetricHistory), next to the loss
    assert history.series()["extra_figure"] == [1.0, 1.0]
    assert objective.order == [["train_loss"], ["train_loss"]]


def test_a_non_finite_figure_of_an_objective_callback_stops_the_phase():
    x = torch.rand(64, 1)
    model = nn.Linear(1, 1)
    with pytest.raises(TrainingDivergedError, match="phase: loss became non-finite at epoch 1"):
        Trainer(TrainSettings(epochs=3, batch_size=32)).fit(
            model, lambda batch, g: model(batch[0]).pow(2).mean(), (x,), name="phase",
            callbacks=[StepAfterStep(figure=math.nan)])


def test_callbacks_without_a_batch_hook_are_not_called_per_batch(fit_regression, monkeypatch):
    calls = []
    monkeypatch.setattr(Callback, "on_batch_end", lambda *args: calls.append(args))
    fit_regression(epochs=1, callbacks=[Callback()])
    assert calls == []  # the base no-op is skipped, not called 8 times


def test_a_phase_reads_from_the_device_once_an_epoch_whatever_its_number_of_steps(tmp_path, monkeypatch):
    """No host sync per step: what a phase reads back (item, tolist, float, bool, cpu, numpy)
    with every callback a pipeline phase gets is the same for 2 steps an epoch as for 16. On a
    GPU each read waits for the queue to drain (tests/test_cuda.py checks that there)."""
    from autoencoder_pipelines.nn.trainer import Checkpoint

    reads = []
    for method in ("item", "tolist", "__float__", "__bool__", "cpu", "numpy"):
        real = getattr(torch.Tensor, method)
        monkeypatch.setattr(torch.Tensor, method,
                            lambda self, *a, _real=real, _name=method, **k: reads.append(_name) or _real(self, *a, **k))

    def reads_of(n_rows):
        x = torch.rand(n_rows, 4, generator=torch.Generator().manual_seed(0))
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
        def loss(batch, generator):
            return nn.functional.mse_loss(model(batch[0]), batch[0])
        def evaluate():
            return {"val_loss": nn.functional.mse_loss(model(x), x).item()}
        callbacks = [EarlyStopping(patience=5), LRSchedule(3), Progress(log_every=1), Checkpoint(tmp_path / f"{n_rows}.pt")]
        reads.clear()
        Trainer(TrainSettings(epochs=3, batch_size=16), callbacks).fit(model, loss, (x,), evaluate, name="phase")
        return sorted(reads)

    few, many = reads_of(32), reads_of(256)
    assert few == many  # per epoch, not per step
    assert few.count("item") == 2 * 3  # the training loss and the validation loss, once an epoch each


def test_a_captured_step_is_replayed_for_batches_of_its_size_and_others_run_as_they_are(monkeypatch):
    """CudaGraphStep's bookkeeping, with torch.cuda's graph API replaced by fakes that run the
    captured function again at each replay (a real replay reruns the recorded kernels, writing
    the same static output); tests/test_cuda.py trains with real graphs."""
    import contextlib

    from autoencoder_pipelines.nn.trainer import CudaGraphStep

    events, capturing = [], {"now": False}
    output = torch.zeros(())

    def step(batch, generator):
        events.append(("capture" if capturing["now"] else "eager", batch[0][:, 0].tolist()))
        return output.copy_(batch[0].sum())

    class FakeGraph:
        def register_generator_state(self, generator):
            events.append(("registered", generator is noise))

        def replay(self):
            events.append(("replay", graphed.inputs[0][:, 0].tolist()))
            output.copy_(graphed.inputs[0].sum())

    @contextlib.contextmanager
    def fake_graph(graph):
        capturing["now"] = True
        yield
        capturing["now"] = False

    stream = type("Stream", (), {"wait_stream": lambda self, other: None})
    monkeypatch.setattr(torch.cuda, "Stream", stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", fake_graph)
    noise = torch.Generator()
    graphed = CudaGraphStep(step, noise, warmup=2)
    batches = [torch.full((4, 1), float(i)) for i in range(5)] + [torch.full((2, 1), 9.0), torch.full((4, 1), 7.0)]
    losses = [graphed((b,), noise).item() for b in batches]
    assert events == [
        ("eager", [0.0] * 4), ("eager", [1.0] * 4),  # warm-up
        ("registered", True), ("capture", [2.0] * 4), ("replay", [2.0] * 4),  # captured, then replayed for its own batch
        ("replay", [3.0] * 4), ("replay", [4.0] * 4),
        ("eager", [9.0] * 2),  # another size: as it is
        ("replay", [7.0] * 4),
    ]
    assert losses == [float(b.sum()) for b in batches]  # each step's own loss


def test_steps_are_captured_only_where_a_graph_can_hold_them():
    from autoencoder_pipelines.nn.trainer import use_cuda_graphs

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    asked = TrainSettings(epochs=1, cuda_graphs=True)
    assert use_cuda_graphs(asked, cuda, 1, [])
    assert not use_cuda_graphs(TrainSettings(epochs=1), cuda, 1, [])  # not asked for
    assert not use_cuda_graphs(asked, cpu, 1, [])
    assert not use_cuda_graphs(asked, cuda, 2, [])  # DDP
    assert not use_cuda_graphs(TrainSettings(epochs=1, cuda_graphs=True, precision=torch.float16), cuda, 1, [])
    assert not use_cuda_graphs(TrainSettings(epochs=1, cuda_graphs=True, compile=True), cuda, 1, [])
    assert not use_cuda_graphs(asked, cuda, 1, [StepAfterStep()])  # a per-batch callback runs between steps
    assert use_cuda_graphs(asked, cuda, 1, [EarlyStopping(3), Progress()])  # epoch-level callbacks are fine


def test_a_step_that_cannot_be_captured_runs_as_it_is_with_a_warning(monkeypatch, caplog):
    import contextlib

    from autoencoder_pipelines.nn.trainer import CudaGraphStep

    capturing, runs = {"now": False}, []

    def step(batch, generator):
        if capturing["now"]:
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
        runs.append(batch[0].shape[0])
        return batch[0].sum()

    @contextlib.contextmanager
    def fake_graph(graph):
        capturing["now"] = True
        try:
            yield
        finally:
            capturing["now"] = False

    stream = type("Stream", (), {"wait_stream": lambda self, other: None})
    monkeypatch.setattr(torch.cuda, "Stream", stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: type("G", (), {"register_generator_state": lambda self, g: None})())
    monkeypatch.setattr(torch.cuda, "graph", fake_graph)
    graphed = CudaGraphStep(step, torch.Generator(), warmup=1)
    with caplog.at_level(logging.WARNING, logger=trainer_module.__name__):
        losses = [graphed((torch.ones(4, 1) * i,), None).item() for i in range(4)]
    assert losses == [0.0, 4.0, 8.0, 12.0] and runs == [4, 4, 4, 4]  # every step ran, once
    assert graphed.graph is None
    assert "cannot be captured as a CUDA graph (operation not permitted when stream is capturing)" in caplog.text
