"""Dense networks shared by the kinds: one encoder/decoder layer pair, the stack built from
them, the detector's network, and the classifier head put on any encoder.

Every autoencoder in the project (these, the VAE, the convolutional one) is an `Autoencoder`:
n_features, code_size, output_activation, encode, decode, decode_preactivation, forward,
forward_preactivation and encoder(); the code export, the fine-tuning phases, the detector and
the classifier head rely on nothing else.
"""

from __future__ import annotations

import copy
from itertools import pairwise
from typing import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, tuple[Callable[[], nn.Module], Callable[[torch.Tensor], torch.Tensor]]] = {
    "sigmoid": (nn.Sigmoid, torch.sigmoid),
    "relu": (nn.ReLU, torch.relu),
    "tanh": (nn.Tanh, torch.tanh),
    "linear": (nn.Identity, lambda x: x),
}


def _known(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation is '{name}'; expected one of {', '.join(ACTIVATIONS)}.")
    return name


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[_known(name)][0]()


def apply_activation(name: str, x: torch.Tensor) -> torch.Tensor:
    """Functional twin of `make_activation`, for hot paths that should not build modules."""
    return ACTIVATIONS[_known(name)][1](x)


def mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers of `sizes`, each followed by `activation`."""
    modules: list[nn.Module] = []
    for n_in, n_out in pairwise(sizes):
        modules += [nn.Linear(n_in, n_out), make_activation(activation)]
    return nn.Sequential(*modules)


@torch.no_grad()
def interpolate_decoded(network: nn.Module, x1: torch.Tensor, x2: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` rows decoded along the straight line from encode(x1) to encode(x2), endpoints
    included (the generative kinds' `interpolate`)."""
    if steps < 2:
        raise ValueError(f"interpolate needs at least 2 steps, got {steps}")
    z1, z2 = network.encode(x1.reshape(1, -1)), network.encode(x2.reshape(1, -1))
    t = torch.linspace(0.0, 1.0, steps, device=z1.device, dtype=z1.dtype).unsqueeze(1)
    # (1 - t) z1 + t z2 hits both endpoints exactly (lerp's z1 + t (z2 - z1) need not).
    return network.decode((1 - t) * z1 + t * z2)


class Autoencoder(nn.Module):
    """The interface every autoencoder here has, from its `encode`, `decode_preactivation` and
    `output_activation`: decode, forward_preactivation (logits, for losses that want them) and
    forward. Subclasses also give encoder(), and n_features and code_size (by default from
    the `_n_features` and `_code_size` they set)."""

    output_activation = "sigmoid"
    _n_features: int
    _code_size: int

    @property
    def n_features(self) -> int:
        return self._n_features

    @property
    def code_size(self) -> int:
        return self._code_size

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return apply_activation(self.output_activation, self.decode_preactivation(z))

    def forward_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_preactivation(self.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class NetsAutoencoder(Autoencoder):
    """An autoencoder held as two modules, `encoder_net` (rows -> codes) and `decoder_net`
    (codes -> output logits)."""

    def encoder(self) -> nn.Module:
        return self.encoder_net

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_net(x)

    def decode_preactivation(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_net(z)


class Generative:
    """For autoencoders with a prior over codes (`sample_prior`): rows decoded from it, and the
    walk between two rows' codes."""

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new rows decoded from prior draws."""
        return self.decode(self.sample_prior(n, generator))

    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int) -> torch.Tensor:
        return interpolate_decoded(self, x1, x2, steps)


class DenseAutoencoderLayer(Autoencoder):
    """One encoder/decoder pair: h = act(W x + b), x_hat = out_act(W' h + b').

    The decoder's pre-activation is exposed so that losses can work on logits
    (binary cross-entropy with logits is stable and allowed under autocast).
    """

    def __init__(
        self, n_in: int, n_hidden: int, activation: str = "sigmoid", output_activation: str = "sigmoid"
    ) -> None:
        super().__init__()
        self.n_in, self.n_hidden = n_in, n_hidden
        self.activation, self.output_activation = activation, output_activation
        self.encoder = nn.Sequential(nn.Linear(n_in, n_hidden), make_activation(activation))
        self.decoder_linear = nn.Linear(n_hidden, n_in)
        self.decoder_activation = make_activation(output_activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_preactivation(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder_linear(h)


class StackedAutoencoder(Autoencoder):
    """Layers 1..K encode in order and decode in reverse (the "unrolled" stack)."""

    def __init__(self, layers: Sequence[DenseAutoencoderLayer]) -> None:
        super().__init__()
        if not layers:
            raise ValueError("a stacked autoencoder needs at least one layer")
        for below, above in pairwise(layers):
            if above.n_in != below.n_hidden:
                raise ValueError(
                    f"layer sizes do not chain: {below.n_hidden} codes feed a layer of input {above.n_in}"
                )
        self.layers = nn.ModuleList(layers)

    @classmethod
    def build(
        cls,
        n_features: int,
        hidden_sizes: Sequence[int],
        activation: str = "sigmoid",
        code_activation: str = "sigmoid",
        output_activation: str = "sigmoid",
    ) -> "StackedAutoencoder":
        """Layer k reconstructs layer k-1's code, so its decoder ends in k-1's activation."""
        layers, n_in, below_activation = [], n_features, output_activation
        for k, size in enumerate(hidden_sizes):
            act = code_activation if k == len(hidden_sizes) - 1 else activation
            layers.append(DenseAutoencoderLayer(n_in, size, act, below_activation))
            n_in, below_activation = size, act
        return cls(layers)

    @property
    def n_features(self) -> int:
        return self.layers[0].n_in

    @property
    def code_size(self) -> int:
        return self.layers[-1].n_hidden

    @property
    def output_activation(self) -> str:
        return self.layers[0].output_activation

    def encoder(self) -> nn.Sequential:
        """The encoding path as one module (shares parameters with the stack)."""
        return nn.Sequential(*(layer.encoder for layer in self.layers))

    def encode(self, x: torch.Tensor, depth: int | None = None) -> torch.Tensor:
        """Code after the first `depth` layers (all layers by default)."""
        # a list, not a slice of the ModuleList: slicing builds a new ModuleList (a Module's
        # __init__) at every call, about a tenth of a small network's training step on a CPU
        for layer in list(self.layers)[:depth]:
            x = layer.encode(x)
        return x

    def decode_preactivation(self, z: torch.Tensor) -> torch.Tensor:
        first, *above = self.layers
        for layer in reversed(above):
            z = layer.decode(z)
        return first.decode_preactivation(z)


class EncoderClassifier(nn.Module):
    """An encoder with a softmax classifier head on its code."""

    def __init__(self, encoder: nn.Module, code_size: int, n_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(code_size, n_classes))
        self.n_classes = n_classes

    @classmethod
    def on(cls, autoencoder: nn.Module, n_classes: int, dropout: float = 0.0) -> "EncoderClassifier":
        """A classifier on a deep copy of `autoencoder`'s encoder: fine-tuning it never changes
        the autoencoder (any kind: all expose encoder() and code_size)."""
        classifier = cls(copy.deepcopy(autoencoder.encoder()), autoencoder.code_size, n_classes, dropout)
        classifier.architecture = getattr(autoencoder, "architecture", None)  # to save and rebuild it
        return classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.encoder(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.forward(x), dim=-1)


class DenseAutoencoder(NetsAutoencoder):
    """An MLP autoencoder trained end to end, the detector's network: (Linear, BatchNorm when
    asked, activation) per hidden layer, a linear code, the mirrored decoder and a linear
    output (for standardised inputs, which are not bounded)."""

    def __init__(
        self, n_features: int, hidden_sizes: Sequence[int], activation: str = "relu", batch_norm: bool = True,
        output_activation: str = "linear",
    ) -> None:
        super().__init__()
        self.config = {"n_features": n_features, "hidden_sizes": list(hidden_sizes), "activation": activation,
                       "batch_norm": batch_norm, "output_activation": output_activation}
        self.output_activation = output_activation  # the instance's, over the class default
        *hidden, code = hidden_sizes
        self.encoder_net = self._mlp([n_features, *hidden], activation, batch_norm)
        self.encoder_net.append(nn.Linear(hidden[-1] if hidden else n_features, code))
        self.decoder_net = self._mlp([code, *reversed(hidden)], activation, batch_norm)
        self.decoder_net.append(nn.Linear(hidden[0] if hidden else code, n_features))

    @staticmethod
    def _mlp(sizes: Sequence[int], activation: str, batch_norm: bool) -> nn.Sequential:
        modules: list[nn.Module] = []
        for n_in, n_out in pairwise(sizes):
            modules += [nn.Linear(n_in, n_out), *([nn.BatchNorm1d(n_out)] if batch_norm else []), make_activation(activation)]
        return nn.Sequential(*modules)

    @property
    def n_features(self) -> int:
        return self.config["n_features"]

    @property
    def code_size(self) -> int:
        return self.config["hidden_sizes"][-1]
