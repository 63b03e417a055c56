"""One-line errors at the command line, the tracking-store check, determinism, versioned saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoencoder_pipelines.errors import TrackingStoreError
from autoencoder_pipelines.tracking import check_tracking_store
from tests.test_pipeline_integration import TINY, make_project, run_pipeline


def _kedro(root: Path, *args: str, uri: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_TRACKING_URI": uri or f"sqlite:///{root / 'mlflow.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args, uri, message",
    [
        (["--params=corruption.level=1.5"], None, "Error: Invalid parameters: corruption.level: a masking level is a fraction: expected a value in [0, 1] (got 1.5)"),
        (["--params=data.source=csv,data.path=data/01_raw/none.csv"], None, "Error: data/01_raw/none.csv: file not found"),
        ([], "sqlite:////dev/null/mlflow.db", "Error: MLflow tracking store 'sqlite:////dev/null/mlflow.db' cannot be written"),
    ],
)
def test_user_errors_are_one_line_without_a_traceback(tmp_path, args, uri, message):
    root = make_project(tmp_path, TINY)
    result = _kedro(root, "--pipelines=data_processing", *args, uri=uri)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.strip().splitlines()[-1].startswith(message), output[-2000:]
    assert "Traceback" not in output


def test_tracking_store_check(tmp_path):
    check_tracking_store(f"sqlite:///{tmp_path / 'ok' / 'mlflow.db'}", tmp_path)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(TrackingStoreError, match="'sqlite:///.*a_file/mlflow.db' cannot be written"):
        check_tracking_store(f"sqlite:///{tmp_path / 'a_file' / 'mlflow.db'}", tmp_path)
    with pytest.raises(TrackingStoreError, match="cannot be written"):
        check_tracking_store(f"file://{tmp_path / 'a_file' / 'store'}", tmp_path)
    check_tracking_store("http://tracking.example:5000", tmp_path)  # remote stores are not contacted


def test_same_seed_same_metrics_and_earlier_model_versions_stay(tmp_path):
    root = make_project(tmp_path, TINY)
    run_pipeline(root)
    first = json.loads((root / "data/08_reporting/metrics.json").read_text())
    run_pipeline(root)
    second = json.loads((root / "data/08_reporting/metrics.json").read_text())
    first.pop("run.seconds"), second.pop("run.seconds")
    assert first == second
    for name in ("classifier", "denoiser", "reduction_autoencoder", "anomaly_model"):
        assert len(list((root / "data/06_models" / f"{name}.pkl").iterdir())) == 2, name
