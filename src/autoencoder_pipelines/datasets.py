"""Catalog datasets the libraries do not offer as needed."""

from __future__ import annotations

import json
from pathlib import PurePosixPath, Path
from typing import Any, Callable

import pandas as pd
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset
from kedro_datasets.yaml import YAMLDataset as _YAMLDataset
from kedro_datasets.partitions import PartitionedDataset

from autoencoder_pipelines.atomic import AtomicWrites, atomic_path, write_text
from autoencoder_pipelines.data import Skipped, read_table
from autoencoder_pipelines.errors import DataValidationError


# kedro-datasets' file datasets, written atomically (atomic.AtomicWrites): what catalog.yml uses.
class ParquetDataset(AtomicWrites, _ParquetDataset):
    """pandas.ParquetDataset, written to a temporary file and renamed into place."""


class CSVDataset(AtomicWrites, _CSVDataset):
    """pandas.CSVDataset, written to a temporary file and renamed into place."""


class JSONDataset(AtomicWrites, _JSONDataset):
    """json.JSONDataset, written to a temporary file and renamed into place."""


class MatplotlibDataset(AtomicWrites, _MatplotlibDataset):
    """matplotlib.MatplotlibDataset, written to a temporary file and renamed into place."""


class YAMLDataset(AtomicWrites, _YAMLDataset):
    """yaml.YAMLDataset, written to a temporary file and renamed into place."""


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

    def __init__(self, filepath: str, version: Version | None = None) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.saved_path: Path | None = None  # the file the last save wrote (for tracking.ArtifactDataset)

    def load(self) -> Any:
        path = Path(self._get_load_path())
        if path.suffix == ".json" or (path.is_file() and path.read_bytes()[:1] == b"{"):
            return Skipped(json.loads(path.read_text())["skipped"])
        from autoencoder_pipelines.nn.serialization import ModelFileError, load_bundle
        from autoencoder_pipelines.scoring import Scorer

        try:
            meta, parts = load_bundle(path)
        except ModelFileError as error:
            raise DataValidationError(str(error)) from None
        if "schema" in meta:
            return Scorer.from_parts(meta, parts)
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



class OptionalPartitionedDataset(PartitionedDataset):
    """A PartitionedDataset that loads an empty or missing folder as no partitions.

    An empty inbox is the normal state of a scheduled scoring job, not an error.
    """

    def load(self) -> dict[str, Callable[[], Any]]:
        try:
            return super().load()
        except DatasetError as error:
            if "No partitions found" in str(error):
                return {}
            raise


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
