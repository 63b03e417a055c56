"""Monitoring in the scoring runs themselves (docs/monitoring.md), on the tiny trained digits
project: a file like the training rows is scored without an alert and its figures are logged; a
file with drifted pixels is still scored, its run ends FINISHED with an `alert` tag naming them,
the command exits 3 and prints the alert; `--pipelines=monitor` then draws both runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from autoencoder_pipelines.data.errors import ALERT_EXIT_CODE, MonitoringAlert

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])
SCORING = "autoencoder-pipelines-scoring"
MOVED = ["pixel_3_3", "pixel_4_5", "pixel_2_2"]


def drifted(rows: pd.DataFrame) -> pd.DataFrame:
    """Two pixels scaled and offset (a recalibrated sensor), one replaced by noise."""
    out = rows.copy()
    out["pixel_3_3"] = 0.5 * out["pixel_3_3"] + 6
    out["pixel_4_5"] = 0.5 * out["pixel_4_5"] + 6
    out["pixel_2_2"] = np.random.default_rng(0).uniform(0, 16, len(out)).round()
    return out


def latest(project):
    return max(project.runs(SCORING), key=lambda run: run.info.start_time)


def test_a_scoring_run_watches_itself_and_alerts_with_exit_code_3(scoring_project):
    project = scoring_project
    inbox = project.path("data/01_raw/incoming")
    DIGITS.iloc[:600].to_csv(inbox / "day1.csv", index=False)

    project.run("score")  # no alert: nothing raised
    run = latest(project)
    assert run.info.status == "FINISHED" and "alert" not in run.data.tags and "error" not in run.data.tags
    metrics = run.data.metrics
    assert metrics["monitor/rows"] == 600 and metrics["monitor/alert"] == 0 and metrics["monitor/features_drifted"] == 0
    assert 0 < metrics["monitor/expected_anomaly_rate"] < 0.5 and "monitor/anomaly_p_value" in metrics
    # 64 pixels: the 50 of highest PSI (monitoring.feature_metrics), each with its KS
    psi = {name[4:] for name in metrics if name.startswith("psi/")}
    assert len(psi) == 50 and psi == {name[3:] for name in metrics if name.startswith("ks/")} < set(DIGITS.columns)
    table = pd.read_csv(project.path("data/08_reporting/monitoring/scoring_drift.csv"))
    assert list(table["scope"]) == ["day1.csv", "(all files)"] and not table["alert"].any()
    assert project.client().list_artifacts(run.info.run_id, "monitoring")[0].path == "monitoring/scoring_drift.csv"

    drifted(DIGITS.iloc[600:1200]).to_csv(inbox / "day2.csv", index=False)
    result = project.kedro("run", "--pipelines=score")
    assert result.returncode == ALERT_EXIT_CODE == 3, result.stderr[-3000:]
    assert project.path("data/07_model_output/scored/day2.csv.parquet").is_file()  # the rows are still written
    run = latest(project)
    assert run.info.status == "FINISHED" and "error" not in run.data.tags
    alert = run.data.tags["alert"]
    assert alert.startswith("day2.csv (600 rows): ") and all(name in alert for name in MOVED), alert
    assert run.data.metrics["monitor/alert"] == 1 and run.data.metrics["monitor/features_drifted"] >= 3
    # the summary names what moved, and so does the command's last block
    summary = result.stdout[result.stdout.index("MLflow run"):]
    assert "  ALERT: day2.csv (600 rows): " in summary and all(name in summary for name in MOVED)
    assert "monitor/max_psi" in summary
    assert "Alert: day2.csv (600 rows): " in result.stderr and "Traceback" not in result.stderr
    assert "(the rows are scored and written; exit code 3: docs/monitoring.md)" in result.stderr
    assert "--from-nodes" not in result.stdout + result.stderr  # no advice to resume: the rows are scored
    assert summary.count("ALERT:") == 1  # one file: its line, not the same figures again for the run

    project.run("monitor")
    history = pd.read_csv(project.path("data/08_reporting/monitoring/scoring_runs.csv"))
    assert len(history) == 2 and list(history["alert"]) == [0, 1] and list(history["rows"]) == [600, 600]
    assert all(name in history["most_drifted"].iloc[1] for name in MOVED)
    assert history["alert_text"].fillna("").iloc[1] == alert
    assert project.path("data/08_reporting/scoring_runs.png").stat().st_size > 10_000
    assert len(project.runs(SCORING)) == 2  # monitor opened no run


def test_an_alert_and_a_refused_file_exit_1_and_keep_both(scoring_project):
    project = scoring_project
    inbox = project.path("data/01_raw/incoming")
    drifted(DIGITS.iloc[:600]).to_csv(inbox / "day1.csv", index=False)
    DIGITS.iloc[:10].drop(columns=["pixel_0_1"]).to_csv(inbox / "bad.csv", index=False)
    from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError

    with pytest.raises(ScoringFailedError, match=r"(?s)could not be scored.*ALERT \(monitoring\): day1.csv") as raised:
        project.run("score")
    assert raised.value.exit_code == 1
    run = latest(project)
    assert run.info.status == "FINISHED"
    assert run.data.tags["error"].startswith("ScoringFailedError: 1 of 2 new partition(s) could not be scored")
    assert run.data.tags["alert"].startswith("day1.csv (600 rows)")


def test_monitoring_off_logs_no_figures_and_raises_nothing(scoring_project):
    project = scoring_project
    inbox = project.path("data/01_raw/incoming")
    drifted(DIGITS.iloc[:300]).to_csv(inbox / "day1.csv", index=False)
    (project.path("conf/local/parameters_monitoring.yml")).write_text("monitoring:\n  enabled: false\n")
    project.run("score")
    run = latest(project)
    assert "alert" not in run.data.tags and not [m for m in run.data.metrics if m.startswith("monitor/")]


def test_the_monitor_pipeline_without_scoring_runs_writes_an_empty_table_and_no_figure(trained_project, tmp_path):
    project = trained_project.copy(tmp_path / "project")
    project.run("monitor")
    assert pd.read_csv(project.path("data/08_reporting/monitoring/scoring_runs.csv")).empty
    assert not project.path("data/08_reporting/scoring_runs.png").exists()  # a figure only when it applies


def test_an_alert_is_a_user_error_with_its_own_exit_code():
    from autoencoder_pipelines.framework.cli import failure_block

    alert = MonitoringAlert("the run (10 rows): 1 of 2 features drifted: a (PSI 3, KS 0.9)")
    assert alert.exit_code == 3 and alert.run_status == "FINISHED" and alert.run_tags == {"alert": str(alert)}
    block = failure_block(alert, ["logs/errors.log"], verbose=False)
    assert block == ("the run (10 rows): 1 of 2 features drifted: a (PSI 3, KS 0.9)\n"
                     "(the rows are scored and written; exit code 3: docs/monitoring.md)")


def test_score_spark_ends_with_the_same_exit_code_on_an_alert():
    from autoencoder_pipelines.pipelines.score_spark.nodes import alert_on_drift

    alert_on_drift("")  # no breach: nothing raised
    with pytest.raises(MonitoringAlert, match="the run") as raised:
        alert_on_drift("the run (10 rows): anomaly rate 0.5 against 0.05 expected (10x, p=1e-9)")
    assert raised.value.exit_code == ALERT_EXIT_CODE
