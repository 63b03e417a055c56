from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced, settings

from .nodes import pretrain_stack


def create_pipeline(**kwargs) -> Pipeline:
    return settings("model") + namespaced("pretraining", [
        node(pretrain_stack, ["model_input", "params:model", "params:pretrain", "params:corruption", "runtime"],
             ["pretrained_stack", "pretrain_history"], name="pretrain_stack"),
    ])
