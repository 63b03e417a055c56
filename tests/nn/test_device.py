import pytest
import torch

from autoencoder_pipelines.nn.device import DeviceUnavailableError, resolve_device, resolve_precision


def test_cpu_and_auto_resolve_here():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_asking_for_absent_cuda_is_a_clear_error(name):
    with pytest.raises(DeviceUnavailableError, match=f"runtime.device is '{name}' but CUDA is not available"):
        resolve_device(name)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_asking_for_absent_mps_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="no Apple MPS device"):
        resolve_device("mps")


def test_unknown_device_names_the_choices():
    with pytest.raises(DeviceUnavailableError, match="expected one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")


def test_precisions():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == torch.float32
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("fp16", cpu) == torch.float16
    with pytest.raises(ValueError, match="expected one of"):
        resolve_precision("fp8", cpu)
