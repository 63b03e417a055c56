from unittest.mock import patch

import torch

from autoencoder_pipelines.nn import stacking
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.models import StackedAutoencoder
from autoencoder_pipelines.nn.stacking import LayerPlan, pretrain_greedy
from autoencoder_pipelines.nn.training import TrainSettings


def _data(n=200, d=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=generator), torch.rand(n // 4, d, generator=generator)


def _plans(n_layers, kind="masking"):
    return [
        LayerPlan(CorruptionSpec(kind, 0.3), TrainSettings(epochs=3, batch_size=32, learning_rate=0.01, seed=k, log_every=0))
        for k in range(n_layers)
    ]


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_greedy_pretraining_freezes_lower_layers_and_feeds_their_clean_codes():
    torch.manual_seed(0)
    x_train, x_val = _data()
    stack = StackedAutoencoder.build(12, [8, 6, 4])
    seen = []
    real_pretrain_layer = stacking.pretrain_layer

    def spy(layer, inputs, val_inputs, plan, name):
        before = [_state(l) for l in stack.layers]
        history = real_pretrain_layer(layer, inputs, val_inputs, plan, name)
        seen.append({"layer": layer, "inputs": inputs.clone(), "before": before, "after": [_state(l) for l in stack.layers]})
        return history

    with patch.object(stacking, "pretrain_layer", side_effect=spy):
        histories = pretrain_greedy(stack, x_train, x_val, _plans(3))

    assert [h.name for h in histories] == ["pretrain.layer_1", "pretrain.layer_2", "pretrain.layer_3"]
    for k, record in enumerate(seen):
        assert record["layer"] is stack.layers[k]
        # layers below k do not change while layer k trains
        for j in range(k):
            for key in record["before"][j]:
                assert torch.equal(record["before"][j][key], record["after"][j][key]), (k, j, key)
        # layer k itself does train
        assert any(not torch.equal(record["before"][k][key], record["after"][k][key]) for key in record["before"][k])
        # layer k's input is the clean code of layers 1..k-1 (no noise: the layer corrupts it itself)
        with torch.no_grad():
            expected = stack.encode(x_train, depth=k)
        assert torch.allclose(record["inputs"], expected)
    assert all(p.requires_grad for p in stack.parameters())


def test_each_layer_is_trained_as_a_denoising_autoencoder_of_its_input():
    torch.manual_seed(0)
    x_train, x_val = _data()
    stack = StackedAutoencoder.build(12, [8])
    corrupted_inputs = []
    real_corrupt = stacking.corrupt

    def spy(x, spec, generator=None):
        out = real_corrupt(x, spec, generator)
        corrupted_inputs.append((spec, x, out))
        return out

    with patch.object(stacking, "corrupt", side_effect=spy):
        pretrain_greedy(stack, x_train, x_val, _plans(1, kind="masking"))
    train_calls = [(s, x, out) for s, x, out in corrupted_inputs if x.shape[0] <= 32]
    assert train_calls, "training batches were not corrupted"
    spec, clean, noisy = train_calls[0]
    assert spec.kind == "masking" and spec.level == 0.3
    assert not torch.equal(clean, noisy)


def test_pretraining_lowers_each_layers_reconstruction_loss():
    torch.manual_seed(0)
    x_train, x_val = _data(400)
    stack = StackedAutoencoder.build(12, [10, 6])
    plans = [
        LayerPlan(CorruptionSpec("masking", 0.1), TrainSettings(epochs=20, batch_size=32, learning_rate=0.01, log_every=0))
        for _ in range(2)
    ]
    for history in pretrain_greedy(stack, x_train, x_val, plans):
        losses = history.series()["val_loss"]
        assert losses[-1] < losses[0]
