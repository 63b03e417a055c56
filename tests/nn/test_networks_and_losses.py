"""The dense networks, the classifier head and the loss terms."""

import math

import pytest
import torch

from autoencoder_pipelines.nn.kinds import get_kind, kind_names
from autoencoder_pipelines.nn.losses import (
    l1_weight_penalty,
    reconstruction_loss,
    sparsity_penalty,
)
from autoencoder_pipelines.nn.networks import (
    DenseAutoencoder,
    DenseAutoencoderLayer,
    EncoderClassifier,
    StackedAutoencoder,
    mlp,
)


def test_stack_shapes_and_activations_chain():
    stack = StackedAutoencoder.build(64, [32, 16, 4], activation="relu", code_activation="linear")
    x = torch.rand(5, 64)
    assert stack.encode(x).shape == (5, 4) and stack.encode(x, depth=1).shape == (5, 32)
    assert stack(x).shape == (5, 64)
    assert stack.code_size == 4 and stack.n_features == 64
    # layer k reconstructs layer k-1's code, so its decoder ends in k-1's activation
    assert [layer.output_activation for layer in stack.layers] == ["sigmoid", "relu", "relu"]
    assert [layer.activation for layer in stack.layers] == ["relu", "relu", "linear"]
    out = stack(x)
    assert out.min() >= 0 and out.max() <= 1
    with torch.no_grad():
        assert torch.equal(stack.encoder()(x), stack.encode(x))


def test_mismatched_layers_are_refused():
    a, b = DenseAutoencoderLayer(10, 6), DenseAutoencoderLayer(5, 3)
    with pytest.raises(ValueError, match="do not chain: 6 codes feed a layer of input 5"):
        StackedAutoencoder([a, b])
    with pytest.raises(ValueError, match="at least one layer"):
        StackedAutoencoder([])


def test_an_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="activation is 'gelu'; expected one of sigmoid, relu, tanh, linear"):
        mlp([4, 2], "gelu")


@pytest.mark.parametrize("name", kind_names())
def test_a_classifier_on_any_kind_trains_a_copy_of_its_encoder(name, arch_for):
    autoencoder = get_kind(name).build(arch_for(name))
    classifier = EncoderClassifier.on(autoencoder, n_classes=3).eval()
    x = torch.rand(4, autoencoder.n_features)
    assert classifier(x).shape == (4, 3) and classifier.architecture == autoencoder.architecture
    assert torch.allclose(classifier.predict_proba(x).sum(dim=1), torch.ones(4))
    before = [p.detach().clone() for p in autoencoder.parameters()]
    with torch.no_grad():
        for p in classifier.encoder.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, autoencoder.parameters(), strict=True))


def test_losses_agree_with_their_definitions():
    target, pre = torch.rand(8, 6), torch.randn(8, 6)
    out = torch.sigmoid(pre)
    assert reconstruction_loss(pre, target, "mse", "sigmoid").item() == pytest.approx(
        ((out - target) ** 2).mean().item(), rel=1e-5)
    assert reconstruction_loss(pre, target, "l1", "sigmoid").item() == pytest.approx((out - target).abs().mean().item(), rel=1e-5)
    bce = -(target * out.log() + (1 - target) * (1 - out).log()).mean().item()
    assert reconstruction_loss(pre, target, "bce", "sigmoid").item() == pytest.approx(bce, rel=1e-4)
    # other output activations are applied before mse/l1
    assert reconstruction_loss(pre, target, "mse", "tanh").item() == pytest.approx(
        ((pre.tanh() - target) ** 2).mean().item(), rel=1e-5)


@pytest.mark.parametrize(
    "loss, activation, message",
    [("bce", "relu", "needs a sigmoid output"), ("huber", "sigmoid", "expected one of mse, l1, bce")],
)
def test_bad_loss_settings_are_refused(loss, activation, message):
    with pytest.raises(ValueError, match=message):
        reconstruction_loss(torch.zeros(2, 2), torch.zeros(2, 2), loss, activation)


def test_sparsity_penalty_values():
    codes = torch.tensor([[0.1, 0.5], [0.3, 0.5]])
    assert torch.isclose(sparsity_penalty(codes, "l1", weight=2.0), torch.tensor(2.0 * 0.7))
    # unit 1 has mean 0.2, unit 2 mean 0.5; KL(0.2 || 0.2) = 0
    expected = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)
    assert torch.isclose(sparsity_penalty(codes, "kl", target=0.2, weight=1.0), torch.tensor(expected), atol=1e-5)


@pytest.mark.parametrize(
    "codes, kind, target, message",
    [([[-0.5, 0.2]], "kl", 0.05, "needs codes in \\[0, 1\\]"), ([[0.5]], "kl", 1.0, "must be in \\(0, 1\\)"),
     ([[0.5]], "l2", 0.05, "expected l1 or kl")],
)
def test_bad_sparsity_settings_are_refused(codes, kind, target, message):
    with pytest.raises(ValueError, match=message):
        sparsity_penalty(torch.tensor(codes), kind, target=target)


def test_l1_weight_penalty_counts_weight_matrices_not_biases():
    layer = DenseAutoencoderLayer(6, 4)
    expected = layer.encoder[0].weight.abs().sum() + layer.decoder_linear.weight.abs().sum()
    penalty = l1_weight_penalty(layer, 0.5)
    assert torch.isclose(penalty, 0.5 * expected)
    penalty.backward()
    assert layer.encoder[0].bias.grad is None and layer.encoder[0].weight.grad is not None


@pytest.mark.parametrize("batch_norm", [True, False])
def test_the_dense_autoencoder_has_the_common_interface_and_a_linear_output(batch_norm):
    network = DenseAutoencoder(10, [16, 3], "relu", batch_norm).eval()
    x = 5 * torch.randn(6, 10)  # standardised rows are not bounded
    with torch.no_grad():
        code = network.encode(x)
        assert code.shape == (6, 3) and torch.equal(network.encoder()(x), code)
        assert torch.equal(network(x), network.forward_preactivation(x)) and torch.equal(network.decode(code), network(x))
        assert network(x).shape == (6, 10) and (network(x) < 0).any()
    assert (network.n_features, network.code_size, network.output_activation) == (10, 3, "linear")
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules()) == batch_norm
