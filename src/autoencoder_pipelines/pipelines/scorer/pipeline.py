from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines.scorer.nodes import add_reference_profile, build_scorer


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_scorer,
                ["validated_data", "data_schema", "scaler", "reduction_autoencoder", "anomaly_model", "classifier"],
                "unprofiled_scorer",
                name="build_scorer",
            ),
            node(add_reference_profile, ["unprofiled_scorer", "validated_data", "val_set", "test_set",
                                         "params:monitoring"], "scoring_model", name="add_reference_profile"),
        ]
    )
