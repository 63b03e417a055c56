"""Pretraining: greedy layer-wise for the stacking kinds, end to end for the others."""

from __future__ import annotations

import logging

from autoencoder_pipelines.config import CorruptionParams, ModelParams, PretrainParams
from autoencoder_pipelines.data.frames import ModelInput
from autoencoder_pipelines.jobs.runtime import History, Network, Runtime, history_series

logger = logging.getLogger(__name__)


def pretrain_stack(
    data: ModelInput, model: ModelParams, pretrain: PretrainParams, corruption: CorruptionParams, runtime: Runtime
) -> tuple[Network, History]:
    """The network of `model.kind`, pretrained with its own objective on the training rows
    (labelled or not); each layer of a stack gets `pretrain`'s budget, an end-to-end kind gets
    it once."""
    from autoencoder_pipelines.data.frames import (
        features_tensor,
        labelled_part,
        labels_tensor,
    )
    from autoencoder_pipelines.jobs import autoencoders
    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.kinds import get_kind
    from autoencoder_pipelines.nn.stacking import layer_corruptions
    from autoencoder_pipelines.nn.stacking import pretrain as pretrain_network

    train, val, schema = data.train, data.val, data.schema
    kind = get_kind(model.kind)  # its options were checked once, right after ingestion (checks.check_model)
    network = autoencoders.build_autoencoder(model, schema, runtime.seed, "init.pretrain").to(runtime.device)
    arch = network.architecture
    if kind.uses_labels(arch):  # e.g. an adversarial autoencoder with one prior component per class
        labelled = labelled_part(train)  # its objective needs each row's class
        if len(labelled) < len(train):
            logger.info("pretraining %s: on the %d labelled of %d training rows (its prior has a component per class)",
                        model.kind, len(labelled), len(train))
        x_train, labels = runtime.place(features_tensor(labelled, schema), labels_tensor(labelled, schema))
    else:
        (x_train,), labels = runtime.place(features_tensor(train, schema)), None
    per_layer = [CorruptionSpec.of(c) for c in pretrain.layer_corruption] if pretrain.layer_corruption else None
    histories = pretrain_network(
        network, kind, arch, x_train, runtime.features(val, schema),
        trainer_for=lambda name: runtime.trainer(pretrain, name, len(x_train)),
        losses=autoencoders.layer_losses(model, schema),
        corruptions=layer_corruptions(kind, len(network.architecture.hidden_sizes), CorruptionSpec.of(corruption), per_layer),
        l1_weight=model.l1_weight,
        labels=labels,
    )
    return network.cpu(), history_series(*histories)
