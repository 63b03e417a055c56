"""Classifier and denoiser fine-tuning and their test-set evaluation."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import torch

from autoencoder_pipelines.config import (
    CorruptionParams,
    DenoiserParams,
    FinetuneParams,
    ModelParams,
    parse,
)
from autoencoder_pipelines.data import Skipped, features_tensor, has_labels, labels_tensor
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.jobs import build_autoencoder, fine_tune_unrolled
from autoencoder_pipelines.nn.finetuning import train_classifier
from autoencoder_pipelines.nn.models import EncoderClassifier, StackedAutoencoder
from autoencoder_pipelines.nn.training import predict_in_batches
from autoencoder_pipelines.runtime import setup_runtime

logger = logging.getLogger(__name__)
History = dict[str, list[float]]


def _spec(params: CorruptionParams | None) -> CorruptionSpec | None:
    return None if params is None else CorruptionSpec(kind=params.kind, level=params.level)


def _fit_classifier(
    stack: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    finetune: dict[str, Any],
    runtime: dict[str, Any],
    name: str,
    seed_offset: int,
) -> tuple[EncoderClassifier | Skipped, History]:
    if not has_labels(schema):
        logger.info("%s skipped: the data has no label column", name)
        return Skipped("no label column in the data"), {}
    params = parse(FinetuneParams, finetune, "finetune")
    rt = setup_runtime(runtime, seed_offset=seed_offset)
    classifier = EncoderClassifier.from_stack(stack, len(schema["classes"]), params.dropout).to(rt.device)
    if params.train_on_validation:
        train, val = pd.concat([train, val], ignore_index=True), None
    x_train, y_train = rt.place(features_tensor(train, schema), labels_tensor(train, schema))
    history = train_classifier(
        classifier,
        x_train,
        y_train,
        None if val is None else features_tensor(val, schema, rt.device),
        None if val is None else labels_tensor(val, schema, rt.device),
        rt.train_settings(params, name=name, seed_offset=seed_offset),
        mode=params.mode,
        input_corruption=_spec(params.input_corruption),
        name=name,
    )
    return classifier.cpu(), {f"{name}.{key}": values for key, values in history.series().items()}


def finetune_classifier(
    stack: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    finetune: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[EncoderClassifier | Skipped, History]:
    """Pretrained encoder + classifier head, fine-tuned (`full`) or head only."""
    return _fit_classifier(stack, train, val, schema, finetune, runtime, "finetune", seed_offset=20)


def train_random_init_classifier(
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    model: dict[str, Any],
    finetune: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[EncoderClassifier | Skipped, History]:
    """The same network and budget from random initialisation: what pretraining bought."""
    model_params = parse(ModelParams, model, "model")
    setup_runtime(runtime, seed_offset=30)
    fresh = build_autoencoder(model_params, schema)
    finetune_full = {**(finetune or {}), "mode": "full"}  # head_only on random weights measures nothing
    return _fit_classifier(fresh, train, val, schema, finetune_full, runtime, "random_init", seed_offset=30)


def _accuracy(classifier: EncoderClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    predictions = predict_in_batches(lambda batch: classifier(batch).argmax(dim=1), x)
    return float((predictions == y).float().mean())


def evaluate_classifiers(
    classifier: EncoderClassifier | Skipped,
    random_init_classifier: EncoderClassifier | Skipped,
    test: pd.DataFrame,
    noisy_test: pd.DataFrame,
    schema: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Test accuracy on clean and corrupted inputs, pretrained vs random init, and predictions."""
    if isinstance(classifier, Skipped) or isinstance(random_init_classifier, Skipped):
        return {}, pd.DataFrame({"id": pd.Series(dtype=str)})
    x, x_noisy, y = features_tensor(test, schema), features_tensor(noisy_test, schema), labels_tensor(test, schema)
    classifier.eval()
    random_init_classifier.eval()
    predicted = predict_in_batches(lambda batch: classifier(batch).argmax(dim=1), x)
    metrics = {
        "finetune.test_accuracy": float((predicted == y).float().mean()),
        "finetune.noisy_test_accuracy": _accuracy(classifier, x_noisy, y),
        "finetune.random_init_test_accuracy": _accuracy(random_init_classifier, x, y),
        "finetune.random_init_noisy_test_accuracy": _accuracy(random_init_classifier, x_noisy, y),
    }
    logger.info(
        "test accuracy: pretrained %.4f, random init %.4f",
        metrics["finetune.test_accuracy"], metrics["finetune.random_init_test_accuracy"],
    )
    classes = schema["classes"]
    random_predicted = predict_in_batches(lambda batch: random_init_classifier(batch).argmax(dim=1), x)
    predictions = pd.DataFrame({
        "id": test["id"].to_numpy(),
        "label": test["label"].to_numpy(),
        "predicted": [classes[i] for i in predicted.tolist()],
        "random_init_predicted": [classes[i] for i in random_predicted.tolist()],
    })
    return metrics, predictions


def finetune_denoiser(
    stack: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    noisy_val: pd.DataFrame,
    schema: dict[str, Any],
    model: dict[str, Any],
    corruption: dict[str, Any],
    denoiser: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[StackedAutoencoder, History]:
    """Fine-tune the unrolled stack end to end, corrupted -> clean."""
    return fine_tune_unrolled(
        stack, train, val, schema,
        corruption=_spec(parse(CorruptionParams, corruption, "corruption")),
        phase=parse(DenoiserParams, denoiser, "denoiser"),
        loss=parse(ModelParams, model, "model").loss,
        runtime=runtime, name="denoiser", seed_offset=40, noisy_val=noisy_val,
    )


def evaluate_denoiser(
    denoiser: StackedAutoencoder, test: pd.DataFrame, noisy_test: pd.DataFrame, schema: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Test MSE of the corrupted inputs and of their denoised versions, against the clean rows."""
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
