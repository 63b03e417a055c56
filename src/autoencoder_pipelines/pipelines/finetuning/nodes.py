"""Classifier and denoiser fine-tuning, their test-set evaluation, and the label budget curve."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pandas as pd

from autoencoder_pipelines.config import (
    CorruptionParams,
    DenoiserParams,
    FinetuneParams,
    ModelParams,
)
from autoencoder_pipelines.data.frames import ModelInput, Skipped, labelled_part
from autoencoder_pipelines.jobs.classification import (
    finetune_classifier,
    fit_classifier,
    fit_random_init_classifier,
    train_random_init_classifier,
)
from autoencoder_pipelines.jobs.metrics import collect_metrics
from autoencoder_pipelines.jobs.runtime import History, Network, Runtime

logger = logging.getLogger(__name__)
__all__ = [  # the node functions (some are the jobs layer's, shared with tune)
    "collect_metrics",
    "evaluate_classifiers",
    "evaluate_denoiser",
    "finetune_classifier",
    "finetune_denoiser",
    "label_budget_curve",
    "label_budget_fits",
    "train_random_init_classifier",
]


def evaluate_classifiers(
    classifier: Network | Skipped, random_init_classifier: Network | Skipped, data: ModelInput, noisy_test: pd.DataFrame
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
    test, schema = data.test, data.schema
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
    _warn_if_random_init_is_better(predicted["pretrained", "clean"] == y, predicted["random_init", "clean"] == y)
    classes = schema.classes
    predictions = pd.DataFrame({
        "id": test["id"].to_numpy(),
        "label": test["label"].to_numpy(),
        "predicted": [classes[i] for i in predicted["pretrained", "clean"].tolist()],
        "random_init_predicted": [classes[i] for i in predicted["random_init", "clean"].tolist()],
    })
    return metrics, predictions


def _warn_if_random_init_is_better(pretrained_right: Any, random_init_right: Any) -> None:
    """A warning when the random-init twin classifies clearly better than the pretrained
    classifier (the one the scoring model uses): McNemar's exact test on the test rows one of
    them gets right, p < 0.05."""
    from scipy.stats import binomtest

    only_twin = int((random_init_right & ~pretrained_right).sum())
    only_pretrained = int((pretrained_right & ~random_init_right).sum())
    if only_twin <= only_pretrained:
        return
    p_value = binomtest(only_twin, only_twin + only_pretrained, 0.5).pvalue
    if p_value < 0.05:
        logger.warning(
            "the random-init twin classifies better than the pretrained classifier, which the scoring model uses: "
            "%d test rows only it gets right, %d only the pretrained one (McNemar p = %.2g). Pretraining does not help "
            "on this data with these settings: compare finetune.* in the MLflow run, and try finetune.learning_rate, "
            "finetune.patience or the pretraining's settings", only_twin, only_pretrained, p_value)


LABEL_BUDGET_COLUMNS = [
    "fraction", "labelled_rows", "train_labelled_rows", "pretrained_test_accuracy", "random_init_test_accuracy",
    "pca_logreg_test_accuracy", "pretrained_epochs", "random_init_epochs",
]


def label_budget_fits(
    stack: Network, data: ModelInput, model: ModelParams, finetune: FinetuneParams, runtime: Runtime
) -> pd.DataFrame:
    """Where pretraining pays: test accuracy against the number of labels (the curve's fits).

    For each of `finetune.label_fractions` below 1, that share of the labelled training rows
    and of the labelled validation rows (stratified, seeded, nested, at least one row per
    class) fine-tunes the pretrained encoder and trains the random-init twin, with the same
    settings and budget as the run's own classifiers (fraction 1.0 is those classifiers:
    `label_budget_curve` adds them). Beside them, logistic regression on PCA codes: PCA (as
    many components as the autoencoder's code) fitted on every training row, labelled or not,
    as the pretraining is; the regression on the same labels the networks use (the sampled
    training and validation rows: it has no early stopping to spend the validation rows on).
    Every accuracy is on all labelled test rows. `labelled_rows` counts the labels a point
    used: sampled training plus validation rows."""
    schema = data.schema
    if not finetune.label_fractions or not schema.has_labels:
        if finetune.label_fractions:
            logger.info("label budget curve skipped: the data has no labels")
        return pd.DataFrame(columns=LABEL_BUDGET_COLUMNS)
    from autoencoder_pipelines.data.frames import labels_tensor, stratified_sample

    train_labelled, val_labelled = labelled_part(data.train), labelled_part(data.val)
    accuracy, pca_logreg = _test_accuracy(data), _pca_logreg(stack.code_size, data)
    rows = []
    for fraction in finetune.label_fractions:
        key = str(fraction)
        sub_train = stratified_sample(train_labelled, fraction, runtime.seed_for("label_budget.train"))
        sub_val = stratified_sample(val_labelled, fraction, runtime.seed_for("label_budget.val"))
        labelled = pd.concat([sub_train, sub_val])
        row = {"fraction": fraction, "labelled_rows": len(labelled), "train_labelled_rows": len(sub_train),
               "pca_logreg_test_accuracy": pca_logreg(labelled, labels_tensor(labelled, schema).numpy())}
        if fraction < 1.0:  # 1.0: every labelled row, the run's own classifiers (label_budget_curve)
            pretrained, pretrained_history = fit_classifier(
                stack, sub_train, sub_val, schema, finetune, runtime, f"label_budget.{key}.finetune")
            twin, twin_history = fit_random_init_classifier(
                sub_train, sub_val, schema, model, finetune, runtime, f"label_budget.{key}.random_init")
            row.update(pretrained_test_accuracy=accuracy(pretrained), random_init_test_accuracy=accuracy(twin),
                       pretrained_epochs=_epochs(pretrained_history), random_init_epochs=_epochs(twin_history))
        rows.append(row)
    return pd.DataFrame(rows, columns=LABEL_BUDGET_COLUMNS)


def _test_accuracy(data: ModelInput) -> Callable[[Network], float]:
    """A classifier's accuracy on every labelled test row."""
    from autoencoder_pipelines.data.frames import features_tensor, labels_tensor
    from autoencoder_pipelines.nn.inference import predict_classes

    test = labelled_part(data.test)
    x_test, y_test = features_tensor(test, data.schema), labels_tensor(test, data.schema).numpy()
    return lambda network: float((predict_classes(network, x_test).numpy() == y_test).mean())


def _pca_logreg(code_size: int, data: ModelInput) -> Callable[[pd.DataFrame, Any], float]:
    """The accuracy on every labelled test row of logistic regression on PCA codes (as many
    components as the autoencoder's code, fitted on every training row) of some labelled rows."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from autoencoder_pipelines.data.frames import labels_tensor

    features, test = data.schema.features, labelled_part(data.test)
    codes = make_pipeline(PCA(n_components=min(code_size, len(features), len(data.train)), random_state=0), StandardScaler())
    codes.fit(data.values("train"))  # every training row: unsupervised, like pretraining
    x_test, y_test = codes.transform(test[features].to_numpy(dtype="float32")), labels_tensor(test, data.schema).numpy()

    def accuracy(rows: pd.DataFrame, labels: Any) -> float:
        logreg = LogisticRegression(max_iter=2000).fit(codes.transform(rows[features].to_numpy(dtype="float32")), labels)
        return float((logreg.predict(x_test) == y_test).mean())

    return accuracy


def _epochs(history: History) -> int:
    return max((len(v) for k, v in history.items() if k.endswith(".train_loss")), default=0)


def label_budget_curve(
    fits: pd.DataFrame,
    classifier: Network | Skipped,
    random_init_classifier: Network | Skipped,
    finetune_history: History,
    random_init_history: History,
    data: ModelInput,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The label budget curve: `label_budget_fits` with the fraction 1.0 point taken from the
    run's own classifiers (trained on exactly those rows), and its metrics
    `label_budget.<fraction>.*`."""
    if fits.empty or isinstance(classifier, Skipped) or isinstance(random_init_classifier, Skipped):
        return {}, pd.DataFrame(columns=LABEL_BUDGET_COLUMNS)
    table = fits.copy()
    full = table["fraction"] == 1.0
    if full.any():
        accuracy = _test_accuracy(data)
        table.loc[full, ["pretrained_test_accuracy", "random_init_test_accuracy"]] = [
            accuracy(classifier), accuracy(random_init_classifier)]
        table.loc[full, ["pretrained_epochs", "random_init_epochs"]] = [_epochs(finetune_history), _epochs(random_init_history)]
    table = table.astype({"labelled_rows": int, "train_labelled_rows": int, "pretrained_epochs": int, "random_init_epochs": int})
    metrics = {}
    for row in table.to_dict(orient="records"):
        key = str(row["fraction"])
        for name in ("labelled_rows", "pretrained_test_accuracy", "random_init_test_accuracy", "pca_logreg_test_accuracy"):
            metrics[f"label_budget.{key}.{name}"] = row[name]
        logger.info(
            "label budget %s (%d labelled rows): test accuracy pretrained %.4f, random init %.4f, PCA + logistic "
            "regression %.4f", key, row["labelled_rows"], row["pretrained_test_accuracy"],
            row["random_init_test_accuracy"], row["pca_logreg_test_accuracy"],
        )
    return metrics, table


def finetune_denoiser(
    stack: Network,
    data: ModelInput,
    model: ModelParams,
    corruption: CorruptionParams,
    denoiser: DenoiserParams,
    runtime: Runtime,
) -> tuple[Network, History]:
    """Fine-tune the unrolled stack end to end, corrupted -> clean (fresh noise every batch),
    validated on the fixed noisy validation rows (those of noisy_val_set: the same draws)."""
    from autoencoder_pipelines.jobs import autoencoders
    from autoencoder_pipelines.nn.corruption import CorruptionSpec

    spec = CorruptionSpec.of(corruption)
    (noisy_val,) = autoencoders.fixed_noise(data, spec, runtime.seed_for("corrupt_eval_sets"), ("val",))
    return autoencoders.fine_tune_phase(stack, data, model, denoiser, runtime, "denoiser", corruption=spec, noisy_val=noisy_val)


def evaluate_denoiser(denoiser: Network, data: ModelInput, noisy_test: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Test MSE of the corrupted inputs and of their denoised versions, against the clean rows."""
    from autoencoder_pipelines.data.frames import features_tensor
    from autoencoder_pipelines.nn.inference import predict_in_batches

    denoiser.eval()
    test, schema = data.test, data.schema
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
    denoised_frame[schema.features] = denoised.numpy()
    return metrics, denoised_frame
