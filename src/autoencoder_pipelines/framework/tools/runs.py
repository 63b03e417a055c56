"""Run `denoise` once per point as MLflow runs nested under one parent, each point writing to
its own folder; publish a table and a figure beside them."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

NOT_REGISTERED = {"register_model": False, "promote": False}


def tool_folder(project_path: Path, tool: str) -> Path:
    """data/tools/<tool>/<UTC timestamp>/: a new folder per invocation, so nothing is overwritten."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = project_path / "data" / "tools" / tool / stamp
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def run_nested(
    project_path: Path, folder: Path, points: list[tuple[str, dict[str, Any]]], parent_name: str, env: str | None
) -> tuple[list[dict[str, Any]], str]:
    """Run `denoise` once per (run name, runtime params), the point's outputs under
    folder/<run name>; returns each point's metrics.json (plus seconds) and the parent run id."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from autoencoder_pipelines.config import TrackingConfig
    from autoencoder_pipelines.tracking.store import default_tracking_uri, prepare_store

    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        config = TrackingConfig.model_validate(session.load_context().config_loader.get("mlflow") or {})
    uri = config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(project_path)
    prepare_store(uri, project_path, config.experiment)
    results = []
    with mlflow.start_run(run_name=parent_name, tags={"aep.tool_folder": str(folder)}) as parent:
        for run_name, params in points:
            started = time.perf_counter()
            data_dir = folder / run_name
            with mlflow.start_run(run_name=run_name, nested=True):
                # A tool's runs are experiments: their models are logged with the run, never
                # registered or promoted (register one by hand: docs/scoring.md, the model scoring uses).
                runtime_params = {**params, "data_dir": str(data_dir), "registry": NOT_REGISTERED}
                with KedroSession.create(project_path=project_path, env=env, runtime_params=runtime_params) as session:
                    session.run(pipeline_names=["denoise"])
            metrics = json.loads((data_dir / "08_reporting" / "metrics.json").read_text())
            results.append({**metrics, "seconds": time.perf_counter() - started})
            print(f"{run_name}: done in {results[-1]['seconds']:.1f} s", flush=True)
    return results, parent.info.run_id


def publish(folder: Path, stem: str, table: pd.DataFrame, figure: Any, parent_run_id: str) -> list[Path]:
    """folder/<stem>.csv and .png, also logged to the parent run."""
    import mlflow

    from autoencoder_pipelines.nn.atomic import atomic_path

    paths = [folder / f"{stem}.csv", folder / f"{stem}.png"]
    with atomic_path(paths[0]) as temporary:
        table.to_csv(temporary, index=False)
    with atomic_path(paths[1]) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    client = mlflow.MlflowClient()
    for path in paths:
        client.log_artifact(parent_run_id, str(path))
    return paths


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
