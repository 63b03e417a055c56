"""The report of a training run: metrics.json, MLflow metrics and histories, figures. `summary`
is the part every training pipeline reuses (denoise with all its phases, anomaly with its
own); the figures and analyses are denoise's. Everything it reads is saved, so `kedro run
--from-nodes=reporting.<node>` draws again from the files of the last training."""

from kedro.pipeline import Pipeline, node

from autoencoder_pipelines.pipelines import namespaced

from .nodes import (
    analyse_contraction,
    build_metrics,
    collect_histories,
    collect_metrics,
    compare_codes_with_prior,
    evaluate_generation,
    plot_accuracy_comparison,
    plot_codes_2d,
    plot_confusion_matrix,
    plot_denoising_grid,
    plot_generated_samples,
    plot_label_budget,
    plot_learning_curves,
    plot_reduction_by_code_size,
)

# The metrics of denoise's pipelines (each gathers its own), and its phases' per-epoch histories.
METRICS = ["data_metrics", "finetuning_metrics", "reduction_metrics", "anomaly_metrics", "analysis_metrics"]
HISTORIES = ["pretrain_history", "finetune_history", "random_init_history", "denoiser_history", "reduction_history",
             "anomaly_history"]


def summary(metrics: list[str], histories: list[str]) -> Pipeline:
    """metrics.json and the run's MLflow metrics from the metric datasets `metrics` (at most 5),
    the per-epoch MLflow histories and the learning curves from `histories` (at most 6)."""
    return namespaced("reporting", [
        node(build_metrics, ["runtime", *metrics], ["metrics", "final_metrics_mlflow"], name="build_metrics"),
        node(collect_histories, histories, "training_history_mlflow", name="collect_histories"),
        node(plot_learning_curves, histories, "learning_curves_plot", name="plot_learning_curves"),
    ])


def figures() -> Pipeline:
    """denoise's figures, and the analyses of its pretrained encoder (`analysis_metrics`)."""
    return namespaced("reporting", [
        node(plot_denoising_grid, ["model_input", "noisy_test_set", "denoised_test_set", "params:report"],
             "denoising_grid_plot", name="plot_denoising_grid"),
        node(plot_codes_2d, ["embeddings", "params:report"], "codes_2d_plot", name="plot_codes_2d"),
        node(plot_confusion_matrix, "test_predictions", "confusion_matrix_plot", name="plot_confusion_matrix"),
        node(plot_accuracy_comparison, "classification_metrics", "accuracy_comparison_plot", name="plot_accuracy_comparison"),
        node(plot_label_budget, "label_budget", "label_budget_plot", name="plot_label_budget"),
        node(plot_reduction_by_code_size, "reduction_by_code_size", "reduction_by_code_size_plot",
             name="plot_reduction_by_code_size"),
        node(plot_generated_samples, ["pretrained_stack", "model_input"], "generated_samples_plot",
             name="plot_generated_samples"),
        node(compare_codes_with_prior, ["pretrained_stack", "model_input", "params:report"],
             ["prior_metrics", "codes_vs_prior_plot"], name="compare_codes_with_prior"),
        node(evaluate_generation, ["pretrained_stack", "model_input", "params:report"],
             ["generation_metrics", "generated_vs_real_plot"], name="evaluate_generation"),
        node(analyse_contraction, ["pretrained_stack", "model_input", "params:report"],
             ["contraction_metrics", "contraction_table", "contraction_plot"], name="analyse_contraction"),
        node(collect_metrics, ["contraction_metrics", "generation_metrics", "prior_metrics"], "analysis_metrics",
             name="collect_metrics"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    return figures() + summary(METRICS, HISTORIES)
