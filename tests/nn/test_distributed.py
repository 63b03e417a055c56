"""Data-parallel training: DDP over 2 CPU processes (gloo) equals one process with the batch
doubled (gradients are averaged over the union of the ranks' shards)."""

import torch
from torch import nn

from autoencoder_pipelines.nn.distributed import shard
from autoencoder_pipelines.nn.training import TrainSettings, fit


def _train(world_size: int, batch_size: int):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    loss = lambda batch, gen: nn.functional.mse_loss(model(batch[0]), batch[1])
    evaluate = lambda: {"val_loss": nn.functional.mse_loss(model(x), y).item()}
    settings = TrainSettings(epochs=3, batch_size=batch_size, learning_rate=0.05, log_every=0, world_size=world_size)
    history = fit(model, loss, (x, y), settings, evaluate, name="ddp")
    return model, history


def test_two_ranks_equal_one_process_with_twice_the_batch():
    single, single_history = _train(world_size=1, batch_size=32)
    parallel, parallel_history = _train(world_size=2, batch_size=16)
    for a, b in zip(single.state_dict().values(), parallel.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)
    assert [round(e["val_loss"], 4) for e in parallel_history.epochs] == [round(e["val_loss"], 4) for e in single_history.epochs]


def test_shards_cover_every_row_with_equal_lengths():
    order = torch.randperm(11)
    parts = [shard(order, rank, 3) for rank in range(3)]
    assert {p.numel() for p in parts} == {4}
    assert set(torch.cat(parts).tolist()) == set(range(11))


def test_every_rank_acts_on_rank_zero_validation_figures():
    # rank 1 alone sees a non-finite validation loss: deciding alone, it would stop with
    # TrainingDivergedError and take the run down; acting on rank 0's figures, both go on
    import torch.distributed as dist

    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    model = nn.Linear(4, 1)
    loss = lambda batch, gen: model(batch[0]).pow(2).mean()
    evaluate = lambda: {"val_loss": float("nan") if dist.get_rank() == 1 else 1.0}
    settings = TrainSettings(epochs=2, batch_size=16, log_every=0, world_size=2)
    history = fit(model, loss, (x,), settings, evaluate, name="ddp")
    assert [epoch["val_loss"] for epoch in history.epochs] == [1.0, 1.0]
