"""One training per data folder: a training run holds a file lock on its data folder
(`<data_dir>/.training.lock`, data/ by default) from before its first node to its end, so two
trainings never mix their outputs in one folder. A second one waits, saying who holds the
folder, or with `runtime.on_busy: refuse` stops at once (exit code 75, "try again later").

The lock is the operating system's (flock, through filelock): a killed holder releases it, so
there is no stale lock to remove by hand. `.training.owner.json` beside it names the holder
(pid, host, command, start) for the message of the one that waits.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from autoencoder_pipelines.data.errors import DataValidationError, UserError
from autoencoder_pipelines.nn.atomic import remove_orphans, write_text

logger = logging.getLogger(__name__)

LOCK_NAME = ".training.lock"
OWNER_NAME = ".training.owner.json"
# Nodes with this tag read a pinned model and write their own folder (the `score` pipeline):
# a run made only of them takes no lock, so it runs beside a training.
NO_LOCK_TAG = "scoring"


class FolderBusyError(UserError):
    """Another training holds the data folder and runtime.on_busy is 'refuse'."""

    exit_code = 75  # EX_TEMPFAIL: try again later (a scheduler may retry)


def needs_lock(pipeline: Any) -> bool:
    """Whether a run of `pipeline` writes training outputs: any node without the scoring tag."""
    return any(NO_LOCK_TAG not in node.tags for node in pipeline.nodes)


class TrainingLock:
    def __init__(self, folder: str | os.PathLike) -> None:
        from filelock import FileLock

        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.owner_path = self.folder / OWNER_NAME
        self._lock = FileLock(self.path, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def holder(self) -> str:
        """Who holds the folder, as far as its owner file says."""
        try:
            owner = json.loads(self.owner_path.read_text())
            started = time.strftime("%H:%M:%S", time.localtime(owner["started"]))
            return f"pid {owner['pid']} on {owner['host']}, `{owner['command']}`, since {started}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that has not said who it is"

    def acquire(self, on_busy: str = "wait", poll_seconds: float = 60.0) -> None:
        from filelock import Timeout

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=0)
        except Timeout:  # (a TimeoutError, so an OSError: first)
            holder = self.holder()
            if on_busy == "refuse":
                raise FolderBusyError(
                    f"{self.folder}: another training is running in this folder ({holder}). Try again when it has "
                    "finished, or give this run a folder of its own: --params=data_dir=<folder>"
                ) from None
            logger.warning(
                "%s: another training is running in this folder (%s); waiting for it to finish "
                "(runtime.on_busy: refuse stops instead)", self.folder, holder,
            )
            self._wait(poll_seconds)
        except OSError as error:
            raise DataValidationError(
                f"{self.folder}: outputs cannot be written there ({error.strerror or error})"
            ) from None
        write_text(self.owner_path, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
            "command": " ".join(["kedro", *sys.argv[1:]]) if sys.argv[1:] else "session.run",
        }))
        # the folder is this training's now: what killed runs left half-written there goes
        removed = remove_orphans(self.folder, recursive=True)
        if removed:
            logger.info("%s: removed %d temporary file(s) that killed runs left: %s", self.folder, len(removed),
                        ", ".join(str(p.relative_to(self.folder)) for p in removed[:5]))

    def _wait(self, poll_seconds: float) -> None:
        from filelock import Timeout

        started = time.monotonic()
        while True:
            try:
                self._lock.acquire(timeout=poll_seconds)
                break
            except Timeout:
                logger.info("%s: still waiting for %s (%.0f s)", self.folder, self.holder(), time.monotonic() - started)
        logger.info("%s: the other training has finished after %.0f s of waiting; starting",
                    self.folder, time.monotonic() - started)

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        try:
            owner = json.loads(self.owner_path.read_text())
            if owner.get("pid") == os.getpid():
                self.owner_path.unlink(missing_ok=True)
        except (OSError, ValueError):
            pass
        self._lock.release(force=True)
