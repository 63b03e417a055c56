"""The last scoring runs of the scoring experiment: a table and a figure of anomaly rate and
drift per run, with the thresholds they are held to."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import MonitoringParams, RegistryParams
from autoencoder_pipelines.jobs.figures import Figure, placeholder, pyplot

logger = logging.getLogger(__name__)


def load_scoring_history(registry: RegistryParams, monitoring: MonitoringParams) -> pd.DataFrame:
    """The last `monitoring.last_runs` scoring runs that monitored rows, oldest first."""
    from autoencoder_pipelines.tracking.history import scoring_history

    history = scoring_history(registry.experiment, monitoring.last_runs)
    alerts = int((history["alert"] > 0).sum()) if len(history) else 0
    logger.info("%d monitored scoring run(s) in experiment '%s', %d with an alert", len(history),
                registry.experiment, alerts)
    return history


def plot_scoring_history(history: pd.DataFrame, monitoring: MonitoringParams) -> Figure:
    """Four panels over the runs (oldest left): anomaly rate against the expected rate and its
    alert line (expected x anomaly_rate_ratio); the reconstruction error's KS statistic; the
    largest feature PSI; the number of drifted features. Runs with an alert in red."""
    if history.empty:
        return placeholder("Scoring runs", "no scoring run has monitoring figures yet")
    plt = pyplot()
    x = np.arange(len(history))
    alert = history["alert"].fillna(0).to_numpy() > 0
    figure, axes = plt.subplots(4, 1, figsize=(max(6.0, 0.25 * len(x) + 3), 9), sharex=True)

    def points(ax, values, label):
        ax.plot(x, values, "-o", color="tab:blue", markersize=4, label=label)
        ax.plot(x[alert], np.asarray(values)[alert], "o", color="tab:red", markersize=7, label="alert")

    expected = history["expected_anomaly_rate"].to_numpy(dtype="float64")
    points(axes[0], history["anomaly_rate"].to_numpy(dtype="float64"), "anomaly rate")
    axes[0].plot(x, expected, "--", color="grey", label="expected (held-out rows)")
    axes[0].plot(x, expected * monitoring.anomaly_rate_ratio, ":", color="tab:red",
                 label=f"alert line ({monitoring.anomaly_rate_ratio:g}x, and p < {monitoring.alpha:g})")
    axes[0].set_ylabel("anomaly rate")
    points(axes[1], history["error_ks"].to_numpy(dtype="float64"), "reconstruction error KS")
    axes[1].axhline(monitoring.error_ks, linestyle=":", color="tab:red", label=f"threshold {monitoring.error_ks:g}")
    axes[1].set_ylabel("error KS")
    points(axes[2], history["max_psi"].to_numpy(dtype="float64"), "largest feature PSI")
    axes[2].axhline(monitoring.psi, linestyle=":", color="tab:red", label=f"threshold {monitoring.psi:g}")
    axes[2].set_ylabel("max PSI")
    axes[2].set_yscale("symlog", linthresh=0.1)
    drifted = history["features_drifted"].fillna(0).to_numpy()
    axes[3].bar(x, drifted, color=np.where(alert, "tab:red", "tab:blue"))
    axes[3].set_ylabel("features drifted")
    for ax in axes[:3]:
        ax.legend(fontsize=7, loc="upper left")
    times = pd.to_datetime(history["start_time"], utc=True)  # text when read back from the CSV
    versions = pd.to_numeric(history["model_version"], errors="coerce")  # empty for a plain model URI
    labels = [f"{time:%m-%d %H:%M}" + ("" if pd.isna(version) else f"\nv{int(version)}")
              for time, version in zip(times, versions, strict=True)]
    axes[3].set_xticks(x, labels, rotation=90, fontsize=7)
    axes[0].set_title(f"Last {len(history)} monitored scoring runs (UTC start, model version)")
    figure.tight_layout()
    return figure
