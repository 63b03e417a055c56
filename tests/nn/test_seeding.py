"""Seeds derived from the run's seed and a stream's name; seeded blocks."""

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn.seeding import derive_seed, seeded

NAMES = ["split", "init.pretrain", "train.pretrain.layer_1", "train.pretrain.layer_2", "noise.0", "noise.1"]


def test_derived_seeds_are_deterministic_distinct_and_in_range():
    seeds = [derive_seed(seed, name) for seed in range(20) for name in NAMES]
    assert seeds == [derive_seed(seed, name) for seed in range(20) for name in NAMES]
    assert len(set(seeds)) == len(seeds)  # per name and per run seed
    assert all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(0, "split") == 202054878  # stable across processes and versions (no hash())


def test_a_seeded_block_draws_the_streams_numbers_and_restores_the_global_generator():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded(5, "init"):
        inside = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(inside, torch.rand(3, generator=torch.Generator().manual_seed(derive_seed(5, "init"))))


@pytest.mark.parametrize("other", [(5, "other"), (6, "init")])
def test_seeded_builds_give_the_same_weights_for_the_same_stream_only(other):
    def build(seed, name):
        with seeded(seed, name):
            return nn.Linear(4, 3).weight.detach()

    assert torch.equal(build(5, "init"), build(5, "init"))
    assert not torch.equal(build(5, "init"), build(*other))
