"""Series over time: overlapping windows as rows, and the time-ordered split."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import ID, shown_names
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.validation import check_features

logger = logging.getLogger(__name__)


def cut_windows(
    frame: pd.DataFrame,
    source: str,
    length: int,
    stride: int,
    columns: list[str] | None = None,
    time_column: str | None = None,
    min_rows: int = 2,
) -> tuple[pd.DataFrame, DataSchema]:
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
            raise DataValidationError(
                f"{where}: data.time_column '{time_column}' is not a column; columns are {shown_names(frame.columns)}")
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
                f"{where}: column '{time_column}' (time): {int(repeated.sum())} repeated times, "
                f"e.g. {times[repeated].iloc[0]!r}; "
                "one row per time step"
            )
        order = np.argsort(parsed.to_numpy(), kind="stable")
        frame, times = frame.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    if columns is None:
        candidates = [c for c in frame.columns if c != str(time_column)]
        columns = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
        if not columns:
            raise DataValidationError(f"{where}: no numeric series columns (non-numeric: {shown_names(candidates)})")
    else:
        columns = [str(c) for c in columns]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataValidationError(f"{where}: data.feature_columns {shown_names(missing)} not in the file; "
                                      f"columns are {shown_names(frame.columns)}")
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
    schema = DataSchema(
        source=str(source), features=features, label_column=None, id_column=None, classes=None, image_shape=None,
        window_shape=[len(columns), length], window_stride=stride, series_columns=columns, time_column=time_column,
        n_rows=int(len(out)),
    )
    return out, schema


def chronological_split(frame: pd.DataFrame, n_val: int, n_test: int, gap: int) -> tuple[pd.DataFrame, ...]:
    """(train, validation, test) in time order: the last `n_test` rows are the test set, the
    `n_val` before them (less `gap`) validation, the rest (less `gap`) training; the `gap` rows
    left out at each cut are windows that share time steps with both sides."""
    n = len(frame)
    val_end, train_end = n - n_test - gap, n - n_test - 2 * gap - n_val
    if train_end < 1:
        raise ValueError(f"{n} rows leave no training rows after {n_val} + {n_test} and two gaps of {gap}")
    return frame.iloc[:train_end], frame.iloc[val_end - n_val:val_end], frame.iloc[n - n_test:]
