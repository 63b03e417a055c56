"""Reading CSV and Parquet tables, whole or in chunks, with errors that name the file, the
line and the problem. CSV may be compressed (gzip, bzip2, xz, zip): by its name (`.csv.gz`), or
found by its first bytes when the name says `.csv`."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import shown_names

logger = logging.getLogger(__name__)

SOURCE_ATTR = "aep.source"  # frame.attrs key: the file a frame was read from, to name its lines
# read_csv options that leave one record per non-blank line after the header: with only
# these, the file's line numbers of the rows can be recovered with the csv module.
_LINE_PRESERVING_ARGS = {
    "sep", "delimiter", "decimal", "thousands", "encoding", "encoding_errors", "quotechar", "escapechar", "compression",
    "doublequote", "na_values", "keep_default_na", "na_filter", "true_values", "false_values", "dtype",
    "usecols", "converters", "low_memory", "engine", "float_precision",
}
_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}
# Compressed CSV: the suffix after .csv, pandas' name of the compression, its first bytes.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}
_PARQUET_MAGIC = b"PAR1"
# The names of the data files a folder of them (the scoring inbox) holds.
DATA_SUFFIXES = (".csv", ".parquet", *(f".csv{suffix}" for suffix in COMPRESSIONS))


def kind_of(path: str | Path) -> str | None:
    """'csv' or 'parquet' from a file's name (.csv, .csv.gz, .parquet, any case); None otherwise."""
    name = Path(path).name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".csv") or any(name.endswith(f".csv{suffix}") for suffix in COMPRESSIONS):
        return "csv"
    return None


def check_file(path: Path, kind: str, missing: str = "file not found") -> None:
    """The file exists, is a file, and is not empty; a symbolic link loop and a link to nothing
    are named as such."""
    try:
        size = path.stat().st_size
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DataValidationError(
                f"{path}: a symbolic link loop (the link leads back to itself); point it at a file or remove it"
            ) from None
        if path.is_symlink():
            raise DataValidationError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist") from None
        if error.errno == errno.ENOENT:
            raise DataValidationError(f"{path}: {missing}") from None
        raise DataValidationError(f"{path}: cannot be read ({error.strerror or error})") from None
    if path.is_dir():
        raise DataValidationError(f"{path}: is a directory; expected a {kind} file")
    if size == 0:
        raise DataValidationError(f"{path}: file is empty")


def csv_options(path: Path, read_args: dict[str, Any]) -> dict[str, Any]:
    """`read_args` with the compression of the file: from its name (.csv.gz), else from its
    first bytes (a gzip file named .csv is read as gzip, with a warning); a Parquet file named
    .csv is refused."""
    name = path.name.lower()
    if "compression" in read_args:
        return read_args
    by_name = next((c for suffix, c in COMPRESSIONS.items() if name.endswith(suffix)), None)
    with open(path, "rb") as handle:
        head = handle.read(8)
    by_content = next((c for magic, c in _MAGIC.items() if head.startswith(magic)), None)
    if by_name is not None:
        if by_content != by_name:
            found = f"{by_content}-compressed" if by_content else "not compressed"
            raise DataValidationError(f"{path}: named as {by_name}-compressed but {found}; rename it or recompress it")
        return {**read_args, "compression": by_name}
    if head.startswith(_PARQUET_MAGIC):
        raise DataValidationError(f"{path}: a Parquet file named .csv; rename it to .parquet")
    if by_content is not None:
        logger.warning("%s: %s-compressed although named .csv: read as %s (name it %s.%s)", path, by_content,
                       by_content, path.name, {v: k for k, v in COMPRESSIONS.items()}[by_content].lstrip("."))
        return {**read_args, "compression": by_content}
    return read_args


def _open_binary(path: Path, compression: str | None):
    """The file's bytes, decompressed."""
    if compression == "gzip":
        import gzip

        return gzip.open(path, "rb")
    if compression == "bz2":
        import bz2

        return bz2.open(path, "rb")
    if compression == "xz":
        import lzma

        return lzma.open(path, "rb")
    if compression == "zip":
        import zipfile

        archive = zipfile.ZipFile(path)
        return archive.open(archive.namelist()[0])
    return open(path, "rb")


