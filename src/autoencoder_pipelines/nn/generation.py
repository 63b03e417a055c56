"""How close generated rows are to real ones: the maximum mean discrepancy with an RBF kernel
(Gretton et al. 2012), a Gaussian fitted to the training rows as the baseline a generator
should beat, and the power spectrum of windows of a series."""

from __future__ import annotations

import numpy as np
import torch


def median_bandwidth(x: torch.Tensor) -> float:
    """The median distance between distinct rows of x (the usual RBF bandwidth)."""
    distances = torch.pdist(x.double())
    return float(distances.median()) if len(distances) else 1.0


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Unbiased estimate of MMD^2 between the distributions of the rows of x and of y, with the
    kernel k(a, b) = exp(-|a - b|^2 / (2 bandwidth^2)): about 0 when they are the same (it can
    dip below 0), larger the more they differ."""
    x, y = x.double(), y.double()

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2))

    n, m = len(x), len(y)
    kxx, kyy = kernel(x, x), kernel(y, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within_x + within_y - 2 * kernel(x, y).mean())


def gaussian_baseline(train: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n rows drawn from the Gaussian with the training rows' mean and covariance (a small ridge
    keeps it proper): the simplest generator, which gets every second moment right."""
    mean, covariance = train.mean(axis=0), np.cov(train, rowvar=False)
    covariance = covariance + 1e-6 * np.trace(covariance) / len(mean) * np.eye(len(mean))
    return np.random.default_rng(seed).multivariate_normal(mean, covariance, size=n).astype("float32")


def mean_power_spectrum(rows: np.ndarray, window_shape: tuple[int, int] | list[int]) -> np.ndarray:
    """(channels, length // 2 + 1): the mean over rows of each channel's periodogram
    |FFT(window - its mean)|^2; bin k is k cycles per window."""
    windows = np.asarray(rows, dtype="float64").reshape(len(rows), *window_shape)
    windows = windows - windows.mean(axis=2, keepdims=True)
    return (np.abs(np.fft.rfft(windows, axis=2)) ** 2).mean(axis=0)


def spectrum_peaks(spectrum: np.ndarray, k: int) -> list[list[int]]:
    """Per channel, the frequency bins of its k largest peaks (local maxima, DC excluded), highest first."""
    peaks = []
    for channel in spectrum:
        inner = [i for i in range(1, len(channel))
                 if channel[i] >= channel[i - 1] and (i + 1 == len(channel) or channel[i] >= channel[i + 1])]
        peaks.append(sorted(inner, key=lambda i: -channel[i])[:k])
    return peaks
