from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced, settings

from .nodes import (
    collect_metrics,
    evaluate_classifiers,
    evaluate_denoiser,
    finetune_classifier,
    finetune_denoiser,
    label_budget_curve,
    label_budget_fits,
    train_random_init_classifier,
)


def create_pipeline(**kwargs) -> Pipeline:
    return settings("model") + namespaced("finetuning", [
        node(finetune_classifier, ["pretrained_stack", "model_input", "params:finetune", "runtime"],
             ["classifier", "finetune_history"], name="finetune_classifier"),
        node(train_random_init_classifier, ["model_input", "params:model", "params:finetune", "runtime"],
             ["random_init_classifier", "random_init_history"], name="train_random_init_classifier"),
        node(evaluate_classifiers, ["classifier", "random_init_classifier", "model_input", "noisy_test_set"],
             ["classification_metrics", "test_predictions"], name="evaluate_classifiers"),
        node(label_budget_fits, ["pretrained_stack", "model_input", "params:model", "params:finetune", "runtime"],
             "label_budget_fits", name="label_budget_fits"),
        node(label_budget_curve, ["label_budget_fits", "classifier", "random_init_classifier", "finetune_history",
                                  "random_init_history", "model_input"],
             ["label_budget_metrics", "label_budget"], name="label_budget_curve"),
        node(finetune_denoiser, ["pretrained_stack", "model_input", "params:model", "params:corruption", "params:denoiser",
                                 "runtime"], ["denoiser", "denoiser_history"], name="finetune_denoiser"),
        node(evaluate_denoiser, ["denoiser", "model_input", "noisy_test_set"], ["denoising_metrics", "denoised_test_set"],
             name="evaluate_denoiser"),
        node(collect_metrics, ["classification_metrics", "label_budget_metrics", "denoising_metrics"], "finetuning_metrics",
             name="collect_metrics"),
    ])
