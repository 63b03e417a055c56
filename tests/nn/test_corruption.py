from types import SimpleNamespace

import pytest
import torch

from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec, corrupt


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(400, 250, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1  # no exact 0 or 1


@pytest.mark.parametrize("level", [0.1, 0.25, 0.5])
def test_masking_zeroes_the_requested_fraction(x, level):
    noisy = corrupt(x, CorruptionSpec("masking", level), torch.Generator().manual_seed(1))
    fraction = (noisy == 0).float().mean().item()
    assert fraction == pytest.approx(level, abs=0.01)
    kept = noisy != 0
    assert torch.equal(noisy[kept], x[kept])


def test_salt_and_pepper_sets_the_fraction_to_min_or_max_evenly(x):
    noisy = corrupt(x, CorruptionSpec("salt_and_pepper", 0.3), torch.Generator().manual_seed(2))
    salt, pepper = (noisy == 1.0).float().mean().item(), (noisy == 0.0).float().mean().item()
    assert salt + pepper == pytest.approx(0.3, abs=0.01)
    assert salt == pytest.approx(0.15, abs=0.01) and pepper == pytest.approx(0.15, abs=0.01)


def test_salt_and_pepper_uses_the_given_range(x):
    noisy = corrupt(x, CorruptionSpec("salt_and_pepper", 0.5, low=-2.0, high=3.0), torch.Generator().manual_seed(3))
    changed = noisy != x
    assert set(noisy[changed].unique().tolist()) == {-2.0, 3.0}


@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_gaussian_adds_noise_of_the_requested_sigma(x, sigma):
    noisy = corrupt(x, CorruptionSpec("gaussian", sigma), torch.Generator().manual_seed(4))
    noise = noisy - x
    assert noise.std().item() == pytest.approx(sigma, rel=0.02)
    assert abs(noise.mean().item()) < 0.01


@pytest.mark.parametrize("kind", ["masking", "salt_and_pepper", "gaussian"])
def test_noise_is_fresh_on_every_call_and_reproducible_from_a_seed(x, kind):
    spec = CorruptionSpec(kind, 0.25)
    generator = torch.Generator().manual_seed(5)
    first, second = corrupt(x, spec, generator), corrupt(x, spec, generator)
    assert not torch.equal(first, second)
    assert torch.equal(first, corrupt(x, spec, torch.Generator().manual_seed(5)))


def test_the_input_is_never_modified(x):
    before = x.clone()
    for kind in ("masking", "salt_and_pepper", "gaussian"):
        corrupt(x, CorruptionSpec(kind, 0.5))
    assert torch.equal(x, before)


def test_none_and_zero_level_are_identity(x):
    assert torch.equal(corrupt(x, CorruptionSpec("none", 0.0)), x)
    assert torch.equal(corrupt(x, CorruptionSpec("masking", 0.0)), x)


@pytest.mark.parametrize(
    "kind, level, message",
    [("masking", 1.5, "must be in \\[0, 1\\]"), ("gaussian", -0.1, ">= 0"), ("blur", 0.1, "expected one of")],
)
def test_bad_specs_are_refused(kind, level, message):
    with pytest.raises(ValueError, match=message):
        CorruptionSpec(kind, level)


def test_of_builds_the_configured_spec_and_none_is_identity():
    assert CorruptionSpec.of(None) is IDENTITY and IDENTITY.is_identity
    assert CorruptionSpec.of(SimpleNamespace(kind="gaussian", level=0.2)) == CorruptionSpec("gaussian", 0.2)


def test_salt_and_pepper_on_other_data_takes_that_datas_range():
    codes = torch.tensor([[-3.0, 0.5], [2.0, 7.0]])
    assert CorruptionSpec("salt_and_pepper", 0.2).in_range(codes) == CorruptionSpec("salt_and_pepper", 0.2, -3.0, 7.0)
    for spec in (CorruptionSpec("masking", 0.2), CorruptionSpec("gaussian", 0.2), IDENTITY):
        assert spec.in_range(codes) is spec
