from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    analyse_contraction,
    build_metrics,
    collect_histories,
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

HISTORIES = [
    "pretrain_history",
    "finetune_history",
    "random_init_history",
    "denoiser_history",
    "reduction_history",
    "anomaly_history",
]


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_metrics,
                ["run_started_at", "data_metrics", "classification_metrics", "label_budget_metrics", "denoising_metrics",
                 "reduction_metrics", "anomaly_metrics", "anomaly_baseline_metrics", "feature_classifier_metrics",
                 "contraction_metrics", "generation_metrics", "prior_metrics"],
                ["metrics", "final_metrics_mlflow"],
                name="build_metrics",
            ),
            node(collect_histories, ["metrics", *HISTORIES], "training_history_mlflow", name="collect_histories"),
            node(plot_learning_curves, HISTORIES, "learning_curves_plot", name="plot_learning_curves"),
            node(
                plot_denoising_grid,
                ["test_set", "noisy_test_set", "denoised_test_set", "data_schema", "params:report"],
                "denoising_grid_plot",
                name="plot_denoising_grid",
            ),
            node(plot_codes_2d, ["embeddings", "params:report"], "codes_2d_plot", name="plot_codes_2d"),
            node(plot_confusion_matrix, "test_predictions", "confusion_matrix_plot", name="plot_confusion_matrix"),
            node(
                plot_accuracy_comparison,
                "classification_metrics",
                "accuracy_comparison_plot",
                name="plot_accuracy_comparison",
            ),
            node(plot_label_budget, "label_budget", "label_budget_plot", name="plot_label_budget"),
            node(
                plot_generated_samples,
                ["pretrained_stack", "test_set", "data_schema"],
                "generated_samples_plot",
                name="plot_generated_samples",
            ),
            node(
                compare_codes_with_prior,
                ["pretrained_stack", "test_set", "data_schema", "params:report"],
                ["prior_metrics", "codes_vs_prior_plot"],
                name="compare_codes_with_prior",
            ),
            node(
                evaluate_generation,
                ["pretrained_stack", "train_set", "test_set", "data_schema", "params:report"],
                ["generation_metrics", "generated_vs_real_plot"],
                name="evaluate_generation",
            ),
            node(
                analyse_contraction,
                ["pretrained_stack", "test_set", "data_schema", "params:report"],
                ["contraction_metrics", "contraction_table", "contraction_plot"],
                name="analyse_contraction",
            ),
            node(
                plot_reduction_by_code_size,
                "reduction_by_code_size",
                "reduction_by_code_size_plot",
                name="plot_reduction_by_code_size",
            ),
        ]
    )
