"""Autoencoder variants: sparse and contractive penalties, a VAE, a convolutional autoencoder.

The penalties plug into greedy pretraining (`LayerPlan.regularizer`) and denoiser
fine-tuning (`train_denoiser(regularizer=...)`) as extra loss terms, so there is still one
training loop (`nn.training.fit`). The VAE and the convolutional autoencoder expose the same
interface as `StackedAutoencoder` (n_features, code_size, output_activation, encode, decode,
decode_preactivation, forward, forward_preactivation, encoder()), so the code exports, the
denoiser and the classifier head work with them unchanged.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import torch
from torch import nn

from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.losses import reconstruction_loss
from autoencoder_pipelines.nn.models import DenseAutoencoderLayer, make_activation
from autoencoder_pipelines.nn.training import History, TrainSettings, fit

# (layer, the layer's (noisy) input, its codes) -> a scalar penalty added to the batch loss.
Regularizer = Callable[[DenseAutoencoderLayer, torch.Tensor, torch.Tensor], torch.Tensor]

SPARSITY_KINDS = ("l1", "kl")
REGULARIZER_KINDS = ("none", "sparse", "contractive")
_EPS = 1e-6


# ---------------------------------------------------------------------------------------------
# Penalties
# ---------------------------------------------------------------------------------------------


def sparsity_penalty(codes: torch.Tensor, kind: str = "kl", target: float = 0.05, weight: float = 1.0) -> torch.Tensor:
    """Push code activations towards zero, so each input is explained by few units.

    l1: weight * mean over the batch of sum_j |h_j| (any activation).
    kl: weight * sum_j KL(target || mean activation of unit j over the batch) (Ng's sparse
    autoencoder); the mean activation is a probability only for units in [0, 1] (sigmoid),
    so other codes are rejected rather than silently giving a meaningless penalty.
    """
    if kind == "l1":
        return weight * codes.float().abs().sum(dim=1).mean()
    if kind != "kl":
        raise ValueError(f"sparsity kind is '{kind}'; expected one of {', '.join(SPARSITY_KINDS)}.")
    if not 0.0 < target < 1.0:
        raise ValueError(f"sparsity target is {target}; a KL target activation must be in (0, 1).")
    if bool(((codes < 0) | (codes > 1)).any()):
        raise ValueError(
            f"KL sparsity needs codes in [0, 1] (sigmoid units), got values in "
            f"[{float(codes.min()):.3g}, {float(codes.max()):.3g}]; use kind 'l1' for other activations."
        )
    rho_hat = codes.float().mean(dim=0).clamp(_EPS, 1 - _EPS)
    rho = torch.full_like(rho_hat, target)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return weight * kl.sum()


def jacobian_sq_frobenius(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Mean over the rows of x of ||d encode(x_row) / d x_row||_F^2, by autograd.

    jacrev is vmapped over rows, so rows are encoded one at a time (no cross-row coupling)
    and the result stays differentiable w.r.t. the encoder's parameters.
    """

    def one_row(row: torch.Tensor) -> torch.Tensor:
        return encode(row.unsqueeze(0)).squeeze(0)

    jacobians = torch.func.vmap(torch.func.jacrev(one_row))(x.float())
    return jacobians.pow(2).flatten(start_dim=1).sum(dim=1).mean()


def contractive_penalty(
    layer: DenseAutoencoderLayer, x: torch.Tensor, codes: torch.Tensor, weight: float = 1.0
) -> torch.Tensor:
    """weight * mean over the batch of ||d codes / d x||_F^2 (Rifai et al. 2011).

    Penalising the encoder's sensitivity to its input makes codes robust to small
    perturbations. A dense layer h = f(W x + b) with an element-wise f has the Jacobian
    diag(f'(a)) W, so its squared norm is sum_j f'(a_j)^2 sum_i W_ji^2, with f' read off the
    codes (sigmoid h(1-h), tanh 1-h^2, relu 1[h>0], linear 1): no extra backward passes.
    Any other model with `encode` (e.g. a whole stack) uses autograd.
    """
    if isinstance(layer, DenseAutoencoderLayer):
        row_norms = layer.encoder[0].weight.float().pow(2).sum(dim=1)  # sum_i W_ji^2, per unit j
        slopes = _activation_slope(layer.activation, codes.float()).pow(2)
        return weight * (slopes @ row_norms).mean()
    return weight * jacobian_sq_frobenius(layer.encode, x)


