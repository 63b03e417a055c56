"""An autoencoder anomaly detector with scikit-learn/PyOD conventions.

    detector = AutoencoderDetector(DetectorSettings(contamination=0.05)).fit(x_normal)
    scores = detector.decision_function(x)   # higher = more anomalous
    flags = detector.predict(x)              # 1 above `threshold_`, else 0

The score of a row is its mean squared reconstruction error after standardising each feature
by the training rows' mean and standard deviation, so every feature counts alike whatever its
units. `explain(x)` says why: each row's features with the largest shares of that error.
The anomaly node, the batch scorer and the MLflow model all use this one object. It
saves as tensors plus JSON (nn.serialization): nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import torch
from torch import nn

from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec
from autoencoder_pipelines.nn.finetuning import fine_tune
from autoencoder_pipelines.nn.inference import predict_in_batches
from autoencoder_pipelines.nn.networks import DenseAutoencoder
from autoencoder_pipelines.nn.seeding import seeded
from autoencoder_pipelines.nn.sizes import default_batch_size, default_hidden_sizes
from autoencoder_pipelines.nn.trainer import (
    Callback,
    EarlyStopping,
    History,
    Trainer,
    TrainSettings,
)

ThresholdRule = Literal["contamination", "false_alarm_rate"]


@dataclass(frozen=True)
class DetectorSettings:
    """How the detector is built and trained, and where its threshold goes.

    threshold_rule `contamination` (as in PyOD and scikit-learn): the expected share of
    anomalies among the training rows; the threshold is that upper quantile of the training
    scores. `false_alarm_rate`: the share of validation rows (all normal) flagged; the
    threshold is that upper quantile of the validation scores.
    """

    contamination: float = 0.05
    threshold_rule: ThresholdRule = "contamination"
    false_alarm_rate: float = 0.05
    hidden_sizes: Optional[tuple[int, ...]] = None  # None: default_hidden_sizes(d)
    activation: str = "relu"
    batch_norm: bool = True
    standardize: bool = True
    loss: str = "mse"  # bce: a sigmoid output, for inputs in [0, 1] (images); else a linear output
    epochs: int = 50
    batch_size: Optional[int] = None  # None: sizes.default_batch_size of the training rows
    learning_rate: float = 0.03
    weight_decay: float = 0.0
    patience: Optional[int] = 5
    min_delta: float = 0.001
    seed: int = 0
    top_k: int = 3  # explain(): the features named per row


class AutoencoderDetector:
    """Fit on (mostly) normal rows; score any rows with the same columns."""

    def __init__(
        self,
        settings: DetectorSettings = DetectorSettings(),
        network: nn.Module | None = None,
        corruption: CorruptionSpec = IDENTITY,
    ) -> None:
        """`network`: any autoencoder of the project to start from (e.g. a pretrained stack, of
        which `fit` trains a copy: set `standardize=False` for a network trained on the
        pipeline's [0, 1]-scaled inputs); None builds a DenseAutoencoder from the settings at
        `fit`. `corruption` makes training denoising."""
        self.settings = settings
        self.network = network
        self.corruption = corruption
        self.center_: torch.Tensor | None = None
        self.scale_: torch.Tensor | None = None
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
        s = self.settings
        x = self._as_tensor(x)
        if s.standardize:
            self.center_, self.scale_ = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
        if self.network is None:
            with seeded(s.seed, "detector.init"):
                sizes = list(s.hidden_sizes or default_hidden_sizes(x.shape[1]))
                output = "sigmoid" if s.loss == "bce" else "linear"
                self.network = DenseAutoencoder(x.shape[1], sizes, s.activation, s.batch_norm, output).to(x.device)
        inputs = self._standardized(x)
        val = inputs if x_val is None else self._standardized(self._as_tensor(x_val))
        self.network, self.history_ = fine_tune(self.network, inputs, val, trainer or self._trainer(len(inputs)), name, s.loss, self.corruption)
        self.network.eval()
        reference = inputs if s.threshold_rule == "contamination" else val
        self.set_threshold(self._scores(reference))
        return self

    def set_threshold(self, reference_scores: np.ndarray) -> None:
        """Flag the rule's share of `reference_scores`: its upper quantile."""
        share = self.settings.contamination if self.settings.threshold_rule == "contamination" else self.settings.false_alarm_rate
        self.threshold_ = float(np.quantile(reference_scores, 1.0 - share))

    def _trainer(self, n_rows: int) -> Trainer:
        s = self.settings
        callbacks: list[Callback] = [] if s.patience is None else [EarlyStopping(s.patience, s.min_delta)]
        batch_size = s.batch_size or default_batch_size(n_rows)
        return Trainer(TrainSettings(s.epochs, batch_size, s.learning_rate, s.weight_decay, seed=s.seed), callbacks)

    # -- scoring ---------------------------------------------------------------------------

    def decision_function(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Anomaly score per row: mean squared reconstruction error of the standardised row."""
        return self._scores(self._standardized(self._as_tensor(x)))

    def predict(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """1 for rows scored above `threshold_`, else 0."""
        if self.threshold_ is None:
            raise RuntimeError("the detector has no threshold: call fit (or set_threshold) first")
        return (self.decision_function(x) > self.threshold_).astype(np.int64)

    def transform(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """The code of each row."""
        self.network.eval()
        return predict_in_batches(self.network.encode, self._standardized(self._as_tensor(x))).numpy()

    def reconstruct(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Each row as the network rebuilds it, in the input's own units."""
        self.network.eval()
        rebuilt = predict_in_batches(self.network, self._standardized(self._as_tensor(x)))
        if self.center_ is not None:
            rebuilt = rebuilt * self.scale_.to(rebuilt.device) + self.center_.to(rebuilt.device)
        return rebuilt.numpy()

    def feature_errors(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Each row's squared reconstruction error per feature (standardised), rows x features:
        the terms whose mean is the row's score."""
        return self._errors(self._standardized(self._as_tensor(x)), per_feature=True)

    def explain(self, x: torch.Tensor | np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Why each row scores as it does: the indices of its `k` (settings.top_k, at most the
        number of features) features with the largest shares of its reconstruction error, and
        those shares (each row's shares of all features sum to 1), largest first."""
        errors = self.feature_errors(x)
        k = min(k or self.settings.top_k, errors.shape[1])
        shares = errors / np.maximum(errors.sum(axis=1, keepdims=True), np.finfo(np.float32).tiny)
        top = np.argsort(-shares, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(shares, top, axis=1)

    def reasons(self, x: torch.Tensor | np.ndarray, names: list[str], rows: np.ndarray) -> dict[str, np.ndarray]:
        """Columns top_feature_1.., top_share_1.. (k = settings.top_k) for every row of `x`:
        filled for the rows where `rows` is True (the flagged ones), empty (None, NaN) elsewhere."""
        k = min(self.settings.top_k, len(names))
        columns: dict[str, np.ndarray] = {}
        for i in range(1, k + 1):
            columns[f"top_feature_{i}"] = np.full(len(rows), None, dtype=object)
            columns[f"top_share_{i}"] = np.full(len(rows), np.nan)
        rows = np.array(rows, dtype=bool)  # a copy: pandas may hand over a read-only array
        if rows.any():
            inputs = x[torch.from_numpy(rows).to(x.device)] if isinstance(x, torch.Tensor) else np.asarray(x)[rows]
            top, shares = self.explain(inputs, k)
            for i in range(k):
                columns[f"top_feature_{i + 1}"][rows] = np.asarray(names, dtype=object)[top[:, i]]
                columns[f"top_share_{i + 1}"][rows] = shares[:, i]
        return columns

    def _scores(self, inputs: torch.Tensor) -> np.ndarray:
        return self._errors(inputs, per_feature=False)

    @torch.no_grad()
    def _errors(self, inputs: torch.Tensor, per_feature: bool) -> np.ndarray:
        self.network.eval()

        def squared(batch: torch.Tensor) -> torch.Tensor:
            errors = (self.network(batch) - batch) ** 2
            return errors if per_feature else errors.mean(dim=1)

        return predict_in_batches(squared, inputs).cpu().numpy()

    def _standardized(self, x: torch.Tensor) -> torch.Tensor:
        if self.center_ is None:
            return x
        return (x - self.center_.to(x.device)) / self.scale_.to(x.device)

    def _as_tensor(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Rows as float32 on the network's device (they stay where they are before fit)."""
        tensor = x.float() if isinstance(x, torch.Tensor) else torch.from_numpy(np.require(x, np.float32, ["C", "W"]))  # copies a read-only or strided array
        return tensor if self.network is None else tensor.to(next(self.network.parameters()).device)

    # -- persistence: nn.serialization (tensors plus JSON) -----------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "corruption": asdict(self.corruption),
            "threshold": self.threshold_,
            "center": None if self.center_ is None else self.center_.cpu().tolist(),
            "scale": None if self.scale_ is None else self.scale_.cpu().tolist(),
        }

    @classmethod
    def from_json(cls, saved: dict[str, Any], network: nn.Module) -> "AutoencoderDetector":
        settings = dict(saved["settings"])
        if settings.get("hidden_sizes") is not None:
            settings["hidden_sizes"] = tuple(settings["hidden_sizes"])
        detector = cls(DetectorSettings(**settings), network.eval(), CorruptionSpec(**saved["corruption"]))
        detector.threshold_ = saved["threshold"]
        if saved.get("center") is not None:
            detector.center_, detector.scale_ = torch.tensor(saved["center"]), torch.tensor(saved["scale"])
        return detector
