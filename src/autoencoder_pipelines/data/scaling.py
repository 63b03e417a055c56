"""Scaling features to about [0, 1] with a map fitted on the training rows only (plain JSON)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    pass



def fit_scaler(
    frame: pd.DataFrame, features: list[str], kind: str, window_shape: list[int] | None = None
) -> dict[str, Any]:
    """An affine map of each feature to about [0, 1], fitted on training rows only; plain JSON.

    `global`: one range for all features, the training minimum and maximum (images).
    `per_feature`: each feature's training minimum and maximum.
    `robust`: each feature's 1st and 99th training percentiles, so a few extreme rows do not
    squash the rest; values beyond them map outside [0, 1].
    `per_channel`: windows of a series (`window_shape` [channels, length]): one range per
    series, its training minimum and maximum over every time step, so a window keeps its shape.
    """
    values = frame[features].to_numpy(dtype="float64")
    if kind == "per_channel":
        if not window_shape:
            raise ValueError("split.scaling 'per_channel' scales windows of a series (data.source windows)")
        channels = values.reshape(len(values), *window_shape)
        low = np.repeat(channels.min(axis=(0, 2)), window_shape[1])
        high = np.repeat(channels.max(axis=(0, 2)), window_shape[1])
    elif kind == "global":
        low, high = np.full(len(features), values.min()), np.full(len(features), values.max())
    elif kind == "per_feature":
        low, high = values.min(axis=0), values.max(axis=0)
    elif kind == "robust":
        low, high = np.percentile(values, 1, axis=0), np.percentile(values, 99, axis=0)
        flat = high <= low  # a feature mostly constant: fall back to its full range
        low[flat], high[flat] = values.min(axis=0)[flat], values.max(axis=0)[flat]
    else:
        raise ValueError(f"split.scaling is '{kind}'; expected global, per_feature, robust or per_channel")
    return {"kind": kind, "features": list(features), "minimum": low.tolist(), "maximum": high.tolist()}


def scaler_bounds(scaler: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The fitted map x -> (x - low) / span, per feature in scaler["features"] order, float64;
    a constant feature's span is 1."""
    low, high = np.asarray(scaler["minimum"], dtype="float64"), np.asarray(scaler["maximum"], dtype="float64")
    return low, np.where(high > low, high - low, 1.0)


def apply_scaler(frame: pd.DataFrame, scaler: dict[str, Any]) -> pd.DataFrame:
    """Scale features with the fitted map. Not clipped: unseen rows beyond the training range
    keep their distance, which is what an anomaly score should see."""
    features = scaler["features"]
    low, span = scaler_bounds(scaler)
    scaled = (frame[features].to_numpy(dtype="float64") - low) / span
    out = frame.copy()
    out[features] = scaled.astype("float32")
    return out


# ---- frames <-> tensors ----------------------------------------------------------------
