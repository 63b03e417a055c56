from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines.scorer.nodes import build_scorer


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_scorer,
                ["validated_data", "data_schema", "scaler", "reduction_autoencoder", "anomaly_model", "classifier"],
                "scoring_model",
                name="build_scorer",
            )
        ]
    )
