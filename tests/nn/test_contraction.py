"""The contraction analysis (Rifai et al. 2011): Jacobian norms and spectra, and contraction
ratios of pairs of rows, checked on encoders whose answers are known."""

import pytest
import torch
from torch import nn

from autoencoder_pipelines.nn.contraction import BINS, analyse
from autoencoder_pipelines.nn.corruption import IDENTITY
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.seeding import seeded
from autoencoder_pipelines.nn.stacking import pretrain


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Linear(10, 3, bias=True)


def test_a_linear_encoder_has_its_weight_as_the_jacobian_everywhere(linear):
    x = torch.rand(40, 10)
    result = analyse(linear, x)
    weight = linear.weight.detach()
    assert torch.allclose(result.frobenius, torch.full((40,), weight.norm().item()), rtol=1e-5)
    assert torch.allclose(result.singular_values, torch.linalg.svdvals(weight).expand(40, 3), rtol=1e-5)
    # every pair's ratio is |W d| / |d|, at most the largest singular value
    assert len(result.ratio) == 40 * 39 // 2
    assert result.ratio.max() <= torch.linalg.svdvals(weight)[0] + 1e-5
    difference = x[0] - x[1]
    assert result.ratio[0] == pytest.approx(((weight @ difference).norm() / difference.norm()).item(), rel=1e-5)


def test_scaling_the_codes_scales_the_raw_figures_and_leaves_the_normalised_ones(linear):
    x = torch.rand(60, 10)
    once, twice = analyse(linear, x).summary(), analyse(lambda rows: 2 * linear(rows), x).summary()
    for key in ("jacobian_frobenius", "singular_value_max", "ratio_all", f"ratio.{BINS[0]}"):
        assert twice[key] == pytest.approx(2 * once[key], rel=1e-4), key
    for key in ("jacobian_frobenius_normalised", "sensitive_directions", f"normalised_ratio.{BINS[0]}"):
        assert twice[key] == pytest.approx(once[key], rel=1e-4), key


def test_pairs_are_binned_from_the_nearest_to_the_farthest():
    x = torch.rand(80, 5)
    bins = analyse(nn.Tanh(), x).bins()
    assert [row["bin"] for row in bins] == list(BINS) == ["q00_01", "q01_10", "q10_50", "q50_90", "q90_100"]
    distances = [row["input_distance"] for row in bins]
    assert distances == sorted(distances) and distances[0] < 0.5 * distances[-1]
    # tanh at inputs in [0, 1]: a contraction (slope <= 1 everywhere)
    assert all(0 < row["ratio"] <= 1 for row in bins)


def test_a_contractive_penalty_lowers_the_jacobian_norm(arch_for, rows, trainer_for):
    """Same network, data, seed and budget; only the contractive penalty differs."""

    def trained(name, **options):
        kind, arch = get_kind(name), arch_for(name, options=options)
        with seeded(0, "init"):
            network = kind.build(arch)
        pretrain(network, kind, arch, *rows, lambda phase: trainer_for(phase, epochs=10), ["bce", "mse"], [IDENTITY] * 2)
        return analyse(network.encode, rows[1]).summary()

    plain, contractive = trained("undercomplete"), trained("contractive", weight=0.05)
    assert contractive["jacobian_frobenius"] < 0.7 * plain["jacobian_frobenius"]
    assert contractive["singular_value_max"] < plain["singular_value_max"]
