"""Stacking kinds pretrain every layer with their own loss; end-to-end kinds do not stack."""

from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.errors import ConfigError
from autoencoder_pipelines.pipelines.pretraining import nodes

SCHEMA = {"features": [f"f{i}" for i in range(16)], "image_shape": [4, 4], "classes": None}
FRAME = pd.DataFrame(np.random.default_rng(0).random((64, 16), dtype="float32"), columns=SCHEMA["features"])
RUNTIME = {"device": "cpu", "log_every": 0, "checkpoint_every": 0}
PRETRAIN = {"epochs": 1, "batch_size": 32}


def _plans(kind, **model):
    captured = {}

    def spy(stack, x_train, x_val, plans):
        captured["plans"] = plans
        return []

    with patch.object(nodes, "pretrain_greedy", side_effect=spy):
        nodes.pretrain_stack(FRAME, FRAME, SCHEMA, {"kind": kind, "hidden_sizes": [8, 4], **model}, PRETRAIN, {}, RUNTIME)
    return captured["plans"]


def test_denoising_corrupts_and_adds_no_penalty():
    plans = _plans("denoising")
    assert [p.corruption.kind for p in plans] == ["masking", "masking"]
    assert all(p.regularizer is None for p in plans)


@pytest.mark.parametrize("kind", ["sparse", "contractive"])
def test_regularized_kinds_put_their_penalty_on_every_layer_without_noise(kind):
    plans = _plans(kind)
    assert len(plans) == 2 and all(p.regularizer is not None for p in plans)
    assert all(p.corruption.kind == "none" for p in plans)


def test_sparse_penalty_is_the_one_configured():
    with patch.object(nodes, "make_regularizer", wraps=nodes.make_regularizer) as factory:
        _plans("sparse", sparse={"sparsity": "l1", "weight": 0.5})
    factory.assert_called_once_with("sparse", sparsity="l1", target=0.05, weight=0.5, l1_weight=0.0)


@pytest.mark.parametrize("kind", ["vae", "conv"])
def test_end_to_end_kinds_do_not_stack(kind):
    with patch.object(nodes, "pretrain_greedy") as greedy:
        model, history = nodes.pretrain_stack(FRAME, FRAME, SCHEMA, {"kind": kind, "hidden_sizes": [8, 4]}, PRETRAIN, {}, RUNTIME)
    greedy.assert_not_called()
    assert model.code_size == 4 and f"pretrain.{kind}.train_loss" in history


def test_conv_needs_an_image_shape():
    with pytest.raises(ConfigError, match="model.kind 'conv' needs images: set data.image_shape"):
        nodes.pretrain_stack(FRAME, FRAME, {**SCHEMA, "image_shape": None}, {"kind": "conv", "hidden_sizes": [4]}, PRETRAIN, {}, RUNTIME)


@pytest.mark.parametrize("kind", ["vae", "conv", "denoising"])
def test_l1_weight_reaches_every_kind(kind):
    from autoencoder_pipelines.nn import variants

    with patch.object(variants, "l1_weight_penalty", wraps=variants.l1_weight_penalty) as penalty:
        nodes.pretrain_stack(FRAME, FRAME, SCHEMA, {"kind": kind, "hidden_sizes": [8, 4], "l1_weight": 0.01}, PRETRAIN, {}, RUNTIME)
    assert penalty.call_count > 0 and penalty.call_args.args[1] == 0.01
