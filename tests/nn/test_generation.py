"""The measures of generated rows: MMD^2, the Gaussian baseline, power spectra and their peaks."""

import numpy as np
import pytest
import torch

from autoencoder_pipelines.nn.generation import (
    gaussian_baseline,
    mean_power_spectrum,
    median_bandwidth,
    mmd2,
    spectrum_peaks,
)


def test_mmd_is_about_zero_for_one_distribution_and_grows_with_the_difference():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 5, generator=generator), torch.randn(300, 5, generator=generator)
    bandwidth = median_bandwidth(x)
    same = mmd2(x, y, bandwidth)
    assert abs(same) < 0.01
    shifted = [mmd2(x, y + shift, bandwidth) for shift in (0.5, 1.0, 2.0)]
    assert same < shifted[0] < shifted[1] < shifted[2]
    assert mmd2(x, y, bandwidth) == pytest.approx(mmd2(y, x, bandwidth))


def test_the_gaussian_baseline_has_the_training_rows_mean_and_covariance():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((2000, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.2]]) + [1, 2, 3]
    drawn = gaussian_baseline(train, 20000)
    assert np.allclose(drawn.mean(axis=0), train.mean(axis=0), atol=0.05)
    assert np.allclose(np.cov(drawn, rowvar=False), np.cov(train, rowvar=False), atol=0.05)


def test_spectrum_peaks_are_the_cycles_per_window_of_each_channel():
    t = np.arange(32)
    rows = [np.r_[np.sin(2 * np.pi * 3 * (t + s) / 32) + 0.5 * np.sin(2 * np.pi * 7 * (t + s) / 32),
                  np.cos(2 * np.pi * 5 * (t + s) / 32) + 10.0] for s in range(20)]
    spectrum = mean_power_spectrum(np.array(rows), (2, 32))
    assert spectrum.shape == (2, 17) and spectrum[1, 0] == pytest.approx(0, abs=1e-9)  # the mean is removed
    peaks = spectrum_peaks(spectrum, 2)
    assert peaks[0] == [3, 7] and peaks[1][0] == 5  # highest first
