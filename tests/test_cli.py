"""The command line as users type it: the same seed gives the same metrics, and a second
training keeps the first one's model versions. (Refusals on the command line: test_bad_inputs.py.)"""

from __future__ import annotations


def test_same_seed_same_metrics_and_earlier_model_versions_stay(trained_project, tmp_path):
    again = trained_project.copy(tmp_path / "again")
    again.run()
    first, second = trained_project.metrics(), again.metrics()
    first.pop("run.seconds"), second.pop("run.seconds")
    assert first == second
    for name in ("classifier", "denoiser", "reduction_autoencoder", "anomaly_model", "scoring_model"):
        assert len(list(again.path(f"data/06_models/{name}.pt").iterdir())) == 2, name


def test_packaged_project_finds_the_projects_run_command():
    # `python -m autoencoder_pipelines` (a packaged project, docs/scoring.md) runs the command
    # Kedro's find_run_command takes from <package>.cli: it must be the project's `run` (lists in
    # --params, one-block errors), not missing (an AttributeError before any node).
    from kedro.framework.cli.utils import find_run_command

    from autoencoder_pipelines.framework.cli import run

    assert find_run_command("autoencoder_pipelines") is run
