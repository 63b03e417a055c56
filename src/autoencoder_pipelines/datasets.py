"""Catalog datasets the libraries do not offer as needed."""

from __future__ import annotations

import time

from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

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
