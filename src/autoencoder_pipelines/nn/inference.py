"""Batched inference: memory bounded by the batch, not the data."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


@torch.no_grad()
def predict_in_batches(
    function: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    batch_size: int = 4096,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Apply `function` to `x` in chunks.

    With `device` (where the model is) different from `x`'s, each chunk is moved there and
    its result back to `x`'s device (data streamed from host memory).
    """
    if device is None or device == x.device:
        if x.shape[0] <= batch_size:
            return function(x)
        return torch.cat([function(x[start : start + batch_size]) for start in range(0, x.shape[0], batch_size)])
    return torch.cat([
        function(x[start : start + batch_size].to(device, non_blocking=True)).to(x.device)
        for start in range(0, x.shape[0], batch_size)
    ])


def predict_classes(classifier: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The class whose logit is largest for each row of `x` (eval mode, in batches)."""
    classifier.eval()
    return predict_in_batches(lambda batch: classifier(batch).argmax(dim=1), x)
