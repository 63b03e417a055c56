"""MLflow tracking: fail at start-up, naming the URI, when the store cannot be written;
kedro-mlflow's hook with its per-node costs removed."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks import MlflowHook as KedroMlflowHook
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from autoencoder_pipelines.errors import TrackingStoreError


def _writable_directory(directory: Path, uri: str, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise TrackingStoreError(
            f"MLflow {what} '{uri}' cannot be written ({error.strerror or error}: {directory}). "
            "Set MLFLOW_TRACKING_URI to a writable store."
        ) from None


def check_tracking_store(uri: str, project_path: Path) -> None:
    """Local stores (sqlite, file) are checked by writing to them; remote ones are not contacted."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db
        raw = unquote(uri[len("sqlite:///"):])
        path = Path(raw) if raw.startswith("/") else project_path / raw
        _writable_directory(path.parent, uri, "tracking store")
        try:
            connection = sqlite3.connect(path)
            connection.execute("CREATE TABLE IF NOT EXISTS _aep_write_check (x)")
            connection.execute("DROP TABLE _aep_write_check")
            connection.close()
        except sqlite3.Error as error:
            raise TrackingStoreError(
                f"MLflow tracking store '{uri}' cannot be written ({error}). Set MLFLOW_TRACKING_URI to a writable store."
            ) from None
        # the SQLite store keeps artifacts in ./mlruns
        _writable_directory(project_path / "mlruns", uri, "artifact store of")
    elif parsed.scheme in ("", "file"):
        _writable_directory(Path(unquote(parsed.path)), uri, "tracking store")


class MlflowHook(KedroMlflowHook):
    """kedro-mlflow's hook, with two costs of its per-node work removed (settings.py registers
    it in place of the plugin's own): ~2 s of a default run on a SQLite store.

    - Each node's parameters go to MLflow in one `log_batch` call, and only those not logged
      yet in this run, instead of one `log_param` call per parameter at every node.
    - The run is re-opened at a node only when it is not already the active run: under MLflow 3
      re-opening pushes a duplicate onto the run stack at every node, each ended with a store
      write after the pipeline.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._logged_params: dict[str, str] = {}
        super().before_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        run_id = self.run_id
        active = mlflow.active_run()
        if run_id is not None and active is not None and active.info.run_id == run_id:
            self.run_id = None  # the parent's guard for "no run to re-open"
        self._pending_params: dict[str, str] = {}
        try:
            super().before_node_run(node, catalog, inputs, is_async)
        finally:
            self.run_id = run_id
        if self._pending_params:
            mlflow.log_params(self._pending_params)
            self._logged_params.update(self._pending_params)

    def _log_param(self, name: str, value: Any) -> None:
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:  # the parent's long-value strategy (fail, tag, truncate)
            return super()._log_param(name, value)
        if self._logged_params.get(name) != text:
            self._pending_params[name] = text
