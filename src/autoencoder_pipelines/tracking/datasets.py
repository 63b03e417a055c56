"""Kedro datasets that log to the active MLflow run and do nothing without one (tracking off):
metric histories, parameters, and files (figures, models) also logged as artifacts."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from autoencoder_pipelines.data.frames import Skipped
from autoencoder_pipelines.jobs.figures import NotApplicable
from autoencoder_pipelines.tracking.store import waiting_for_store

logger = logging.getLogger(__name__)


def _active_run() -> Any:
    mlflow = sys.modules.get("mlflow")  # not imported: this run is not tracked
    return None if mlflow is None else mlflow.active_run()


class _WriteOnly(AbstractDataset):
    """Written to the active MLflow run under `<prefix><name>`, never read back."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix

    def load(self) -> Any:
        raise DatasetError("written to MLflow, not read back: query the run with mlflow.search_runs")

    def _describe(self) -> dict[str, Any]:
        return {"prefix": self._prefix}


class MlflowMetricsDataset(_WriteOnly):
    """Saves `{"name": [{"value": v, "step": i}, ...]}` (one series per name, names prefixed) in
    one MlflowClient.log_batch call, which MLflow splits into batches of its size: ~1,800
    per-epoch values, one value per call, took 22 s against the SQLite store."""

    def save(self, data: dict[str, list[dict[str, float]]]) -> None:
        run = _active_run()
        if run is None:
            return
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"{self._prefix}{name}", float(item["value"]), now, int(item.get("step", 0)))
                   for name, items in data.items() for item in items]
        waiting_for_store(lambda: MlflowClient().log_batch(run.info.run_id, metrics=metrics), "logging metrics")


class MlflowParamsDataset(_WriteOnly):
    """Saves a flat `{name: value}` as parameters `<prefix><name>` of the active MLflow run."""

    def save(self, data: dict[str, Any]) -> None:
        if _active_run() is not None:
            import mlflow

            params = {f"{self._prefix}{name}": str(value) for name, value in data.items()}
            waiting_for_store(lambda: mlflow.log_params(params), "logging parameters")


class ArtifactDataset(AbstractDataset):
    """Any file dataset whose saved file is also logged to the active MLflow run, under
    `artifact_path` (figures/, models/, ...). The file is written first, so nothing is lost
    when tracking is off or fails; loading reads the local file. A figure that does not apply
    (jobs.figures.NotApplicable) is neither written nor logged, and the file an earlier run left
    at that path is removed, so that no older figure passes for this run's.

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
        self._filepath, self._artifact_path, self._versioned = config["filepath"], artifact_path, version is not None
        self._inner = AbstractDataset.from_config(
            f"{self._filepath} (in ArtifactDataset)", {**config, "versioned": self._versioned},
            load_version=None if version is None else version.load,
            save_version=None if version is None else version.save,
        )

    def load(self) -> Any:
        return self._inner.load()

    def save(self, data: Any) -> None:
        if isinstance(data, NotApplicable):
            old = Path(self._filepath)
            removed = not self._versioned and old.is_file()
            if removed:
                old.unlink()
            logger.info("%s: no figure, %s%s", self._filepath, data, " (removed an earlier run's)" if removed else "")
            return
        if isinstance(data, Skipped) and not getattr(self._inner, "saves_skipped", False):
            return  # nothing made this run (e.g. no file scored): the last file stays
        self._inner.save(data)
        run = _active_run()
        if run is not None:
            from mlflow import MlflowClient

            path = getattr(self._inner, "saved_path", None) or self._filepath
            MlflowClient().log_artifact(run.info.run_id, str(path), self._artifact_path)

    def _exists(self) -> bool:
        return self._inner.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._inner._describe(), "artifact_path": self._artifact_path}
