"""The GPU path, run by scripts/gpu_check.sh on a machine with CUDA: training in fp32, bf16 and
fp16 on the GPU, and a tiny `kedro run --env gpu` whose scoring model then scores on the CPU.
Marked `cuda`: skipped without a GPU (conftest), failed instead with AEP_REQUIRE_CUDA=1."""

from __future__ import annotations

import math

import pytest
import torch

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_the_trainer_learns_on_the_gpu_in_every_precision(precision):
    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.device import resolve_precision
    from autoencoder_pipelines.nn.finetuning import fine_tune
    from autoencoder_pipelines.nn.networks import StackedAutoencoder
    from autoencoder_pipelines.nn.trainer import Trainer, TrainSettings

    device = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.rand(4096, 64, device=device)
    stack = StackedAutoencoder.build(64, [128, 16], "relu", "sigmoid").to(device)
    trainer = Trainer(TrainSettings(epochs=4, batch_size=256, learning_rate=3e-3, precision=resolve_precision(precision)))
    stack, history = fine_tune(stack, x, x[:512], trainer, f"gpu_{precision}", "bce", CorruptionSpec("masking", 0.25))
    losses = [epoch["train_loss"] for epoch in history.epochs]
    assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
    assert next(stack.parameters()).device.type == "cuda"


def test_a_gpu_training_run_registers_a_model_that_scores_on_the_cpu(make_project, tiny, tmp_path):
    import pandas as pd
    from sklearn.datasets import load_digits

    tiny["runtime"].update({"device": "cuda", "precision": "bf16"})
    project = make_project(tiny)
    project.run("denoise")
    assert project.metrics()["finetune.test_accuracy"] > 0.1
    project.promote(1)
    inbox = project.path("data/01_raw/incoming")
    inbox.mkdir(parents=True)
    load_digits(as_frame=True).frame.drop(columns=["target"]).iloc[:64].to_csv(inbox / "day1.csv", index=False)
    project.run("score")  # the scorer is loaded on the CPU whatever the training device
    assert len(pd.read_parquet(project.path("data/07_model_output/scored/day1.csv.parquet"))) == 64


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_a_phase_on_the_gpu_syncs_with_the_host_once_an_epoch_not_once_a_step(tmp_path, precision):
    """torch.cuda.set_sync_debug_mode("warn") names every host sync: a phase with every callback
    a pipeline phase gets syncs as often with 4 steps an epoch as with 32 (the epoch's figures)."""
    import warnings

    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.device import resolve_precision
    from autoencoder_pipelines.nn.finetuning import fine_tune
    from autoencoder_pipelines.nn.networks import StackedAutoencoder
    from autoencoder_pipelines.nn.trainer import (
        Checkpoint,
        EarlyStopping,
        LRSchedule,
        Progress,
        Trainer,
        TrainSettings,
    )

    device = torch.device("cuda")

    def syncs(n_rows: int) -> int:
        torch.manual_seed(0)
        x = torch.rand(n_rows, 64, device=device)
        stack = StackedAutoencoder.build(64, [32, 16], "relu", "sigmoid").to(device)
        callbacks = [EarlyStopping(5), LRSchedule(3), Progress(1), Checkpoint(tmp_path / f"{precision}{n_rows}.pt")]
        settings = TrainSettings(epochs=3, batch_size=64, precision=resolve_precision(precision), grad_clip=1.0)
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                fine_tune(stack, x, x[:64], Trainer(settings, callbacks), "sync", "bce", CorruptionSpec("masking", 0.25))
            finally:
                torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    few, many = syncs(4 * 64), syncs(32 * 64)
    print(f"{precision}: {few} host syncs at 4 steps an epoch, {many} at 32 (3 epochs)")
    assert many == few


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_captured_step_trains_as_the_eager_step_does(precision):
    """runtime.cuda_graphs: the whole step replayed from a CUDA graph learns what the eager step
    learns, the annealed rate reaching the replays (a rate baked into the graph would not anneal),
    and an epoch's last, smaller batch runs eagerly beside the replays."""
    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.device import resolve_precision
    from autoencoder_pipelines.nn.finetuning import fine_tune
    from autoencoder_pipelines.nn.networks import StackedAutoencoder
    from autoencoder_pipelines.nn.trainer import EarlyStopping, Trainer, TrainSettings

    device = torch.device("cuda")
    x = torch.rand(4096 + 100, 64, generator=torch.Generator().manual_seed(0)).to(device)

    def run(graphs: bool):
        torch.manual_seed(0)
        stack = StackedAutoencoder.build(64, [128, 16], "relu", "sigmoid").to(device)
        settings = TrainSettings(epochs=6, batch_size=256, learning_rate=3e-3, precision=resolve_precision(precision),
                                 grad_clip=1.0, cuda_graphs=graphs)
        _, history = fine_tune(stack, x, x[:512], Trainer(settings, [EarlyStopping(10, anneal=3)]), "g", "bce",
                               CorruptionSpec("masking", 0.25))
        return [epoch["val_loss"] for epoch in history.epochs]

    eager, graphed = run(False), run(True)
    print(f"{precision}: val loss eager {eager}, graphed {graphed}")
    assert graphed[-1] < graphed[0]
    assert graphed == pytest.approx(eager, rel=0.02)
