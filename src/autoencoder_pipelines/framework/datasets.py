"""Catalog datasets the libraries do not offer as needed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

import pandas as pd
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset
from kedro_datasets.partitions import PartitionedDataset
from kedro_datasets.yaml import YAMLDataset as _YAMLDataset

from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import ModelInput, Skipped
from autoencoder_pipelines.data.images import IMAGE_SUFFIXES, ImageFile, is_image_file
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.tables import DATA_SUFFIXES, TableFile, read_table
from autoencoder_pipelines.nn.atomic import (
    atomic_path,
    commit,
    discard,
    is_temporary,
    remove_orphans,
    temporary_name,
    write_text,
)

logger = logging.getLogger(__name__)
SKIPPED_SHOWN = 5  # files named in the inbox's "skipped" line


class AtomicWrites:
    """Mixin for kedro-datasets' file datasets (AbstractVersionedDataset subclasses that write
    through `self._get_save_path()`): the dataset's own save writes a temporary file beside
    the target (inside the version folder when versioned), renamed into place when the save
    returns. Local files only; other protocols (s3, gcs) are written as the dataset does."""

    _aep_pending: tuple[Path, Path] | None = None

    def _get_save_path(self) -> PurePosixPath:
        final = super()._get_save_path()  # type: ignore[misc]
        if getattr(self, "_protocol", "file") not in ("file", "local"):
            return final
        temporary = final.parent / temporary_name(final.name)
        self._aep_pending = (Path(str(temporary)), Path(str(final)))
        return temporary

    def save(self, data: Any) -> None:
        # The parent's own save, without Kedro's wrapper (this class gets that wrapper itself):
        # a versioned dataset's wrapper looks for the saved version, so the rename comes first.
        parent = super().save  # type: ignore[misc]
        raw = getattr(getattr(parent, "__func__", parent), "__wrapped__", None)
        self._aep_pending = None
        try:
            raw(self, data) if raw is not None else parent(data)
            if self._aep_pending is not None:
                commit(*self._aep_pending)
        finally:
            if self._aep_pending is not None:
                discard(self._aep_pending[0])
                self._aep_pending = None


# kedro-datasets' file datasets, written atomically (atomic.AtomicWrites): what catalog.yml uses.
class ParquetDataset(AtomicWrites, _ParquetDataset):
    """pandas.ParquetDataset, written to a temporary file and renamed into place."""


class CSVDataset(AtomicWrites, _CSVDataset):
    """pandas.CSVDataset, written to a temporary file and renamed into place."""


class JSONDataset(AtomicWrites, _JSONDataset):
    """json.JSONDataset, written to a temporary file and renamed into place."""


_LAZY_CLASS_LOCK = threading.Lock()


def __getattr__(name: str) -> Any:
    """MatplotlibDataset is made when the catalog first asks for it: kedro-datasets' module
    imports matplotlib (0.26 s), which a run that draws no figure (scoring) does not need. Made
    once, under a lock, so every caller (and pickle) sees the same class."""
    if name != "MatplotlibDataset":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LAZY_CLASS_LOCK:
        if "MatplotlibDataset" not in globals():
            from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset

            class MatplotlibDataset(AtomicWrites, _MatplotlibDataset):
                """matplotlib.MatplotlibDataset, written to a temporary file and renamed into place."""

            MatplotlibDataset.__module__ = __name__
            MatplotlibDataset.__qualname__ = "MatplotlibDataset"
            globals()["MatplotlibDataset"] = MatplotlibDataset
    return globals()["MatplotlibDataset"]


def __dir__() -> list[str]:
    return sorted({*globals(), "MatplotlibDataset"})


class YAMLDataset(AtomicWrites, _YAMLDataset):
    """yaml.YAMLDataset, written to a temporary file and renamed into place."""


class DataSchemaDataset(JSONDataset):
    """The data's schema (data.schema.DataSchema) as readable JSON, written atomically: the keys
    ingestion set, so files written before the class existed load too."""

    def load(self) -> DataSchema:
        return DataSchema.from_json(super().load())

    def save(self, data: DataSchema) -> None:
        super().save(data.to_json())


class ModelInputDataset(AbstractDataset):
    """The split a model trains on (data.frames.ModelInput) as files in one folder: train.parquet,
    val.parquet, test.parquet and schema.json (the schema they follow), each written atomically."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = PurePosixPath(path)
        self.metadata = metadata
        self._parts = {name: ParquetDataset(filepath=str(self._path / f"{name}.parquet")) for name in ModelInput.PARTS}
        self._schema = DataSchemaDataset(filepath=str(self._path / "schema.json"))

    def load(self) -> ModelInput:
        return ModelInput(**{name: part.load() for name, part in self._parts.items()}, schema=self._schema.load())

    def save(self, data: ModelInput) -> None:
        for name, part in self._parts.items():
            part.save(getattr(data, name))
        self._schema.save(data.schema)  # last: a folder with its schema holds every part

    def _exists(self) -> bool:
        return self._schema.exists() and all(part.exists() for part in self._parts.values())

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class RuntimeDataset(AbstractDataset):
    """The runtime of this run (jobs.runtime.Runtime: device, precision, seeds, its checkpoint
    folder, when it started). The project hook resolves it at the start of each run, from
    `params:runtime` and the command (which names the checkpoint folder, and which only hooks
    see), as MLflow's active run is opened by a hook and read by the datasets that log to it;
    nodes load it as any input, whichever nodes a run selects. Read-only."""

    _active: Any = None  # the Runtime of the run in progress

    @classmethod
    def start(cls, runtime: Any) -> None:
        cls._active = runtime

    @classmethod
    def end(cls) -> None:
        cls._active = None

    def load(self) -> Any:
        if RuntimeDataset._active is None:
            raise DatasetError("the runtime exists during a kedro run only (the project hook resolves it)")
        return RuntimeDataset._active

    def save(self, data: Any) -> None:
        raise DatasetError("the runtime is resolved by the project hook at the start of a run, not saved")

    def _exists(self) -> bool:
        return RuntimeDataset._active is not None

    def _describe(self) -> dict[str, Any]:
        return {}


