"""Sizes that follow the data when the user sets none. Without torch: the config names them
before anything trains."""

from __future__ import annotations

from typing import Sequence


def default_batch_size(n_rows: int) -> int:
    """clamp(rows / 40, 32, 256): small tables keep small batches (enough steps an epoch for
    early stopping to see learning), large ones train in fewer, larger steps."""
    return min(max(round(n_rows / 40), 32), 256)


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
