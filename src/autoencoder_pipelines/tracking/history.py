"""The scoring runs read back from MLflow: what `kedro run --pipelines=monitor` draws."""

from __future__ import annotations

from typing import Any

import pandas as pd

# monitor/... metrics of a scoring run (jobs/monitoring.run_metrics), as table columns
MONITOR_METRICS = (
    "rows", "anomaly_rate", "expected_anomaly_rate", "anomaly_rate_ratio", "anomaly_p_value", "error_ks",
    "error_ks_p_value", "error_mean_ratio", "max_psi", "max_feature_ks", "features_drifted", "alert",
)
COLUMNS = ["start_time", "run_id", "run_name", "status", "model_version", *MONITOR_METRICS, "most_drifted", "alert_text"]


def scoring_history(experiment: str, last_runs: int, top: int = 3) -> pd.DataFrame:
    """The last `last_runs` runs of the scoring experiment that monitored rows (a run with
    nothing new to score has no figures), oldest first: start time, run, model version, the
    monitor/ figures, the `top` features of highest PSI, and the alert tag."""
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return pd.DataFrame(columns=COLUMNS)
    runs = client.search_runs([found.experiment_id], filter_string="metrics.`monitor/rows` > 0",
                              order_by=["attributes.start_time DESC"], max_results=last_runs)
    return pd.DataFrame([_row(run, top) for run in reversed(runs)], columns=COLUMNS)


def _row(run: Any, top: int) -> dict[str, Any]:
    metrics = run.data.metrics
    psi = {name[len("psi/"):]: value for name, value in metrics.items() if name.startswith("psi/")}
    most = sorted(psi, key=psi.get, reverse=True)[:top]
    return {
        "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "model_version": run.data.params.get("model.version", ""),
        **{name: metrics.get(f"monitor/{name}") for name in MONITOR_METRICS},
        "most_drifted": "; ".join(f"{name} ({psi[name]:.3g})" for name in most),
        "alert_text": run.data.tags.get("alert", ""),
    }
