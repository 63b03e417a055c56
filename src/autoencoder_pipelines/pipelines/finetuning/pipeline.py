from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    evaluate_classifiers,
    evaluate_denoiser,
    finetune_classifier,
    finetune_denoiser,
    train_random_init_classifier,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                finetune_classifier,
                ["pretrained_stack", "train_set", "val_set", "data_schema", "params:finetune", "params:runtime"],
                ["classifier", "finetune_history"],
                name="finetune_classifier",
            ),
            node(
                train_random_init_classifier,
                ["train_set", "val_set", "data_schema", "params:model", "params:finetune", "params:runtime"],
                ["random_init_classifier", "random_init_history"],
                name="train_random_init_classifier",
            ),
            node(
                evaluate_classifiers,
                ["classifier", "random_init_classifier", "test_set", "noisy_test_set", "data_schema"],
                ["classification_metrics", "test_predictions"],
                name="evaluate_classifiers",
            ),
            node(
                finetune_denoiser,
                [
                    "pretrained_stack",
                    "train_set",
                    "val_set",
                    "noisy_val_set",
                    "data_schema",
                    "params:model",
                    "params:corruption",
                    "params:denoiser",
                    "params:runtime",
                ],
                ["denoiser", "denoiser_history"],
                name="finetune_denoiser",
            ),
            node(
                evaluate_denoiser,
                ["denoiser", "test_set", "noisy_test_set", "data_schema"],
                ["denoising_metrics", "denoised_test_set"],
                name="evaluate_denoiser",
            ),
        ]
    )
