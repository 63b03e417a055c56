"""Reading and validating input tables, splitting, scaling; shared by training and scoring.

Frames passed between nodes hold the reserved columns `id`, optionally `label`, then the
feature columns in schema order. Errors name the file, the column and the problem.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Iterator

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from autoencoder_pipelines.errors import DataValidationError

logger = logging.getLogger(__name__)

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


# The largest finite float32: features become float32 tensors, so a larger value would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_MAX_SHOWN = "3.4e38"
SOURCE_ATTR = "aep.source"  # frame.attrs key: the file a frame was read from, to name its lines
# read_csv options that leave one record per non-blank line after the header: with only
# these, the file's line numbers of the rows can be recovered with the csv module.
_LINE_PRESERVING_ARGS = {
    "sep", "delimiter", "decimal", "thousands", "encoding", "encoding_errors", "quotechar", "escapechar",
    "doublequote", "na_values", "keep_default_na", "na_filter", "true_values", "false_values", "dtype",
    "usecols", "converters", "low_memory", "engine", "float_precision",
}
_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


def read_table(path: str | Path, kind: str, read_args: dict[str, Any] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (`read_args` to pandas), failing with the file name on every
    problem: missing, empty, unreadable, duplicate column names, or a CSV that parses into one
    column because it is separated by something else than commas."""
    path = Path(path)
    read_args = dict(read_args or {})
    if not path.exists():
        raise DataValidationError(f"{path}: file not found (data.path, source '{kind}')")
    if path.is_dir():
        raise DataValidationError(f"{path}: is a directory; expected a {kind} file")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: file is empty")
    try:
        frame = pd.read_csv(path, **read_args) if kind == "csv" else pd.read_parquet(path, **read_args)
    except TypeError as error:  # an option the reader does not take
        raise DataValidationError(
            f"{path}: data.read_args {read_args} are not options of pandas.read_{kind} ({error})"
        ) from None
    except Exception as error:  # the parsers raise many types; the message is what matters
        raise DataValidationError(f"{path}: cannot be read as {kind}: {error}") from None
    names = _csv_header(path, read_args) if kind == "csv" else None
    check_unique_columns(names if names is not None else list(frame.columns), str(path))
    if kind == "csv" and frame.shape[1] == 1:
        _hint_separator(path, str(frame.columns[0]), read_args)
    frame.attrs[SOURCE_ATTR] = {"path": str(path), "kind": kind, "read_args": read_args}
    return frame


def check_unique_columns(names: list[Any], where: str) -> None:
    seen: set[str] = set()
    duplicates = [str(n) for n in names if str(n) in seen or seen.add(str(n))]  # type: ignore[func-returns-value]
    if duplicates:
        raise DataValidationError(
            f"{where}: duplicate column name(s) {_list(dict.fromkeys(duplicates))}; every column needs its own name"
        )


def _csv_reader_options(read_args: dict[str, Any]) -> dict[str, Any] | None:
    """The csv module's options equivalent to `read_args`, or None where it cannot follow pandas."""
    separator = read_args.get("sep", read_args.get("delimiter", ","))
    if not isinstance(separator, str) or len(separator) != 1 or set(read_args) - _LINE_PRESERVING_ARGS:
        return None
    options: dict[str, Any] = {"delimiter": separator, "quotechar": read_args.get("quotechar", '"')}
    if read_args.get("escapechar"):
        options["escapechar"] = read_args["escapechar"]
    if "doublequote" in read_args:
        options["doublequote"] = bool(read_args["doublequote"])
    return options


def _csv_records(path: Path, read_args: dict[str, Any]):
    """(first line number, fields) of every non-blank record, as pandas reads them; None when
    the options are beyond the csv module."""
    import csv

    options = _csv_reader_options(read_args)
    if options is None:
        return None
    encoding = read_args.get("encoding") or "utf-8-sig"

    def records():
        with open(path, newline="", encoding=encoding, errors="replace") as handle:
            reader = csv.reader(handle, **options)
            line = 1
            for fields in reader:
                if fields and any(field.strip() for field in fields):
                    yield line, fields
                line = reader.line_num + 1

    return records()


def _csv_header(path: Path, read_args: dict[str, Any]) -> list[str] | None:
    """The header as written (pandas renames duplicates to 'a.1'), when the csv module can read it."""
    if "header" in read_args or "names" in read_args:
        return None
    records = _csv_records(path, read_args)
    if records is None:
        return None
    try:
        return next(records)[1]
    except Exception:  # noqa: BLE001 - no header, or a csv error: pandas has read the file, its names stand
        return None
    finally:
        records.close()


