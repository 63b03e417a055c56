"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    # find_pipelines() loads only the pipelines named on the command line, so guard lookups.
    pipelines = find_pipelines(raise_errors=True)
    if "denoise" in pipelines:
        pipelines["__default__"] = pipelines["denoise"]
    return pipelines
