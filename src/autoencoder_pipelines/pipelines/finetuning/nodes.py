"""Classifier and denoiser fine-tuning and their test-set evaluation."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from autoencoder_pipelines.config import (
    CorruptionParams,
    DenoiserParams,
    FinetuneParams,
    ModelParams,
    RuntimeParams,
)
from autoencoder_pipelines.data.frames import Skipped, has_labels, labelled_part
from autoencoder_pipelines.jobs.classification import (
    finetune_classifier,
    fit_classifier,
    train_random_init_classifier,
)
from autoencoder_pipelines.jobs.runtime import History, Network, Runtime

logger = logging.getLogger(__name__)
__all__ = [  # the node functions (some are the jobs layer's, shared with tune)
    "corrupt_eval_sets",
    "evaluate_classifiers",
    "evaluate_denoiser",
    "finetune_classifier",
    "finetune_denoiser",
    "label_budget_curve",
    "train_random_init_classifier",
]


def corrupt_eval_sets(
    val: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict[str, Any],
    corruption: CorruptionParams,
    runtime: RuntimeParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed (seeded) noisy copies of the validation and test sets; training corrupts afresh."""
    import torch

    from autoencoder_pipelines.data.frames import features_tensor
    from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
    from autoencoder_pipelines.nn.seeding import derive_seed

    spec = CorruptionSpec.of(corruption)
    generator = torch.Generator().manual_seed(derive_seed(runtime.seed, "corrupt_eval_sets"))
    noisy = []
    for part in (val, test):
        out = part.copy()
        out[schema["features"]] = corrupt(features_tensor(part, schema), spec, generator).numpy()
        noisy.append(out)
    return noisy[0], noisy[1]