def _activation_slope(activation: str, h: torch.Tensor) -> torch.Tensor:
    """f'(a) written in terms of h = f(a)."""
    if activation == "sigmoid":
        return h * (1 - h)
    if activation == "tanh":
        return 1 - h * h
    if activation == "relu":
        return (h > 0).to(h.dtype)
    if activation == "linear":
        return torch.ones_like(h)
    raise ValueError(f"no closed-form slope for activation '{activation}'")


def l1_weight_penalty(model: nn.Module, weight: float = 1.0) -> torch.Tensor:
    """weight * sum of |w| over weight matrices and kernels (biases excluded: they set offsets,
    not which inputs a unit listens to, so shrinking them only biases the fit)."""
    terms = [p.float().abs().sum() for name, p in model.named_parameters() if name.endswith("weight") and p.dim() >= 2]
    if not terms:
        return torch.zeros((), device=next(model.parameters()).device)
    return weight * torch.stack(terms).sum()


def make_regularizer(kind: str = "none", **params: float | str) -> Regularizer | None:
    """Build the penalty named in config, or None when there is nothing to add.

    sparse: sparsity ('kl' | 'l1', default 'kl'), target (default 0.05), weight (default 0.1).
    contractive: weight (default 0.1).
    any kind: l1_weight (default 0) adds `l1_weight_penalty` of the layer (or model).
    The result also works as `train_denoiser(regularizer=...)`: sparse and L1 terms only use
    the codes and parameters, and the contractive term falls back to autograd on `encode`.
    """
    if kind not in REGULARIZER_KINDS:
        raise ValueError(f"regularizer kind is '{kind}'; expected one of {', '.join(REGULARIZER_KINDS)}.")
    allowed = {"none": {"l1_weight"}, "sparse": {"sparsity", "target", "weight", "l1_weight"},
               "contractive": {"weight", "l1_weight"}}[kind]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"regularizer '{kind}' got unknown parameters {unknown}; expected some of {sorted(allowed)}."
        )
    l1_weight = float(params.get("l1_weight", 0.0))
    weight = float(params.get("weight", 0.1))
    if kind == "sparse":
        sparsity, target = str(params.get("sparsity", "kl")), float(params.get("target", 0.05))
        if sparsity not in SPARSITY_KINDS:
            raise ValueError(f"sparsity is '{sparsity}'; expected one of {', '.join(SPARSITY_KINDS)}.")

        def main_term(layer: DenseAutoencoderLayer, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
            return sparsity_penalty(codes, sparsity, target, weight)

    elif kind == "contractive":

        def main_term(layer: DenseAutoencoderLayer, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
            return contractive_penalty(layer, x, codes, weight)

    else:
        if l1_weight == 0.0:
            return None

        def main_term(layer: DenseAutoencoderLayer, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
            return torch.zeros((), device=codes.device)

    if l1_weight == 0.0:
        return main_term

    def regularizer(layer: DenseAutoencoderLayer, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return main_term(layer, x, codes) + l1_weight_penalty(layer, l1_weight)

    return regularizer


# ---------------------------------------------------------------------------------------------
# Variational autoencoder
# ---------------------------------------------------------------------------------------------


def _mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    modules: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        modules += [nn.Linear(n_in, n_out), make_activation(activation)]
    return nn.Sequential(*modules)


class VariationalAutoencoder(nn.Module):
    """Gaussian-latent VAE (Kingma & Welling 2014) with a Bernoulli/sigmoid decoder.

    `encode` returns the posterior mean, which is deterministic and therefore what code
    exports and classifiers use; sampling happens only in `elbo_terms` and, in train mode,
    in `forward_preactivation`.
    """

    output_activation = "sigmoid"

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], code_size: int, activation: str = "relu") -> None:
        super().__init__()
        self._n_features, self._code_size = n_features, code_size
        widths = [n_features, *hidden_sizes]
        self.body = _mlp(widths, activation)
        self.mu_head = nn.Linear(widths[-1], code_size)
        self.logvar_head = nn.Linear(widths[-1], code_size)
        self.decoder_body = _mlp([code_size, *reversed(widths[1:])], activation)
        self.decoder_out = nn.Linear(widths[1] if hidden_sizes else code_size, n_features)

    @property
    def n_features(self) -> int:
        return self._n_features

    @property
    def code_size(self) -> int:
        return self._code_size

    def encoder(self) -> nn.Sequential:
        """x -> mu as one module (shares parameters), for `EncoderClassifier`."""
        return nn.Sequential(self.body, self.mu_head)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x)."""
        hidden = self.body(x)
        return self.mu_head(hidden), self.logvar_head(hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.mu_head(self.body(x))

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps: the noise is outside the graph, so gradients reach mu and sigma."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_preactivation(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(self.decoder_body(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_preactivation(z))

    def forward_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a sampled reconstruction in train mode, of decode(mu) in eval mode."""
        mu, logvar = self.posterior(x)
        return self.decode_preactivation(self.reparameterize(mu, logvar) if self.training else mu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward_preactivation(x))

    def elbo_terms(
        self, x: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None, loss: str = "bce"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction loss, KL), both per input element, so loss = rec + beta * kl.

        The reconstruction term is `reconstruction_loss` (a per-element mean), the scale every
        other model in the project is trained and reported on; the KL is the analytic
        KL(N(mu, sigma^2) || N(0, I)) summed over latents, averaged over the batch and divided
        by n_features to match. It is written as mu^2 + (expm1(logvar) - logvar), whose parts
        are each >= 0 even after rounding.
        """
        mu, logvar = self.posterior(x)
        z = self.reparameterize(mu, logvar, generator)
        rec = reconstruction_loss(self.decode_preactivation(z), target, loss, self.output_activation)
        mu, logvar = mu.float(), logvar.float()
        kl_per_row = 0.5 * (mu.pow(2) + (torch.expm1(logvar) - logvar)).sum(dim=1)
        return rec, kl_per_row.mean() / self.n_features

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new rows decoded from prior draws z ~ N(0, I); values in [0, 1]."""
        device = self.decoder_out.weight.device
        z = torch.randn((n, self.code_size), generator=generator, device=device)
        return self.decode(z)

    @torch.no_grad()
    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int) -> torch.Tensor:
        """`steps` rows decoded along the straight line from mu(x1) to mu(x2), endpoints included."""
        if steps < 2:
            raise ValueError(f"interpolate needs at least 2 steps, got {steps}")
        mu1, mu2 = self.encode(x1.reshape(1, -1)), self.encode(x2.reshape(1, -1))
        t = torch.linspace(0.0, 1.0, steps, device=mu1.device, dtype=mu1.dtype).unsqueeze(1)
        # (1 - t) mu1 + t mu2 hits both endpoints exactly (lerp's mu1 + t (mu2 - mu1) need not).
        return self.decode((1 - t) * mu1 + t * mu2)


