"""One rule for every random stream: a seed derived from `runtime.seed` and the stream's name.

Streams (the split, the noisy evaluation sets, each phase's weight init and batch noise) stay
independent of each other and of the order they are drawn in, with no hand-picked offsets.
No torch import at module level: the split uses it too.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator


def derive_seed(seed: int, name: str) -> int:
    """A seed in [0, 2**31) for the stream `name` of a run seeded with `seed`."""
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 2**31


@contextlib.contextmanager
def seeded(seed: int, name: str) -> Iterator[None]:
    """Run the block (e.g. building a network: its weight init) on torch's global generator
    seeded for `name`, and leave the global generator as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, name))
        yield
