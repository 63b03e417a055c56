"""The command line as users type it: refusals in one line without a traceback; the same seed
gives the same metrics, and a second training keeps the first one's model versions."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pipelines=data_processing", "--params=corruption.level=1.5"],
         "Error: Invalid parameters: corruption.level: a masking level is a fraction: expected a value in [0, 1] (got 1.5)"),
        (["--pipelines=data_processing", "--params=data.source=csv,data.path=data/01_raw/none.csv"],
         "Error: data/01_raw/none.csv: file not found"),
        (["--pipelines=promote"], "Error: promoting needs the version to promote: `kedro run --pipelines=promote "
                                  "--params=registry.version=N` (no version of 'autoencoder-pipelines' is registered yet)"),
        (["--pipelines=score"], "Error: no model is registered as 'autoencoder-pipelines@champion'"),
    ],
)
def test_user_errors_are_one_line_without_a_traceback(make_project, args, message):
    result = make_project().kedro("run", *args)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.strip().splitlines()[-1].startswith(message), output[-2000:]
    assert "Traceback" not in output


def test_same_seed_same_metrics_and_earlier_model_versions_stay(trained_project, tmp_path):
    again = trained_project.copy(tmp_path / "again")
    again.run()
    first, second = trained_project.metrics(), again.metrics()
    first.pop("run.seconds"), second.pop("run.seconds")
    assert first == second
    for name in ("classifier", "denoiser", "reduction_autoencoder", "anomaly_model", "scoring_model"):
        assert len(list(again.path(f"data/06_models/{name}.pt").iterdir())) == 2, name
