from kedro.pipeline import Pipeline, node, pipeline

from .nodes import score_anomalies, train_anomaly_model


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                train_anomaly_model,
                [
                    "pretrained_stack",
                    "train_set",
                    "val_set",
                    "data_schema",
                    "params:model",
                    "params:anomaly",
                    "params:runtime",
                ],
                ["anomaly_model", "anomaly_history"],
                name="train_anomaly_model",
            ),
            node(
                score_anomalies,
                ["anomaly_model", "train_set", "val_set", "test_set", "data_schema", "params:anomaly"],
                ["anomaly_scores", "anomaly_metrics"],
                name="score_anomalies",
            ),
        ]
    )