def _hint_separator(path: Path, header: str, read_args: dict[str, Any]) -> None:
    for separator, name in _SEPARATORS.items():
        if separator in header and read_args.get("sep", read_args.get("delimiter")) != separator:
            shown = "\\t" if separator == "\t" else separator
            raise DataValidationError(
                f"{path}: every line parses into one column ({header[:60]!r}): separated by {name}? "
                f"Set data.read_args: {{sep: '{shown}'}} (add decimal: ',' if numbers are written 1,5)"
            )


def row_namer(frame: pd.DataFrame):
    """position -> "line 7" (of the CSV file the frame was read from) or "row 7" (1-based).
    A chunk of a file (TableFile.chunks) names the file's lines and rows, not the chunk's."""
    source = frame.attrs.get(SOURCE_ATTR) or {}
    first = int(source.get("first_row", 0))
    lines: list[int] | None = None
    if source.get("kind") == "csv":
        records = _csv_records(Path(source["path"]), source.get("read_args") or {})
        if records is not None:
            try:
                found = [line for line, _ in records][1:]  # the first record is the header
            except Exception:  # noqa: BLE001 - fall back to row numbers
                found = []
            # the csv module must see the records pandas saw: all of them, or past this chunk
            agrees = len(found) >= first + len(frame) if source.get("chunked") else len(found) == len(frame)
            lines = found if agrees else None
    if lines is not None:
        return lambda position: f"line {lines[first + position]}"
    return lambda position: f"row {first + position + 1}"