class OptunaStorageDataset(AbstractDataset):
    """Where an Optuna study lives: loads as the storage URL of a sqlite file (its folder made),
    which Optuna writes itself, transaction by transaction. Read-only in the catalog."""

    def __init__(self, filepath: str) -> None:
        self._filepath = Path(filepath)

    def load(self) -> str:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self._filepath.resolve()}"

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath}: the study is written by Optuna, not saved through the catalog")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class TorchModelDataset(AbstractVersionedDataset):
    """A model of this project (any kind's network, a classifier, a detector, the scorer) as
    one file of tensors plus JSON (nn.serialization): nothing is unpickled on load. A
    `Skipped` output (no classifier without labels) is saved as a small JSON marker."""

    saves_skipped = True  # tracking.ArtifactDataset passes a Skipped value on to it: later nodes load the marker

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata  # kedro-viz reads its layer here
        self.saved_path: Path | None = None  # the file the last save wrote (for tracking.ArtifactDataset)

    def load(self) -> Any:
        path = Path(self._get_load_path())
        if path.suffix == ".json" or (path.is_file() and path.read_bytes()[:1] == b"{"):
            return Skipped(json.loads(path.read_text())["skipped"])
        from autoencoder_pipelines.jobs.scoring import Scorer
        from autoencoder_pipelines.nn.serialization import ModelFileError, read_bundle

        try:
            meta, parts, tensors = read_bundle(path)
        except ModelFileError as error:
            raise DataValidationError(str(error)) from None
        if "schema" in meta:
            return Scorer.from_parts(meta, parts, tensors)
        return parts["model"]

    def save(self, data: Any) -> None:
        path = Path(self._get_save_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Skipped):
            write_text(path, json.dumps({"skipped": data.reason}))
        elif hasattr(data, "save"):
            data.save(path)  # nn.serialization.save_bundle: atomic
        else:
            from autoencoder_pipelines.nn.serialization import save

            save(data, path)
        self.saved_path = path

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}



def hidden(relative: str) -> bool:
    """A file that is not data by the convention Spark and Hadoop follow: a name (of the file or
    of a folder on its way) that starts with '.' or '_' (.DS_Store, _SUCCESS, _temporary/)."""
    return any(part.startswith((".", "_")) for part in PurePosixPath(relative).parts)


