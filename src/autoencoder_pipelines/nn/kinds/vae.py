"""Variational autoencoder (Kingma & Welling 2014): Gaussian encoder, reparameterisation,
Bernoulli/sigmoid decoder, trained end to end on rec + beta * KL (the negative ELBO per element
when beta = 1). The posterior mean is the code; sampling happens only in training."""

from __future__ import annotations

from typing import Sequence

import torch
from pydantic import Field
from torch import nn

from autoencoder_pipelines.nn.kinds.base import (
    Architecture,
    AutoencoderKind,
    KindOptions,
)
from autoencoder_pipelines.nn.losses import l1_weight_penalty, reconstruction_loss
from autoencoder_pipelines.nn.networks import Autoencoder, Generative, mlp


class VaeOptions(KindOptions):
    beta: float = Field(1.0, ge=0, description="Weight of the KL term of the ELBO (1: the plain VAE).")


class VariationalAutoencoder(Generative, Autoencoder):
    """Gaussian-latent VAE with the stack's interface (n_features, code_size, encode, decode,
    decode_preactivation, forward_preactivation, encoder()); `encode` is the posterior mean."""

    def __init__(self, n_features: int, hidden_sizes: Sequence[int], code_size: int, activation: str = "relu") -> None:
        super().__init__()
        self._n_features, self._code_size = n_features, code_size
        widths = [n_features, *hidden_sizes]
        self.body = mlp(widths, activation)
        self.mu_head = nn.Linear(widths[-1], code_size)
        self.logvar_head = nn.Linear(widths[-1], code_size)
        self.decoder_body = mlp([code_size, *reversed(widths[1:])], activation)
        self.decoder_out = nn.Linear(widths[1] if hidden_sizes else code_size, n_features)

    def encoder(self) -> nn.Sequential:
        """x -> mu as one module (shares parameters), for the classifier head."""
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

    def sample_prior(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """n codes z ~ N(0, I), the prior the KL pulls the posterior towards."""
        return torch.randn((n, self.code_size), generator=generator, device=next(self.parameters()).device)


class Vae(AutoencoderKind):
    name = "vae"
    stacks = False
    Options = VaeOptions

    def network(self, arch: Architecture) -> nn.Module:
        return VariationalAutoencoder(arch.n_features, arch.hidden_sizes[:-1], arch.code_size, arch.activation)

    def pretrain_loss(self, arch: Architecture, loss: str, l1_weight: float = 0.0):
        beta = self.options(arch).beta

        def elbo(network: VariationalAutoencoder, noisy: torch.Tensor, clean: torch.Tensor, generator) -> torch.Tensor:
            rec, kl = network.elbo_terms(noisy, clean, generator, loss)
            value = rec + beta * kl
            return value + l1_weight_penalty(network, l1_weight) if l1_weight else value

        return elbo

    def pretrain_metrics(self, arch: Architecture, loss: str):
        beta = self.options(arch).beta

        def metrics(network: VariationalAutoencoder, noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
            # the same draws every epoch, so epochs are compared on equal terms
            generator = torch.Generator(device=noisy.device).manual_seed(0)
            rec, kl = network.elbo_terms(noisy, clean, generator, loss)
            return {"val_loss": (rec + beta * kl).item(), "val_reconstruction": rec.item(), "val_kl": kl.item()}

        return metrics


KIND = Vae()
