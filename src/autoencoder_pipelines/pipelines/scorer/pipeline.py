from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced

from .nodes import build_scorer


def create_pipeline(**kwargs) -> Pipeline:
    return namespaced("scorer", [
        node(build_scorer, ["validated_data", "data_schema", "scaler", "reduction_autoencoder", "anomaly_model", "classifier"],
             "scoring_model", name="build_scorer"),
    ])
