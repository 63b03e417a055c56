"""The one place that turns runtime settings into a torch device and precision."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceUnavailableError(RuntimeError):
    """The configured device does not exist on this machine."""


def resolve_device(name: str) -> torch.device:
    """Map `auto | cpu | cuda | cuda:N | mps` to a device that exists here, or fail clearly."""
    name = str(name).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceUnavailableError(
                "runtime.device is 'mps' but no Apple MPS device is available here; "
                "use 'cpu' or 'auto'."
            )
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"runtime.device is '{name}' but CUDA is not available here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
                "use 'cpu' or 'auto'."
            )
        device = torch.device(name)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailableError(
                f"runtime.device is '{name}' but only {count} CUDA device(s) exist "
                f"(cuda:0..cuda:{count - 1})."
            )
        return device
    raise DeviceUnavailableError(
        f"runtime.device is '{name}'; expected one of auto, cpu, cuda, cuda:N, mps."
    )


def resolve_precision(name: str) -> torch.dtype:
    """Autocast dtype for `fp32 | bf16 | fp16` (all three run on CPU too; fp16 pays off on GPUs)."""
    if name not in PRECISIONS:
        raise ValueError(
            f"runtime.precision is '{name}'; expected one of {', '.join(PRECISIONS)}."
        )
    return PRECISIONS[name]


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Mixed-precision region; a no-op for fp32."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
