"""Adversarial autoencoder (Makhzani et al. 2015): an autoencoder whose codes are made to follow
a prior by a discriminator, trained end to end in two alternating phases on every batch.

- Reconstruction: encoder and decoder take a step on the reconstruction loss (the Trainer's
  own step, with the phase's optimizer).
- Regularisation (`AdversarialPhase`, a callback of the objective, right after that step):
  the discriminator takes a step telling prior draws (1) from the batch's codes (0), then the
  encoder, as the generator, takes a step making the discriminator call its codes prior draws.
  Each has its own Adam optimizer; their per-epoch losses join the epoch's record
  (`discriminator_loss`, `generator_loss`; `train_loss` is the reconstruction).

Both losses are binary cross-entropies: when the codes follow the prior the discriminator can
do no better than chance, and both tend to log 2 = 0.693.

The prior is N(0, prior_std^2 I), or with `prior: class_gaussians` one Gaussian per class of
the data's label (Makhzani's section 2.3): a row of class c is compared with draws from
component c, and the discriminator sees the class as a one-hot vector beside the code, so the
encoder learns to put each class in its own component. That needs labels in pretraining:
the kind says so (`uses_labels`) and the pretraining node batches each row's class index with
it; data without labels is refused right after ingestion.

The discriminator exists only while pretraining (its weights and optimizers are checkpointed
with the phase); the saved network is the encoder, the decoder and the prior (buffers), which
is all that `sample` and the downstream nodes need. Codes are linear (a Gaussian prior has no
bounds): `model.code_activation` does not apply.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from autoencoder_pipelines.nn.device import autocast
from autoencoder_pipelines.nn.distributed import is_worker
from autoencoder_pipelines.nn.kinds.base import (
    Architecture,
    AutoencoderKind,
    KindOptions,
)
from autoencoder_pipelines.nn.networks import Generative, NetsAutoencoder, mlp
from autoencoder_pipelines.nn.trainer import Callback, TrainState, make_adam


class AdversarialOptions(KindOptions):
    prior: Literal["gaussian", "class_gaussians"] = Field(
        "gaussian",
        description="gaussian: N(0, prior_std^2 I); class_gaussians: one Gaussian per class (needs "
        "data.label_column).",
    )
    prior_std: float = Field(1.0, gt=0, description="Standard deviation of the prior (of each component).")
    class_separation: float = Field(
        4.0, gt=0,
        description="class_gaussians: distance between neighbouring class means, in units of prior_std.",
    )
    discriminator_sizes: list[int] = Field(
        default_factory=lambda: [64, 64], min_length=1,
        description="Hidden layers of the discriminator (ReLU).",
    )
    # The regularisation steps are 10x gentler than pretrain.learning_rate's default 0.003: with
    # all three at 0.003 on digits (24-d codes) the discriminator won (loss ~0.1), the generator's
    # steps wrecked the codes (a logistic regression on them: 24% test accuracy) and the
    # reconstruction stalled at 0.41; at 0.0003, 0.25 and 96%. None: pretrain.learning_rate.
    discriminator_learning_rate: Optional[float] = Field(
        0.0003, gt=0,
        description="Adam's learning rate of the discriminator step; null: pretrain.learning_rate.",
    )
    generator_learning_rate: Optional[float] = Field(
        0.0003, gt=0,
        description="Adam's learning rate of the encoder's regularisation (generator) step; null: "
        "pretrain.learning_rate.",
    )


def prior_means(n_components: int, code_size: int, separation: float) -> torch.Tensor:
    """Component means `separation` apart from their neighbours: on the first axes while there
    are as many axes as components, else on a circle in the first two (Makhzani's 2-D mixture),
    on a line for 1-D codes."""
    means = torch.zeros(n_components, code_size)
    if n_components == 1:
        return means
    if n_components <= code_size:
        return torch.eye(n_components, code_size) * separation / math.sqrt(2)
    k = torch.arange(n_components, dtype=torch.float32)
    if code_size == 1:
        means[:, 0] = separation * (k - (n_components - 1) / 2)
        return means
    radius = separation / (2 * math.sin(math.pi / n_components))
    angle = 2 * math.pi * k / n_components
    means[:, 0], means[:, 1] = radius * torch.cos(angle), radius * torch.sin(angle)
    return means


class AdversarialAutoencoder(Generative, NetsAutoencoder):
    """Deterministic encoder and decoder with the stack's interface, and the prior its codes
    are trained to follow (`prior_means`, one row per component, and `prior_std`)."""

    def __init__(
        self, n_features: int, hidden_sizes: Sequence[int], code_size: int, activation: str,
        means: torch.Tensor, prior_std: float,
    ) -> None:
        super().__init__()
        self._n_features, self._code_size = n_features, code_size
        widths = [n_features, *hidden_sizes]
        self.encoder_net = nn.Sequential(*mlp(widths, activation), nn.Linear(widths[-1], code_size))
        self.decoder_net = nn.Sequential(
            *mlp([code_size, *reversed(widths[1:])], activation),
            nn.Linear(widths[1] if hidden_sizes else code_size, n_features),
        )
        self.register_buffer("prior_means", means.clone())
        self.prior_std = prior_std

    @property
    def n_components(self) -> int:
        return self.prior_means.shape[0]

    def sample_prior(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """n codes drawn from the prior: for each label's component (one per class), or
        (without labels) from components drawn uniformly; a single Gaussian ignores labels."""
        device = self.prior_means.device
        if labels is not None and self.n_components > 1:
            components = labels.to(device)
        elif self.n_components > 1:
            components = torch.randint(self.n_components, (n,), generator=generator, device=device)
        else:
            components = torch.zeros(n, dtype=torch.long, device=device)
        noise = torch.randn((n, self.code_size), generator=generator, device=device)
        return self.prior_means[components] + self.prior_std * noise


class AdversarialPhase(Callback):
    """The regularisation phase after every reconstruction step: a discriminator step, then a
    generator (encoder) step, each with its own Adam; their mean losses per epoch go into the
    record. With class components the discriminator also sees each row's class (one-hot), and
    the batch carries the class indices after the rows."""

    def __init__(self, network: AdversarialAutoencoder, options: AdversarialOptions, conditional: bool) -> None:
        self.network, self.options, self.conditional = network, options, conditional
        self.discriminator: nn.Module | None = None

    def on_fit_start(self, state: TrainState) -> None:
        if is_worker():
            raise ValueError(
                "model.kind 'adversarial' does not train under runtime.strategy 'ddp' yet (its discriminator "
                "and generator steps are not averaged across processes); use runtime.strategy 'single'"
            )
        device = self.network.prior_means.device
        n_in = self.network.code_size + (self.network.n_components if self.conditional else 0)
        sizes = self.options.discriminator_sizes
        # drawn from the phase's own seeded stream (the Trainer seeds torch's generator per phase)
        self.discriminator = nn.Sequential(*mlp([n_in, *sizes], "relu"), nn.Linear(sizes[-1], 1)).to(device)
        settings = state.settings
        self.d_optimizer = make_adam(list(self.discriminator.parameters()), replace(
            settings, learning_rate=self.options.discriminator_learning_rate or settings.learning_rate, weight_decay=0.0))
        self.g_optimizer = make_adam(list(self.network.encoder().parameters()), replace(
            settings, learning_rate=self.options.generator_learning_rate or settings.learning_rate, weight_decay=0.0))
        fp16 = settings.precision == torch.float16
        self.scalers = [torch.amp.GradScaler(device.type, enabled=fp16) for _ in range(2)]
        self.device, self.precision = device, settings.precision

    def _judge(self, codes: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.conditional:
            codes = torch.cat([codes, F.one_hot(labels, self.network.n_components).to(codes.dtype)], dim=1)
        return self.discriminator(codes).squeeze(1).float()

    def on_epoch_start(self, state: TrainState) -> None:
        self.sums, self.rows = torch.zeros(2, device=self.device), 0

    def on_batch_end(self, state: TrainState, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> None:
        x = batch[0]
        labels = batch[1] if self.conditional else None
        n = x.shape[0]
        ones, zeros = torch.ones(n, device=self.device), torch.zeros(n, device=self.device)
        with autocast(self.device, self.precision):
            codes = self.network.encode(x)
            prior = self.network.sample_prior(n, generator, labels)
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(self._judge(prior, labels), ones)
                            + F.binary_cross_entropy_with_logits(self._judge(codes.detach(), labels), zeros))
        self._step(self.d_optimizer, self.scalers[0], d_loss)
        self.discriminator.requires_grad_(False)  # the generator step moves the encoder only
        with autocast(self.device, self.precision):
            g_loss = F.binary_cross_entropy_with_logits(self._judge(codes, labels), ones)
        self._step(self.g_optimizer, self.scalers[1], g_loss)
        self.discriminator.requires_grad_(True)
        self.sums += torch.stack([d_loss.detach(), g_loss.detach()]) * n
        self.rows += n

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def on_epoch_end(self, state: TrainState) -> None:
        discriminator, generator = (self.sums / max(self.rows, 1)).tolist()  # one host sync per epoch
        state.record["discriminator_loss"] = discriminator
        state.record["generator_loss"] = generator

    def state_dict(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.d_optimizer.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(saved["discriminator"])
        self.d_optimizer.load_state_dict(saved["d_optimizer"])
        self.g_optimizer.load_state_dict(saved["g_optimizer"])

    def describe(self) -> str:
        return f"AdversarialPhase({self.options!r}, conditional={self.conditional})"


class Adversarial(AutoencoderKind):
    name = "adversarial"
    stacks = False
    Options = AdversarialOptions

    def check_data(self, arch: Architecture) -> str | None:
        if self.options(arch).prior == "class_gaussians" and not arch.n_classes:
            return (
                "model.adversarial.prior 'class_gaussians' draws one Gaussian per class: it needs labels "
                "(data.label_column); use prior 'gaussian' for unlabelled data"
            )
        return super().check_data(arch)

    def uses_labels(self, arch: Architecture) -> bool:
        return self.options(arch).prior == "class_gaussians"

    def network(self, arch: Architecture) -> nn.Module:
        options = self.options(arch)
        n_components = arch.n_classes if self.uses_labels(arch) else 1
        means = prior_means(n_components, arch.code_size, options.class_separation * options.prior_std)
        return AdversarialAutoencoder(
            arch.n_features, arch.hidden_sizes[:-1], arch.code_size, arch.activation, means, options.prior_std
        )

    def pretrain_callbacks(self, arch: Architecture, network: nn.Module) -> list[Callback]:
        return [AdversarialPhase(network, self.options(arch), conditional=self.uses_labels(arch))]


KIND = Adversarial()
