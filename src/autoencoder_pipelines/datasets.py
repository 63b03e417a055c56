"""Catalog datasets the libraries do not offer as needed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from kedro.io import AbstractDataset, DatasetError, Version
from kedro_datasets.partitions import PartitionedDataset
from kedro_datasets.pickle import PickleDataset
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from autoencoder_pipelines.data import read_table
from autoencoder_pipelines.errors import DataValidationError

# MLflow's limit for metrics in one log_batch call.
_BATCH = 1000


class BatchedMlflowMetricsHistoryDataset(MlflowMetricsHistoryDataset):
    """kedro-mlflow's MlflowMetricsHistoryDataset, saved with `log_batch`.

    The parent logs one value per call: ~1,800 per-epoch values took 22.6 s against the
    SQLite store; batched, the same history is one call per 1,000 values. Format and
    loading are the parent's: `{"name": [{"value": v, "step": i}, ...]}`.
    """

    def _save(self, data: dict) -> None:
        if not self._logging_activated:
            return
        client = MlflowClient()
        run_id = self.run_id
        timestamp = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), timestamp, int(step))
            for name, item in data.items()
            for key, value, step in self._build_args_list_from_metric_item(name, item)
        ]
        for start in range(0, len(metrics), _BATCH):
            client.log_batch(run_id, metrics=metrics[start : start + _BATCH])


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

    def __init__(self, filepath: str) -> None:
        self._filepath = Path(filepath)

    def load(self) -> pd.DataFrame:
        kind = "parquet" if self._filepath.suffix.lower() == ".parquet" else "csv"
        if self._filepath.suffix.lower() not in (".csv", ".parquet"):
            raise DataValidationError(f"{self._filepath}: not a .csv or .parquet file")
        return read_table(self._filepath, kind)

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError(f"{self._filepath}: incoming files are read-only")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class AtomicParquetDataset(AbstractDataset):
    """Parquet written under a temporary name, then renamed: never a half-written file."""

    def __init__(self, filepath: str) -> None:
        self._filepath = Path(filepath)

    def load(self) -> pd.DataFrame:
        return pd.read_parquet(self._filepath)

    def save(self, data: pd.DataFrame) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._filepath.with_name(f".{self._filepath.name}.tmp")
        try:
            data.to_parquet(temporary, index=False)
            os.replace(temporary, self._filepath)
        finally:
            temporary.unlink(missing_ok=True)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class ScorerDataset(AbstractDataset):
    """The trained scorer: the newest version saved in `filepath` (a versioned pickle), or
    the MLflow model at `model_uri` when one is given."""

    def __init__(self, filepath: str, model_uri: str | None = None) -> None:
        self._filepath = filepath
        self._model_uri = model_uri or None

    def load(self) -> Any:
        if self._model_uri:
            import mlflow.pyfunc

            return mlflow.pyfunc.load_model(self._model_uri).unwrap_python_model()
        if not Path(self._filepath).is_dir():
            raise DataValidationError(
                f"{self._filepath}: no trained scorer; run `kedro run --pipelines=denoise` first, "
                "or set model_uri to an MLflow model"
            )
        return PickleDataset(filepath=self._filepath, version=Version(None, None)).load()

    def save(self, data: Any) -> None:
        raise DatasetError("the scorer is saved by training (scoring_model), not by scoring")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "model_uri": self._model_uri}
