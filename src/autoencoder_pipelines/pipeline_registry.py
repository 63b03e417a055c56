"""Project pipelines."""

from __future__ import annotations

import logging

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)

# A phase of `denoise` run on its own (`kedro run --pipelines=reduction`) ends with the report
# of what it computed, as `denoise` and `anomaly` do: metrics.json, the MLflow run's metrics and
# per-epoch histories, the learning curves. (metric datasets, histories) per phase.
PHASE_REPORTS = {
    "pretraining": ([], ["pretrain_history"]),
    "finetuning": (["finetuning_metrics"], ["finetune_history", "random_init_history", "denoiser_history"]),
    "reduction": (["reduction_metrics"], ["reduction_history"]),
}


# Pipelines that end with a report of their own: a phase named beside one of them adds none.
REPORTED = {"denoise", "anomaly", "reporting"}


def register_pipelines() -> dict[str, Pipeline]:
    # find_pipelines() loads only the pipelines named on the command line, so guard lookups.
    pipelines = find_pipelines(raise_errors=True)
    # every pipeline (no --pipelines, `kedro viz`, `kedro registry`): the phases as denoise has
    # them, without a report of their own, so that any sum of them builds
    every = "__default__" in pipelines
    if "denoise" in pipelines:
        pipelines["__default__"] = pipelines["denoise"]
    phases = [name for name in PHASE_REPORTS if name in pipelines]
    if not phases or every:
        return pipelines
    reported = REPORTED & set(pipelines)
    if reported == {"anomaly"}:  # denoise's and reporting's reports hold the phases' figures; anomaly's not
        logger.warning("the report of this run is anomaly's: the metrics and histories of %s are in their files "
                       "(data/08_reporting/metrics/, histories/), not in metrics.json or the MLflow run; run them "
                       "apart, or with --pipelines=denoise", ", ".join(phases))
    if not reported:
        # one report of the phases named together (`--pipelines=finetuning,reduction`): the same
        # nodes in each, which their sum holds once
        from autoencoder_pipelines.pipelines.reporting.pipeline import summary

        report = summary([m for name in phases for m in PHASE_REPORTS[name][0]],
                         [h for name in phases for h in PHASE_REPORTS[name][1]])
        for name in phases:
            pipelines[name] = pipelines[name] + report
    return pipelines