class OptionalPartitionedDataset(PartitionedDataset):
    """A PartitionedDataset of data files: an empty or missing folder loads as no partitions (an
    empty inbox is the normal state of a scheduled scoring job, not an error), and only files
    named with one of `suffixes` (.csv, compressed .csv.gz, .csv.bz2, .csv.xz, .csv.zip, .parquet,
    and the images .png, .jpg, .jpeg by default, any case) are partitions. Anything else (notes.txt, a Spark _SUCCESS marker,
    hidden files such as .DS_Store or a partial upload .day1.csv.part) is skipped, with one log
    line naming the skipped files."""

    def __init__(self, *args: Any, suffixes: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._suffixes = tuple(s.lower() for s in (suffixes or (*DATA_SUFFIXES, *IMAGE_SUFFIXES)))
        self.skipped: list[str] = []  # the files of the last load that are not data

    def _list_partitions(self) -> list[str]:
        if self._cached_partitions is not None:
            return self._cached_partitions
        data, self.skipped = [], []
        for path in super()._list_partitions():
            relative = self._path_to_partition(path)
            keep = not hidden(relative) and relative.lower().endswith(self._suffixes)
            (data if keep else self.skipped).append(path if keep else relative)
        self._cached_partitions = data
        return data

    def load(self) -> dict[str, Callable[[], Any]]:
        try:
            partitions = super().load()
        except DatasetError as error:
            if "No partitions found" not in str(error):
                raise
            partitions = {}
        if self.skipped:
            shown = ", ".join(sorted(self.skipped)[:SKIPPED_SHOWN])
            more = f" and {len(self.skipped) - SKIPPED_SHOWN} more" if len(self.skipped) > SKIPPED_SHOWN else ""
            logger.info("%s: skipped %d file(s) that are not data (%s, not hidden): %s%s", self._path,
                        len(self.skipped), ", ".join(self._suffixes), shown, more)
        return partitions


class TableFileDataset(AbstractDataset):
    """One file of an inbox, loaded as a handle the `score` pipeline streams: a data.TableFile
    for a CSV or Parquet file (read whole or in chunks), a data.images.ImageFile for a PNG or
    JPEG file (one row: its path and pixels). The kind is taken from the file name (for mixed
    inboxes)."""

    def __init__(self, filepath: str, read_args: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._read_args = dict(read_args or {})  # to pandas.read_csv, e.g. {sep: ";"}

    def load(self) -> TableFile | ImageFile:
        if is_image_file(self._filepath):
            return ImageFile(self._filepath)
        return TableFile(self._filepath, self._read_args)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath}: incoming files are read-only")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "read_args": self._read_args}


class TabularFileDataset(AbstractDataset):
    """One CSV or Parquet file, the format taken from the file name (for mixed inboxes)."""

    def __init__(self, filepath: str, read_args: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._read_args = dict(read_args or {})  # to pandas.read_csv, e.g. {sep: ";"}

    def load(self) -> pd.DataFrame:
        kind = "parquet" if self._filepath.suffix.lower() == ".parquet" else "csv"
        if self._filepath.suffix.lower() not in (".csv", ".parquet"):
            raise DataValidationError(f"{self._filepath}: not a .csv or .parquet file")
        return read_table(self._filepath, kind, self._read_args if kind == "csv" else None)

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError(f"{self._filepath}: incoming files are read-only")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "read_args": self._read_args}


class AtomicParquetDataset(AbstractDataset):
    """Parquet written under a temporary name, then renamed: never a half-written file."""

    def __init__(self, filepath: str) -> None:
        self._filepath = Path(filepath)

    def load(self) -> pd.DataFrame:
        return pd.read_parquet(self._filepath)

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath) as temporary:
            data.to_parquet(temporary, index=False)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class ParquetStream:
    """One Parquet file written a chunk at a time: one pyarrow ParquetWriter, a row group per
    chunk; every chunk must have the columns and types of the first. `metadata`: key-value
    pairs for the file's footer. Use `parquet_stream`, which makes it atomic."""

    def __init__(self, path: Path, metadata: dict[str, str] | None = None) -> None:
        self.path = path
        self.rows = 0
        self.kept: Path | None = None  # ParquetPartitions.writer: the output this one replaced, kept
        self._writer: Any = None
        self._schema: Any = None
        self._metadata = dict(metadata or {})

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema.with_metadata({**(table.schema.metadata or {}), **self._metadata})
            table = table.replace_schema_metadata(self._schema.metadata)
            self._writer = pq.ParquetWriter(self.path, self._schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@contextmanager
def parquet_stream(path: str | Path, metadata: dict[str, str] | None = None) -> Iterator[ParquetStream]:
    """A ParquetStream to `path`, atomic (atomic.atomic_path): the chunks go to a temporary
    file beside it, renamed into place when the block ends without an error and at least one
    chunk was written, removed otherwise.

        with parquet_stream(path) as stream:
            for frame in frames:
                stream.write(frame)
    """
    with atomic_path(path) as temporary:
        stream = ParquetStream(temporary, metadata)
        try:
            yield stream
        finally:
            stream.close()
        if stream.rows == 0 and not temporary.exists():
            raise DatasetError(f"{path}: nothing was written")


# The footer key of a scored output that records the input it was scored from (SourceRecord).
SOURCE_KEY = b"aep.source"
REPLACED = "_replaced"  # where an output replaced by a rescore is kept (hidden from the listings)


@dataclass(frozen=True)
class SourceRecord:
    """What identifies the content of an input file: its size, modification time and SHA-256."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> "SourceRecord":
        stat = path.stat()
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return cls(stat.st_size, stat.st_mtime_ns, digest)

    def same_stat(self, path: Path) -> bool:
        stat = path.stat()
        return (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns)


class ParquetPartitionsDataset(AbstractDataset):
    """A folder of Parquet files, one per partition (`<partition><suffix>`), that a node writes
    itself, a partition at a time, streaming: `load()` returns a ParquetPartitions handle
    (the partitions written so far, and an atomic streaming writer per partition). A Kedro
    output would hold a whole partition in memory; this keeps memory bounded by a chunk."""

    written_by_node = True  # the run's summary lists the folder among its outputs

    def __init__(self, path: str, filename_suffix: str = ".parquet", metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._suffix = filename_suffix
        self.metadata = metadata

    def load(self) -> "ParquetPartitions":
        """The handle, once the folder is known to take outputs (before any file is scored);
        temporary files that killed runs left there are removed (nn.atomic.remove_orphans)."""
        from autoencoder_pipelines.jobs.checks import check_writable

        if self._path.exists() and not self._path.is_dir():
            raise DataValidationError(
                f"{self._path}: is a file, not a folder; the scored outputs go in a folder of that name "
                "(catalog: scored_partitions). Move the file away and run again; nothing was scored")
        check_writable([self._path])
        removed = remove_orphans(self._path, recursive=True)
        if removed:
            logger.info("%s: removed %d temporary file(s) that killed runs left: %s", self._path, len(removed),
                        ", ".join(str(p.relative_to(self._path)) for p in removed[:SKIPPED_SHOWN]))
        return ParquetPartitions(self._path, self._suffix)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._path}: written by the node through the handle that load() returns")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "filename_suffix": self._suffix}


class ParquetPartitions:
    """The scored outputs: one Parquet file per input partition, each recording in its footer
    the input content it was scored from (SourceRecord), so an input that changes under the same
    name is scored again; the output it replaces is kept under `_replaced/`."""

    def __init__(self, path: Path, suffix: str = ".parquet") -> None:
        self.path, self.suffix = Path(path), suffix

    def __repr__(self) -> str:
        return f"ParquetPartitions({str(self.path)!r})"

    def partitions(self) -> set[str]:
        """The partitions with a complete output (never a temporary file, nor a kept one)."""
        if not self.path.is_dir():
            return set()
        found = set()
        for file in self.path.rglob(f"*{self.suffix}"):  # partitions in subfolders too (day=1/a.csv)
            relative = file.relative_to(self.path).as_posix()
            if file.is_file() and not is_temporary(file) and not hidden(relative):
                found.add(relative[: -len(self.suffix)])
        return found

    def file(self, partition: str) -> Path:
        return self.path / f"{partition}{self.suffix}"

    def recorded(self, partition: str) -> SourceRecord | None:
        """The input content the partition's output was scored from; None for an output written
        before outputs recorded it."""
        import pyarrow.parquet as pq

        metadata = pq.read_metadata(self.file(partition)).metadata or {}
        if SOURCE_KEY not in metadata:
            return None
        return SourceRecord(**json.loads(metadata[SOURCE_KEY]))

    def change(self, partition: str, source: Path) -> str | None:
        """Why the partition's input must be scored again: None when its output was scored from
        this very content (same size and time, or the same SHA-256 when only those differ)."""
        try:
            recorded = self.recorded(partition)
        except Exception as error:  # noqa: BLE001 - a damaged output: score the file again
            return f"its output cannot be read: {type(error).__name__}"
        if recorded is None or recorded.same_stat(source):
            return None
        current = SourceRecord.of(source)
        if current.sha256 == recorded.sha256:
            return None  # touched or copied: the same content
        if current.size != recorded.size:
            return f"{recorded.size:,} -> {current.size:,} bytes"
        return "same size, other content"

    @contextmanager
    def writer(self, partition: str, source: Path | None = None) -> Iterator[ParquetStream]:
        """An atomic ParquetStream to the partition's file. With `source`, the output records the
        input's content (read before the first chunk), and is not published when the input
        changes while it is scored; an output it replaces is kept under _replaced/ (the stream's
        `kept`, once the block has ended)."""
        record = SourceRecord.of(source) if source is not None else None
        metadata = {SOURCE_KEY.decode(): json.dumps(asdict(record))} if record is not None else None
        final = self.file(partition)
        with parquet_stream(final, metadata) as stream:
            yield stream
            if record is not None and not record.same_stat(source):
                raise DataValidationError(
                    f"{source}: changed while it was scored (still being written?); nothing published, "
                    "it is scored again on the next run")
            if final.exists():
                stream.kept = self._keep(partition)

    def _keep(self, partition: str) -> Path:
        """A copy of the partition's output under _replaced/, stamped with the time (a hard link
        where the file system has them: the output stays in place until the new one replaces it)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = self.path / REPLACED / f"{partition}.{stamp}{self.suffix}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while kept.exists():
            n += 1
            kept = kept.with_name(f"{partition}.{stamp}-{n}{self.suffix}")
        try:
            os.link(self.file(partition), kept)
        except OSError:
            shutil.copy2(self.file(partition), kept)
        return kept

    def load(self, partition: str) -> pd.DataFrame:
        return pd.read_parquet(self.file(partition))
