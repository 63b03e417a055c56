"""The kind registry and every kind: its network, its pretraining objective and its rules."""

import sys
from pathlib import Path

import pydantic
import pytest
import torch

from autoencoder_pipelines.nn import kinds
from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec
from autoencoder_pipelines.nn.kinds import get_kind, kind_names
from autoencoder_pipelines.nn.losses import contractive_penalty, jacobian_sq_frobenius, l1_weight_penalty
from autoencoder_pipelines.nn.networks import StackedAutoencoder
from autoencoder_pipelines.nn.seeding import seeded
from autoencoder_pipelines.nn.stacking import layer_corruptions, pretrain
from autoencoder_pipelines.nn.trainer import Callback

KINDS = kind_names()
STACKING = [name for name in KINDS if get_kind(name).stacks]


def _pretrain(kind_name, arch, rows, trainer_for, corruption=CorruptionSpec("masking", 0.2), **trainer_options):
    """Pretrain the kind's network as the pretraining node does; returns (network, histories)."""
    kind = get_kind(kind_name)
    with seeded(0, "init"):
        network = kind.build(arch)
    n_layers = len(network.layers) if kind.stacks else 1
    histories = pretrain(
        network, kind, arch, *rows,
        trainer_for=lambda name: trainer_for(name, **trainer_options),
        losses=["bce"] + ["mse"] * (n_layers - 1),
        corruptions=layer_corruptions(kind, n_layers, corruption),
    )
    return network, histories


# -- the registry ------------------------------------------------------------------------------


