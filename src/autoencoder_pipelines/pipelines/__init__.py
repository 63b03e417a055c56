"""Project pipelines, one package each (found by kedro's find_pipelines), each in a namespace of
its own name (node names `<pipeline>.<node>`; datasets keep their catalog names), and the
`settings` nodes that several pipelines share."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.jobs.checks import anomaly_settings, data_settings, model_settings

# What the defaults of a section became on the data: `<section>_settings`, logged as derived.*
# parameters of the MLflow run. (The rules that check the settings against the data run in
# the project hook, right after ingestion: framework/hooks.py.)
_SETTINGS = {
    "data": node(data_settings, ["data_schema", "params:split"], "data_settings", name="data"),
    "model": node(model_settings, ["data_schema", "params:model"], "model_settings", name="model"),
    "anomaly": node(anomaly_settings, ["data_schema", "params:anomaly"], "anomaly_settings", name="anomaly"),
}


def settings(*sections: str) -> Pipeline:
    """The `settings` nodes of `sections`; a pipeline includes those of the sections it uses (the
    same node in several pipelines is one node of their sum)."""
    return namespaced("settings", [_SETTINGS[section] for section in sections])


def namespaced(name: str, nodes: list) -> Pipeline:
    """`nodes` as pipeline `name`: node names `<name>.<node>` (kedro-viz groups them, `kedro run
    --namespaces=<name>` runs them), dataset and parameter names as the catalog has them."""
    return pipeline(nodes, namespace=name, prefix_datasets_with_namespace=False)
