from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced, settings

from .nodes import (
    classify_features,
    collect_metrics,
    compare_with_pca,
    export_embeddings,
    finetune_reduction_autoencoder,
    sweep_code_sizes,
)


def create_pipeline(**kwargs) -> Pipeline:
    return settings("model") + namespaced("reduction", [
        # from the pretrained stack, not the denoiser: starting from the denoiser saved a few
        # epochs but ended 10% worse (digits: test MSE 0.0056 vs 0.0052; benchmarks/RESULTS.md)
        node(finetune_reduction_autoencoder, ["pretrained_stack", "model_input", "params:model", "params:reduction", "runtime"],
             ["reduction_autoencoder", "reduction_history"], name="finetune_reduction_autoencoder"),
        node(export_embeddings, ["reduction_autoencoder", "model_input"], "embeddings", name="export_embeddings"),
        node(compare_with_pca, ["reduction_autoencoder", "model_input", "params:reduction"],
             ["pca_embeddings", "pca_comparison_metrics"], name="compare_with_pca"),
        node(classify_features, ["embeddings", "pca_embeddings", "model_input"], "feature_classifier_metrics",
             name="classify_features"),
        node(sweep_code_sizes, ["pretrained_stack", "reduction_autoencoder", "model_input", "params:model", "params:reduction",
                                "runtime"], "reduction_by_code_size", name="sweep_code_sizes"),
        node(collect_metrics, ["pca_comparison_metrics", "feature_classifier_metrics"], "reduction_metrics",
             name="collect_metrics"),
    ])
