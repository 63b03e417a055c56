import pytest
import torch

from autoencoder_pipelines.nn.losses import compatible_loss, reconstruction_loss
from autoencoder_pipelines.nn.models import EncoderClassifier, StackedAutoencoder


def test_stack_shapes_and_activations_chain():
    stack = StackedAutoencoder.build(64, [32, 16, 4], activation="relu", code_activation="linear")
    x = torch.rand(5, 64)
    assert stack.encode(x).shape == (5, 4)
    assert stack.encode(x, depth=1).shape == (5, 32)
    assert stack(x).shape == (5, 64)
    assert stack.code_size == 4 and stack.n_features == 64
    # layer k reconstructs layer k-1's code, so its decoder ends in k-1's activation
    assert [layer.output_activation for layer in stack.layers] == ["sigmoid", "relu", "relu"]
    out = stack(x)
    assert out.min() >= 0 and out.max() <= 1


def test_mismatched_layers_are_refused():
    a, b = StackedAutoencoder.build(10, [6]).layers[0], StackedAutoencoder.build(5, [3]).layers[0]
    with pytest.raises(ValueError, match="do not chain"):
        StackedAutoencoder([a, b])


def test_classifier_from_stack_copies_the_encoder():
    stack = StackedAutoencoder.build(20, [10, 5])
    classifier = EncoderClassifier.from_stack(stack, n_classes=3)
    assert classifier(torch.rand(4, 20)).shape == (4, 3)
    with torch.no_grad():
        next(classifier.encoder.parameters()).add_(1.0)
    assert not torch.equal(next(classifier.encoder.parameters()), stack.layers[0].encoder[0].weight)
    probabilities = classifier.predict_proba(torch.rand(4, 20))
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(4))


def test_losses_agree_with_their_definitions():
    target = torch.rand(8, 6)
    pre = torch.randn(8, 6)
    out = torch.sigmoid(pre)
    assert reconstruction_loss(pre, target, "mse", "sigmoid") == pytest.approx(((out - target) ** 2).mean().item(), rel=1e-5)
    assert reconstruction_loss(pre, target, "l1", "sigmoid") == pytest.approx((out - target).abs().mean().item(), rel=1e-5)
    bce = -(target * out.log() + (1 - target) * (1 - out).log()).mean().item()
    assert reconstruction_loss(pre, target, "bce", "sigmoid") == pytest.approx(bce, rel=1e-4)


def test_bce_needs_a_sigmoid_output():
    with pytest.raises(ValueError, match="needs a sigmoid output"):
        reconstruction_loss(torch.zeros(2, 2), torch.zeros(2, 2), "bce", "relu")
    assert compatible_loss("bce", "relu") == "mse"
    assert compatible_loss("bce", "sigmoid") == "bce"
