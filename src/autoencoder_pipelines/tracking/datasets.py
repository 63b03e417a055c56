"""Metrics for the run: per-epoch histories and final figures, logged in batches."""

from __future__ import annotations

import sys
import time
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from autoencoder_pipelines.data.frames import Skipped

# MLflow's limit of metrics per log_batch call (mlflow.utils.validation).
METRICS_PER_CALL = 1000


class MlflowMetricsDataset(AbstractDataset):
    """Saves `{"name": [{"value": v, "step": i}, ...]}` (one series per name)
    to the active MLflow run with `MlflowClient.log_batch`: ~1,800 per-epoch values are two
    calls, where logging one value per call took 22 s against the SQLite store. Without an
    active run (tracking off) it does nothing. Write-only."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix

    def save(self, data: dict[str, list[dict[str, float]]]) -> None:
        mlflow = sys.modules.get("mlflow")  # None: this run is not tracked
        run = None if mlflow is None else mlflow.active_run()
        if run is None:
            return
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        metrics = [
            Metric(f"{self._prefix}{name}", float(item["value"]), timestamp, int(item.get("step", 0)))
            for name, items in data.items()
            for item in items
        ]
        client = mlflow.MlflowClient()
        for start in range(0, len(metrics), METRICS_PER_CALL):
            client.log_batch(run.info.run_id, metrics=metrics[start : start + METRICS_PER_CALL])

    def load(self) -> Any:
        raise DatasetError("metrics are written to MLflow, not read back: query the run with mlflow.search_runs")

    def _describe(self) -> dict[str, Any]:
        return {"prefix": self._prefix}


class MlflowParamsDataset(AbstractDataset):
    """Saves a flat `{name: value}` as parameters `<prefix><name>` of the active MLflow run
    (nothing without one). Write-only."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix

    def save(self, data: dict[str, Any]) -> None:
        mlflow = sys.modules.get("mlflow")  # None: this run is not tracked
        if mlflow is not None and mlflow.active_run() is not None:
            mlflow.log_params({f"{self._prefix}{name}": str(value) for name, value in data.items()})

    def load(self) -> Any:
        raise DatasetError("parameters are written to MLflow, not read back: query the run with mlflow.search_runs")

    def _describe(self) -> dict[str, Any]:
        return {"prefix": self._prefix}


class ArtifactDataset(AbstractDataset):
    """Any file dataset whose saved file is also logged to the active MLflow run, under
    `artifact_path` (figures/, models/, ...). The file is written first, so nothing is lost
    when tracking is off or fails; loading reads the local file.

        learning_curves_plot:
          type: autoencoder_pipelines.tracking.datasets.ArtifactDataset
          artifact_path: figures
          dataset: {type: matplotlib.MatplotlibDataset, filepath: data/08_reporting/curves.png}

    With `versioned: true` here, the wrapped dataset is versioned with the catalog's version.
    """

    def __init__(
        self, dataset: dict[str, Any], artifact_path: str | None = None, version: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata  # kedro-viz reads its layer here
        config = dict(dataset)
        self._filepath = config["filepath"]
        self._inner = AbstractDataset.from_config(
            f"{self._filepath} (in ArtifactDataset)", {**config, "versioned": version is not None},
            load_version=None if version is None else version.load,
            save_version=None if version is None else version.save,
        )
        self._artifact_path = artifact_path

    def load(self) -> Any:
        return self._inner.load()

    def save(self, data: Any) -> None:
        if isinstance(data, Skipped):  # nothing made this run (e.g. no file scored): the last file stays
            return
        self._inner.save(data)
        mlflow = sys.modules.get("mlflow")  # None: this run is not tracked
        run = None if mlflow is None else mlflow.active_run()
        if run is not None:
            path = getattr(self._inner, "saved_path", None) or self._filepath
            mlflow.MlflowClient().log_artifact(run.info.run_id, str(path), self._artifact_path)

    def _exists(self) -> bool:
        return self._inner.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._inner._describe(), "artifact_path": self._artifact_path}