def evaluate_classifiers(
    classifier: Network | Skipped,
    random_init_classifier: Network | Skipped,
    test: pd.DataFrame,
    noisy_test: pd.DataFrame,
    schema: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Test accuracy on clean and corrupted inputs, pretrained vs random init, and predictions,
    on the labelled test rows."""
    import torch

    from autoencoder_pipelines.data.frames import (
        features_tensor,
        is_labelled,
        labels_tensor,
    )
    from autoencoder_pipelines.nn.inference import predict_classes

    if isinstance(classifier, Skipped) or isinstance(random_init_classifier, Skipped):
        return {}, pd.DataFrame({"id": pd.Series(dtype=str)})
    labelled = is_labelled(test).to_numpy()  # the noisy set holds the same rows in the same order
    test, noisy_test = test[labelled], noisy_test[labelled]
    x, x_noisy, y = features_tensor(test, schema), features_tensor(noisy_test, schema), labels_tensor(test, schema)
    predicted = {}
    for label, model in (("pretrained", classifier), ("random_init", random_init_classifier)):
        for inputs, tensor in (("clean", x), ("noisy", x_noisy)):
            predicted[label, inputs] = predict_classes(model, tensor)
    from sklearn.metrics import balanced_accuracy_score

    accuracy = {key: float((value == y).float().mean()) for key, value in predicted.items()}
    metrics = {
        "finetune.test_accuracy": accuracy["pretrained", "clean"],
        "finetune.noisy_test_accuracy": accuracy["pretrained", "noisy"],
        "finetune.random_init_test_accuracy": accuracy["random_init", "clean"],
        "finetune.random_init_noisy_test_accuracy": accuracy["random_init", "noisy"],
        # what always guessing the commonest class scores, and accuracy that weighs classes alike
        "finetune.test_majority_rate": float(torch.bincount(y).max() / len(y)),
        "finetune.test_balanced_accuracy": float(balanced_accuracy_score(y, predicted["pretrained", "clean"])),
        "finetune.random_init_test_balanced_accuracy": float(balanced_accuracy_score(y, predicted["random_init", "clean"])),
    }
    logger.info(
        "test accuracy: pretrained %.4f, random init %.4f, majority class %.4f",
        metrics["finetune.test_accuracy"], metrics["finetune.random_init_test_accuracy"],
        metrics["finetune.test_majority_rate"],
    )
    classes = schema["classes"]
    predictions = pd.DataFrame({
        "id": test["id"].to_numpy(),
        "label": test["label"].to_numpy(),
        "predicted": [classes[i] for i in predicted["pretrained", "clean"].tolist()],
        "random_init_predicted": [classes[i] for i in predicted["random_init", "clean"].tolist()],
    })
    return metrics, predictions


LABEL_BUDGET_COLUMNS = [
    "fraction", "labelled_rows", "train_labelled_rows", "pretrained_test_accuracy", "random_init_test_accuracy",
    "pca_logreg_test_accuracy", "pretrained_epochs", "random_init_epochs",
]


def label_budget_curve(
    stack: Network,
    classifier: Network | Skipped,
    random_init_classifier: Network | Skipped,
    finetune_history: History,
    random_init_history: History,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict[str, Any],
    model: ModelParams,
    finetune: FinetuneParams,
    runtime: Runtime,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Where pretraining pays: test accuracy against the number of labels.

    For each of `finetune.label_fractions`, that share of the labelled training rows and of
    the labelled validation rows (stratified, seeded, nested, at least one row per class)
    fine-tunes the pretrained encoder and trains the random-init twin, with the same settings
    and budget as the run's own classifiers (fraction 1.0 is those classifiers). Beside them,
    logistic regression on PCA codes: PCA (as many components as the autoencoder's code) fitted
    on every training row, labelled or not, as the pretraining is; the regression on the
    sampled labelled training rows. Every accuracy is on all labelled test rows. `labelled_rows`
    counts the labels a point used: sampled training plus validation rows."""
    if not finetune.label_fractions or not has_labels(schema) or isinstance(classifier, Skipped):
        if finetune.label_fractions:
            logger.info("label budget curve skipped: the data has no labels")
        return {}, pd.DataFrame(columns=LABEL_BUDGET_COLUMNS)
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from autoencoder_pipelines.data.frames import (
        features_tensor,
        labels_tensor,
        stratified_sample,
    )
    from autoencoder_pipelines.jobs import autoencoders

    features = schema["features"]
    train_labelled, val_labelled, test_labelled = (labelled_part(part) for part in (train, val, test))
    x_test, y_test = features_tensor(test_labelled, schema), labels_tensor(test_labelled, schema).numpy()
    n_components = min(stack.code_size, len(features), len(train))
    codes = make_pipeline(PCA(n_components=n_components, random_state=0), StandardScaler())
    codes.fit(train[features].to_numpy(dtype="float32"))  # every training row: unsupervised, like pretraining
    x_test_codes = codes.transform(test_labelled[features].to_numpy(dtype="float32"))

    def accuracy(network: Network) -> float:
        from autoencoder_pipelines.nn.inference import predict_classes

        return float((predict_classes(network, x_test).numpy() == y_test).mean())

    rows, metrics = [], {}
    for fraction in finetune.label_fractions:
        key = str(fraction)
        sub_train = stratified_sample(train_labelled, fraction, runtime.seed_for("label_budget.train"))
        sub_val = stratified_sample(val_labelled, fraction, runtime.seed_for("label_budget.val"))
        if fraction == 1.0:  # every labelled row: the run's own classifiers, trained on exactly these
            pretrained, twin, histories = classifier, random_init_classifier, (finetune_history, random_init_history)
        else:
            pretrained, pretrained_history = fit_classifier(
                stack, sub_train, sub_val, schema, finetune, runtime, f"label_budget.{key}.finetune")
            fresh = autoencoders.build_autoencoder(model, schema, runtime.seed, "init.random_init")
            twin, twin_history = fit_classifier(
                fresh, sub_train, sub_val, schema, finetune.model_copy(update={"mode": "full"}), runtime,
                f"label_budget.{key}.random_init")
            histories = (pretrained_history, twin_history)
        y_sub = labels_tensor(sub_train, schema).numpy()
        logreg = LogisticRegression(max_iter=2000).fit(codes.transform(sub_train[features].to_numpy(dtype="float32")), y_sub)
        epochs = [max((len(v) for k, v in h.items() if k.endswith(".train_loss")), default=0) for h in histories]
        row = {
            "fraction": fraction,
            "labelled_rows": len(sub_train) + len(sub_val),
            "train_labelled_rows": len(sub_train),
            "pretrained_test_accuracy": accuracy(pretrained),
            "random_init_test_accuracy": accuracy(twin),
            "pca_logreg_test_accuracy": float((logreg.predict(x_test_codes) == y_test).mean()),
            "pretrained_epochs": epochs[0],
            "random_init_epochs": epochs[1],
        }
        rows.append(row)
        for name in ("labelled_rows", "pretrained_test_accuracy", "random_init_test_accuracy", "pca_logreg_test_accuracy"):
            metrics[f"label_budget.{key}.{name}"] = row[name]
        logger.info(
            "label budget %s (%d labelled rows): test accuracy pretrained %.4f, random init %.4f, PCA + logistic "
            "regression %.4f", key, row["labelled_rows"], row["pretrained_test_accuracy"],
            row["random_init_test_accuracy"], row["pca_logreg_test_accuracy"],
        )
    return metrics, pd.DataFrame(rows, columns=LABEL_BUDGET_COLUMNS)


def finetune_denoiser(
    stack: Network,
    train: pd.DataFrame,
    val: pd.DataFrame,
    noisy_val: pd.DataFrame,
    schema: dict[str, Any],
    model: ModelParams,
    corruption: CorruptionParams,
    denoiser: DenoiserParams,
    runtime: Runtime,
) -> tuple[Network, History]:
    """Fine-tune the unrolled stack end to end, corrupted -> clean."""
    from autoencoder_pipelines.jobs import autoencoders
    from autoencoder_pipelines.nn.corruption import CorruptionSpec

    return autoencoders.fine_tune_phase(
        stack, train, val, schema, model, denoiser, runtime, "denoiser",
        corruption=CorruptionSpec.of(corruption), noisy_val=noisy_val,
    )


def evaluate_denoiser(
    denoiser: Network, test: pd.DataFrame, noisy_test: pd.DataFrame, schema: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Test MSE of the corrupted inputs and of their denoised versions, against the clean rows."""
    from autoencoder_pipelines.data.frames import features_tensor
    from autoencoder_pipelines.nn.inference import predict_in_batches

    denoiser.eval()
    x, x_noisy = features_tensor(test, schema), features_tensor(noisy_test, schema)
    denoised = predict_in_batches(denoiser, x_noisy)
    metrics = {
        "denoise.test_mse_noisy": float(((x_noisy - x) ** 2).mean()),
        "denoise.test_mse_denoised": float(((denoised - x) ** 2).mean()),
    }
    metrics["denoise.mse_ratio"] = metrics["denoise.test_mse_denoised"] / max(metrics["denoise.test_mse_noisy"], 1e-12)
    logger.info(
        "test MSE: noisy %.5f, denoised %.5f (ratio %.3f)",
        metrics["denoise.test_mse_noisy"], metrics["denoise.test_mse_denoised"], metrics["denoise.mse_ratio"],
    )
    denoised_frame = test.copy()
    denoised_frame[schema["features"]] = denoised.numpy()
    return metrics, denoised_frame
