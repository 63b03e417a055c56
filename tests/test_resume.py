"""Kill a real `kedro run` mid-training, restart it with the same config: it resumes from
the last checkpoint and ends with exactly the metrics of an uninterrupted run (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_pipeline_integration import TINY, make_project

CONFIG = {
    **TINY,
    "finetune": {"epochs": 40, "batch_size": 128, "patience": None},
    "runtime": {**TINY["runtime"], "log_every": 1},
}
VOLATILE = ("run.seconds",)


def _kedro(root: Path) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines=denoise"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _metrics(root: Path) -> dict:
    metrics = json.loads((root / "data/08_reporting/metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in VOLATILE}


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "killed").mkdir()
    reference = make_project(tmp_path / "reference", CONFIG)
    killed = make_project(tmp_path / "killed", CONFIG)

    full = _kedro(reference)
    output, _ = full.communicate(timeout=300)
    assert full.returncode == 0, output[-3000:]

    victim = _kedro(killed)
    checkpoint = killed / "data/06_models/checkpoints/finetune.pt"
    deadline = time.time() + 240
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, "the run ended before the fine-tuning checkpoint appeared"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (killed / "data/08_reporting/metrics.json").exists()

    restarted = _kedro(killed)
    output, _ = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, output[-3000:]
    assert "finetune: resuming at epoch" in output
    assert "pretrain.layer_1: finished earlier" in output
    assert _metrics(killed) == _metrics(reference)
    assert not list((killed / "data/06_models/checkpoints").glob("*.pt")), "a successful run clears its checkpoints"
