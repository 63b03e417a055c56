from kedro.pipeline import Pipeline, node, pipeline

from .nodes import compare_with_pca, export_embeddings


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                export_embeddings,
                ["denoiser", "train_set", "val_set", "test_set", "data_schema"],
                "embeddings",
                name="export_embeddings",
            ),
            node(
                compare_with_pca,
                ["denoiser", "train_set", "val_set", "test_set", "data_schema", "params:reduction"],
                ["pca_embeddings", "reduction_metrics"],
                name="compare_with_pca",
            ),
        ]
    )
