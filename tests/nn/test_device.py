"""Device and precision settings: what they resolve to on machines with and without GPUs
(simulated: torch only reports what is available)."""

import pytest
import torch

from autoencoder_pipelines.nn.device import (
    DeviceUnavailableError,
    autocast,
    resolve_device,
    resolve_precision,
)


@pytest.fixture
def machine(monkeypatch):
    """`machine(cuda=N, mps=bool)`: make torch report N CUDA devices and whether MPS exists."""

    def simulate(cuda: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return simulate


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(0, False, "cpu"), (0, True, "mps"), (2, False, "cuda"), (1, True, "cuda")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda, mps)
    assert resolve_device("auto") == torch.device(expected)


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1"),
                                            ("mps", "mps")])
def test_available_devices_resolve_to_themselves(machine, name, expected):
    machine(cuda=2, mps=True)
    assert resolve_device(name) == torch.device(expected)


@pytest.mark.parametrize(
    "name, cuda, message",
    [
        ("cuda", 0, "runtime.device is 'cuda' but CUDA is not available"),
        ("cuda:1", 0, "runtime.device is 'cuda:1' but CUDA is not available"),
        ("cuda:2", 2, "only 2 CUDA device\\(s\\) exist \\(cuda:0..cuda:1\\)"),
        ("mps", 1, "no Apple MPS device"),
        ("tpu", 1, "runtime.device is 'tpu'; expected one of auto, cpu, cuda, cuda:N, mps"),
    ],
)
def test_absent_or_unknown_devices_are_a_clear_error(machine, name, cuda, message):
    machine(cuda=cuda, mps=False)
    with pytest.raises(DeviceUnavailableError, match=message):
        resolve_device(name)


def test_this_machine_resolves_auto_to_what_it_has():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_precisions():
    assert [resolve_precision(name) for name in ("fp32", "bf16", "fp16")] == [torch.float32, torch.bfloat16, torch.float16]
    with pytest.raises(ValueError, match="runtime.precision is 'fp8'; expected one of fp32, bf16, fp16"):
        resolve_precision("fp8")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_autocast_is_on_only_for_reduced_precision(dtype):
    layer = torch.nn.Linear(3, 2)
    with autocast(torch.device("cpu"), dtype):
        assert torch.is_autocast_enabled("cpu") == (dtype != torch.float32)
        assert layer(torch.rand(4, 3)).dtype == dtype
    assert not torch.is_autocast_enabled("cpu")
