"""The benchmarks' one check of a device named on the command line: the device, or a one-line
exit naming the script, before any run (in a case's subprocess or under torchrun the reason
would end in a traceback). Not a benchmark itself: the scripts beside it import it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def device_or_exit(name: str, what: str = "") -> Any:
    """resolve_device(name) (a torch.device), or sys.exit with `<script>[ what]: <why not>`."""
    from autoencoder_pipelines.nn.device import DeviceUnavailableError, resolve_device

    try:
        return resolve_device(name)
    except DeviceUnavailableError as error:
        sys.exit(f"{Path(sys.argv[0]).name}{' ' + what if what else ''}: {error}")
