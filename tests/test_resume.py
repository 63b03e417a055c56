"""Kill a real `kedro run` mid-training, restart it with the same config: it resumes from
the last checkpoint of its own checkpoint folder and ends with exactly the metrics of an
uninterrupted run (CPU); on success it removes that folder, and only that folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def _kedro(project) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": project.uri, "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines=denoise"],
        cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _metrics(project) -> dict:
    metrics = project.metrics()
    metrics.pop("run.seconds")
    return metrics


def test_a_killed_run_resumes_to_the_uninterrupted_result(make_project, tiny):
    config = {**tiny, "finetune": {"epochs": 40, "batch_size": 128, "patience": None},
              "reduction": {**tiny["reduction"], "sweep_code_sizes": []},
              "runtime": {**tiny["runtime"], "log_every": 1, "checkpoint_seconds": 0}}  # a checkpoint every epoch
    reference, killed = make_project(config, name="reference"), make_project(config, name="killed")
    victim = _kedro(killed)
    checkpoints = killed.path("data/06_models/checkpoints")
    deadline = time.time() + 240
    while not list(checkpoints.glob("denoise-*/finetune.pt")) and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, "the run ended before the fine-tuning checkpoint appeared"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not killed.path("data/08_reporting/metrics.json").exists()
    (own,) = checkpoints.iterdir()
    other = checkpoints / "denoise-0123456789ab"  # another run's, interrupted earlier
    other.mkdir()
    (other / "finetune.pt").write_bytes(b"another run's checkpoint")

    restarted = _kedro(killed)
    reference.run()  # the uninterrupted run, in this process while the restart runs in its own
    output, _ = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, output[-3000:]
    assert "finetune: resuming at epoch" in output
    assert "pretrain.layer_1: finished earlier" in output
    assert _metrics(killed) == _metrics(reference)
    assert not own.exists(), "a successful run removes its checkpoint folder"
    assert (other / "finetune.pt").read_bytes() == b"another run's checkpoint", "and never another run's"
    # the killed process left its MLflow run RUNNING: the restart marked it KILLED
    assert sorted(run.info.status for run in killed.runs()) == ["FINISHED", "KILLED"]
