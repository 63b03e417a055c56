"""The kind registry and every kind: its network, its pretraining objective and its rules."""

import math
import sys
from pathlib import Path

import pydantic
import pytest
import torch

from autoencoder_pipelines.nn import kinds
from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec
from autoencoder_pipelines.nn.kinds import get_kind, kind_names
from autoencoder_pipelines.nn.losses import (
    contractive_penalty,
    jacobian_sq_frobenius,
    l1_weight_penalty,
)
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
            any(not torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))
            for before, layer in zip(self.before, self.stack.layers, strict=True)
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


@pytest.mark.parametrize("image_shape", [None, (16,), (1, 2, 2, 4)])
def test_the_conv_kind_needs_an_image_shape(arch_for, image_shape):
    arch = arch_for("conv", image_shape=image_shape)
    message = "needs images: set data.image_shape to \\[height, width\\]"
    assert "needs images" in get_kind("conv").check_data(arch)
    with pytest.raises(ValueError, match=message):
        get_kind("conv").build(arch)


@pytest.mark.parametrize("image_shape, blocks", [((8, 8), 2), ((6, 4), 1), ((5, 5), 0), ((3, 8, 8), 2), ((1, 6, 4), 1)])
def test_the_conv_autoencoder_reconstructs_images_of_any_shape(arch_for, image_shape, blocks):
    n_features = math.prod(image_shape)  # channels (RGB: 3) first
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
    difference = (with_l1(network, x, x, torch.Generator().manual_seed(0))
                  - without(network, x, x, torch.Generator().manual_seed(0)))
    assert torch.allclose(difference, l1_weight_penalty(network, 0.01))


# -- adversarial -------------------------------------------------------------------------------

LOG_2 = math.log(2)


def _adversarial(arch_for, rows, trainer_for, epochs=20, labels=None, batch_size=64, **options):
    """An adversarial autoencoder with 2-D codes pretrained on `rows`; returns (network, history)."""
    kind = get_kind("adversarial")
    options = {"discriminator_learning_rate": None, "generator_learning_rate": None, **options}  # the phase's 0.005
    arch = arch_for("adversarial", hidden_sizes=(32, 2), activation="relu", options=options,
                    n_classes=None if labels is None else int(labels.max()) + 1)
    with seeded(0, "init"):
        network = kind.build(arch)
    (history,) = pretrain(network, kind, arch, *rows,
                          lambda name: trainer_for(name, epochs=epochs, batch_size=batch_size, learning_rate=0.005),
                          ["bce"], [IDENTITY], labels=labels)
    return network, history


def _distance_from_standard_normal(codes):
    """|mean| + ||cov - I||_F of 2-D codes."""
    return (codes.mean(0).norm() + (torch.cov(codes.T) - torch.eye(codes.shape[1])).norm()).item()


def test_the_discriminator_loss_moves_to_chance_as_the_codes_come_to_follow_the_prior(
    arch_for, structured_rows, trainer_for, monkeypatch
):
    x = structured_rows(512)
    rows = (x[:384], x[384:])
    network, history = _adversarial(arch_for, rows, trainer_for)
    series = history.series()
    assert {"train_loss", "val_loss", "discriminator_loss", "generator_loss"} <= set(series)
    discriminator = series["discriminator_loss"]
    # early on it tells codes from prior draws; at the end it can do no better than chance
    assert min(discriminator[:10]) < LOG_2 - 0.15
    assert abs(sum(discriminator[-3:]) / 3 - LOG_2) < 0.05
    assert abs(sum(series["generator_loss"][-3:]) / 3 - LOG_2) < 0.15
    assert series["val_loss"][-1] < 0.7 * series["val_loss"][0]  # it still reconstructs
    # the codes' mean and covariance approach the prior's N(0, I) ...
    with torch.no_grad():
        adversarial_codes = network.encode(rows[1])
    # ... which the same network trained without the regularisation phase does not do
    monkeypatch.setattr(get_kind("adversarial"), "pretrain_callbacks", lambda arch, network: [])
    plain, plain_history = _adversarial(arch_for, rows, trainer_for)
    assert "discriminator_loss" not in plain_history.series()
    with torch.no_grad():
        plain_codes = plain.encode(rows[1])
    assert _distance_from_standard_normal(adversarial_codes) < 0.8  # 128 rows: the estimate itself is that noisy
    assert _distance_from_standard_normal(adversarial_codes) < 0.3 * _distance_from_standard_normal(plain_codes)


def test_with_one_gaussian_per_class_each_class_is_encoded_into_its_own_component(arch_for, structured_rows, trainer_for):
    x = torch.cat([structured_rows(128, seed=s) for s in range(3)])  # three classes, other structure each
    labels = torch.arange(3).repeat_interleave(128)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, labels = x[order], labels[order]
    network, _ = _adversarial(arch_for, (x[:320], x[320:]), trainer_for, epochs=30, batch_size=32,
                              labels=labels[:320], prior="class_gaussians")
    assert network.prior_means.shape == (3, 2)  # three means on a circle in the 2-D code space
    with torch.no_grad():
        codes = network.encode(x[320:])
    nearest = torch.cdist(codes, network.prior_means).argmin(dim=1)
    assert (nearest == labels[320:]).float().mean() > 0.8  # chance: 1/3


