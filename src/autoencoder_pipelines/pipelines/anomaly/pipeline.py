from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines import training_node

from .nodes import score_anomalies, train_anomaly_model


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        training_node(train_anomaly_model, ["anomaly_model", "anomaly_history"], "train_anomaly_model",
                      params={"model": "model", "anomaly": "anomaly"}, stack="pretrained_stack"),
        node(
            score_anomalies,
            ["anomaly_model", "train_set", "val_set", "test_set", "data_schema", "params:anomaly"],
            ["anomaly_scores", "anomaly_metrics"],
            name="score_anomalies",
        ),
    ])
