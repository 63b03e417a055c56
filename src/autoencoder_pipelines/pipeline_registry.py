"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# A phase of `denoise` run on its own (`kedro run --pipelines=reduction`) ends with the report
# of what it computed, as `denoise` and `anomaly` do: metrics.json, the MLflow run's metrics and
# per-epoch histories, the learning curves. (metric datasets, histories) per phase.
PHASE_REPORTS = {
    "pretraining": ([], ["pretrain_history"]),
    "finetuning": (["finetuning_metrics"], ["finetune_history", "random_init_history", "denoiser_history"]),
    "reduction": (["reduction_metrics"], ["reduction_history"]),
}


def register_pipelines() -> dict[str, Pipeline]:
    # find_pipelines() loads only the pipelines named on the command line, so guard lookups.
    pipelines = find_pipelines(raise_errors=True)
    if "denoise" in pipelines:
        pipelines["__default__"] = pipelines["denoise"]
    phases = set(PHASE_REPORTS) & set(pipelines)
    if phases:
        from autoencoder_pipelines.pipelines.reporting.pipeline import summary

        for name in phases:
            pipelines[name] = pipelines[name] + summary(*PHASE_REPORTS[name])
    return pipelines
