"""Atomic file writes: every file a run writes goes to a temporary file in the same folder and
is renamed into place once complete, so a run killed mid-write (or out of disk) leaves the
previous complete file, never a torn one. One mechanism for the whole project:

- `atomic_path(path)`: a context manager yielding the temporary path to write to;
- `AtomicWrites`: a mixin for kedro-datasets file datasets (the catalog's Parquet, CSV, JSON
  and figure datasets are `autoencoder_pipelines.framework.datasets.<Name>`, this mixin on the
  kedro-datasets class), which points the dataset's own save at the temporary path.

Temporary names start with "." and end with ".tmp" (`.metrics.json.1234.5f3a1b.tmp`: the
writer's pid and a random token): Kedro's version lookup and the partitioned datasets'
listings (by suffix) never see them. A file a killed run left behind (its pid gone) is an
orphan: `remove_orphans` removes those, and only those. A write that runs out of space raises
OSError(ENOSPC) naming the file. No torch or Kedro import here.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{6}\.tmp")
# An orphan is untouched this long: a writer on another machine sharing the folder (whose pid
# means nothing here) appends far more often than that.
ORPHAN_AGE_S = 60.0


def temporary_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{secrets.token_hex(3)}{TEMPORARY_SUFFIX}"


def is_temporary(path: str | os.PathLike) -> bool:
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def process_running(pid: int) -> bool:
    """Whether process `pid` runs on this machine (this one's own pid included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_orphans(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Remove the temporary files of this module's naming (`.<name>.<pid>.<token>.tmp`, files or
    folders) under `folder` whose writer is no longer running and that nobody touched for
    ORPHAN_AGE_S: what a killed run left. Returns what was removed; nothing else is touched."""
    root = Path(folder)
    if not root.is_dir():
        return []
    candidates = root.rglob(".*.tmp") if recursive else root.glob(".*.tmp")
    removed = []
    now = time.time()
    for path in candidates:
        match = _TEMPORARY.fullmatch(path.name)
        if match is None or process_running(int(match["pid"])):
            continue
        try:
            if now - path.lstat().st_mtime < ORPHAN_AGE_S:
                continue
            discard(path)
        except OSError:
            continue
        removed.append(path)
    return removed


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
    except Exception as error:
        if _out_of_space(error):  # torch's writer turns it into "enforce fail at inline_container.cc"
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final)) from error
        raise
    finally:
        discard(temporary)


def _out_of_space(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from or while handling, is a full disk."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """`atomic_path` as an open binary file: what torch.save writes through, so a failed write
    raises the operating system's error (no space left, named by atomic_path) rather than
    torch's "enforce fail at inline_container.cc".

        with atomic_file(folder / "checkpoint.pt") as handle:
            torch.save(state, handle)
    """
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            yield handle


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