def test_the_kinds_are_exactly_the_modules_of_the_package():
    modules = {p.stem for p in Path(kinds.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert KINDS == tuple(sorted(modules))
    assert {"undercomplete", "denoising", "sparse", "contractive", "vae", "conv"} <= set(KINDS)
    assert all(get_kind(name).name == name for name in KINDS)


def test_an_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="model.kind is 'rbm'; expected one of " + ", ".join(KINDS)):
        get_kind("rbm")


@pytest.fixture
def extra_kind_module(tmp_path, monkeypatch):
    """A kind module `tiny` in a folder added to the package's path, as a new file would be."""
    (tmp_path / "tiny.py").write_text(
        "from autoencoder_pipelines.nn.kinds.base import AutoencoderKind\n"
        "class Tiny(AutoencoderKind):\n"
        "    name = 'tiny'\n"
        "    stacks = False\n"
        "KIND = Tiny()\n"
    )
    monkeypatch.setattr(kinds, "__path__", [*kinds.__path__, str(tmp_path)])
    kind_names.cache_clear()
    yield "tiny"
    kind_names.cache_clear()
    sys.modules.pop(f"{kinds.__name__}.tiny", None)


def test_adding_a_kind_is_adding_a_module(extra_kind_module, arch_for, rows, trainer_for):
    assert kind_names() == tuple(sorted([*KINDS, "tiny"]))
    kind = get_kind("tiny")
    assert kind.name == "tiny" and not kind.stacks
    # the defaults (a dense stack, reconstruction loss) make it usable end to end at once
    _, (history,) = _pretrain("tiny", arch_for("tiny"), rows, trainer_for)
    assert history.name == "pretrain.tiny"
    assert history.series()["val_loss"][-1] < history.series()["val_loss"][0]


# -- every kind ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_builds_a_network_with_the_common_interface(name, arch_for, rows):
    arch = arch_for(name)
    network = get_kind(name).build(arch).eval()
    x = rows[1]
    assert network.architecture == arch
    assert (network.n_features, network.code_size) == (arch.n_features, arch.code_size)
    code = network.encode(x)
    assert code.shape == (len(x), arch.code_size)
    with torch.no_grad():
        assert torch.allclose(network.encoder()(x), code)  # encoder(): the same map as one module
        out = network(x)
        assert out.shape == x.shape and torch.equal(network.decode(code), out)
        assert network.output_activation == "sigmoid"
        assert torch.allclose(torch.sigmoid(network.forward_preactivation(x)), out)
    encoder_parameters = {p.data_ptr() for p in network.encoder().parameters()}
    assert encoder_parameters and encoder_parameters <= {p.data_ptr() for p in network.parameters()}


class ObjectiveBeforeAndAfter(Callback):
    """The phase's own objective (its kind's validation figure) on its training rows, before
    and after the phase."""

    def __init__(self, metrics):
        self.metrics, self.values = metrics, []

    def _measure(self, state):
        state.model.eval()
        with torch.no_grad():
            (x,) = state.train_data
            self.values.append(self.metrics(state.model, x, x)["val_loss"])

    on_fit_start = on_fit_end = _measure


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_pretrains_with_its_own_objective(name, arch_for, rows, trainer_for):
    kind, arch = get_kind(name), arch_for(name)
    measured = {}

    def trainer_with_measure(phase):
        loss = "mse" if phase == "pretrain.layer_2" else "bce"  # layer 2 reconstructs codes
        measured[phase] = ObjectiveBeforeAndAfter(kind.pretrain_metrics(arch, loss))
        return trainer_for(phase, callbacks=[measured[phase]])

    network, histories = _pretrain(name, arch, rows, trainer_with_measure)
    phases = ["pretrain.layer_1", "pretrain.layer_2"] if kind.stacks else [f"pretrain.{name}"]
    assert [h.name for h in histories] == list(measured) == phases
    assert all(len(h.epochs) == 4 for h in histories)
    for phase, measure in measured.items():
        before, after = measure.values
        assert after < 0.98 * before, phase
    assert all(p.requires_grad for p in network.parameters())


class FrozenBelow(Callback):
    """While layer k trains: its input is the clean code of the layers below, which do not
    change; layer k does."""

    def __init__(self, stack, k, x_train):
        self.stack, self.k, self.x_train = stack, k, x_train

    def on_fit_start(self, state):
        assert state.model is self.stack.layers[self.k]
        with torch.no_grad():
            assert torch.equal(state.train_data[0], self.stack.encode(self.x_train, depth=self.k))
        self.before = [[p.detach().clone() for p in layer.parameters()] for layer in self.stack.layers]

    def on_fit_end(self, state):
        self.changed = [
            any(not torch.equal(a, b) for a, b in zip(before, layer.parameters()))
            for before, layer in zip(self.before, self.stack.layers)
        ]


@pytest.mark.parametrize("name", STACKING)
def test_stacking_kinds_pretrain_greedily_with_the_lower_layers_frozen(name, arch_for, rows, trainer_for):
    arch = arch_for(name, hidden_sizes=(10, 6, 4))
    kind = get_kind(name)
    with seeded(0, "init"):
        stack = kind.build(arch)
    assert isinstance(stack, StackedAutoencoder)
    checks = {}

    def trainer_with_check(phase):
        k = int(phase.rsplit("_", 1)[1]) - 1
        checks[k] = FrozenBelow(stack, k, rows[0])
        return trainer_for(phase, callbacks=[checks[k]], epochs=2)

    pretrain(stack, kind, arch, *rows, trainer_with_check, ["bce", "mse", "mse"],
             layer_corruptions(kind, 3, CorruptionSpec("masking", 0.2)))
    assert [checks[k].changed for k in range(3)] == [
        [True, False, False],  # layer 1 trains, the others wait
        [False, True, False],  # layer 2 trains on frozen layer 1
        [False, False, True],
    ]


@pytest.mark.parametrize("name", KINDS)
def test_only_the_denoising_kind_corrupts_layer_inputs(name):
    kind = get_kind(name)
    spec = CorruptionSpec("gaussian", 0.1)
    per_layer = [CorruptionSpec("masking", 0.1), CorruptionSpec("masking", 0.2)]
    corrupts = name == "denoising"
    assert kind.corrupts_inputs == corrupts
    assert layer_corruptions(kind, 2, spec) == ([spec, spec] if corrupts else [IDENTITY, IDENTITY])
    assert layer_corruptions(kind, 2, spec, per_layer) == (per_layer if corrupts else [IDENTITY, IDENTITY])


@pytest.mark.parametrize("name", ["denoising", "undercomplete"])
def test_pretraining_feeds_corrupted_inputs_exactly_when_the_kind_corrupts(name, arch_for, rows, trainer_for, monkeypatch):
    kind = get_kind(name)
    corrupted = []
    real = kind.pretrain_loss

    def spy(arch, loss, l1_weight=0.0):
        network_loss = real(arch, loss, l1_weight)

        def recorded(network, noisy, clean, generator):
            corrupted.append(not torch.equal(noisy, clean))
            return network_loss(network, noisy, clean, generator)

        return recorded

    monkeypatch.setattr(kind, "pretrain_loss", spy)
    _pretrain(name, arch_for(name), rows, trainer_for, epochs=1)
    assert len(corrupted) == 2 * 6  # 2 layers, 6 batches each
    assert set(corrupted) == {name == "denoising"}


@pytest.mark.parametrize("name", KINDS)
def test_options_are_validated_against_the_kinds_schema(name, arch_for):
    with pytest.raises(pydantic.ValidationError, match="bogus"):
        get_kind(name).options(arch_for(name, options={"bogus": 1}))


@pytest.mark.parametrize("name", [n for n in KINDS if n != "conv"])
def test_the_code_must_be_smaller_than_the_input(name, arch_for):
    arch = arch_for(name, hidden_sizes=(8, 16))
    message = "the code size 16 must be smaller than the 16 input features"
    assert message in get_kind(name).check_data(arch)
    with pytest.raises(ValueError, match=message):
        get_kind(name).build(arch)


# -- sparse ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sparsity, activation, code_activation, ok",
    [("kl", "sigmoid", "sigmoid", True), ("kl", "relu", "sigmoid", False), ("kl", "sigmoid", "linear", False),
     ("l1", "relu", "linear", True)],
)
def test_kl_sparsity_needs_sigmoid_units(sparsity, activation, code_activation, ok):
    kind = get_kind("sparse")
    problem = kind.check_settings(activation, code_activation, kind.Options(sparsity=sparsity))
    if ok:
        assert problem is None
    else:
        assert "'kl' needs codes in [0, 1]" in problem and "sigmoid" in problem


