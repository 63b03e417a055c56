from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.scoring import build_scorer


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_scorer,
                ["data_schema", "scaler", "reduction_autoencoder", "anomaly_model", "anomaly_metrics", "classifier"],
                "scoring_model",
                name="build_scorer",
            )
        ]
    )
