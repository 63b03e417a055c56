"""Data-parallel pieces that need no process group: the shard of each rank, the loss module
DDP wraps, and what torchrun's environment says about this process."""

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn import launch
from autoencoder_pipelines.nn.distributed import (
    Objective,
    is_worker,
    local_device,
    shard,
)

TORCHRUN = {"TORCHELASTIC_RUN_ID": "job-1", "WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "1"}


@pytest.mark.parametrize("n_rows, world_size, per_rank", [(11, 3, 4), (12, 3, 4), (5, 2, 3), (2, 4, 1)])
def test_shards_cover_every_row_with_equal_counts(n_rows, world_size, per_rank):
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(0))
    parts = [shard(order, rank, world_size) for rank in range(world_size)]
    assert [p.numel() for p in parts] == [per_rank] * world_size  # padded: every rank runs as many batches
    assert set(torch.cat(parts).tolist()) == set(range(n_rows))
    if n_rows % world_size == 0:  # nothing to pad: every row exactly once
        assert sorted(torch.cat(parts).tolist()) == list(range(n_rows))


def test_shards_follow_the_shared_order():
    order = torch.tensor([7, 3, 9, 1, 5, 0])
    assert [shard(order, rank, 2).tolist() for rank in range(2)] == [[7, 9, 5], [3, 1, 0]]


def test_the_objective_module_is_the_batch_loss_over_the_models_parameters():
    model = nn.Linear(3, 1)
    objective = Objective(model, lambda batch, generator: model(batch[0]).sum() * 2)
    x = torch.rand(4, 3)
    assert list(objective.parameters()) == list(model.parameters())  # what DDP syncs
    assert torch.equal(objective((x,), None), model(x).sum() * 2)


def test_without_a_process_group_this_is_not_a_worker():
    assert not is_worker()


@pytest.fixture
def torchrun(monkeypatch):
    """`torchrun(on)`: the environment of rank 2 of 4 under torchrun, or of a plain process."""

    def set_environment(on: bool) -> None:
        for key, value in TORCHRUN.items():
            if on:
                monkeypatch.setenv(key, value)
            else:
                monkeypatch.delenv(key, raising=False)

    return set_environment


@pytest.mark.parametrize("on", [True, False])
def test_launch_reads_torchruns_environment(torchrun, on):
    torchrun(on)
    assert launch.launched_by_torchrun() == on
    assert launch.torchrun_world_size() == (4 if on else 1)
    assert launch.is_rank_zero() == (not on)


def test_rank_zero_under_torchrun(torchrun, monkeypatch):
    torchrun(True)
    monkeypatch.setenv("RANK", "0")
    assert launch.is_rank_zero()


def test_a_world_size_without_torchrun_is_ignored(torchrun, monkeypatch):
    torchrun(False)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "3")
    assert launch.torchrun_world_size() == 1 and launch.is_rank_zero()


@pytest.mark.parametrize(
    "on, device, expected", [(True, "cuda", "cuda:1"), (False, "cuda", "cuda"), (True, "cpu", "cpu")]
)
def test_each_torchrun_process_takes_the_gpu_of_its_local_rank(torchrun, on, device, expected):
    torchrun(on)
    assert local_device(torch.device(device)) == torch.device(expected)
