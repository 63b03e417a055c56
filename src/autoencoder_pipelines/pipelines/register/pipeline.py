from kedro.pipeline import Pipeline, node, pipeline

from .nodes import register_version


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([node(register_version, "params:registry", None, name="register_version")])
