import torch

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.finetuning import train_classifier, train_denoiser
from autoencoder_pipelines.nn.models import EncoderClassifier, StackedAutoencoder
from autoencoder_pipelines.nn.training import TrainSettings


def _classes(n=300, seed=0):
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=generator)
    centres = torch.rand(3, 10, generator=generator)
    x = (centres[y] + 0.05 * torch.randn(n, 10, generator=generator)).clamp(0, 1)
    return x, y


SETTINGS = TrainSettings(epochs=5, batch_size=32, learning_rate=0.01, log_every=0)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_head_only_leaves_the_encoder_unchanged():
    torch.manual_seed(0)
    x, y = _classes()
    classifier = EncoderClassifier.from_stack(StackedAutoencoder.build(10, [8, 4]), 3)
    encoder_before, head_before = _params(classifier.encoder), _params(classifier.head)
    train_classifier(classifier, x, y, x, y, SETTINGS, mode="head_only")
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, _params(classifier.encoder)))
    assert any(not torch.equal(a, b) for a, b in zip(head_before, _params(classifier.head)))


def test_full_fine_tuning_changes_the_encoder_but_not_the_stack():
    torch.manual_seed(0)
    x, y = _classes()
    stack = StackedAutoencoder.build(10, [8, 4])
    stack_before = _params(stack)
    classifier = EncoderClassifier.from_stack(stack, 3)
    encoder_before = _params(classifier.encoder)
    history = train_classifier(classifier, x, y, x, y, TrainSettings(epochs=40, batch_size=32, learning_rate=0.01, log_every=0), mode="full")
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, _params(classifier.encoder)))
    assert all(torch.equal(a, b) for a, b in zip(stack_before, _params(stack)))
    assert history.series()["val_accuracy"][-1] > 0.9


def test_the_denoiser_removes_noise_and_leaves_the_stack_alone():
    torch.manual_seed(0)
    x, _ = _classes(600)
    spec = CorruptionSpec("masking", 0.25)
    noisy = corrupt(x, spec, torch.Generator().manual_seed(1))
    stack = StackedAutoencoder.build(10, [16, 8])
    stack_before = _params(stack)
    settings = TrainSettings(epochs=40, batch_size=32, learning_rate=0.01, log_every=0)
    denoiser, history = train_denoiser(stack, x, x, noisy, spec, settings, loss="bce")
    with torch.no_grad():
        assert ((denoiser(noisy) - x) ** 2).mean() < 0.5 * ((noisy - x) ** 2).mean()
    assert all(torch.equal(a, b) for a, b in zip(stack_before, _params(stack)))
    assert "val_mse" in history.series()
