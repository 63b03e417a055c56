"""The tables of the anomaly benchmarks (anomaly_baselines.py, anomaly_candidates.py): each a
function of the split seed giving rows and 0/1 labels (1: anomalous).

scikit-learn's bundled tables (no download): breast_cancer (malignant rows anomalous), wine and
iris (one class anomalous), digits (one class anomalous among the others, or one class the only
normal one). Generated tables, each a shape of anomaly a user may have; the structure is fixed
(its own seed), the rows are drawn anew per split seed:

    synthetic_linear / _nonlinear   a 3-4-dimensional (curved) structure in 20 columns; anomalies
                                    keep every column's spread but break the joint structure
    far_from_centre                 correlated normal rows; anomalies the same shape, 2.5-4x
                                    farther out (breast_cancer's kind of anomaly)
    blobs                           five clusters (multi-modal normal rows); anomalies anywhere
                                    in the box around them
    local                           clusters of very different spreads; anomalies just outside
                                    the tightest one, inside the spread of the others
    one_feature                     correlated columns; an anomaly has one column 5 sd off
    correlations_broken             five pairs of columns correlated 0.95; anomalies flip the
                                    sign of one column in two pairs (every column's spread kept)
    sparse_high_dim                 100 columns, 95 of them independent noise; anomalies shift
                                    the 5 others
    manifold                        a curved 2-D sheet (two moons) in 8 columns; anomalies on
                                    the sheet's plane but off the moons
    mixed_binary                    6 correlated continuous columns and 6 binary ones that follow
                                    them; anomalies carry binary flags that contradict them
    heavy_tailed                    Student-t rows (many far-out normal rows); anomalies break the
                                    joint structure at an ordinary distance
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn import datasets

Table = Callable[[int], tuple[np.ndarray, np.ndarray]]


def _labelled(good: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([good, bad]).astype("float64"), np.r_[np.zeros(len(good), int), np.ones(len(bad), int)]


def _subsample(normal: np.ndarray, anomalous: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = min(max(int(round(share / (1 - share) * len(normal))), 3), len(anomalous))
    return _labelled(normal, anomalous[rng.choice(len(anomalous), n, replace=False)])


def _sklearn(name: str, anomalous: Callable[[np.ndarray], np.ndarray], share: float = 0.07) -> Table:
    bunch = getattr(datasets, f"load_{name}")()
    return lambda seed: _subsample(bunch.data[~anomalous(bunch.target)], bunch.data[anomalous(bunch.target)], share, seed)


def _generated(make: Callable[[np.random.Generator, np.random.Generator], tuple[np.ndarray, np.ndarray]], salt: int) -> Table:
    """A table whose structure comes from the fixed generator and whose rows from the split's."""
    return lambda seed: _labelled(*make(np.random.default_rng(12345 + salt), np.random.default_rng(seed)))


