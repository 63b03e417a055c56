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
    largest feature PSI; the number of drifted features. A run that alerted has a red band
    across the panels; a point is red where that figure itself breached."""
    if history.empty:
        return placeholder("Scoring runs", "no scoring run has monitoring figures yet")
    plt = pyplot()
    x = np.arange(len(history))
    value = {name: pd.to_numeric(history[name], errors="coerce").to_numpy(dtype="float64")
             for name in ("anomaly_rate", "expected_anomaly_rate", "anomaly_rate_ratio", "anomaly_p_value", "error_ks",
                          "error_ks_p_value", "max_psi", "features_drifted", "alert")}
    alert = np.nan_to_num(value["alert"]) > 0
    drifted = np.nan_to_num(value["features_drifted"])
    breached = {  # the rules of jobs.monitoring.compare, on each run's logged figures
        "anomaly_rate": (value["anomaly_p_value"] < monitoring.alpha)
        & (value["anomaly_rate_ratio"] >= monitoring.anomaly_rate_ratio),
        "error_ks": (value["error_ks_p_value"] < monitoring.alpha) & (value["error_ks"] >= monitoring.error_ks),
        "max_psi": drifted > 0,
    }
    figure, axes = plt.subplots(4, 1, figsize=(max(6.0, 0.25 * len(x) + 3), 9), sharex=True)
    for ax in axes:
        for index in x[alert]:
            ax.axvspan(index - 0.4, index + 0.4, color="tab:red", alpha=0.12, linewidth=0)

    def points(ax, name, label):
        ax.plot(x, value[name], "-o", color="tab:blue", markersize=4, label=label)
        hit = breached[name]
        ax.plot(x[hit], value[name][hit], "o", color="tab:red", markersize=7, label="breached")

    points(axes[0], "anomaly_rate", "anomaly rate")
    axes[0].plot(x, value["expected_anomaly_rate"], "--", color="grey", label="expected (held-out rows)")
    axes[0].plot(x, value["expected_anomaly_rate"] * monitoring.anomaly_rate_ratio, ":", color="tab:red",
                 label=f"alert line ({monitoring.anomaly_rate_ratio:g}x, and p < {monitoring.alpha:g})")
    axes[0].set_ylabel("anomaly rate")
    axes[0].set_ylim(bottom=0)
    points(axes[1], "error_ks", "reconstruction error KS")
    axes[1].axhline(monitoring.error_ks, linestyle=":", color="tab:red",
                    label=f"threshold {monitoring.error_ks:g} (and p < {monitoring.alpha:g})")
    axes[1].set_ylabel("error KS")
    axes[1].set_ylim(0, 1.05)
    points(axes[2], "max_psi", "largest feature PSI")
    axes[2].axhline(monitoring.psi, linestyle=":", color="tab:red",
                    label=f"threshold {monitoring.psi:g} (and KS p < {monitoring.alpha:g} / features)")
    axes[2].set_ylabel("max PSI\n(linear to 0.1, log above)")
    axes[2].set_yscale("symlog", linthresh=0.1)
    axes[2].set_ylim(bottom=0)
    axes[3].bar(x, drifted, color=np.where(drifted > 0, "tab:red", "tab:blue"))
    axes[3].set_ylabel("features drifted")
    axes[3].yaxis.get_major_locator().set_params(integer=True)
    for ax in axes[:3]:
        ax.legend(fontsize=7, loc="upper left")
    times = pd.to_datetime(history["start_time"], utc=True)  # text when read back from the CSV
    versions = pd.to_numeric(history["model_version"], errors="coerce")  # empty for a plain model URI
    labels = [f"{time:%m-%d %H:%M}" + ("" if pd.isna(version) else f"\nv{int(version)}")
              for time, version in zip(times, versions, strict=True)]
    axes[3].set_xticks(x, labels, rotation=90, fontsize=7)
    axes[0].set_title(f"Last {len(history)} monitored scoring runs (alerts shaded)")
    figure.tight_layout()
    return figure
