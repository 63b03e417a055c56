"""Sizes that follow the data when the user sets none. Without torch: the config names them
before anything trains."""

from __future__ import annotations


def default_batch_size(n_rows: int) -> int:
    """clamp(rows / 40, 32, 256): small tables keep small batches (enough steps an epoch for
    early stopping to see learning), large ones train in fewer, larger steps."""
    return min(max(round(n_rows / 40), 32), 256)


def default_hidden_sizes(n_features: int) -> list[int]:
    """[min(2d, 256), code], code = max(d // 4, 2), at most 64 and below d: a layer wider than
    the input, then a code a quarter of it. Chosen on 12 tables against other widths, codes,
    activations, dropout and batch norm (benchmarks/RESULTS.md, anomaly detector)."""
    return [min(2 * n_features, 256), max(1, min(max(n_features // 4, 2), 64, n_features - 1))]
