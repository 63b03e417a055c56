from kedro.pipeline import Pipeline, node, pipeline

from .nodes import compare_with_pca, export_embeddings, finetune_reduction_autoencoder, sweep_code_sizes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                finetune_reduction_autoencoder,
                [
                    "pretrained_stack",
                    "train_set",
                    "val_set",
                    "data_schema",
                    "params:model",
                    "params:reduction",
                    "params:runtime",
                ],
                ["reduction_autoencoder", "reduction_history"],
                name="finetune_reduction_autoencoder",
            ),
            node(
                export_embeddings,
                ["reduction_autoencoder", "train_set", "val_set", "test_set", "data_schema"],
                "embeddings",
                name="export_embeddings",
            ),
            node(
                compare_with_pca,
                ["reduction_autoencoder", "train_set", "val_set", "test_set", "data_schema", "params:reduction"],
                ["pca_embeddings", "reduction_metrics"],
                name="compare_with_pca",
            ),
            node(
                sweep_code_sizes,
                [
                    "pretrained_stack",
                    "reduction_autoencoder",
                    "train_set",
                    "val_set",
                    "test_set",
                    "data_schema",
                    "params:model",
                    "params:reduction",
                    "params:runtime",
                ],
                "reduction_by_code_size",
                name="sweep_code_sizes",
            ),
        ]
    )