def test_kl_sparsity_drives_the_mean_activation_towards_the_target(arch_for, rows, trainer_for):
    options = {"sparsity": "kl", "target": 0.05, "weight": 0.5}
    plain, _ = _pretrain("undercomplete", arch_for("undercomplete"), rows, trainer_for, epochs=10)
    sparse, _ = _pretrain("sparse", arch_for("sparse", options=options), rows, trainer_for, epochs=10)
    with torch.no_grad():
        plain_mean, sparse_mean = plain.encode(rows[1], depth=1).mean(), sparse.encode(rows[1], depth=1).mean()
    assert abs(sparse_mean - 0.05) < abs(plain_mean - 0.05) / 3


# -- contractive --------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_the_closed_form_contractive_penalty_equals_the_autograd_jacobian_norm(activation):
    layer = StackedAutoencoder.build(12, [7], activation, activation).layers[0]
    x = torch.rand(20, 12) - 0.3  # some relu units off
    closed = contractive_penalty(layer, x, layer.encode(x), weight=0.3)
    assert torch.allclose(closed, 0.3 * jacobian_sq_frobenius(layer.encode, x), rtol=1e-5)
    closed.backward()  # differentiable w.r.t. the weights, like the autograd one
    assert layer.encoder[0].weight.grad.abs().sum() > 0


def test_a_whole_stack_uses_the_autograd_jacobian():
    stack = StackedAutoencoder.build(12, [7, 3], "tanh", "tanh")
    x = torch.rand(20, 12)
    expected = jacobian_sq_frobenius(stack.encode, x)
    assert torch.allclose(contractive_penalty(stack, x, stack.encode(x), weight=2.0), 2 * expected)


def test_the_contractive_kind_lowers_the_encoder_jacobian(arch_for, rows, trainer_for):
    options = {"weight": 0.05}
    plain, _ = _pretrain("undercomplete", arch_for("undercomplete"), rows, trainer_for, epochs=10)
    contractive, _ = _pretrain("contractive", arch_for("contractive", options=options), rows, trainer_for, epochs=10)
    with torch.no_grad():
        x = rows[1]
        assert jacobian_sq_frobenius(contractive.encode, x) < 0.5 * jacobian_sq_frobenius(plain.encode, x)


