"""The registry of autoencoder kinds: one module per kind in this package, named as the kind
(`model.kind`), each defining `KIND`, an `AutoencoderKind`. Adding a kind is adding a module.

Listing the names imports nothing; a kind's module (and torch) is imported when first used.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoencoder_pipelines.nn.kinds.base import AutoencoderKind

_NOT_KINDS = {"base"}


@functools.cache
def kind_names() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_KINDS))


def get_kind(name: str) -> "AutoencoderKind":
    if name not in kind_names():
        raise ValueError(f"model.kind is '{name}'; expected one of {', '.join(kind_names())}")
    return importlib.import_module(f"{__name__}.{name}").KIND
