"""Data-parallel training under torchrun: two single-process "nodes" joined by a c10d
rendezvous (as on two machines) give one MLflow run, one set of outputs, and quality within
noise of a single-process run; the launch rules refuse what would desynchronise ranks."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from autoencoder_pipelines.config import RuntimeParams
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.framework.hooks import DistributedRunHook
from autoencoder_pipelines.jobs.runtime import resolve_runtime
from autoencoder_pipelines.nn.distributed import local_device
from autoencoder_pipelines.nn.launch import is_rank_zero

PHASES = ("pretrain", "finetune", "denoiser", "reduction", "anomaly")
KEDRO = Path(sys.executable).with_name("kedro")


def _config(tiny: dict, batch_size: int, strategy: str) -> dict:
    config = {
        **tiny,
        "runtime": {**tiny["runtime"], "strategy": strategy},
        "pretrain": {"epochs": 3},
        "finetune": {"epochs": 6, "patience": None, "learning_rate": 0.01},
        "denoiser": {"epochs": 8},
        "reduction": {"epochs": 8, "sweep_code_sizes": [], "clustering": {"enabled": False}},
        "anomaly": {"epochs": 3},
    }
    for phase in PHASES:
        config[phase]["batch_size"] = batch_size
    return config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_run_under_torchrun_on_two_nodes_matches_a_single_process_run(make_project, tiny):
    single = make_project(_config(tiny, 64, "single"), name="single")
    single.run()
    # two processes with half the batch each: the same global batch and steps as the single run
    project = make_project(_config(tiny, 32, "ddp"), name="ddp")
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
        "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{_free_port()}", "--rdzv-id=test",
        "--no-python", str(KEDRO), "run", "--pipelines=denoise",
    ]
    env = {**__import__("os").environ, "MLFLOW_TRACKING_URI": project.uri, "KEDRO_DISABLE_TELEMETRY": "1"}
    # Each node's output goes to a file: read from pipes one after the other, a node whose pipe
    # filled up (64 KiB of log) would block while the other waits for it in a collective.
    logs = [project.path(f"node_{i}.log") for i in range(2)]
    nodes = []
    for log in logs:
        with log.open("w") as out:
            nodes.append(subprocess.Popen(launch, cwd=project.root, env=env, stdout=out, stderr=subprocess.STDOUT, text=True))
    for node in nodes:
        node.wait(timeout=300)
    outputs = [log.read_text() for log in logs]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(output[-3000:] for output in outputs)
    assert sum("rank 0 of 2 (cpu, gloo)" in output for output in outputs) == 1

    (run,) = project.runs()
    assert run.info.status == "FINISHED" and run.data.params["runtime.strategy"] == "ddp"
    assert run.data.params["distributed.world_size"] == "2" and run.data.params["distributed.backend"] == "gloo"
    assert len(list(project.path("data/06_models/denoiser.pt").iterdir())) == 1
    assert len(pd.read_parquet(project.path("data/07_model_output/embeddings.parquet"))) == 1797
    parallel, reference = project.metrics(), single.metrics()
    assert parallel["denoise.test_mse_denoised"] < parallel["denoise.test_mse_noisy"]
    for key in ("denoise.test_mse_denoised", "reduction.ae_test_mse"):
        assert abs(parallel[key] - reference[key]) <= 0.15 * reference[key], (key, parallel[key], reference[key])
    assert abs(parallel["finetune.test_accuracy"] - reference["finetune.test_accuracy"]) <= 0.05


def test_torchrun_with_the_single_strategy_is_refused(monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ConfigError, match=r"torchrun started 4 processes; add --params=runtime.strategy=ddp"):
        resolve_runtime(RuntimeParams(device="cpu"))


def test_ddp_without_torchrun_says_how_to_launch_it():
    with pytest.raises(ConfigError, match=r"under torchrun, e.g. `torchrun --nnodes=1 --rdzv-backend=c10d "
                                          r"--rdzv-endpoint=127.0.0.1:0 --nproc-per-node=2"):
        resolve_runtime(RuntimeParams(device="cpu", strategy="ddp"))


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
        return resolve_runtime(RuntimeParams(device="cpu", strategy="ddp"))


@pytest.mark.parametrize(
    "run_params, message",
    [
        ({"only_missing_outputs": True, "runner": "None"}, "--only-missing-outputs cannot be used under torchrun"),
        ({"runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x1>"}, "need the SequentialRunner"),
    ],
)
def test_run_options_that_would_desynchronise_ranks_are_refused(monkeypatch, run_params, message):
    _torchrun_env(monkeypatch, rank=0, world_size=2)
    catalog = _Catalog()
    with pytest.raises(ConfigError, match=message):
        DistributedRunHook().before_pipeline_run(run_params=run_params, pipeline=None, catalog=catalog)


def test_torchrun_with_one_process_is_a_single_process_run(monkeypatch):
    _torchrun_env(monkeypatch, rank=0, world_size=1)
    assert resolve_runtime(RuntimeParams(device="cpu")).params.strategy == "single"  # nothing to keep in step


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


def test_on_one_machine_the_process_group_listens_on_loopback_only(monkeypatch):
    from autoencoder_pipelines.nn.distributed import (
        bind_to_loopback,
        loopback_interface,
    )

    assert loopback_interface() == "lo"
    for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two machines: the user's network settings
    assert bind_to_loopback() is None and "GLOO_SOCKET_IFNAME" not in os.environ
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", "ib0")  # a user's own choice wins
    assert bind_to_loopback() == "lo"
    assert os.environ["GLOO_SOCKET_IFNAME"] == "lo" and os.environ["NCCL_SOCKET_IFNAME"] == "ib0"


def test_the_documented_single_machine_commands_keep_the_rendezvous_on_loopback():
    page = (Path(__file__).resolve().parents[1] / "docs" / "gpu.md").read_text()
    section = page[page.index("## Data-parallel training"):]
    commands = [line for line in section.splitlines() if "torchrun" in line and line.lstrip().startswith(".venv")]
    assert commands and not any("--standalone" in line for line in commands)
    single = [line for line in commands if "--nnodes=2" not in line]
    assert single and all("--rdzv-endpoint=127.0.0.1:0" in line for line in single)
