"""Input corruption of Vincent et al. (2010): masking, salt-and-pepper, additive Gaussian.

The same `CorruptionSpec` serves training (fresh noise every call) and the fixed noisy
evaluation sets (a seeded generator).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

KINDS: tuple[str, ...] = ("none", "masking", "salt_and_pepper", "gaussian")


@dataclass(frozen=True)
class CorruptionSpec:
    """What noise to apply.

    kind: masking zeroes each value with probability `level`; salt_and_pepper sets each
    value with probability `level` to `low` or `high` (even odds); gaussian adds
    N(0, level^2) noise. `low`/`high` are the data's range (inputs are scaled to [0, 1]).
    """

    kind: str = "masking"
    level: float = 0.25
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"corruption.kind is '{self.kind}'; expected one of {', '.join(KINDS)}.")
        if self.kind in ("masking", "salt_and_pepper") and not 0.0 <= self.level <= 1.0:
            raise ValueError(
                f"corruption.level is {self.level}; a {self.kind} fraction must be in [0, 1]."
            )
        if self.kind == "gaussian" and self.level < 0:
            raise ValueError(f"corruption.level is {self.level}; a Gaussian sigma must be >= 0.")

    @classmethod
    def of(cls, params: Any) -> "CorruptionSpec":
        """The spec of configured corruption (anything with `kind` and `level`; None: none)."""
        if params is None:
            return IDENTITY
        return cls(kind=params.kind, level=params.level)

    def in_range(self, values: torch.Tensor) -> "CorruptionSpec":
        """Salt-and-pepper on other data (a hidden layer's codes) uses that data's own range."""
        if self.kind != "salt_and_pepper":
            return self
        return dataclasses.replace(self, low=float(values.min()), high=float(values.max()))

    @property
    def is_identity(self) -> bool:
        return self.kind == "none" or self.level == 0.0


IDENTITY = CorruptionSpec(kind="none", level=0.0)


def corrupt(
    x: torch.Tensor, spec: CorruptionSpec, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Return a corrupted copy of `x`; `x` itself is never modified."""
    if spec.is_identity:
        return x
    if spec.kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + spec.level * noise
    draws = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    hit = draws < spec.level
    if spec.kind == "masking":
        return x.masked_fill(hit, 0.0)
    # salt_and_pepper: reuse the uniform draw so the salt/pepper choice costs no second draw;
    # within a hit, draws/level is uniform in [0, 1).
    salt = draws < spec.level / 2
    out = x.masked_fill(hit, spec.low)
    return out.masked_fill(salt, spec.high)
