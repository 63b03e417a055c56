from kedro.pipeline import Pipeline, node, pipeline

from .nodes import promote_version


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([node(promote_version, "params:registry", None, name="promote_version")])
