from kedro.pipeline import Pipeline, node, pipeline

from autoencoder_pipelines.pipelines import training_node

from .nodes import (
    corrupt_eval_sets,
    evaluate_classifiers,
    evaluate_denoiser,
    finetune_classifier,
    finetune_denoiser,
    label_budget_curve,
    train_random_init_classifier,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(corrupt_eval_sets, ["val_set", "test_set", "data_schema", "params:corruption", "params:runtime"],
             ["noisy_val_set", "noisy_test_set"], name="corrupt_eval_sets"),
        training_node(finetune_classifier, ["classifier", "finetune_history"], "finetune_classifier",
                      params={"finetune": "finetune"}, stack="pretrained_stack"),
        training_node(train_random_init_classifier, ["random_init_classifier", "random_init_history"],
                      "train_random_init_classifier", params={"model": "model", "finetune": "finetune"}),
        node(evaluate_classifiers, ["classifier", "random_init_classifier", "test_set", "noisy_test_set", "data_schema"],
             ["classification_metrics", "test_predictions"], name="evaluate_classifiers"),
        training_node(label_budget_curve, ["label_budget_metrics", "label_budget"], "label_budget_curve",
                      params={"model": "model", "finetune": "finetune"}, stack="pretrained_stack",
                      classifier="classifier", random_init_classifier="random_init_classifier",
                      finetune_history="finetune_history", random_init_history="random_init_history",
                      test="test_set"),
        training_node(finetune_denoiser, ["denoiser", "denoiser_history"], "finetune_denoiser",
                      params={"model": "model", "corruption": "corruption", "denoiser": "denoiser"},
                      stack="pretrained_stack", noisy_val="noisy_val_set"),
        node(evaluate_denoiser, ["denoiser", "test_set", "noisy_test_set", "data_schema"],
             ["denoising_metrics", "denoised_test_set"], name="evaluate_denoiser"),
    ])
