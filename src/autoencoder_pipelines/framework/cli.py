"""The project's command line: Kedro's own `kedro run`, with two changes.

- Kedro splits --params on every comma, so a list could not be given; here commas inside
  [...] stay in the value: `kedro run --params="anomaly.normal_classes=[0,1],runtime.seed=3"`.
- A run that fails prints one short block (the message: what, where, what was expected, how to
  fix it) and exits non-zero; the full traceback goes to the log files (errors.log, info.log),
  or to the screen as well with `--verbose` (or AEP_VERBOSE=1). Ctrl-C prints one line and
  exits 130.

And one addition: `kedro run` ends as soon as its work is done (QuickExit, a Kedro CLI hook).
"""

from __future__ import annotations

import atexit
import copy
import functools
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.hooks import cli_hook_impl
from kedro.framework.cli.project import run as _kedro_run
from omegaconf import OmegaConf

from autoencoder_pipelines.data.errors import HideRepeatedRefusal, user_error

logger = logging.getLogger(__name__)


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside [...] or {...}."""
    items, depth, current = [], 0, []
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def split_params(ctx: click.Context, param: Any, value: Any) -> Any:
    """key=value pairs, dotted keys nested, values parsed as YAML-ish by OmegaConf (lists too)."""
    if isinstance(value, dict):
        return value
    dotlist = []
    for item in split_top_level(value or ""):
        key, equals, val = item.partition("=")
        if not equals or not key.strip():
            ctx.fail(f"Invalid format of `--{param.name}`: `{item}` must be key=value (lists as key=[a,b]).")
        dotlist.append(f"{key.strip()}={val}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(dotlist))


def log_traceback(error: BaseException) -> list[str]:
    """The full traceback to the log files only (not the console); returns their paths."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "run failed: %s: %s",
                               (type(error).__name__, error), (type(error), error, error.__traceback__))
    files = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)
            files.append(_shown(handler.baseFilename))
    return files


def _shown(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def failure_block(error: BaseException, log_files: list[str], verbose: bool) -> str:
    """What the user sees: the message, and where the traceback is."""
    where = next((f for f in log_files if Path(f).name.startswith("errors")), log_files[0] if log_files else "")
    found = user_error(error)
    if found is not None:
        message = found.format_message()
        footer = "" if verbose else (f"(traceback in {where}; --verbose prints it here)" if log_files
                                     else "(--verbose prints the traceback)")
        footer = getattr(found, "footer", None) or footer  # a refusal may say what to do instead
    else:  # not a refusal: probably a bug, worth the traceback
        first = str(error).strip().splitlines()
        message = f"{type(error).__name__}: {first[0] if first else ''}".rstrip(": ")
        if len(first) > 1:
            message += "\n" + "\n".join(first[1:4])
        footer = "" if verbose else (f"An unexpected error: the traceback is in {where} (--verbose prints it here)."
                                     if log_files else "An unexpected error: --verbose prints the traceback.")
    return message + ("\n" + footer if footer else "")


class RunFailed(click.ClickException):
    """Printed by click as `Error: <block>` (or the error's own label: `Alert: ...`), with the
    failed error's exit code."""

    def __init__(self, message: str, exit_code: int, label: str = "Error") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.label = label

    def show(self, file: Any = None) -> None:
        click.echo(f"{self.label}: {self.format_message()}", file=file, err=file is None)


def _one_block(callback: Any) -> Any:
    @functools.wraps(callback)
    def run_command(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        verbose = verbose or os.environ.get("AEP_VERBOSE", "") not in ("", "0")
        for handler in logging.getLogger().handlers:
            if not isinstance(handler, logging.FileHandler):  # the console
                handler.addFilter(HideRepeatedRefusal())
        distinct_session_ids()
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            # SIGTERM's default ends the process on the spot; exit as on Ctrl-C instead, so the MLflow
            # run ends KILLED and exit handlers run, whenever it comes
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            return callback(*args, **kwargs)
        except (click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt as error:
            log_traceback(error)
            click.echo("Interrupted: the MLflow run ends KILLED; run the same command again to resume from "
                       "this run's checkpoints.", err=True)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - every failure becomes one screen and an exit code
            files = log_traceback(error)
            if verbose:
                click.echo("".join(traceback.format_exception(error)), err=True)
            found = user_error(error)
            raise RunFailed(failure_block(error, files, verbose), found.exit_code if found else 1,
                            getattr(found, "label", "Error")) from None

    return run_command


run = copy.copy(_kedro_run)
run.params = [copy.copy(option) for option in _kedro_run.params]
for option in run.params:
    if option.name == "params":
        option.callback = split_params
run.params.append(click.Option(
    ["-v", "--verbose"], is_flag=True, default=False,
    help="Print the full traceback of a failure (it always goes to errors.log).",
))
run.callback = _one_block(_kedro_run.callback)


@click.group(name="autoencoder_pipelines")
def cli() -> None:
    """autoencoder-pipelines commands."""


cli.add_command(run, "run")


def distinct_session_ids() -> None:
    """Two `kedro run`s of one machine never get the same session id. Kedro takes the session id
    from the clock to the millisecond and saves every versioned output under it: two trainings
    started together (cron, a retry) could draw the same one, and the second one, having waited
    for the first's training lock, failed on saving a version that exists. Kedro's session module
    reads `generate_timestamp` from its own globals (tests/test_cli.py pins that); here it draws,
    under a lock file, a stamp other than the last one drawn."""
    import tempfile
    import time

    from filelock import FileLock
    from kedro.framework.session import session as kedro_session
    from kedro.io.core import generate_timestamp

    last = Path(tempfile.gettempdir()) / f"autoencoder-pipelines-session-id-{os.getuid()}"

    def distinct_timestamp() -> str:
        try:
            with FileLock(f"{last}.lock"):
                previous = last.read_text() if last.exists() else ""
                stamp = generate_timestamp()
                while stamp == previous:  # the last run's millisecond (not <=: a clock set back must not stall)
                    time.sleep(0.001)
                    stamp = generate_timestamp()
                last.write_text(stamp)
                return stamp
        except OSError:  # a temporary folder it cannot write: Kedro's own stamp, as before
            return generate_timestamp()

    kedro_session.generate_timestamp = distinct_timestamp


class QuickExit:
    """Ends `kedro run` as soon as the interpreter's own exit work is done: the threads it waits
    for, the exit handlers (MLflow's, the logging files' flush, a killed run marked KILLED), the
    console flushed; then os._exit with the run's exit code. What it skips is tearing down the
    modules, which with torch, scikit-learn and MLflow loaded takes about 1 s (measured: 5.6 s
    against 4.2 s for a script that only imports them) on every command, scheduled scoring
    included. A Kedro CLI hook (entry point `kedro.cli_hooks` in pyproject.toml): Kedro calls it
    with the exit code click decided, after the command's own output. atexit._run_exitfuncs is
    private (CPython's, unchanged since 2.x); tests/test_cli.py pins it."""

    @cli_hook_impl(trylast=True)  # after any other plugin's hook
    def after_command_run(self, project_metadata: Any, command_args: list[str], exit_code: Any) -> None:
        if not command_args or command_args[0] != "run":
            return
        for thread in threading.enumerate():  # as the interpreter would: non-daemon threads first
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
        if exit_code is not None and not isinstance(exit_code, int):  # sys.exit("message"), as Python shows it
            print(exit_code, file=sys.stderr)
            exit_code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (`kedro run | head`) or stream: nothing to keep
                pass
        os._exit(exit_code or 0)


cli_hooks = QuickExit()