def encoding_error(path: Path, read_args: dict[str, Any], error: UnicodeError, setting: str) -> DataValidationError:
    """A byte the encoding cannot decode, named by the file's line (pandas names a position in
    the block it was decoding)."""
    encoding = read_args.get("encoding") or "utf-8"
    try:
        with _open_binary(path, read_args.get("compression")) as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError as bad:
                    byte = line[bad.start : bad.start + 1].hex()
                    return DataValidationError(
                        f"{path}: line {number}, byte {bad.start + 1}: 0x{byte} is not {encoding} text; save the "
                        f"file as UTF-8, or give its encoding ({setting}: {{encoding: latin-1}}, for instance)"
                    )
    except Exception:  # noqa: BLE001 - the scan only adds the line; the error below stands without it
        pass
    return DataValidationError(f"{path}: not {encoding} text ({error}); give its encoding ({setting}: {{encoding: ...}})")


def read_table(path: str | Path, kind: str, read_args: dict[str, Any] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (`read_args` to pandas), failing with the file name on every
    problem: missing, empty, unreadable, duplicate column names, or a CSV that parses into one
    column because it is separated by something else than commas."""
    path = Path(path)
    read_args = dict(read_args or {})
    check_file(path, kind, f"file not found (data.path, source '{kind}')")
    if kind == "csv":
        read_args = csv_options(path, read_args)
    try:
        frame = pd.read_csv(path, **read_args) if kind == "csv" else pd.read_parquet(path, **read_args)
    except UnicodeError as error:
        raise encoding_error(path, read_args, error, "data.read_args") from None
    except TypeError as error:  # an option the reader does not take
        raise DataValidationError(
            f"{path}: data.read_args {read_args} are not options of pandas.read_{kind} ({error})"
        ) from None
    except Exception as error:  # noqa: BLE001 - the parsers raise many types; the message is what matters
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
            f"{where}: duplicate column name(s) {shown_names(dict.fromkeys(duplicates))}; every column needs its own name"
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
        import io

        with io.TextIOWrapper(_open_binary(path, read_args.get("compression")), newline="", encoding=encoding,
                              errors="replace") as handle:
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
        kind = kind_of(self.path)
        if kind is None:
            raise DataValidationError(f"{self.path}: not a data file ({', '.join(DATA_SUFFIXES)})")
        self.kind = kind
        self.read_args = dict(read_args or {}) if self.kind == "csv" else {}  # to pandas.read_csv
        self._checked = False

    def __repr__(self) -> str:
        return f"TableFile({str(self.path)!r})"

    def read(self) -> pd.DataFrame:
        return read_table(self.path, self.kind, self.read_args or None)

    def check(self) -> None:
        """The file is there and readable; a CSV's compression is settled (by name or content)."""
        check_file(self.path, self.kind)
        if self.kind == "csv" and not self._checked:
            self.read_args = csv_options(self.path, self.read_args)
            self._checked = True

    def _unreadable(self, error: Exception) -> DataValidationError:
        if isinstance(error, DataValidationError):
            return error
        if isinstance(error, UnicodeError) and self.kind == "csv":
            return encoding_error(self.path, self.read_args, error, "the inbox dataset's read_args")
        if isinstance(error, TypeError) and self.kind == "csv":
            return DataValidationError(
                f"{self.path}: data.read_args {self.read_args} are not options of pandas.read_csv ({error})")
        return DataValidationError(f"{self.path}: cannot be read as {self.kind}: {error}")

    def chunks(self, rows: int, text_columns: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:
        """The file's rows in frames of exactly `rows` rows (the last may be shorter), each
        knowing its file and first row (for line numbers in errors). `text_columns` (CSV): read
        as written, not parsed, so a column (ids) reads the same whatever the chunk holds."""
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        self.check()
        first = 0
        iterator = self._parquet_chunks(rows) if self.kind == "parquet" else self._csv_chunks(rows, text_columns)
        while True:
            try:
                frame = next(iterator)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001 - the parsers raise many types; the message is what matters
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
        self.check()
        try:
            if self.kind == "parquet":
                return pd.read_parquet(self.path, columns=[name])[name]
            read_args = {**self.read_args, "usecols": [name]}
            read_args.setdefault("dtype", {name: "str"})
            return pd.read_csv(self.path, **read_args)[name]
        except Exception as error:  # noqa: BLE001 - as chunks(): the parsers raise many types
            raise self._unreadable(error) from None
