"""Models on disk: tensors plus JSON in one file, rebuilt through the kind registry."""

import re

import pytest
import torch

from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.kinds import get_kind, kind_names
from autoencoder_pipelines.nn.networks import (
    DenseAutoencoder,
    EncoderClassifier,
    StackedAutoencoder,
)
from autoencoder_pipelines.nn.serialization import (
    ModelFileError,
    load,
    load_bundle,
    save,
    save_bundle,
)


def _perturbed(module):
    """Weights (and running statistics) no fresh build has, so a roundtrip that reinitialised
    them would show."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor))
    return module.eval()


def _assert_same_model(loaded, original, x, same_weights):
    assert type(loaded) is type(original) and not loaded.training
    assert getattr(loaded, "architecture", None) == getattr(original, "architecture", None)
    assert same_weights(loaded, original)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))


@pytest.mark.parametrize("name", kind_names())
def test_every_kind_roundtrips(name, arch_for, tmp_path, same_weights):
    original = _perturbed(get_kind(name).build(arch_for(name)))
    save(original, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt")
    _assert_same_model(loaded, original, torch.rand(5, original.n_features), same_weights)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # written atomically


@pytest.mark.parametrize("batch_norm", [True, False])
def test_the_detectors_dense_autoencoder_roundtrips(tmp_path, same_weights, batch_norm):
    original = _perturbed(DenseAutoencoder(16, [12, 5], "tanh", batch_norm))
    save(original, tmp_path / "dense.pt")
    loaded = load(tmp_path / "dense.pt")
    _assert_same_model(loaded, original, torch.rand(5, 16), same_weights)
    assert loaded.config == original.config


def test_a_classifier_roundtrips_with_its_head(arch_for, tmp_path, same_weights):
    original = _perturbed(EncoderClassifier.on(get_kind("vae").build(arch_for("vae")), n_classes=3, dropout=0.25))
    save(original, tmp_path / "classifier.pt")
    loaded = load(tmp_path / "classifier.pt", expected=EncoderClassifier)
    _assert_same_model(loaded, original, torch.rand(5, 16), same_weights)
    assert loaded.n_classes == 3 and loaded.head[0].p == 0.25


def test_a_bundle_holds_several_models_and_meta(arch_for, tmp_path, same_weights):
    autoencoder = _perturbed(get_kind("sparse").build(arch_for("sparse", options={"sparsity": "kl"})))
    detector = AutoencoderDetector.fitted(_perturbed(get_kind("conv").build(arch_for("conv"))), 0.125, torch.rand(16),
                                          torch.rand(16) + 0.5, epochs=3)
    meta = {"columns": ["a", "b"], "scale": {"min": 0.0, "max": 2.5}}
    save_bundle(tmp_path / "bundle.pt", {"autoencoder": autoencoder, "detector": detector}, meta)
    loaded_meta, parts = load_bundle(tmp_path / "bundle.pt")
    assert loaded_meta == meta and set(parts) == {"autoencoder", "detector"}
    _assert_same_model(parts["autoencoder"], autoencoder, torch.rand(5, 16), same_weights)
    assert parts["autoencoder"].architecture.options == {"sparsity": "kl"}
    assert parts["detector"].threshold_ == 0.125 and parts["detector"].get_params() == {**detector.get_params(), "network": None}
    assert torch.equal(parts["detector"].center_, detector.center_) and torch.equal(parts["detector"].scale_, detector.scale_)
    _assert_same_model(parts["detector"].network_, detector.network_, torch.rand(5, 16), same_weights)


def _text(path):
    path.write_text("epochs: 3\n")


def _tensor(path):
    torch.save(torch.zeros(3), path)


def _foreign_dict(path):
    torch.save({"format": 1, "json": "{}"}, path)


def _missing(path):
    pass


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence")  # load_bundle indexes the tensor by "json"
@pytest.mark.parametrize("write", [_text, _tensor, _foreign_dict, _missing], ids=lambda f: f.__name__.strip("_"))
def test_a_file_that_is_not_a_model_is_refused_naming_it(tmp_path, write):
    path = tmp_path / "not_a_model.pt"
    write(path)
    with pytest.raises(ModelFileError, match=re.escape(f"{path}: not a model file of this project")):
        load(path)


def test_a_network_not_built_by_a_kind_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="StackedAutoencoder was not built by a kind"):
        save(StackedAutoencoder.build(8, [4]), tmp_path / "model.pt")
    assert not any(tmp_path.iterdir())
