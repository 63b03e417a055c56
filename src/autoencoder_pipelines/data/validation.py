"""Validating a raw table: bad cells named by file, line (or row), column and value; the
features, ids and labels; the schema of what was read."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import (
    FLOAT32_MAX,
    FLOAT32_MAX_SHOWN,
    ID,
    LABEL,
    RESERVED,
    native,
    shown_names,
)
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.tables import (
    SOURCE_ATTR,
    check_unique_columns,
    row_namer,
)

logger = logging.getLogger(__name__)


def _numeric_share(values: pd.Series) -> float:
    present = values.notna()
    if not present.any():
        return 0.0
    return float(pd.to_numeric(values[present], errors="coerce").notna().mean())


class BadCells:
    """The cells of a raw table that cannot be used: features that are not finite float32
    numbers, missing ids. Positions are row positions in the frame. (A missing label is not a
    bad cell: that row is unlabelled.)"""

    def __init__(self, frame: pd.DataFrame, features: list[str], roles: dict[str, str] | None = None) -> None:
        self.frame = frame
        self.columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # column -> (bad mask, problem per row)
        self.roles = dict(roles or {})
        for column in features:
            values = frame[column]
            if pd.api.types.is_bool_dtype(values):
                values = values.astype("float64")
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            missing = values.isna().to_numpy()
            text = np.isnan(numbers) & ~missing
            infinite = np.isinf(numbers)
            with np.errstate(invalid="ignore"):
                huge = np.isfinite(numbers) & (np.abs(numbers) > FLOAT32_MAX)
            problem = np.select(
                [text, missing, infinite, huge],
                ["not a number", "missing (empty or NaN)", "infinite", f"beyond float32's range ±{FLOAT32_MAX_SHOWN}"],
                "",
            )
            self._add(column, text | missing | infinite | huge, problem)
        for column, role in self.roles.items():
            missing = frame[column].isna().to_numpy()
            self._add(column, missing, np.where(missing, f"missing {role}", ""))

    def _add(self, column: str, mask: np.ndarray, problem: np.ndarray) -> None:
        if mask.any():
            self.columns[column] = (mask, problem)

    def __bool__(self) -> bool:
        return bool(self.columns)

    @property
    def count(self) -> int:
        return int(sum(mask.sum() for mask, _ in self.columns.values()))

    @property
    def rows(self) -> np.ndarray:
        """Positions of the rows with at least one bad cell."""
        masks = [mask for mask, _ in self.columns.values()]
        return np.flatnonzero(np.logical_or.reduce(masks)) if masks else np.array([], dtype=int)

    def first(self, limit: int = 5) -> list[str]:
        name = row_namer(self.frame)
        shown: list[str] = []
        for position in self.rows:
            for column in self.frame.columns:  # in the file's column order
                column = str(column)
                if column in self.columns and self.columns[column][0][position]:
                    value = self.frame[column].iloc[position]
                    role = f" ({self.roles[column]})" if column in self.roles else ""
                    problem = self.columns[column][1][position]
                    shown.append(f"  {name(position)}, column '{column}'{role}: "
                                 + (problem if pd.isna(value) else f"{_short(value)} ({problem})"))
                    if len(shown) == limit:
                        return shown
        return shown

    def message(self, where: str, fix: str) -> str:
        """What and where (the first five cells), what is expected, how to fix it: one block."""
        count, rows = self.count, self.rows
        hint = ""
        if any(isinstance(v, str) and _decimal_comma(v) for v in self._bad_values()):
            hint = " Numbers written 1,5 need data.read_args: {decimal: ','}."
        shown = " (the first 5 below)" if count > 5 else ""
        source = self.frame.attrs.get(SOURCE_ATTR) or {}
        first = int(source.get("first_row", 0))
        if source.get("chunked") and (first or len(self.frame) == source.get("chunk_rows")):
            # a part of a file read in chunks: which of the file's rows it holds
            shown = f" (rows {first + 1}-{first + len(self.frame)} of the file)" + (", the first 5 below" if count > 5 else "")
        return "\n".join([
            f"{where}: {count} bad cell{'s' if count > 1 else ''} in {len(rows)} of {len(self.frame)} rows{shown}:",
            *self.first(5),
            f"Expected: features are numbers within float32's range (±{FLOAT32_MAX_SHOWN}); ids are not missing.",
            fix + hint,
        ])

    def _bad_values(self):
        for column, (mask, _) in self.columns.items():
            yield from self.frame[column].to_numpy()[mask][:20]


def _decimal_comma(value: str) -> bool:
    return re.fullmatch(r"\s*-?\d+,\d+\s*", value) is not None


def _short(value: Any) -> str:
    text = repr(native(value)) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_table(
    frame: pd.DataFrame,
    source: str,
    label_column: str | None = None,
    id_column: str | None = None,
    feature_columns: list[str] | None = None,
    image_shape: list[int] | None = None,
    min_rows: int = 2,
    bad_rows: str = "refuse",
) -> tuple[pd.DataFrame, DataSchema]:
    """Check a raw table and return (frame with id/label/features, schema).

    Bad cells (see BadCells) are refused, naming file, line (or row), column and value for
    the first five; with `bad_rows="drop"` their rows are dropped (never a column) and the
    schema says how many (`dropped_rows`).

    An empty label cell marks an unlabelled row: it is kept (pretraining and the unsupervised
    models use it) and the schema counts them (`labelled_rows`, `unlabelled_rows`). A label
    column empty in every row leaves the data unlabelled (`classes` None), with a warning."""
    where = source
    check_unique_columns(list(frame.columns), where)
    if len(frame) == 0:
        raise DataValidationError(f"{where}: no rows (has columns {list(frame.columns)[:10]})")
    for role, column in (("data.label_column", label_column), ("data.id_column", id_column)):
        if column is not None and column not in frame.columns:
            raise DataValidationError(
                f"{where}: {role} '{column}' is not a column; columns are {shown_names(frame.columns)}"
            )
    frame = frame.rename(columns=str)  # keeps frame.attrs (the file, for line numbers)
    roles = {c for c in (label_column, id_column) if c is not None}
    features, ignored = _feature_columns(frame, roles, feature_columns, where)
    frame, dropped = _without_bad_rows(frame, features, id_column, bad_rows, where)
    if len(frame) < min_rows:
        after = f" after dropping {dropped} with bad cells" if dropped else ""
        raise DataValidationError(f"{where}: {len(frame)} rows{after}; at least {min_rows} are needed (data.min_rows)")
    out = pd.DataFrame(index=frame.index)
    out[ID] = _ids(frame, id_column, where)
    classes, labelled_rows = None, 0
    if label_column is not None:
        labels, classes, labelled_rows = _labels(frame[str(label_column)], label_column, where)
        if classes is not None:
            out[LABEL] = labels
    values = frame[features].apply(pd.to_numeric) if not all(
        pd.api.types.is_numeric_dtype(frame[c]) for c in features) else frame[features]
    out = pd.concat([out, values.astype("float32")], axis=1).reset_index(drop=True)
    if image_shape is not None and math.prod(image_shape) != len(features):
        raise DataValidationError(
            f"{where}: data.image_shape {image_shape} holds {math.prod(image_shape)} values "
            f"but there are {len(features)} feature columns"
        )
    extra: dict[str, Any] = {}
    if dropped:
        extra["dropped_rows"] = dropped
    if ignored:
        extra["ignored_columns"] = ignored
    schema = DataSchema(
        source=str(source), features=features, label_column=label_column, id_column=id_column,
        classes=[native(c) for c in classes] if classes is not None else None,
        image_shape=list(image_shape) if image_shape else None, n_rows=int(len(out)),
        labelled_rows=labelled_rows, unlabelled_rows=int(len(out)) - labelled_rows, **extra,
    )
    return out, schema


def _feature_columns(
    frame: pd.DataFrame, roles: set[str], feature_columns: list[str] | None, where: str
) -> tuple[list[str], list[str]]:
    """(features, ignored columns): the named ones (the file's others ignored), or every column
    of numbers (or mostly numbers: the others are bad cells, reported later) but the id and
    label (the text and boolean ones ignored)."""
    if feature_columns is not None:
        missing = [c for c in feature_columns if str(c) not in frame.columns]
        if missing:
            raise DataValidationError(
                f"{where}: data.feature_columns {shown_names(missing)} not in the file; columns are {shown_names(frame.columns)}"
            )
        features = [str(c) for c in feature_columns]
        ignored = [c for c in frame.columns if c not in roles and c not in features]  # scoring ignores them too
    else:
        candidates = [c for c in frame.columns if c not in roles]
        features, ignored = [], []
        for column in candidates:
            values = frame[column]
            numeric = pd.api.types.is_numeric_dtype(values) or _numeric_share(values) >= 0.5
            (features if numeric and not pd.api.types.is_bool_dtype(values) else ignored).append(column)
        if not features:
            raise DataValidationError(f"{where}: no numeric feature columns (non-numeric: {shown_names(candidates)})")
        if ignored:
            logger.warning(
                "%s: column(s) %s hold text or booleans, not numbers: left out of the features "
                "(list data.feature_columns to choose the features)", where, ", ".join(map(repr, ignored)),
            )
    clashes = [c for c in features if c in RESERVED]
    if clashes:
        raise DataValidationError(
            f"{where}: feature column(s) {shown_names(clashes)} use a reserved name ({', '.join(RESERVED)}); rename them"
        )
    return features, ignored


def _without_bad_rows(
    frame: pd.DataFrame, features: list[str], id_column: str | None, bad_rows: str, where: str
) -> tuple[pd.DataFrame, int]:
    """The frame, refused when a cell is bad, or without those rows (data.bad_rows: drop)."""
    bad = BadCells(frame, features, {str(id_column): "id"} if id_column is not None else {})
    if not bad:
        return frame, 0
    if bad_rows != "drop":
        raise DataValidationError(
            bad.message(where, "Fix them, or set data.bad_rows: drop to drop those rows (never a column).")
        )
    rows = bad.rows
    logger.warning(
        "%s: dropped %d of %d rows with %d bad cell(s) (data.bad_rows: drop), e.g.\n%s",
        where, len(rows), len(frame), bad.count, "\n".join(bad.first(5)),
    )
    return frame.drop(index=frame.index[rows]), len(rows)


def _ids(frame: pd.DataFrame, id_column: str | None, where: str) -> Any:
    if id_column is None:
        return [str(i) for i in range(len(frame))]
    ids = frame[str(id_column)]
    duplicated = ids.duplicated()
    if duplicated.any():
        raise DataValidationError(
            f"{where}: column '{id_column}' (id): {int(duplicated.sum())} duplicate ids, e.g. {ids[duplicated].iloc[0]!r}"
        )
    return ids.astype(str).to_numpy()


def _labels(labels: pd.Series, label_column: str, where: str) -> tuple[Any, list[Any] | None, int]:
    """(the label column's values, its classes, the labelled rows); classes None when every cell
    is empty. An empty cell (or text of spaces) is an unlabelled row."""
    if not pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels):
        # text written as "" or spaces (Parquet, or a CSV with quotes) is as empty as a blank cell
        blank = labels.map(lambda v: isinstance(v, str) and not v.strip(), na_action="ignore")
        labels = labels.mask(blank.fillna(False).astype(bool))
    missing = labels.isna()
    if missing.all():
        logger.warning(
            "%s: column '%s' (label) is empty in every row: the data is treated as unlabelled (pretraining, "
            "denoiser, reduction and anomaly detector train on all rows; no classifier, no classifier metrics)",
            where, label_column,
        )
        return None, None, 0
    present = labels[~missing]
    if missing.any() and pd.api.types.is_float_dtype(labels) and all(float(v).is_integer() for v in present.unique()):
        labels = labels.astype("Int64")  # whole numbers read as floats only because of the empty cells
    classes = sorted(pd.unique(labels[~missing]).tolist(), key=lambda v: (str(type(v)), v))
    if len(classes) < 2:
        raise DataValidationError(
            f"{where}: column '{label_column}' (label): a single class {classes[0]!r}; a classifier needs at least 2"
        )
    if missing.any():
        logger.info(
            "%s: %d of %d rows are labelled; the %d rows with an empty '%s' are unlabelled: they feed "
            "pretraining and the unsupervised models, not the classifier", where, int((~missing).sum()), len(labels),
            int(missing.sum()), label_column,
        )
    values = labels.array if isinstance(labels.dtype, pd.Int64Dtype) else labels.to_numpy()
    return values, classes, int((~missing).sum())


def check_features(frame: pd.DataFrame, features: list[str], where: str, fix: str | None = None) -> None:
    """Every feature cell must be a finite float32 number; the error names file, line (or row),
    column and value of the first five bad cells."""
    check_unique_columns(list(frame.columns), where)
    bad = BadCells(frame, features)
    if bad:
        raise DataValidationError(bad.message(where, fix or "Fix or remove those rows."))