class TableFile:
    """A CSV or Parquet file to score, read whole or in chunks of rows (memory bounded by the
    chunk: Parquet through pyarrow's ParquetFile.iter_batches, CSV through pandas' chunksize).
    Every problem raises DataValidationError naming the file, as read_table does."""

    def __init__(self, path: str | Path, read_args: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise DataValidationError(f"{self.path}: not a .csv or .parquet file")
        self.kind = "parquet" if suffix == ".parquet" else "csv"
        self.read_args = dict(read_args or {}) if self.kind == "csv" else {}  # to pandas.read_csv

    def __repr__(self) -> str:
        return f"TableFile({str(self.path)!r})"

    def read(self) -> pd.DataFrame:
        return read_table(self.path, self.kind, self.read_args or None)

    def _check_file(self) -> None:
        if not self.path.exists():
            raise DataValidationError(f"{self.path}: file not found")
        if self.path.is_dir():
            raise DataValidationError(f"{self.path}: is a directory; expected a {self.kind} file")
        if self.path.stat().st_size == 0:
            raise DataValidationError(f"{self.path}: file is empty")

    def _unreadable(self, error: Exception) -> DataValidationError:
        if isinstance(error, DataValidationError):
            return error
        if isinstance(error, TypeError) and self.kind == "csv":
            return DataValidationError(f"{self.path}: data.read_args {self.read_args} are not options of pandas.read_csv ({error})")
        return DataValidationError(f"{self.path}: cannot be read as {self.kind}: {error}")

    def chunks(self, rows: int, text_columns: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:
        """The file's rows in frames of exactly `rows` rows (the last may be shorter), each
        knowing its file and first row (for line numbers in errors). `text_columns` (CSV): read
        as written, not parsed, so a column (ids) reads the same whatever the chunk holds."""
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        self._check_file()
        first = 0
        iterator = self._parquet_chunks(rows) if self.kind == "parquet" else self._csv_chunks(rows, text_columns)
        while True:
            try:
                frame = next(iterator)
            except StopIteration:
                return
            except Exception as error:  # the parsers raise many types; the message is what matters
                raise self._unreadable(error) from None
            frame.attrs[SOURCE_ATTR] = {"path": str(self.path), "kind": self.kind, "read_args": self.read_args,
                                        "first_row": first, "chunked": True, "chunk_rows": rows}
            first += len(frame)
            yield frame

    def _parquet_chunks(self, rows: int) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # pre_buffer off: with it, pyarrow keeps every row group it has read until the file is
        # closed (memory grew with the file: +3.1 GB at 10M rows x 64); without it, memory is
        # bounded by one row group (pandas and pyarrow write up to 1Mi rows per row group)
        with pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 22) as handle:
            check_unique_columns(handle.schema_arrow.names, str(self.path))
            # iter_batches stops at row-group ends: gather exactly `rows` rows per chunk
            pending: list[Any] = []
            held = 0
            for batch in handle.iter_batches(batch_size=rows, use_pandas_metadata=True):
                pending.append(batch)
                held += batch.num_rows
                while held >= rows:
                    table = pa.Table.from_batches(pending)
                    yield table.slice(0, rows).to_pandas()
                    rest = table.slice(rows)
                    pending, held = ([rest] if rest.num_rows else []), rest.num_rows
            if held:
                yield pa.Table.from_batches(pending).to_pandas()

    def _csv_chunks(self, rows: int, text_columns: tuple[str, ...]) -> Iterator[pd.DataFrame]:
        read_args = dict(self.read_args)
        if text_columns and "dtype" not in read_args:
            read_args["dtype"] = {column: "str" for column in text_columns}
        names = _csv_header(self.path, self.read_args)
        reader = pd.read_csv(self.path, chunksize=rows, **read_args)
        with reader:
            first = True
            for frame in reader:
                if first:
                    check_unique_columns(names if names is not None else list(frame.columns), str(self.path))
                    if frame.shape[1] == 1:
                        _hint_separator(self.path, str(frame.columns[0]), self.read_args)
                    first = False
                yield frame

    def count_rows(self) -> int:
        """The file's rows (0 when it cannot be read): Parquet's metadata, or a CSV read in chunks."""
        try:
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(self.path).metadata.num_rows)
            read_args = {**self.read_args, "usecols": [0]}
            read_args.pop("dtype", None)
            with pd.read_csv(self.path, chunksize=1 << 20, **read_args) as reader:
                return sum(len(chunk) for chunk in reader)
        except Exception:  # noqa: BLE001 - a count for the report, after the file was refused
            return 0

    def column(self, name: str) -> pd.Series:
        """One column of the whole file (read as `chunks` reads it)."""
        self._check_file()
        try:
            if self.kind == "parquet":
                return pd.read_parquet(self.path, columns=[name])[name]
            read_args = {**self.read_args, "usecols": [name]}
            read_args.setdefault("dtype", {name: "str"})
            return pd.read_csv(self.path, **read_args)[name]
        except Exception as error:
            raise self._unreadable(error) from None


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
) -> tuple[pd.DataFrame, dict[str, Any]]:
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
                f"{where}: {role} '{column}' is not a column; columns are {_list(frame.columns)}"
            )
    frame = frame.rename(columns=str)  # keeps frame.attrs (the file, for line numbers)
    roles = {c for c in (label_column, id_column) if c is not None}
    ignored: list[str] = []
    if feature_columns is None:
        # A column is a feature when its values are numbers, or mostly numbers (the others are
        # bad cells, reported below); text columns are left out, and the log names them.
        candidates = [c for c in frame.columns if c not in roles]
        features = []
        for column in candidates:
            values = frame[column]
            if pd.api.types.is_bool_dtype(values):
                ignored.append(column)
            elif pd.api.types.is_numeric_dtype(values) or _numeric_share(values) >= 0.5:
                features.append(column)
            else:
                ignored.append(column)
        if not features:
            raise DataValidationError(
                f"{where}: no numeric feature columns (non-numeric: {_list(candidates)})"
            )
        if ignored:
            logger.warning(
                "%s: column(s) %s hold text or booleans, not numbers: left out of the features "
                "(list data.feature_columns to choose the features)", where, ", ".join(map(repr, ignored)),
            )
    else:
        missing = [c for c in feature_columns if str(c) not in frame.columns]
        if missing:
            raise DataValidationError(
                f"{where}: data.feature_columns {_list(missing)} not in the file; columns are {_list(frame.columns)}"
            )
        features = [str(c) for c in feature_columns]
    clashes = [c for c in features if c in RESERVED]
    if clashes:
        raise DataValidationError(
            f"{where}: feature column(s) {_list(clashes)} use a reserved name ({', '.join(RESERVED)}); rename them"
        )

    role_names = {str(id_column): "id"} if id_column is not None else {}
    bad = BadCells(frame, features, role_names)
    dropped = 0
    if bad:
        if bad_rows != "drop":
            raise DataValidationError(
                bad.message(where, "Fix them, or set data.bad_rows: drop to drop those rows (never a column).")
            )
        rows = bad.rows
        dropped = len(rows)
        logger.warning(
            "%s: dropped %d of %d rows with %d bad cell(s) (data.bad_rows: drop), e.g.\n%s",
            where, dropped, len(frame), bad.count, "\n".join(bad.first(5)),
        )
        frame = frame.drop(index=frame.index[rows])
    if len(frame) < min_rows:
        after = f" after dropping {dropped} with bad cells" if dropped else ""
        raise DataValidationError(f"{where}: {len(frame)} rows{after}; at least {min_rows} are needed (data.min_rows)")

    out = pd.DataFrame(index=frame.index)
    if id_column is not None:
        ids = frame[str(id_column)]
        duplicated = ids.duplicated()
        if duplicated.any():
            raise DataValidationError(
                f"{where}: column '{id_column}' (id): {int(duplicated.sum())} duplicate ids, e.g. {ids[duplicated].iloc[0]!r}"
            )
        out[ID] = ids.astype(str).to_numpy()
    else:
        out[ID] = [str(i) for i in range(len(frame))]
    classes: list[Any] | None = None
    labelled_rows = 0
    if label_column is not None:
        labels = frame[str(label_column)]
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
        else:
            present = labels[~missing]
            if missing.any() and pd.api.types.is_float_dtype(labels) and all(float(v).is_integer() for v in present.unique()):
                labels = labels.astype("Int64")  # whole numbers read as floats only because of the empty cells
            classes = sorted(pd.unique(labels[~missing]).tolist(), key=lambda v: (str(type(v)), v))
            if len(classes) < 2:
                raise DataValidationError(
                    f"{where}: column '{label_column}' (label): a single class {classes[0]!r}; a classifier needs at least 2"
                )
            out[LABEL] = labels.array if isinstance(labels.dtype, pd.Int64Dtype) else labels.to_numpy()
            labelled_rows = int((~missing).sum())
            if missing.any():
                logger.info(
                    "%s: %d of %d rows are labelled; the %d rows with an empty '%s' are unlabelled: they feed "
                    "pretraining and the unsupervised models, not the classifier", where, labelled_rows, len(frame),
                    int(missing.sum()), label_column,
                )
    values = frame[features].apply(pd.to_numeric) if not all(
        pd.api.types.is_numeric_dtype(frame[c]) for c in features) else frame[features]
    out = pd.concat([out, values.astype("float32")], axis=1).reset_index(drop=True)

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
        "labelled_rows": labelled_rows,
        "unlabelled_rows": int(len(out)) - labelled_rows,
    }
    if dropped:
        schema["dropped_rows"] = dropped
    if ignored:
        schema["ignored_columns"] = ignored
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