def _synthetic(nonlinear: bool) -> Table:
    """20 columns from a low-rank (linear) or curved (nonlinear) 4-dimensional structure plus
    noise; 5% anomalies keep their columns' spread but break the joint structure."""

    def make(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, d, n_bad = 2000, 20, 100
        loadings, phase = fixed.normal(size=(4, d)), fixed.uniform(0, 2 * np.pi, d)

        def rows(m: int) -> np.ndarray:
            latent = rng.normal(size=(m, 4))
            out = latent @ loadings
            if nonlinear:
                out = np.sin(out / 2 + phase) + 0.3 * latent[:, [0]] * np.tanh(out)
            return out + (0.05 if nonlinear else 1.0) * rng.normal(size=(m, d))

        good, bad, donors = rows(n - n_bad), rows(n_bad), rows(n_bad)
        for i in range(n_bad):  # columns swapped in from other rows: marginals kept, joints broken
            columns = rng.choice(d, 5, replace=False)
            bad[i, columns] = donors[(i + 1) % n_bad, columns]
        return good, bad

    return _generated(make, int(nonlinear))


def _correlated(fixed: np.random.Generator, d: int, rank: int) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Rows of d columns from a rank-`rank` structure plus 30% independent noise, each column of
    its own scale and offset (as a real table's units differ)."""
    loadings, scale, offset = fixed.normal(size=(rank, d)), np.exp(fixed.normal(size=d)), fixed.normal(0, 3, size=d)

    def rows(rng: np.random.Generator, m: int) -> np.ndarray:
        return ((rng.normal(size=(m, rank)) @ loadings) / np.sqrt(rank) + 0.3 * rng.normal(size=(m, d))) * scale + offset

    return rows


def _far_from_centre(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = 12
    loadings = fixed.normal(size=(4, d))

    def rows(m: int, factor: np.ndarray | float) -> np.ndarray:  # the structure scaled out, the noise not
        return (rng.normal(size=(m, 4)) * factor) @ loadings / 2 + 0.3 * rng.normal(size=(m, d))

    return rows(1425, 1.0), rows(75, rng.uniform(2.5, 4, size=(75, 1)))


def _blobs(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = 10
    centres = fixed.uniform(-5, 5, size=(5, d))
    good = centres[rng.integers(0, 5, 1425)] + rng.normal(size=(1425, d))
    bad = rng.uniform(-7, 7, size=(75, d))
    return good, bad


def _local(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = 6
    centres, spreads, sizes = fixed.uniform(-6, 6, size=(3, d)), np.array([0.3, 1.5, 3.0]), np.array([475, 475, 475])
    good = np.vstack([c + s * rng.normal(size=(n, d)) for c, s, n in zip(centres, spreads, sizes, strict=True)])
    direction = rng.normal(size=(75, d))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    bad = centres[0] + direction * rng.uniform(1.5, 2.5, size=(75, 1))  # 5-8 of its sds out; within 1.5 sd of the others'
    return good, bad


def _one_feature(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rows = _correlated(fixed, 20, 5)
    good, bad = rows(rng, 1425), rows(rng, 75)
    spread = good.std(axis=0)
    columns = rng.integers(0, 20, 75)
    bad[np.arange(75), columns] += rng.choice([-5.0, 5.0], 75) * spread[columns]
    return good, bad


def _correlations_broken(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    scale = np.exp(fixed.normal(size=10))

    def rows(m: int) -> np.ndarray:
        shared = rng.normal(size=(m, 5))
        return np.repeat(shared, 2, axis=1) * np.sqrt(0.95) + np.sqrt(0.05) * rng.normal(size=(m, 10))

    good, bad = rows(1425), rows(75)
    for i in range(75):
        bad[i, 2 * rng.choice(5, 2, replace=False) + 1] *= -1
    return good * scale, bad * scale


def _sparse_high_dim(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d, informative = 100, fixed.choice(100, 5, replace=False)
    good, bad = rng.normal(size=(1425, d)), rng.normal(size=(75, d))
    bad[:, informative] += rng.choice([-3.0, 3.0], size=(75, 5))
    return good, bad


def _manifold(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    weights, phase = fixed.normal(size=(2, 8)), fixed.uniform(0, 2 * np.pi, 8)

    def sheet(latent: np.ndarray) -> np.ndarray:
        return np.sin(latent @ weights + phase) + 0.05 * rng.normal(size=(len(latent), 8))

    good_latent, _ = datasets.make_moons(1425, noise=0.08, random_state=int(rng.integers(2**31)))
    candidates = rng.uniform([-1.5, -1.0], [2.5, 1.5], size=(4000, 2))
    near = np.min(np.linalg.norm(candidates[:, None, :] - good_latent[None, ::5, :], axis=2), axis=1)
    bad_latent = candidates[near > 0.35][:75]  # off the moons, in the same box
    return sheet(good_latent), sheet(bad_latent)


def _mixed_binary(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    loadings, scale, offset = fixed.normal(size=(3, 6)), np.exp(fixed.normal(size=6)), fixed.normal(0, 3, size=6)
    cut = fixed.uniform(-1.5, 0.5, 6)

    def table(m: int) -> np.ndarray:
        signal = rng.normal(size=(m, 3)) @ loadings / np.sqrt(3)
        continuous = (signal + 0.3 * rng.normal(size=(m, 6))) * scale + offset
        flags = (signal + 0.3 * rng.normal(size=(m, 6)) > cut).astype(float)  # each follows its column
        return np.hstack([continuous, flags])

    good, bad = table(1425), table(75)
    for i in range(75):
        columns = 6 + rng.choice(6, 2, replace=False)
        bad[i, columns] = 1.0 - bad[i, columns]
    return good, bad


def _heavy_tailed(fixed: np.random.Generator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d, loadings = 10, fixed.normal(size=(3, 10))

    def rows(m: int) -> np.ndarray:
        latent = rng.standard_t(3, size=(m, 3))
        return latent @ loadings + 0.3 * rng.standard_t(3, size=(m, d))

    good, bad, donors = rows(1425), rows(75), rows(75)
    for i in range(75):
        columns = rng.choice(d, 4, replace=False)
        bad[i, columns] = donors[(i + 1) % 75, columns]
    return good, bad


TABLES: dict[str, Table] = {
    "breast_cancer": _sklearn("breast_cancer", lambda t: t == 0),  # malignant rows are the anomalies
    **{f"digits_{k}_anomalous": _sklearn("digits", lambda t, k=k: t == k) for k in (0, 3, 8)},
    **{f"digits_{k}_normal": _sklearn("digits", lambda t, k=k: t != k) for k in (0, 3, 8)},
    **{f"wine_{k}": _sklearn("wine", lambda t, k=k: t == k, share=0.10) for k in (0, 1, 2)},
    "synthetic_linear": _synthetic(False),
    "synthetic_nonlinear": _synthetic(True),
    # added for issue 29
    **{f"iris_{k}": _sklearn("iris", lambda t, k=k: t == k, share=0.10) for k in (0, 2)},
    "far_from_centre": _generated(_far_from_centre, 2),
    "blobs": _generated(_blobs, 3),
    "local": _generated(_local, 4),
    "one_feature": _generated(_one_feature, 5),
    "correlations_broken": _generated(_correlations_broken, 6),
    "sparse_high_dim": _generated(_sparse_high_dim, 7),
    "manifold": _generated(_manifold, 8),
    "mixed_binary": _generated(_mixed_binary, 9),
    "heavy_tailed": _generated(_heavy_tailed, 10),
}