def train_vae(
    model: VariationalAutoencoder,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    settings: TrainSettings,
    beta: float = 1.0,
    loss: str = "bce",
    corruption: CorruptionSpec | None = None,
    name: str = "vae",
    l1_weight: float = 0.0,
) -> History:
    """Minimise rec + beta * kl (the negative ELBO per element when beta = 1) with `fit`.

    `corruption` makes it a denoising VAE (noisy input, clean target). Validation uses a
    freshly seeded generator every epoch, so epochs are compared on the same noise draws.
    `l1_weight` adds an L1 penalty on the weights to the training loss only.
    """
    spec = corruption or CorruptionSpec(kind="none", level=0.0)

    def batch_loss(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        (clean,) = batch
        rec, kl = model.elbo_terms(corrupt(clean, spec, generator), clean, generator, loss)
        if l1_weight:
            return rec + beta * kl + l1_weight_penalty(model, l1_weight)
        return rec + beta * kl

    def evaluate() -> dict[str, float]:
        generator = torch.Generator(device=x_val.device).manual_seed(settings.seed + 1)
        rec, kl = model.elbo_terms(corrupt(x_val, spec, generator), x_val, generator, loss)
        return {"val_loss": (rec + beta * kl).item(), "val_reconstruction": rec.item(), "val_kl": kl.item()}

    return fit(model, batch_loss, (x_train,), settings, evaluate, name=name)


# ---------------------------------------------------------------------------------------------
# Convolutional autoencoder
# ---------------------------------------------------------------------------------------------


class _Reshape(nn.Module):
    """Rows <-> images inside a Sequential (reshape, so non-contiguous rows work too)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class ConvAutoencoder(nn.Module):
    """Single-channel image autoencoder on flat rows, with a linear code.

    Encoder: (conv 3x3 + ReLU + maxpool 2) blocks for as many of `channels` as keep the
    spatial size even (8x8: 8->4->2; 28x28: 28->14->7), then a linear map to the code.
    Decoder mirrors it with (upsample 2 + conv 3x3 + ReLU) blocks and a final conv to one
    channel of logits. Rows in, rows out, so it is a drop-in for `StackedAutoencoder`.
    """

    output_activation = "sigmoid"

    def __init__(self, image_shape: tuple[int, int], code_size: int, channels: Sequence[int] = (16, 32)) -> None:
        super().__init__()
        height, width = image_shape
        self.image_shape = (height, width)
        self._code_size = code_size
        blocks: list[nn.Module] = []
        used, in_channels = [], 1
        for out_channels in channels:
            if height % 2 or width % 2:
                break
            blocks += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            used.append(out_channels)
            in_channels, height, width = out_channels, height // 2, width // 2
        self.channels = tuple(used)
        bottleneck = (in_channels, height, width)
        flat = math.prod(bottleneck)
        self.encoder_net = nn.Sequential(
            _Reshape(1, *self.image_shape), *blocks, nn.Flatten(), nn.Linear(flat, code_size)
        )
        up: list[nn.Module] = []
        for k in reversed(range(len(used))):
            out_channels = used[k - 1] if k > 0 else used[0]
            up += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(used[k], out_channels, 3, padding=1),
                nn.ReLU(),
            ]
        self.decoder_net = nn.Sequential(
            nn.Linear(code_size, flat), nn.ReLU(), _Reshape(*bottleneck), *up,
            nn.Conv2d(used[0] if used else 1, 1, 3, padding=1),
        )

    @property
    def n_features(self) -> int:
        return self.image_shape[0] * self.image_shape[1]

    @property
    def code_size(self) -> int:
        return self._code_size

    def encoder(self) -> nn.Sequential:
        """Flat rows -> codes as one module (shares parameters), for `EncoderClassifier`."""
        return self.encoder_net

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_net(x)

    def decode_image_preactivation(self, z: torch.Tensor) -> torch.Tensor:
        """Logits as images, shape (n, 1, H, W)."""
        return self.decoder_net(z)

    def decode_preactivation(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_image_preactivation(z).flatten(start_dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_preactivation(z))

    def forward_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_preactivation(self.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def classifier_encoder(model: nn.Module) -> nn.Module:
    """A deep copy of `model.encoder()`, so fine-tuning a classifier never changes the model.

    Use as `EncoderClassifier(classifier_encoder(model), model.code_size, n_classes)`, the
    equivalent of `EncoderClassifier.from_stack` for the VAE and the convolutional autoencoder.
    """
    return copy.deepcopy(model.encoder())
