"""Training data goes to the GPU when it fits, else stays in host memory and is streamed."""

from unittest.mock import patch

import torch

from autoencoder_pipelines.config import RuntimeParams
from autoencoder_pipelines.jobs.runtime import Runtime, resolve_runtime


def _cuda_runtime(fraction=0.5, pin=False):
    return Runtime(RuntimeParams(device="cpu", device_memory_fraction=fraction, pin_memory=pin), device=torch.device("cuda:0"))


def test_cpu_keeps_everything_in_memory():
    x = torch.rand(10, 3)
    (placed,) = resolve_runtime(RuntimeParams(device="cpu")).place(x)
    assert placed is x or placed.data_ptr() == x.data_ptr()


def test_data_that_does_not_fit_stays_on_the_host_for_streaming():
    x, y = torch.rand(1000, 100), torch.zeros(1000, dtype=torch.long)  # 400 KB + 8 KB
    runtime = _cuda_runtime(fraction=0.5)
    with patch("torch.cuda.mem_get_info", return_value=(500_000, 10**9)):  # half of it is < 408 KB
        placed = runtime.place(x, y)
    assert all(t.device.type == "cpu" for t in placed)


def test_data_that_fits_is_moved_to_the_device():
    x = torch.rand(10, 3)
    runtime = _cuda_runtime(fraction=0.5)
    moves = []

    def fake_to(tensor, device, *args, **kwargs):  # no GPU here: record the move instead
        moves.append(device)
        return tensor

    with patch("torch.cuda.mem_get_info", return_value=(10**9, 10**9)), patch.object(torch.Tensor, "to", fake_to):
        runtime.place(x)
    assert moves == [torch.device("cuda:0")]
