"""`denoise` with runtime.strategy=ddp, launched both ways: workers started by the training
nodes (2 CPU processes), and the whole run under torchrun (two single-process "nodes" joined
by a c10d rendezvous, as on two machines). Each gives one MLflow run, one set of outputs, and
quality within noise of a single-process run."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from autoencoder_pipelines.config import ConfigError, validate_parameters
from autoencoder_pipelines.hooks import DistributedRunHook
from autoencoder_pipelines.nn.distributed import is_rank_zero, local_device
from autoencoder_pipelines.runtime import setup_runtime
from tests.test_pipeline_integration import TINY, make_project, run_pipeline

PHASES = ("pretrain", "finetune", "denoiser", "reduction", "anomaly")
KEDRO = Path(sys.executable).with_name("kedro")


def _config(batch_size: int, runtime: dict) -> dict:
    config = {
        **TINY,
        "runtime": {**TINY["runtime"], **runtime},
        "pretrain": {"epochs": 3},
        "finetune": {"epochs": 10, "patience": None, "learning_rate": 0.01},
        "denoiser": {"epochs": 15},
        "reduction": {"epochs": 15, "sweep_code_sizes": []},
        "anomaly": {"epochs": 3},
    }
    for phase in PHASES:
        config[phase]["batch_size"] = batch_size
    return config


def _metrics(root: Path) -> dict:
    return json.loads((root / "data/08_reporting/metrics.json").read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    root = make_project(tmp_path_factory.mktemp("single"), _config(64, {}))
    run_pipeline(root)
    return _metrics(root)


def _check_one_run_and_quality(root: Path, uri: str, single: dict) -> MlflowClient:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("autoencoder_pipelines").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["runtime.strategy"] == "ddp"
    assert len(list((root / "data/06_models/denoiser.pkl").iterdir())) == 1
    assert len(pd.read_parquet(root / "data/07_model_output/embeddings.parquet")) == 1797
    parallel = _metrics(root)
    assert parallel["denoise.test_mse_denoised"] < parallel["denoise.test_mse_noisy"]
    for key in ("denoise.test_mse_denoised", "reduction.ae_test_mse"):
        assert abs(parallel[key] - single[key]) <= 0.15 * single[key], (key, parallel[key], single[key])
    assert abs(parallel["finetune.test_accuracy"] - single["finetune.test_accuracy"]) <= 0.05
    return runs[0]


def test_node_launched_workers_match_a_single_process_run(tmp_path, single):
    # two processes with half the batch each: the same global batch and steps as the single run
    make_project(tmp_path, _config(32, {"strategy": "ddp", "num_processes": 2}))
    uri = run_pipeline(tmp_path)
    _check_one_run_and_quality(tmp_path, uri, single)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_run_under_torchrun_on_two_nodes_matches_a_single_process_run(tmp_path, single):
    make_project(tmp_path, _config(32, {"strategy": "ddp"}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "KEDRO_DISABLE_TELEMETRY": "1"}
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
        "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{_free_port()}", "--rdzv-id=test",
        "--no-python", str(KEDRO), "run", "--pipelines=denoise",
    ]
    nodes = [
        subprocess.Popen(launch, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(output[-3000:] for output in outputs)
    assert sum("rank 0 of 2 (cpu, gloo)" in output for output in outputs) == 1

    run = _check_one_run_and_quality(tmp_path, uri, single)
    assert run.data.params["distributed.world_size"] == "2"
    assert run.data.params["distributed.backend"] == "gloo"


def test_torchrun_with_the_single_strategy_is_refused(monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ConfigError, match=r"torchrun started 4 processes; add --params=runtime.strategy=ddp"):
        validate_parameters({"runtime": {"device": "cpu"}})


def test_ddp_on_a_gpu_without_torchrun_says_how_to_launch_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"launch one process per GPU with torchrun"):
        validate_parameters({"runtime": {"device": "cuda", "strategy": "ddp"}})


def test_under_torchrun_each_process_takes_its_local_gpu_and_only_rank_zero_writes(monkeypatch):
    assert is_rank_zero() and local_device(torch.device("cuda")) == torch.device("cuda")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert local_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert local_device(torch.device("cpu")) == torch.device("cpu")
    assert not is_rank_zero()


def _torchrun_env(monkeypatch, rank: int, world_size: int) -> None:
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(rank))


class _Catalog:
    def load(self, name):
        return {"runtime": {"device": "cpu", "strategy": "ddp"}}


@pytest.mark.parametrize(
    "run_params, message",
    [
        ({"only_missing_outputs": True, "runner": "None"}, "--only-missing-outputs cannot be used under torchrun"),
        ({"runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x1>"}, "need the SequentialRunner"),
    ],
)
def test_run_options_that_would_desynchronise_ranks_are_refused(monkeypatch, run_params, message):
    _torchrun_env(monkeypatch, rank=0, world_size=2)
    with pytest.raises(ConfigError, match=message):
        DistributedRunHook().before_pipeline_run(run_params=run_params, pipeline=None, catalog=_Catalog())


def test_torchrun_with_one_process_is_a_single_process_run(monkeypatch):
    _torchrun_env(monkeypatch, rank=0, world_size=1)
    validate_parameters({"runtime": {"device": "cpu"}})  # no refusal: nothing to keep in step
    runtime = setup_runtime({"device": "cpu", "strategy": "ddp", "num_processes": 4})
    assert runtime.world_size == 1  # torchrun's world, not num_processes


def test_only_rank_zero_keeps_its_log_files(monkeypatch, tmp_path):
    root = logging.getLogger()
    handler = logging.FileHandler(tmp_path / "info.log")
    root.addHandler(handler)
    try:
        _torchrun_env(monkeypatch, rank=0, world_size=2)
        DistributedRunHook().after_context_created()
        assert handler in root.handlers
        _torchrun_env(monkeypatch, rank=1, world_size=2)
        DistributedRunHook().after_context_created()
        assert handler not in root.handlers
    finally:
        root.removeHandler(handler)
        handler.close()
