"""The Trainer each phase gets from the runtime: its batch (the device's rule, or what was set),
its learning rate (scaled to a GPU rule's batch), how it ends (early stopping, the schedules)
and its checkpoints. The CUDA rules are checked here without a GPU: a Runtime told its device."""

from __future__ import annotations

import pytest
import torch

from autoencoder_pipelines.config import FinetuneParams, PhaseParams, RuntimeParams
from autoencoder_pipelines.jobs.runtime import Runtime, resolve_runtime
from autoencoder_pipelines.nn.sizes import default_batch_size, scaled_learning_rate
from autoencoder_pipelines.nn.trainer import Checkpoint, EarlyStopping, LRSchedule


@pytest.mark.parametrize(
    "rows, cpu, cuda",
    [(10, 8, 8), (96, 9, 9), (300, 30, 30), (320, 32, 256), (1_257, 32, 256), (7_000, 175, 438),
     (42_000, 256, 2_625), (100_000, 256, 4_096)],
)
def test_the_batch_rule_follows_the_rows_and_the_device(rows, cpu, cuda):
    assert default_batch_size(rows) == default_batch_size(rows, "cpu") == cpu
    assert default_batch_size(rows, "mps") == cpu  # MPS is not launch-bound the way CUDA is: the CPU's rule
    assert default_batch_size(rows, "cuda") == cuda


def test_learning_rates_scale_with_the_batch_by_the_rule():
    assert scaled_learning_rate(0.003, 1024, 256, "sqrt") == pytest.approx(0.006)
    assert scaled_learning_rate(0.003, 1024, 256, "linear") == pytest.approx(0.012)
    assert scaled_learning_rate(0.003, 1024, 256, "none") == 0.003
    with pytest.raises(ValueError, match="expected one of none, sqrt, linear"):
        scaled_learning_rate(0.003, 1024, 256, "cubic")


def _trainer(device: str, phase: PhaseParams, rows: int = 42_000, **runtime):
    params = RuntimeParams(device="cpu", checkpoint_every=0, **runtime)
    return Runtime(params, device=torch.device(device)).trainer(phase, "phase", rows)


def test_a_gpu_phase_gets_the_gpu_batch_and_a_scaled_learning_rate():
    phase = PhaseParams(learning_rate=0.003)
    cpu, gpu = _trainer("cpu", phase), _trainer("cuda:0", phase)
    assert (cpu.settings.batch_size, cpu.settings.learning_rate) == (256, 0.003)
    assert gpu.settings.batch_size == 2_625
    assert gpu.settings.learning_rate == pytest.approx(0.003 * (2_625 / 256) ** 0.5)
    assert _trainer("cuda:0", phase, lr_scaling="linear").settings.learning_rate == pytest.approx(0.003 * 2_625 / 256)
    assert _trainer("cuda:0", phase, lr_scaling="none").settings.learning_rate == 0.003


@pytest.mark.parametrize("where", ["runtime", "phase"])
def test_a_batch_that_was_set_is_used_as_set_with_its_learning_rate(where):
    phase = PhaseParams(learning_rate=0.003, batch_size=512 if where == "phase" else None)
    trainer = _trainer("cuda:0", phase, **({"batch_size": 512} if where == "runtime" else {}))
    assert (trainer.settings.batch_size, trainer.settings.learning_rate) == (512, 0.003)


def test_anneal_on_plateau_is_early_stopping_that_anneals_and_no_other_schedule():
    trainer = _trainer("cpu", FinetuneParams())  # the default: anneal_on_plateau, patience 5, anneal 5
    (stopping,) = [c for c in trainer.callbacks if isinstance(c, EarlyStopping)]
    assert (stopping.patience, stopping.anneal) == (5, 5)
    assert not any(isinstance(c, LRSchedule) for c in trainer.callbacks)
    # without patience (a final fit on train + validation): no early stop, the cap's last epochs annealed
    final = _trainer("cpu", FinetuneParams(patience=None, train_on_validation=True, epochs=40, anneal_epochs=8))
    (stopping,) = [c for c in final.callbacks if isinstance(c, EarlyStopping)]
    assert (stopping.patience, stopping.anneal) == (40, 8)


def test_cosine_and_constant_phases_keep_their_schedules():
    cosine = _trainer("cpu", PhaseParams(lr_schedule="cosine", patience=10, epochs=50))
    assert [type(c) for c in cosine.callbacks if isinstance(c, (EarlyStopping, LRSchedule))] == [EarlyStopping, LRSchedule]
    assert next(c for c in cosine.callbacks if isinstance(c, EarlyStopping)).anneal == 0
    constant = _trainer("cpu", PhaseParams(lr_schedule="constant", patience=None))
    assert not any(isinstance(c, (EarlyStopping, LRSchedule)) for c in constant.callbacks)


def test_checkpoints_follow_the_runtime_settings(tmp_path):
    params = RuntimeParams(device="cpu", checkpoint_every=2, checkpoint_seconds=12.5)
    trainer = Runtime(params, checkpoints=tmp_path).trainer(PhaseParams(), "phase", 100)
    (checkpoint,) = [c for c in trainer.callbacks if isinstance(c, Checkpoint)]
    assert (checkpoint.path, checkpoint.every, checkpoint.min_seconds) == (tmp_path / "phase.pt", 2, 12.5)


def test_half_precision_on_the_cpu_is_said(caplog):
    with caplog.at_level("WARNING", logger="autoencoder_pipelines"):
        half = resolve_runtime(RuntimeParams(device="cpu", precision="bf16"))
        assert half.dtype == torch.bfloat16 and half.for_trial().dtype == torch.bfloat16  # a search's trials: no more
        assert resolve_runtime(RuntimeParams(device="cpu")).dtype == torch.float32
    assert caplog.text.count("runtime.precision is bf16 on the CPU") == 1
