"""Project pipelines, one package each (found by kedro's find_pipelines), each in a namespace of
its own name (node names `<pipeline>.<node>`; datasets keep their catalog names), and the
checks of the settings against the data that several pipelines share (namespace `checks`)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.framework.hooks import CHECK_TAG
from autoencoder_pipelines.jobs.checks import check_anomaly, check_data, check_model
from autoencoder_pipelines.jobs.tuning import check_search_on_data

# What each check reads, and what it returns: the defaults of its section as they came out on
# this data (`<section>_settings`, logged as derived.* parameters of the MLflow run).
_CHECKS = {
    "data": (check_data, ["validated_data", "data_schema", "params:split"], "data_settings"),
    "model": (check_model, ["data_schema", "params:model"], "model_settings"),
    "anomaly": (check_anomaly, ["validated_data", "data_schema", "params:anomaly"], "anomaly_settings"),
    "tune": (check_search_on_data, ["validated_data", "data_schema", "parameters"], None),  # every reachable setting
}


def settings_checks(*sections: str) -> Pipeline:
    """The checks of `sections` against the ingested data; a pipeline includes those of the
    sections it uses (the same node in several pipelines is one node of their sum). The project
    hook runs them before any training: right after ingestion, on its outputs before they are
    saved, or at the start of a run on saved data (`--from-nodes`); as nodes they record what
    the defaults became (framework/hooks.py)."""
    return pipeline(
        [node(func, inputs, outputs, name=section) for section, (func, inputs, outputs) in _CHECKS.items()
         if section in sections],
        namespace="checks", prefix_datasets_with_namespace=False, tags=[CHECK_TAG],
    )


def namespaced(name: str, nodes: list) -> Pipeline:
    """`nodes` as pipeline `name`: node names `<name>.<node>` (kedro-viz groups them, `kedro run
    --namespaces=<name>` runs them), dataset and parameter names as the catalog has them."""
    return pipeline(nodes, namespace=name, prefix_datasets_with_namespace=False)
