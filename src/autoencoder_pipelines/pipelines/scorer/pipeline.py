from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced

from .nodes import add_reference_profile, build_scorer


def create_pipeline(**kwargs) -> Pipeline:
    return namespaced("scorer", [
        node(build_scorer, ["validated_data", "data_schema", "scaler", "reduction_autoencoder", "anomaly_model", "classifier"],
             "unprofiled_scorer", name="build_scorer"),
        node(add_reference_profile, ["unprofiled_scorer", "validated_data", "model_input", "params:monitoring"],
             "scoring_model", name="add_reference_profile"),
    ])
