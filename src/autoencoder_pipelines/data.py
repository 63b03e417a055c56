"""Reading and validating input tables, splitting, scaling; shared by training and scoring.

Frames passed between nodes hold the reserved columns `id`, optionally `label`, then the
feature columns in schema order. Errors name the file, the column and the problem.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from autoencoder_pipelines.errors import DataValidationError

if TYPE_CHECKING:
    import torch

ID, LABEL = "id", "label"
RESERVED = (ID, LABEL, "split")


def load_digits_frame() -> pd.DataFrame:
    """scikit-learn's bundled 8x8 digits: 1,797 real images, 10 classes, no download."""
    from sklearn.datasets import load_digits

    bunch = load_digits(as_frame=True)
    frame = bunch.frame.rename(columns={"target": LABEL})
    return frame


def read_table(path: str | Path, kind: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, failing with the file name on every problem."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"{path}: file not found (data.path, source '{kind}')")
    if path.is_dir():
        raise DataValidationError(f"{path}: is a directory; expected a {kind} file")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: file is empty")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as error:  # the parsers raise many types; the message is what matters
        raise DataValidationError(f"{path}: cannot be read as {kind}: {error}") from None
    return frame


def validate_table(
    frame: pd.DataFrame,
    source: str,
    label_column: str | None = None,
    id_column: str | None = None,
    feature_columns: list[str] | None = None,
    image_shape: list[int] | None = None,
    min_rows: int = 2,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check a raw table and return (frame with id/label/features, schema)."""
    where = source
    if len(frame) == 0:
        raise DataValidationError(f"{where}: no rows (has columns {list(frame.columns)[:10]})")
    for role, column in (("data.label_column", label_column), ("data.id_column", id_column)):
        if column is not None and column not in frame.columns:
            raise DataValidationError(
                f"{where}: {role} '{column}' is not a column; columns are {_list(frame.columns)}"
            )
    roles = {c for c in (label_column, id_column) if c is not None}
    if feature_columns is None:
        candidates = [c for c in frame.columns if c not in roles]
        features = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
        if not features:
            raise DataValidationError(
                f"{where}: no numeric feature columns (non-numeric: {_list(candidates)})"
            )
    else:
        missing = [c for c in feature_columns if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"{where}: data.feature_columns {_list(missing)} not in the file; columns are {_list(frame.columns)}"
            )
        features = list(feature_columns)
    features = [str(c) for c in features]
    frame = frame.rename(columns=str)
    clashes = [c for c in features if c in RESERVED]
    if clashes:
        raise DataValidationError(
            f"{where}: feature column(s) {_list(clashes)} use a reserved name ({', '.join(RESERVED)}); rename them"
        )
    check_features(frame, features, where)
    if len(frame) < min_rows:
        raise DataValidationError(f"{where}: {len(frame)} rows; at least {min_rows} are needed (data.min_rows)")

    out = pd.DataFrame(index=frame.index)
    if id_column is not None:
        ids = frame[str(id_column)]
        if ids.isna().any():
            raise DataValidationError(f"{where}: column '{id_column}' (id): {int(ids.isna().sum())} missing ids")
        duplicated = ids.duplicated()
        if duplicated.any():
            raise DataValidationError(
                f"{where}: column '{id_column}' (id): {int(duplicated.sum())} duplicate ids, e.g. {ids[duplicated].iloc[0]!r}"
            )
        out[ID] = ids.astype(str).to_numpy()
    else:
        out[ID] = [str(i) for i in range(len(frame))]
    classes: list[Any] | None = None
    if label_column is not None:
        labels = frame[str(label_column)]
        if labels.isna().any():
            raise DataValidationError(
                f"{where}: column '{label_column}' (label): {int(labels.isna().sum())} missing labels"
            )
        classes = sorted(pd.unique(labels).tolist(), key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise DataValidationError(
                f"{where}: column '{label_column}' (label): a single class {classes[0]!r}; a classifier needs at least 2"
            )
        out[LABEL] = labels.to_numpy()
    out = pd.concat([out, frame[features].astype("float32")], axis=1).reset_index(drop=True)

    if image_shape is not None and math.prod(image_shape) != len(features):
        raise DataValidationError(
            f"{where}: data.image_shape {image_shape} holds {math.prod(image_shape)} values but there are {len(features)} feature columns"
        )
    schema = {
        "source": str(source),
        "features": features,
        "label_column": label_column,
        "id_column": id_column,
        "classes": [native(c) for c in classes] if classes is not None else None,
        "image_shape": list(image_shape) if image_shape else None,
        "n_rows": int(len(out)),
    }
    return out, schema


def cut_windows(
    frame: pd.DataFrame,
    source: str,
    length: int,
    stride: int,
    columns: list[str] | None = None,
    time_column: str | None = None,
    min_rows: int = 2,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A table of one or more numeric series over time -> one row per overlapping window.

    Rows are put in the order of `time_column` when given (numbers, or anything
    `pandas.to_datetime` reads; each time once), else kept in file order. Window k holds rows
    k * stride .. k * stride + length - 1 of every series column (`columns`, default: every
    numeric column but the time); its features are `<column>_t<step>`, column by column, and
    its id the time (else the row number) where it starts. The schema's `window_shape` is
    [channels, length].
    """
    where = source
    if len(frame) == 0:
        raise DataValidationError(f"{where}: no rows (has columns {list(frame.columns)[:10]})")
    frame = frame.rename(columns=str)
    if time_column is not None:
        if str(time_column) not in frame.columns:
            raise DataValidationError(f"{where}: data.time_column '{time_column}' is not a column; columns are {_list(frame.columns)}")
        times = frame[str(time_column)]
        parsed = times if pd.api.types.is_numeric_dtype(times) else pd.to_datetime(times, errors="coerce", format="mixed")
        bad = parsed.isna()
        if bad.any():
            example = times[bad].iloc[0]
            raise DataValidationError(
                f"{where}: column '{time_column}' (time): {int(bad.sum())} missing or unreadable times, e.g. {example!r}"
            )
        repeated = parsed.duplicated()
        if repeated.any():
            raise DataValidationError(
                f"{where}: column '{time_column}' (time): {int(repeated.sum())} repeated times, e.g. {times[repeated].iloc[0]!r}; "
                "one row per time step"
            )
        order = np.argsort(parsed.to_numpy(), kind="stable")
        frame, times = frame.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    if columns is None:
        candidates = [c for c in frame.columns if c != str(time_column)]
        columns = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
        if not columns:
            raise DataValidationError(f"{where}: no numeric series columns (non-numeric: {_list(candidates)})")
    else:
        columns = [str(c) for c in columns]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataValidationError(f"{where}: data.feature_columns {_list(missing)} not in the file; columns are {_list(frame.columns)}")
    check_features(frame, columns, where)
    if len(frame) < length:
        raise DataValidationError(f"{where}: {len(frame)} time steps, fewer than data.window_length {length}")
    values = frame[columns].to_numpy(dtype="float32")  # (steps, channels)
    windows = np.lib.stride_tricks.sliding_window_view(values, length, axis=0)[::stride]  # (windows, channels, length)
    if len(windows) < min_rows:
        raise DataValidationError(
            f"{where}: {len(frame)} time steps give {len(windows)} windows of {length} every {stride}; at least "
            f"{min_rows} are needed (data.min_rows): a longer series, or a shorter window_length or window_stride"
        )
    starts = np.arange(len(windows)) * stride
    features = [f"{column}_t{step}" for column in columns for step in range(length)]
    out = pd.DataFrame(windows.reshape(len(windows), -1), columns=features)
    out.insert(0, ID, [str(v) for v in (times.iloc[starts] if time_column is not None else starts)])
    schema = {
        "source": str(source),
        "features": features,
        "label_column": None,
        "id_column": None,
        "classes": None,
        "image_shape": None,
        "window_shape": [len(columns), length],
        "window_stride": stride,
        "series_columns": columns,
        "time_column": time_column,
        "n_rows": int(len(out)),
    }
    return out, schema


def window_gap(schema: dict[str, Any]) -> int:
    """Windows that share a time step with window k: up to k + gap (length - 1 steps on)."""
    return (schema["window_shape"][1] - 1) // schema["window_stride"]


def chronological_split(frame: pd.DataFrame, n_val: int, n_test: int, gap: int) -> tuple[pd.DataFrame, ...]:
    """(train, validation, test) in time order: the last `n_test` rows are the test set, the
    `n_val` before them (less `gap`) validation, the rest (less `gap`) training; the `gap` rows
    left out at each cut are windows that share time steps with both sides."""
    n = len(frame)
    val_end, train_end = n - n_test - gap, n - n_test - 2 * gap - n_val
    if train_end < 1:
        raise ValueError(f"{n} rows leave no training rows after {n_val} + {n_test} and two gaps of {gap}")
    return frame.iloc[:train_end], frame.iloc[val_end - n_val:val_end], frame.iloc[n - n_test:]


def check_features(frame: pd.DataFrame, features: list[str], where: str) -> None:
    """Every feature must be numeric and finite; errors name the column and the count."""
    for column in features:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            converted = pd.to_numeric(values, errors="coerce")
            bad = int((converted.isna() & values.notna()).sum())
            example = values[converted.isna() & values.notna()].iloc[0] if bad else None
            raise DataValidationError(
                f"{where}: column '{column}' is not numeric ({values.dtype}): {bad} non-numeric values, e.g. {example!r}"
            )
        array = values.to_numpy(dtype="float64", na_value=np.nan)
        n_nan, n_inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        if n_nan or n_inf:
            raise DataValidationError(
                f"{where}: column '{column}' has {n_nan} NaN and {n_inf} infinite values; clean or impute them first"
            )


def _list(columns: Any, limit: int = 10) -> str:
    names = [str(c) for c in columns]
    return "[" + ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "") + "]"


def native(value: Any) -> Any:
    """numpy scalar -> Python value, for JSON and for readable messages."""
    return value.item() if hasattr(value, "item") else value


# ---- scaling ---------------------------------------------------------------------------

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


def apply_scaler(frame: pd.DataFrame, scaler: dict[str, Any]) -> pd.DataFrame:
    """Scale features with the fitted map. Not clipped: unseen rows beyond the training range
    keep their distance, which is what an anomaly score should see."""
    features = scaler["features"]
    low, high = np.asarray(scaler["minimum"]), np.asarray(scaler["maximum"])
    span = np.where(high > low, high - low, 1.0)
    scaled = (frame[features].to_numpy(dtype="float64") - low) / span
    out = frame.copy()
    out[features] = scaled.astype("float32")
    return out


# ---- frames <-> tensors ----------------------------------------------------------------

def features_tensor(frame: pd.DataFrame, schema: dict[str, Any], device: "torch.device | str" = "cpu") -> "torch.Tensor":
    import torch

    # torch.tensor copies: pandas may hand out read-only arrays (copy-on-write).
    return torch.tensor(frame[schema["features"]].to_numpy(dtype="float32"), device=device)


def labels_tensor(frame: pd.DataFrame, schema: dict[str, Any], device: "torch.device | str" = "cpu") -> "torch.Tensor":
    import torch

    index = {value: i for i, value in enumerate(schema["classes"])}
    return torch.tensor(frame[LABEL].map(index).to_numpy(dtype="int64"), device=device)


def has_labels(schema: dict[str, Any]) -> bool:
    return schema.get("classes") is not None


class Skipped:
    """Stands in for an output that could not be made (Kedro cannot save None).

    E.g. the classifier when the data has no labels; consumers check `isinstance`.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Skipped({self.reason!r})"
