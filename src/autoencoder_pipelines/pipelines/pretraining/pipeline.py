from kedro.pipeline import Pipeline, pipeline

from autoencoder_pipelines.pipelines import training_node

from .nodes import pretrain_stack


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        training_node(pretrain_stack, ["pretrained_stack", "pretrain_history"], "pretrain_stack",
                      params={"model": "model", "pretrain": "pretrain", "corruption": "corruption"}),
    ])
