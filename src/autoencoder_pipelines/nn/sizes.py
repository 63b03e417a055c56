"""Sizes that follow the data when the user sets none. Without torch: the config names them
before anything trains."""

from __future__ import annotations

from typing import Sequence


def default_batch_size(n_rows: int, device: str = "cpu") -> int:
    """Below 320 rows, on any device: rows / 10 (at least 8), so an epoch is still about ten
    steps. At 32, iris's 96 training rows made 3 an epoch, and a fine-tuning that early stopping
    ended after 66 epochs had had 200 steps (accuracy 0.667 where 0.967 was there to learn); on
    a GPU, at 256, one.

    On a CPU (and MPS): clamp(rows / 40, 32, 256): small tables keep small batches (enough
    steps an epoch for early stopping to see learning), large ones train in fewer, larger steps.

    On a CUDA GPU: clamp(rows / 16, 256, 4096). A GPU step costs about the same at 256 rows as
    at thousands (its time goes to launching kernels, not to the arithmetic: 1.1e5 samples/s at
    256 rows of 784 features on an H200, bf16 no faster than fp32), so an epoch there is as many
    steps as it has batches: 16 a phase's epoch, whatever the table's size, fewer for tables
    below 4,096 rows. The learning rates are scaled to the larger batch (scaled_learning_rate)."""
    if n_rows < 320:
        return max(8, n_rows // 10)
    if device == "cuda":
        return min(max(round(n_rows / 16), 256), 4096)
    return min(max(round(n_rows / 40), 32), 256)


LR_SCALING = ("none", "sqrt", "linear")


def scaled_learning_rate(rate: float, batch_size: int, reference_batch_size: int, rule: str = "sqrt") -> float:
    """`rate`, set for batches of `reference_batch_size`, for batches of `batch_size`: times their
    ratio (linear, Goyal et al. 2017, for SGD), its square root (sqrt, the usual rule for Adam:
    the gradient noise falls with the square root of the batch), or unchanged (none)."""
    if rule not in LR_SCALING:
        raise ValueError(f"learning-rate scaling is '{rule}'; expected one of {', '.join(LR_SCALING)}")
    ratio = batch_size / reference_batch_size
    return rate * {"none": 1.0, "sqrt": ratio**0.5, "linear": ratio}[rule]


def default_hidden_sizes(n_features: int, code: int | None = None) -> list[int]:
    """The detector's network: [min(2d, 256), code], a layer wider than the input, then the code.
    Without `code` (the rows unseen, e.g. a tuning space's base), a quarter of d (at least 2)."""
    return [min(2 * n_features, 256), _code_bounds(n_features, max(n_features // 4, 2) if code is None else code)]


def detector_code_size(spectrum: Sequence[float], n_features: int, variance: float = 0.9) -> int:
    """The detector's code from the rows it trains on (standardised), given the variances of
    their principal components (`spectrum`, any order): as many units as the components that
    hold `variance` of the total (the PCA baseline's own rule), at least 2, at most 64, below
    d. Chosen on 23 tables against a quarter of d (benchmarks/RESULTS.md: a 2-unit code of a
    10-column table with 5 independent directions missed broken correlations)."""
    ordered = sorted((float(v) for v in spectrum), reverse=True)
    total = sum(ordered)
    if not total > 0:
        return _code_bounds(n_features, 2)
    held, components = 0.0, 0
    while components < len(ordered) and held <= variance * total:  # as sklearn's PCA(n_components=variance)
        held += ordered[components]
        components += 1
    return _code_bounds(n_features, components)


def _code_bounds(n_features: int, code: int) -> int:
    return max(1, min(max(code, 2), 64, n_features - 1))
