from kedro.pipeline import Pipeline, node, pipeline

from .nodes import pretrain_stack


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                pretrain_stack,
                [
                    "train_set",
                    "val_set",
                    "data_schema",
                    "params:model",
                    "params:pretrain",
                    "params:corruption",
                    "params:runtime",
                ],
                ["pretrained_stack", "pretrain_history"],
                name="pretrain_stack",
            )
        ]
    )
