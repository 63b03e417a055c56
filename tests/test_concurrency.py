"""Runs beside each other: one training per data folder (a second one waits, saying who holds
the folder, or refuses at once), scoring beside a training, a new MLflow store created once
however many processes start on it, and checkpoint folders owned by their run."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from autoencoder_pipelines.config import validate_parameters
from autoencoder_pipelines.framework.locks import FolderBusyError, TrainingLock
from autoencoder_pipelines.jobs.runtime import checkpoint_folder, run_key

HOLD = (
    "import sys\n"
    "from autoencoder_pipelines.framework.locks import TrainingLock\n"
    "lock = TrainingLock(sys.argv[1])\n"
    "lock.acquire()\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
    "lock.release()\n"
)


@pytest.fixture
def holder(tmp_path):
    """Another process holding the training lock of tmp_path/data until `release()`."""
    folder = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"

    def release():
        if process.poll() is None:
            process.stdin.close()
            process.wait(timeout=30)

    process.folder, process.release = folder, release
    yield process
    release()


def test_a_second_training_refuses_at_once_naming_the_holder(holder):
    lock = TrainingLock(holder.folder)
    started = time.monotonic()
    with pytest.raises(FolderBusyError) as error:
        lock.acquire("refuse")
    assert time.monotonic() - started < 2
    message = str(error.value)
    assert f"another training is running in this folder (pid {holder.pid} on " in message
    assert "--params=data_dir=<folder>" in message and "\n" not in message
    assert error.value.exit_code == 75 and not lock.held


def test_a_second_training_waits_and_says_so(holder, caplog):
    lock = TrainingLock(holder.folder)
    threading.Timer(1.0, holder.release).start()
    with caplog.at_level(logging.INFO, logger="autoencoder_pipelines.framework.locks"):
        lock.acquire("wait", poll_seconds=0.3)
    try:
        assert lock.held
        messages = [record.getMessage() for record in caplog.records]
        assert any(f"another training is running in this folder (pid {holder.pid} on" in m and "waiting" in m
                   for m in messages), messages
        assert any("has finished" in m for m in messages), messages
        assert f'"pid": {os.getpid()}' in (holder.folder / ".training.owner.json").read_text()
    finally:
        lock.release()
    assert not (holder.folder / ".training.owner.json").exists()


def test_two_trainings_started_together_in_one_folder_run_one_after_the_other(make_project):
    """Two real `kedro run`s at the same moment on a new project (and a new MLflow store)."""
    project = make_project()
    env = {**os.environ, "MLFLOW_TRACKING_URI": project.uri, "KEDRO_DISABLE_TELEMETRY": "1",
           "COLUMNS": "400"}  # log lines unwrapped
    command = [sys.executable, "-m", "kedro", "run", "--pipelines=data_processing"]
    runs = [subprocess.Popen(command, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    waited = [o for o in outputs if "another training is running in this folder" in o]
    assert len(waited) == 1, "exactly one run waited for the other"
    other = next(run for run, output in zip(runs, outputs, strict=True) if output not in waited)
    assert f"(pid {other.pid} on" in waited[0], waited[0][-2000:]
    assert project.runs() == []  # data_processing is not tracked (mlflow.yml); the store test is below


START_TOGETHER = (
    "import os, sys, time\n"
    "from pathlib import Path\n"
    "import mlflow, sqlalchemy  # imported before the barrier: the processes then start together\n"
    "from autoencoder_pipelines.tracking.store import prepare_store\n"
    "Path(f'ready-{os.getpid()}').touch()\n"
    "while len(list(Path.cwd().glob('ready-*'))) < int(sys.argv[2]): time.sleep(0.001)\n"
    "print(prepare_store(sys.argv[1], Path.cwd(), 'autoencoder_pipelines'))\n"
)


def test_processes_starting_together_on_a_new_store_create_it_once(tmp_path):
    """Without the store lock, all but one of such processes crashed in MLflow's table creation."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    count = 3
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    processes = [subprocess.Popen([sys.executable, "-c", START_TOGETHER, uri, str(count)], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(count)]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * count, "\n".join(o[-1500:] for o in outputs)
    assert len({o.strip().splitlines()[-1] for o in outputs}) == 1, "one experiment, the same id for all"


def test_the_checkpoint_folder_of_a_run_is_stable_across_restarts_and_its_own(tmp_path):
    sections = validate_parameters({"pretrain": {"epochs": 3}})
    run = {"pipeline_names": ["denoise"], "tags": ()}
    key = run_key(sections, run, tmp_path / "data")
    assert run_key(validate_parameters({"pretrain": {"epochs": 3}}), dict(run), tmp_path / "data") == key
    # settings that do not change the result: the same run (a restart finds its checkpoints)
    same = validate_parameters({"pretrain": {"epochs": 3}, "runtime": {"log_every": 1, "on_busy": "refuse"}})
    assert run_key(same, run, tmp_path / "data") == key
    for other in (validate_parameters({"pretrain": {"epochs": 4}}),):
        assert run_key(other, run, tmp_path / "data") != key
    assert run_key(sections, {**run, "pipeline_names": ["anomaly"]}, tmp_path / "data") != key
    assert run_key(sections, run, tmp_path / "elsewhere") != key
    table = tmp_path / "t.csv"
    table.write_text("a\n1\n")
    with_file = validate_parameters({"data": {"source": "csv", "path": str(table)}})
    first = run_key(with_file, run, tmp_path / "data")
    table.write_text("a\n1\n2\n")  # the data changed: another run
    assert run_key(with_file, run, tmp_path / "data") != first
    assert checkpoint_folder(tmp_path / "ck", run, key) == tmp_path / "ck" / f"denoise-{key[:12]}"