def test_class_gaussians_need_labels(arch_for, rows, trainer_for):
    kind = get_kind("adversarial")
    arch = arch_for("adversarial", options={"prior": "class_gaussians"})
    assert "needs labels (data.label_column)" in kind.check_data(arch)
    assert kind.uses_labels(arch_for("adversarial", options={"prior": "class_gaussians"}, n_classes=3))
    assert not kind.uses_labels(arch_for("adversarial", n_classes=3))
    with pytest.raises(ValueError, match="pretrains on labelled rows"):
        network = kind.build(arch_for("adversarial", options={"prior": "class_gaussians"}, n_classes=3))
        pretrain(network, kind, network.architecture, *rows, trainer_for, ["bce"], [IDENTITY])


@pytest.mark.parametrize("n_components, code_size", [(1, 4), (3, 4), (10, 2), (4, 1)])
def test_the_class_means_are_the_configured_distance_apart(n_components, code_size):
    from autoencoder_pipelines.nn.kinds.adversarial import prior_means

    means = prior_means(n_components, code_size, separation=3.0)
    assert means.shape == (n_components, code_size)
    if n_components > 1:
        distances = torch.cdist(means, means) + 1e6 * torch.eye(n_components)
        assert torch.allclose(distances.min(dim=1).values, torch.full((n_components,), 3.0), atol=1e-5)


def test_adversarial_samples_are_decoded_prior_draws(arch_for):
    arch = arch_for("adversarial", options={"prior": "class_gaussians", "prior_std": 0.5}, n_classes=3)
    network = get_kind("adversarial").build(arch).eval()
    generator = torch.Generator().manual_seed(0)
    draws = network.sample_prior(3000, generator, labels=torch.arange(3).repeat(1000))
    for c in range(3):
        component = draws[c::3]
        assert torch.allclose(component.mean(0), network.prior_means[c], atol=0.05)
        assert torch.allclose(component.std(0), torch.full((4,), 0.5), atol=0.05)
    samples = network.sample(5, torch.Generator().manual_seed(1))
    assert samples.shape == (5, 16) and samples.min() >= 0 and samples.max() <= 1
    assert network.interpolate(torch.rand(16), torch.rand(16), 4).shape == (4, 16)


def test_an_interrupted_adversarial_phase_resumes_to_the_uninterrupted_result(arch_for, rows, tmp_path, same_weights):
    """The discriminator and both regularisation optimizers are part of the checkpoint."""
    from autoencoder_pipelines.nn.trainer import Checkpoint, Trainer, TrainSettings

    class Die(Callback):
        def __init__(self, at=None):
            self.at, self.trained = at, 0

        def on_epoch_end(self, state):
            self.trained += 1
            if state.epoch == self.at:
                raise RuntimeError("killed")

    kind = get_kind("adversarial")
    arch = arch_for("adversarial", hidden_sizes=(8, 2), activation="relu")

    def run(die, checkpoint=True):
        with seeded(0, "init"):
            network = kind.build(arch)
        callbacks = [die, Checkpoint(tmp_path / "phase.pt")] if checkpoint else [die]
        trainer = Trainer(TrainSettings(epochs=4, batch_size=64, learning_rate=0.005), callbacks)
        (history,) = pretrain(network, kind, arch, *rows, lambda name: trainer, ["bce"], [IDENTITY])
        return network, history

    reference, reference_history = run(Die(), checkpoint=False)
    with pytest.raises(RuntimeError, match="killed"):
        run(Die(at=3))
    resumed, history = run(second := Die())
    assert second.trained == 2  # epochs 3 and 4: it resumed after epoch 2
    assert same_weights(resumed, reference)
    assert history.series() == reference_history.series()


# -- conv1d_vae --------------------------------------------------------------------------------


def test_the_conv1d_vae_needs_windows_of_a_series(arch_for):
    assert "needs windows of a series: set data.source to windows" in get_kind("conv1d_vae").check_data(
        arch_for("conv1d_vae", window_shape=None))


@pytest.mark.parametrize("window_shape, blocks", [((2, 8), 2), ((1, 12), 2), ((3, 5), 0)])
def test_the_conv1d_vae_reads_windows_of_any_length(arch_for, window_shape, blocks):
    n_features = window_shape[0] * window_shape[1]
    network = get_kind("conv1d_vae").build(arch_for("conv1d_vae", n_features=n_features, window_shape=window_shape)).eval()
    assert len(network.channels) == blocks  # as many pooling blocks as keep the length even
    x = torch.rand(5, n_features)
    assert network.encode(x).shape == (5, 3)
    assert network(x).shape == (5, n_features) and network.sample(4).shape == (4, n_features)
    assert network.interpolate(x[0], x[1], 3).shape == (3, n_features)


def test_the_tracked_generation_setting_names_exactly_the_kinds_that_sample(arch_for):
    """report.generation_rows is a run's parameter only for the kinds whose network generates
    (tracking/hook.py CHOSEN): a kind that gains or loses sample() must be named there."""
    from autoencoder_pipelines.tracking.hook import CHOSEN

    generating = next(values for option, _, values in CHOSEN if option == "report.generation_rows")
    assert generating == {name for name in kind_names() if hasattr(get_kind(name).build(arch_for(name)), "sample")}
