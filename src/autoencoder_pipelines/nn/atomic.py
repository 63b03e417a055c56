"""Atomic file writes: every file a run writes goes to a temporary file in the same folder and
is renamed into place once complete, so a run killed mid-write (or out of disk) leaves the
previous complete file, never a torn one. One mechanism for the whole project:

- `atomic_path(path)`: a context manager yielding the temporary path to write to;
- `AtomicWrites`: a mixin for kedro-datasets file datasets (the catalog's Parquet, CSV, JSON
  and figure datasets are `autoencoder_pipelines.framework.datasets.<Name>`, this mixin on the
  kedro-datasets class), which points the dataset's own save at the temporary path.

Temporary names start with "." and end with ".tmp" (`.metrics.json.1234.5f3a.tmp`): Kedro's
version lookup and the partitioned datasets' listings (by suffix) never see them. No torch or
Kedro import here.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TEMPORARY_SUFFIX = ".tmp"


def temporary_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{secrets.token_hex(3)}{TEMPORARY_SUFFIX}"


def is_temporary(path: str | os.PathLike) -> bool:
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def commit(temporary: Path, final: Path) -> None:
    """Flush `temporary` to disk and rename it onto `final` (a file, or a folder of files)."""
    if temporary.is_dir():
        if final.exists():
            # os.replace cannot replace a non-empty folder: move the old one aside first
            old = final.with_name(temporary_name(final.name))
            os.replace(final, old)
            os.replace(temporary, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, final)
        return
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)


def discard(temporary: Path) -> None:
    if temporary.is_dir():
        shutil.rmtree(temporary, ignore_errors=True)
    else:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Write to the yielded temporary path; it replaces `path` when the block ends without an
    error, and is removed when it does not.

        with atomic_path(folder / "table.csv") as temporary:
            frame.to_csv(temporary)
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(temporary_name(final.name))
    try:
        yield temporary
        commit(temporary, final)
    finally:
        discard(temporary)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


