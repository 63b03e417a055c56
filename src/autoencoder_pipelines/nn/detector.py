"""An autoencoder anomaly detector with scikit-learn/PyOD conventions.

    detector = AutoencoderDetector(contamination=0.05).fit(x_normal)
    scores = detector.decision_function(x)   # higher = more anomalous
    flags = detector.predict(x)              # 1 above `threshold_`, else 0

The score of a row is its mean squared reconstruction error. The anomaly node, the batch
scorer and the MLflow model all use this one object. It saves as tensors plus JSON (one file,
read back with `torch.load(weights_only=True)`): nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec
from autoencoder_pipelines.nn.finetuning import fine_tune
from autoencoder_pipelines.nn.inference import predict_in_batches, reconstruction_errors
from autoencoder_pipelines.nn.trainer import Callback, EarlyStopping, History, Trainer, TrainSettings

ThresholdRule = Literal["contamination", "false_alarm_rate"]


@dataclass(frozen=True)
class DetectorSettings:
    """How the detector is trained and where its threshold goes.

    threshold_rule `contamination` (as in PyOD and scikit-learn): the expected share of
    anomalies among the training rows; the threshold is that upper quantile of the training
    scores. `false_alarm_rate`: the share of validation rows (all normal) flagged; the
    threshold is that upper quantile of the validation scores.
    """

    contamination: float = 0.1
    threshold_rule: ThresholdRule = "contamination"
    loss: str = "mse"
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 10
    min_delta: float = 0.0
    seed: int = 0


class AutoencoderDetector:
    """Fit on (mostly) normal rows scaled like the network's input; score any rows."""

    def __init__(
        self,
        network: nn.Module,
        settings: DetectorSettings = DetectorSettings(),
        corruption: CorruptionSpec = IDENTITY,
    ) -> None:
        """`network`: any autoencoder of the project (e.g. a kind's `build`, or a pretrained
        stack, which `fit` fine-tunes a copy of). `corruption` makes training denoising."""
        self.network = network
        self.settings = settings
        self.corruption = corruption
        self.threshold_: float | None = None
        self.history_: History | None = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        x: torch.Tensor | np.ndarray,
        x_val: torch.Tensor | np.ndarray | None = None,
        trainer: Trainer | None = None,
        name: str = "detector",
    ) -> "AutoencoderDetector":
        """Train on `x` (validation and early stopping on `x_val`, or on `x` itself), then set
        `threshold_` by the settings' rule."""
        x = self._tensor(x)
        x_val = x if x_val is None else self._tensor(x_val)
        self.network, self.history_ = fine_tune(
            self.network, x, x_val, trainer or self._trainer(), name, self.settings.loss, self.corruption
        )
        self.network.eval()
        reference = x if self.settings.threshold_rule == "contamination" else x_val
        self.set_threshold(self.decision_function(reference))
        return self

    def set_threshold(self, reference_scores: np.ndarray) -> None:
        quantile = 1.0 - self.settings.contamination
        self.threshold_ = float(np.quantile(reference_scores, quantile))

    def _trainer(self) -> Trainer:
        s = self.settings
        callbacks: list[Callback] = [] if s.patience is None else [EarlyStopping(s.patience, s.min_delta)]
        settings = TrainSettings(s.epochs, s.batch_size, s.learning_rate, s.weight_decay, seed=s.seed)
        return Trainer(settings, callbacks)

    # -- scoring ---------------------------------------------------------------------------

    def decision_function(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Anomaly score per row: mean squared reconstruction error (higher = more anomalous)."""
        return reconstruction_errors(self.network, self._tensor(x)).numpy()

    def predict(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """1 for rows scored above `threshold_`, else 0."""
        if self.threshold_ is None:
            raise RuntimeError("the detector has no threshold: call fit (or set_threshold) first")
        return (self.decision_function(x) > self.threshold_).astype(np.int64)

    def transform(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """The code of each row."""
        self.network.eval()
        return predict_in_batches(self.network.encode, self._tensor(x)).numpy()

    def reconstruct(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        self.network.eval()
        return predict_in_batches(self.network, self._tensor(x)).numpy()

    def _tensor(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        device = next(self.network.parameters()).device
        return torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x, device=device)

    # -- persistence: nn.serialization (tensors plus JSON) -----------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"settings": asdict(self.settings), "corruption": asdict(IDENTITY), "threshold": self.threshold_}

    @classmethod
    def from_json(cls, saved: dict[str, Any], network: nn.Module) -> "AutoencoderDetector":
        detector = cls(network.eval(), DetectorSettings(**saved["settings"]), CorruptionSpec(**saved["corruption"]))
        detector.threshold_ = saved["threshold"]
        return detector

    def save(self, path: str | Path) -> None:
        from autoencoder_pipelines.nn.serialization import save

        save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "AutoencoderDetector":
        from autoencoder_pipelines.nn.serialization import load

        return load(path, expected=cls)
