"""Which process this is under torchrun, read from the environment torchrun sets (no torch
import: settings and hooks ask before anything trains)."""

from __future__ import annotations

import os


def launched_by_torchrun() -> bool:
    """Started by torchrun (torch.distributed's elastic launcher), with any world size; the
    same test as `torch.distributed.is_torchelastic_launched`."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def torchrun_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1")) if launched_by_torchrun() else 1


def is_rank_zero() -> bool:
    """Global rank 0, the one process that writes outputs and logs (True without torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0 if launched_by_torchrun() else True