def check_features(frame: pd.DataFrame, features: list[str], where: str, fix: str | None = None) -> None:
    """Every feature cell must be a finite float32 number; the error names file, line (or row),
    column and value of the first five bad cells."""
    check_unique_columns(list(frame.columns), where)
    bad = BadCells(frame, features)
    if bad:
        raise DataValidationError(bad.message(where, fix or "Fix or remove those rows."))


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

def features_tensor(frame: pd.DataFrame, schema: dict[str, Any], device: "torch.device | str" = "cpu") -> "torch.Tensor":
    import torch

    # torch.tensor copies: pandas may hand out read-only arrays (copy-on-write).
    return torch.tensor(frame[schema["features"]].to_numpy(dtype="float32"), device=device)


def labels_tensor(frame: pd.DataFrame, schema: dict[str, Any], device: "torch.device | str" = "cpu") -> "torch.Tensor":
    import torch

    index = {value: i for i, value in enumerate(schema["classes"])}
    classes = frame[LABEL].map(index)
    if classes.isna().any():  # a caller's bug, not the user's: name it plainly
        raise ValueError(f"labels_tensor: {int(classes.isna().sum())} of {len(frame)} rows have no label; "
                         "pass labelled_part(frame)")
    return torch.tensor(classes.to_numpy(dtype="int64"), device=device)


def has_labels(schema: dict[str, Any]) -> bool:
    return schema.get("classes") is not None


def is_labelled(frame: pd.DataFrame) -> pd.Series:
    """Per row: does it carry a label (False for every row of a frame without a label column)."""
    if LABEL not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[LABEL].notna()


def labelled_part(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with a label: what the classifiers train and are measured on."""
    return frame[is_labelled(frame).to_numpy()]


def stratified_sample(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """`fraction` of the labelled rows of each class (rounded, at least one per class), drawn
    with `seed`. The draws are nested: with the same seed, a smaller fraction's rows are a
    subset of a larger one's, so a curve over fractions adds labels rather than redrawing them."""
    if not 0 < fraction <= 1:
        raise ValueError(f"a fraction of the labelled rows must be in (0, 1]; got {fraction}")
    rng = np.random.default_rng(seed)
    labelled = labelled_part(frame)
    chosen: list[np.ndarray] = []
    for _, rows in sorted(labelled.groupby(LABEL, sort=False).indices.items(), key=lambda item: str(item[0])):
        order = rng.permutation(len(rows))  # one order per class, whatever the fraction
        chosen.append(rows[order[: max(1, int(round(fraction * len(rows))))]])
    positions = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)
    return labelled.iloc[positions]


class Skipped:
    """Stands in for an output that could not be made (Kedro cannot save None).

    E.g. the classifier when the data has no labels; consumers check `isinstance`.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Skipped({self.reason!r})"
