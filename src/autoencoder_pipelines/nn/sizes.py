"""Sizes that follow the data when the user sets none. Without torch: the config names them
before anything trains."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def default_batch_size(n_rows: int) -> int:
    """clamp(rows / 40, 32, 256): small tables keep small batches (enough steps an epoch for
    early stopping to see learning), large ones train in fewer, larger steps."""
    return min(max(round(n_rows / 40), 32), 256)


def default_hidden_sizes(n_features: int, code: int | None = None) -> list[int]:
    """The detector's network: [min(2d, 256), code], a layer wider than the input, then the code.
    Without `code` (the rows unseen, e.g. a tuning space's base), a quarter of d (at least 2)."""
    return [min(2 * n_features, 256), _code_bounds(n_features, max(n_features // 4, 2) if code is None else code)]


def detector_code_size(rows: "np.ndarray", variance: float = 0.9) -> int:
    """The detector's code from the rows it trains on (standardised): as many units as the
    principal components that hold `variance` of their variance (the PCA baseline's own rule),
    at least 2, at most 64, below d. Chosen on 23 tables against a quarter of d (benchmarks/RESULTS.md:
    a 2-unit code of a 10-column table with 5 independent directions missed broken correlations)."""
    import numpy as np

    centred = rows - rows.mean(axis=0)
    spectrum = np.linalg.svd(centred, compute_uv=False) ** 2
    if len(rows) < 2 or not spectrum.sum() > 0:
        return _code_bounds(rows.shape[1], 2)
    share = np.cumsum(spectrum) / spectrum.sum()
    return _code_bounds(rows.shape[1], int(np.searchsorted(share, variance, side="right")) + 1)


def _code_bounds(n_features: int, code: int) -> int:
    return max(1, min(max(code, 2), 64, n_features - 1))
