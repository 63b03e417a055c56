"""How much an encoder contracts its input space (Rifai et al. 2011, sections 5.2 and 5.3).

For rows x of a test set and an encoder h:
- the Jacobian J(x) = dh/dx of every row (autograd, vmapped over rows), its Frobenius norm
  ||J(x)||_F (what the contractive penalty shrinks, squared) and its singular values: how
  many input directions the code is sensitive to, and how much;
- the contraction ratio ||h(x_i) - h(x_j)|| / ||x_i - x_j|| of pairs of rows, by the pairs'
  input distance: near pairs (the nearest 1% of all pairs) to far ones (the farthest 10%).

Raw figures depend on the scale of the codes, which differs between kinds (a decoder can undo
any scaling of the code), so each also comes relative to the encoder's average contraction of
the data, `ratio_all` (the mean ratio over all pairs): `jacobian_frobenius / ratio_all` is the
local sensitivity in units of the global one, and a `normalised` ratio below 1 at small
distances means near rows are pulled together more than rows in general, the contraction
"mostly local" that Rifai et al. describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Callable

import torch

# Pairs binned by the quantiles of their input distance: nearest 1%, 1-10%, 10-50%, 50-90%, farthest 10%.
QUANTILES = (0.0, 0.01, 0.1, 0.5, 0.9, 1.0)


def bin_name(low: float, high: float) -> str:
    return f"q{round(100 * low):02d}_{round(100 * high):02d}"


BINS = tuple(bin_name(a, b) for a, b in pairwise(QUANTILES))


@dataclass
class Contraction:
    frobenius: torch.Tensor  # (rows,) ||J(x)||_F per row
    singular_values: torch.Tensor  # (rows, min(code, features)), descending per row
    input_distance: torch.Tensor  # (pairs,)
    code_distance: torch.Tensor  # (pairs,)

    @property
    def ratio(self) -> torch.Tensor:
        return self.code_distance / self.input_distance

    @property
    def ratio_all(self) -> float:
        return self.ratio.mean().item()

    def bins(self) -> list[dict[str, float | str]]:
        """Per bin of input distance: its name, mean input distance, mean ratio, normalised ratio."""
        edges = torch.quantile(self.input_distance, torch.tensor(QUANTILES, dtype=self.input_distance.dtype))
        rows = []
        for k, name in enumerate(BINS):
            inside = (self.input_distance >= edges[k]) & (self.input_distance <= edges[k + 1])
            ratio = self.ratio[inside].mean().item()
            rows.append({"bin": name, "input_distance": self.input_distance[inside].mean().item(),
                         "ratio": ratio, "normalised_ratio": ratio / self.ratio_all})
        return rows

    def sensitive_directions(self, fraction: float = 0.1) -> float:
        """Mean number of singular values at least `fraction` of the row's largest."""
        top = self.singular_values[:, :1].clamp_min(1e-12)
        return (self.singular_values >= fraction * top).sum(dim=1).float().mean().item()

    def summary(self) -> dict[str, float]:
        frobenius = self.frobenius.mean().item()
        figures = {
            "jacobian_frobenius": frobenius,
            "jacobian_frobenius_normalised": frobenius / self.ratio_all,
            "singular_value_max": self.singular_values[:, 0].mean().item(),
            "sensitive_directions": self.sensitive_directions(),
            "ratio_all": self.ratio_all,
        }
        for row in self.bins():
            figures[f"ratio.{row['bin']}"] = row["ratio"]
            figures[f"normalised_ratio.{row['bin']}"] = row["normalised_ratio"]
        return figures


def encoder_jacobians(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(rows, code, features): d encode(x_row) / d x_row for every row, each row encoded alone."""

    def one_row(row: torch.Tensor) -> torch.Tensor:
        return encode(row.unsqueeze(0)).squeeze(0)

    return torch.func.vmap(torch.func.jacrev(one_row))(x.float()).detach()


@torch.no_grad()
def analyse(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Contraction:
    """The Jacobians of `encode` at the rows of `x`, and every pair of those rows."""
    with torch.enable_grad():
        jacobians = encoder_jacobians(encode, x)
    codes = encode(x.float()).float()
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    input_distance = (x[i] - x[j]).float().norm(dim=1)
    code_distance = (codes[i] - codes[j]).norm(dim=1)
    distinct = input_distance > 0  # duplicated rows have no ratio
    return Contraction(
        frobenius=jacobians.flatten(start_dim=1).norm(dim=1),
        singular_values=torch.linalg.svdvals(jacobians),
        input_distance=input_distance[distinct],
        code_distance=code_distance[distinct],
    )
