"""Classifiers on an autoencoder's encoder: fine-tuned from pretraining, or from random init."""

from __future__ import annotations

import logging

import pandas as pd

from autoencoder_pipelines.config import FinetuneParams, ModelParams
from autoencoder_pipelines.data.frames import ModelInput, Skipped, labelled_part
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.runtime import History, Network, Runtime, history_series

logger = logging.getLogger(__name__)


def fit_classifier(
    autoencoder: Network,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: DataSchema,
    params: FinetuneParams,
    runtime: Runtime,
    name: str,
) -> tuple[Network | Skipped, History]:
    """A classifier head on `autoencoder`'s encoder, trained on the labelled rows of `train`
    (early stopping on those of `val`)."""
    from autoencoder_pipelines.data.frames import features_tensor, labels_tensor
    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.finetuning import train_classifier
    from autoencoder_pipelines.nn.networks import EncoderClassifier
    from autoencoder_pipelines.nn.seeding import seeded

    if not schema.has_labels:
        reason = ("no label column in the data" if not schema.label_column
                  else f"the label column '{schema.label_column}' is empty in every row")
        logger.info("%s skipped: %s", name, reason)
        return Skipped(reason), {}
    labelled = labelled_part(train)
    if len(labelled) < len(train):
        logger.info("%s: %d labelled training rows (%d unlabelled rows left to pretraining)",
                    name, len(labelled), len(train) - len(labelled))
    train, val = labelled, labelled_part(val)
    with seeded(runtime.seed, f"init.{name}.head"):
        classifier = EncoderClassifier.on(autoencoder, schema.n_classes, params.dropout).to(runtime.device)
    if params.train_on_validation:
        train, val = pd.concat([train, val], ignore_index=True), None
    x_train, y_train = runtime.place(features_tensor(train, schema), labels_tensor(train, schema))
    history = train_classifier(
        classifier, x_train, y_train,
        None if val is None else runtime.features(val, schema),
        None if val is None else labels_tensor(val, schema, runtime.device),
        runtime.trainer(params, name, len(x_train)), name, mode=params.mode,
        input_corruption=CorruptionSpec.of(params.input_corruption),
    )
    return classifier.cpu(), history_series(history)


def finetune_classifier(
    stack: Network, data: ModelInput, finetune: FinetuneParams, runtime: Runtime
) -> tuple[Network | Skipped, History]:
    """Pretrained encoder + classifier head, fine-tuned (`full`) or head only."""
    return fit_classifier(stack, data.train, data.val, data.schema, finetune, runtime, "finetune")


def fit_random_init_classifier(
    train: pd.DataFrame, val: pd.DataFrame, schema: DataSchema, model: ModelParams, finetune: FinetuneParams,
    runtime: Runtime, name: str,
) -> tuple[Network | Skipped, History]:
    """The same network and budget from random initialisation: what pretraining bought."""
    from autoencoder_pipelines.jobs import autoencoders

    fresh = autoencoders.build_autoencoder(model, schema, runtime.seed, "init.random_init")
    # head_only on random weights measures nothing
    return fit_classifier(fresh, train, val, schema, finetune.model_copy(update={"mode": "full"}), runtime, name)


def train_random_init_classifier(
    data: ModelInput, model: ModelParams, finetune: FinetuneParams, runtime: Runtime
) -> tuple[Network | Skipped, History]:
    """The run's random-init twin of the fine-tuned classifier, on every labelled row."""
    return fit_random_init_classifier(data.train, data.val, data.schema, model, finetune, runtime, "random_init")