# -- vae ---------------------------------------------------------------------------------------


@pytest.fixture
def vae(arch_for):
    return get_kind("vae").build(arch_for("vae"))


def test_the_vae_kl_is_never_negative_and_zero_at_the_prior(vae):
    for scale in (0.0, 1e-4, 1.0, 10.0):
        x = scale * torch.randn(64, 16)
        assert vae.elbo_terms(x, torch.rand(64, 16))[1].item() >= 0.0
    with torch.no_grad():  # a posterior equal to the prior: the KL's minimum, 0
        for head in (vae.mu_head, vae.logvar_head):
            head.weight.zero_(), head.bias.zero_()
    assert vae.elbo_terms(torch.randn(8, 16), torch.rand(8, 16))[1].item() == 0.0


def test_the_vae_validation_loss_is_the_negative_elbo(vae, arch_for, rows):
    beta = 0.5
    metrics = get_kind("vae").pretrain_metrics(arch_for("vae", options={"beta": beta}), "bce")(vae, rows[1], rows[1])
    assert metrics["val_loss"] == pytest.approx(metrics["val_reconstruction"] + beta * metrics["val_kl"])
    assert metrics == get_kind("vae").pretrain_metrics(arch_for("vae", options={"beta": beta}), "bce")(vae, rows[1], rows[1])


def test_vae_samples_and_interpolations(vae, rows):
    vae.eval()
    samples = vae.sample(10, torch.Generator().manual_seed(0))
    assert samples.shape == (10, 16) and samples.min() >= 0 and samples.max() <= 1
    x = rows[1][:2]
    path = vae.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, 16)
    with torch.no_grad():
        ends = vae.decode(vae.encode(x))
        assert torch.allclose(path[0], ends[0], atol=1e-6) and torch.allclose(path[-1], ends[1], atol=1e-6)
        assert torch.equal(vae(x), ends)  # eval: reconstruct from the posterior mean
    with pytest.raises(ValueError, match="at least 2 steps"):
        vae.interpolate(x[0], x[1], steps=1)


def test_the_vae_samples_its_code_only_in_training(vae, rows):
    x = rows[1]
    with torch.no_grad():
        assert not torch.equal(vae.train()(x), vae(x))
        assert torch.equal(vae.eval()(x), vae(x))


# -- conv --------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_shape", [None, (16,), (2, 2, 4)])
def test_the_conv_kind_needs_a_two_dimensional_image_shape(arch_for, image_shape):
    arch = arch_for("conv", image_shape=image_shape)
    message = "needs images: set data.image_shape to \\[height, width\\]"
    assert "needs images" in get_kind("conv").check_data(arch)
    with pytest.raises(ValueError, match=message):
        get_kind("conv").build(arch)


@pytest.mark.parametrize("image_shape, blocks", [((8, 8), 2), ((6, 4), 1), ((5, 5), 0)])
def test_the_conv_autoencoder_reconstructs_images_of_any_shape(arch_for, image_shape, blocks):
    n_features = image_shape[0] * image_shape[1]
    arch = arch_for("conv", n_features=n_features, image_shape=image_shape)
    model = get_kind("conv").build(arch)
    assert len(model.channels) == blocks  # as many pooling blocks as keep the size even
    x = torch.rand(3, n_features)
    code = model.encode(x)
    assert code.shape == (3, 3)
    assert model(x).shape == model.forward_preactivation(x).shape == model.decode(code).shape == x.shape
    assert model.n_features == n_features


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_adds_the_l1_weight_penalty_to_its_objective(name, arch_for, rows):
    kind, arch = get_kind(name), arch_for(name)
    network, x = kind.build(arch), rows[1]
    with_l1, without = kind.pretrain_loss(arch, "bce", l1_weight=0.01), kind.pretrain_loss(arch, "bce")
    difference = with_l1(network, x, x, torch.Generator().manual_seed(0)) - without(network, x, x, torch.Generator().manual_seed(0))
    assert torch.allclose(difference, l1_weight_penalty(network, 0.01))
