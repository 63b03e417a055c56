from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines import training_node

from .nodes import (
    classify_features,
    compare_with_pca,
    export_embeddings,
    finetune_reduction_autoencoder,
    sweep_code_sizes,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        # from the pretrained stack, not the denoiser: starting from the denoiser saved a few
        # epochs but ended 10% worse (digits: test MSE 0.0056 vs 0.0052; benchmarks/RESULTS.md)
        training_node(finetune_reduction_autoencoder, ["reduction_autoencoder", "reduction_history"],
                      "finetune_reduction_autoencoder", params={"model": "model", "reduction": "reduction"},
                      stack="pretrained_stack"),
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
            classify_features,
            ["embeddings", "pca_embeddings", "train_set", "test_set", "data_schema", "params:reduction"],
            "feature_classifier_metrics",
            name="classify_features",
        ),
        training_node(sweep_code_sizes, "reduction_by_code_size", "sweep_code_sizes",
                      params={"model": "model", "params": "reduction"},
                      stack="pretrained_stack", autoencoder="reduction_autoencoder", test="test_set"),
    ])
