"""What every kind declares, and the defaults the dense stacking kinds share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from autoencoder_pipelines.nn.losses import l1_weight_penalty, reconstruction_loss
from autoencoder_pipelines.nn.networks import StackedAutoencoder
from autoencoder_pipelines.nn.trainer import Callback

# (network, corrupted input, clean target, generator) -> scalar training loss
NetworkLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
# (network, corrupted input, clean target) -> validation figures, val_loss among them
NetworkMetrics = Callable[[nn.Module, torch.Tensor, torch.Tensor], dict[str, float]]


class KindOptions(BaseModel):
    """A kind's own settings, `model.<kind>` in parameters_pretraining.yml. Every field has a
    description (the parameter reference in docs/ is generated from them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Architecture:
    """Everything needed to build a kind's network again: saved as JSON beside its weights."""

    kind: str
    n_features: int
    hidden_sizes: tuple[int, ...]
    activation: str = "relu"
    code_activation: str = "linear"
    image_shape: tuple[int, ...] | None = None  # (height, width) or (channels, height, width)
    options: dict[str, Any] = field(default_factory=dict)
    n_classes: int | None = None  # classes of the data's label, None without labels
    window_shape: tuple[int, int] | None = None  # (channels, length) of windows cut from a series

    @property
    def code_size(self) -> int:
        return self.hidden_sizes[-1]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> "Architecture":
        shapes = {key: tuple(saved[key]) if saved.get(key) else None for key in ("image_shape", "window_shape")}
        return cls(**{**saved, "hidden_sizes": tuple(saved["hidden_sizes"]), **shapes})


class AutoencoderKind:
    """One autoencoder kind. The defaults describe a dense stack pretrained greedily, layer by
    layer, with a plain reconstruction loss; kinds override what differs."""

    name: ClassVar[str]
    stacks: ClassVar[bool] = True  # greedy layer-wise pretraining of a dense stack
    corrupts_inputs: ClassVar[bool] = False  # pretraining corrupts each layer's input (denoising)
    Options: ClassVar[type[KindOptions]] = KindOptions

    def options(self, arch: Architecture) -> KindOptions:
        return self.Options.model_validate(arch.options)

    def check_settings(self, activation: str, code_activation: str, options: KindOptions) -> str | None:
        """A problem with the settings alone (before any data is read), or None."""
        return None

    def check_data(self, arch: Architecture) -> str | None:
        """A problem with the settings on this data (after ingestion), or None."""
        if arch.code_size >= arch.n_features:
            return (
                f"model.hidden_sizes: the code size {arch.code_size} must be smaller than "
                f"the {arch.n_features} input features (got {list(arch.hidden_sizes)})"
            )
        return None

    def build(self, arch: Architecture) -> nn.Module:
        """A freshly initialised network; it carries `arch` so it can be saved and rebuilt."""
        problem = self.check_data(arch)
        if problem:
            raise ValueError(problem)
        network = self.network(arch)
        network.architecture = arch
        return network

    def network(self, arch: Architecture) -> nn.Module:
        return StackedAutoencoder.build(arch.n_features, arch.hidden_sizes, arch.activation, arch.code_activation)

    def uses_labels(self, arch: Architecture) -> bool:
        """Whether end-to-end pretraining needs each training row's class index (batched with
        the rows); the pretraining node passes them only then, and `check_data` should refuse
        data without labels."""
        return False

    def pretrain_callbacks(self, arch: Architecture, network: nn.Module) -> list[Callback]:
        """Callbacks that are part of the end-to-end pretraining objective (e.g. an adversarial
        phase after every reconstruction step); they get the batch, labels included."""
        return []

    def penalty(
        self, options: KindOptions, network: nn.Module, noisy: torch.Tensor, codes: torch.Tensor
    ) -> torch.Tensor | None:
        """The kind's own term added to the training loss (not to validation), or None."""
        return None

    def pretrain_loss(self, arch: Architecture, loss: str, l1_weight: float = 0.0) -> NetworkLoss:
        """The pretraining objective, for a whole network or (stacking kinds) one layer."""
        options = self.options(arch)

        def network_loss(network: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, generator) -> torch.Tensor:
            codes = network.encode(noisy)
            value = reconstruction_loss(network.decode_preactivation(codes), clean, loss, network.output_activation)
            extra = self.penalty(options, network, noisy, codes)
            if extra is not None:
                value = value + extra
            if l1_weight:
                value = value + l1_weight_penalty(network, l1_weight)
            return value

        return network_loss

    def pretrain_metrics(self, arch: Architecture, loss: str) -> NetworkMetrics:
        def metrics(network: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
            pre = network.forward_preactivation(noisy)
            return {"val_loss": reconstruction_loss(pre, clean, loss, network.output_activation).item()}

        return metrics
