"""The command line as users type it: the same seed gives the same metrics, and a second
training keeps the first one's model versions. (Refusals on the command line: test_bad_inputs.py.)"""

from __future__ import annotations

import pytest


def test_same_seed_same_metrics_and_earlier_model_versions_stay(trained_project, tmp_path):
    again = trained_project.copy(tmp_path / "again")
    again.run()
    first, second = trained_project.metrics(), again.metrics()
    first.pop("run.seconds"), second.pop("run.seconds")
    assert first == second
    for name in ("classifier", "denoiser", "reduction_autoencoder", "anomaly_model", "scoring_model"):
        assert len(list(again.path(f"data/06_models/{name}.pt").iterdir())) == 2, name


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.mark.parametrize("exit_code, expected", [(None, 0), (0, 0), (1, 1), (3, 3), (130, 130), ("a message", 1)])
def test_kedro_run_exits_right_after_its_exit_handlers_with_its_own_code(monkeypatch, capsys, exit_code, expected):
    """QuickExit (a Kedro CLI hook) skips the module teardown (~1 s with torch and MLflow loaded):
    it runs the exit handlers (atexit's private _run_exitfuncs, pinned here) and exits with the
    code click decided; other commands are left alone."""
    import atexit
    from importlib.metadata import entry_points

    from autoencoder_pipelines.framework import cli

    assert callable(atexit._run_exitfuncs)  # the private function QuickExit relies on
    assert [e.value for e in entry_points(group="kedro.cli_hooks") if e.name == "autoencoder_pipelines"] == [
        "autoencoder_pipelines.framework.cli:cli_hooks"]
    calls = []
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: calls.append("exit handlers"))

    def exit_now(code):
        calls.append(code)
        raise _Exited(code)

    monkeypatch.setattr(cli.os, "_exit", exit_now)
    cli.cli_hooks.after_command_run(None, ["info"], exit_code)  # not a run: nothing
    assert calls == []
    with pytest.raises(_Exited):
        cli.cli_hooks.after_command_run(None, ["run", "--pipelines=score"], exit_code)
    assert calls == ["exit handlers", expected]
    assert ("a message" in capsys.readouterr().err) == isinstance(exit_code, str)


def test_packaged_project_finds_the_projects_run_command():
    # `python -m autoencoder_pipelines` (a packaged project, docs/scoring.md) runs the command
    # Kedro's find_run_command takes from <package>.cli: it must be the project's `run` (lists in
    # --params, one-block errors), not missing (an AttributeError before any node).
    from kedro.framework.cli.utils import find_run_command

    from autoencoder_pipelines.framework.cli import run

    assert find_run_command("autoencoder_pipelines") is run


def test_two_runs_started_in_the_same_millisecond_get_distinct_session_ids(monkeypatch, tmp_path):
    """Kedro saves every versioned output under the session id, its clock to the millisecond;
    cli.distinct_session_ids makes the next one differ from the last one drawn (a lock file)."""
    import inspect
    import tempfile

    from kedro.framework.session import session as kedro_session

    from autoencoder_pipelines.framework import cli

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(kedro_session, "generate_timestamp", kedro_session.generate_timestamp)  # restored after
    frozen = "2026-12-04T22.54.00.356Z"
    clock = iter([frozen, frozen, frozen, "2026-12-04T22.54.00.357Z"])
    monkeypatch.setattr("kedro.io.core.generate_timestamp", lambda: next(clock))
    cli.distinct_session_ids()
    # Kedro's session takes its id from this module global (the private detail relied on)
    assert "generate_timestamp()" in inspect.getsource(kedro_session.KedroSession.create)
    first, second = kedro_session.generate_timestamp(), kedro_session.generate_timestamp()
    assert (first, second) == (frozen, "2026-12-04T22.54.00.357Z")


def test_a_session_id_is_drawn_even_where_the_temporary_folder_is_not_writable(monkeypatch, tmp_path):
    import tempfile

    from kedro.framework.session import session as kedro_session

    from autoencoder_pipelines.framework import cli

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "missing"))  # nothing can be written there
    monkeypatch.setattr(kedro_session, "generate_timestamp", kedro_session.generate_timestamp)  # restored after
    cli.distinct_session_ids()
    assert len(kedro_session.generate_timestamp()) == len("2026-12-04T22.54.00.356Z")
