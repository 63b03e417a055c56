"""Fine-tuning: a classifier head on an encoder, and whole autoencoders end to end."""

import pytest
import torch

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.finetuning import (
    fine_tune,
    reconstruction_objective,
    train_classifier,
)
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.networks import EncoderClassifier


@pytest.fixture
def classes():
    """Three well separated clusters of 16 features in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (240,), generator=generator)
    centres = torch.rand(3, 16, generator=generator)
    return (centres[y] + 0.05 * torch.randn(240, 16, generator=generator)).clamp(0, 1), y


@pytest.fixture
def autoencoder(arch_for):
    return get_kind("undercomplete").build(arch_for("undercomplete"))


def _parameters(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True)]


def test_head_only_leaves_the_encoder_unchanged(classes, autoencoder, trainer_for):
    x, y = classes
    classifier = EncoderClassifier.on(autoencoder, 3)
    encoder_before, head_before = _parameters(classifier.encoder), _parameters(classifier.head)
    train_classifier(classifier, x, y, x, y, trainer_for("head"), "head", mode="head_only")
    assert not any(_changed(encoder_before, classifier.encoder))
    assert all(_changed(head_before, classifier.head))
    assert all(p.requires_grad for p in classifier.parameters())  # unfrozen again


def test_full_fine_tuning_learns_the_classes_and_leaves_the_autoencoder_alone(classes, autoencoder, trainer_for):
    x, y = classes
    autoencoder_before = _parameters(autoencoder)
    classifier = EncoderClassifier.on(autoencoder, 3)
    encoder_before = _parameters(classifier.encoder)
    history = train_classifier(classifier, x, y, x, y, trainer_for("full", epochs=15, learning_rate=0.05), "full")
    assert all(_changed(encoder_before, classifier.encoder))
    assert not any(_changed(autoencoder_before, autoencoder))
    assert history.series()["val_accuracy"][-1] > 0.9
    assert set(history.series()) == {"train_loss", "val_loss", "val_accuracy"}


def test_a_classifier_without_validation_rows_records_only_the_training_loss(classes, autoencoder, trainer_for):
    x, y = classes
    history = train_classifier(EncoderClassifier.on(autoencoder, 3), x, y, None, None, trainer_for("c", epochs=2), "c")
    assert set(history.series()) == {"train_loss"} and len(history.epochs) == 2


def test_an_unknown_mode_is_refused(classes, autoencoder, trainer_for):
    x, y = classes
    with pytest.raises(ValueError, match="finetune.mode is 'last_layer'; expected one of full, head_only"):
        train_classifier(EncoderClassifier.on(autoencoder, 3), x, y, x, y, trainer_for("c"), "c", mode="last_layer")


def test_input_corruption_augments_the_classifier_batches(classes, autoencoder, trainer_for, monkeypatch):
    x, y = classes
    classifier = EncoderClassifier.on(autoencoder, 3)
    seen = []
    classifier.encoder.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    train_classifier(classifier, x, y, None, None, trainer_for("c", epochs=1, batch_size=240), "c",
                     input_corruption=CorruptionSpec("masking", 0.5))
    (batch,) = seen
    assert (batch == 0).float().mean() > 0.4  # about half the values masked
    assert (x == 0).float().mean() < 0.1


def test_fine_tuning_a_denoiser_removes_noise_and_leaves_the_original_alone(structured_rows, autoencoder, trainer_for):
    x = structured_rows(400)
    spec = CorruptionSpec("masking", 0.25)
    noisy = corrupt(x, spec, torch.Generator().manual_seed(1))
    before = _parameters(autoencoder)
    denoiser, history = fine_tune(autoencoder, x, x, trainer_for("tune", epochs=20, learning_rate=0.05), "tune",
                                  loss="bce", corruption=spec, noisy_val=noisy)
    with torch.no_grad():
        assert ((denoiser(noisy) - x) ** 2).mean() < 0.6 * ((noisy - x) ** 2).mean()
    assert denoiser is not autoencoder and not any(_changed(before, autoencoder))
    assert set(history.series()) == {"train_loss", "val_loss", "val_mse"}


def test_the_reconstruction_objective_scores_the_whole_network(autoencoder, rows):
    x = rows[1]
    network_loss, network_metrics = reconstruction_objective("mse")
    autoencoder.eval()
    with torch.no_grad():
        expected = ((autoencoder(x) - x) ** 2).mean().item()
        assert network_loss(autoencoder, x, x, None).item() == pytest.approx(expected, rel=1e-5)
        assert network_metrics(autoencoder, x, x) == pytest.approx({"val_loss": expected, "val_mse": expected}, rel=1e-5)
