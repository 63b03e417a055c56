"""An autoencoder anomaly detector: a scikit-learn estimator with PyOD's conventions.

    from autoencoder_pipelines import AutoencoderDetector

    detector = AutoencoderDetector(contamination=0.05).fit(X)  # y, if given, is ignored
    detector.decision_scores_        # the fitted rows' scores: higher = more anomalous
    detector.labels_                 # their flags: 1 above threshold_, else 0
    detector.decision_function(X2)   # scores of any rows with the same columns
    detector.predict(X2)             # 1 = anomaly, 0 = normal
    detector.predict_proba(X2)       # [[P(normal), P(anomaly)], ...] (PyOD's "linear" or "unify")

Conventions are PyOD's, not scikit-learn's own outlier detectors': `predict` gives 0 (normal)
and 1 (anomaly), where IsolationForest gives +1 (normal) and -1 (anomaly) (convert with
`1 - 2 * detector.predict(X)`), and `decision_function` grows with the anomaly, where
scikit-learn's is negative for outliers. clone, Pipeline, GridSearchCV and cross_val_score work
as for any estimator (no `score` method: give model selection a `scoring`).

The score of a row, after standardising each feature by the training rows (so every feature
counts alike whatever its units; a constant feature keeps scale 1, as StandardScaler does):

- `score_rule="reconstruction"`: the mean squared reconstruction error of the standardised row;
- `score_rule="combined"` (the default): the larger of two standardised parts, the reconstruction
  error and the row's Mahalanobis distance from the training rows' centre (Ledoit-Wolf shrunk
  covariance, in the standardised space), each as (value - mean) / sd over the validation rows.
  The reconstruction error finds rows that break the structure between columns; the distance
  finds rows that keep it but lie far out, which a network that extrapolates rebuilds well
  (benchmarks/RESULTS.md: measured on 23 tables against IsolationForest and PCA).

`explain(x)` says why: each row's features with the largest shares of its score. The anomaly
node, the batch scorer and the MLflow model all use this one object; it saves as tensors plus
JSON (nn.serialization), and nothing is unpickled.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, OutlierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from autoencoder_pipelines.nn.corruption import IDENTITY, CorruptionSpec
from autoencoder_pipelines.nn.device import resolve_device
from autoencoder_pipelines.nn.finetuning import fine_tune
from autoencoder_pipelines.nn.inference import predict_in_batches
from autoencoder_pipelines.nn.networks import DenseAutoencoder
from autoencoder_pipelines.nn.seeding import derive_seed, seeded
from autoencoder_pipelines.nn.sizes import default_batch_size, default_hidden_sizes, detector_code_size
from autoencoder_pipelines.nn.trainer import Callback, EarlyStopping, Trainer, TrainSettings

ThresholdRule = Literal["contamination", "false_alarm_rate"]
SCORE_RULES = ("combined", "reconstruction")
THRESHOLD_RULES = ("contamination", "false_alarm_rate")
PROBABILITY_METHODS = ("linear", "unify")


class AutoencoderDetector(ClassNamePrefixFeaturesOutMixin, OutlierMixin, TransformerMixin, BaseEstimator):
    """Fit on (mostly) normal rows; score any rows with the same columns.

    Parameters (all keywords but `contamination`, as PyOD's detectors take them):

    contamination: the expected share of anomalies among the fitted rows; with
        threshold_rule "contamination" the threshold is that upper quantile of their scores.
    threshold_rule: "contamination", or "false_alarm_rate": the threshold flags that share of
        the validation rows (taken to be normal).
    false_alarm_rate: the share of validation rows flagged under the "false_alarm_rate" rule.
    score_rule: "combined" (the default) or "reconstruction" (the module's docstring says how
        each is computed).
    hidden_sizes: the network's hidden layers, code last; None: [min(2d, 256), code] with the
        code as wide as the principal components holding 90% of the standardised training
        rows' variance (at least 2, at most 64, below d).
    activation, batch_norm: the hidden layers' activation ("relu", "tanh", "sigmoid") and
        whether each is batch-normalised.
    standardize: standardise each feature by the training rows (False: the rows as given,
        e.g. pixels in [0, 1] with loss "bce").
    loss: "mse", "l1", or "bce" (a sigmoid output, for inputs in [0, 1]).
    corruption, corruption_level: train as a denoising autoencoder ("gaussian", "masking",
        "salt_and_pepper"; None: no corruption).
    epochs, batch_size, learning_rate, weight_decay: Adam's budget; batch_size None:
        nn.sizes.default_batch_size (clamp(rows / 40, 32, 256); rows / 10, at least 8, below 320).
    patience, min_delta: early stopping on the validation loss (None: train all epochs).
    validation_fraction: the share of the fitted rows held out for early stopping and for the
        score's standardisation when `fit` gets no X_val (none are held out from fewer than
        10 rows: the training rows serve).
    top_k: the features `explain` and `reasons` name per row.
    network: an autoencoder of the project to start from (e.g. a pretrained stack; `fit`
        trains a copy); None builds a DenseAutoencoder.
    random_state: an int seeds weights, batches, the validation split and the noise; None: a
        fresh seed from numpy's global generator.
    device: "cpu", "cuda", "auto", ...; None: where a tensor X lies (the CPU for arrays).

    Fitted attributes: network_, center_ and scale_ (the standardisation, tensors),
    n_features_in_ (and feature_names_in_ for a DataFrame), history_ (training), threshold_,
    decision_scores_ and labels_ (the fitted rows'), score_reference_ (what "combined"
    standardises by; None under "reconstruction") and training_scores_ (min, max, mean, sd of decision_scores_: for
    predict_proba after a reload).
    """

    def __init__(
        self,
        contamination: float = 0.05,
        *,
        threshold_rule: ThresholdRule = "contamination",
        false_alarm_rate: float = 0.05,
        score_rule: str = "combined",
        hidden_sizes: tuple[int, ...] | None = None,
        activation: str = "relu",
        batch_norm: bool = True,
        standardize: bool = True,
        loss: str = "mse",
        corruption: str | None = None,
        corruption_level: float = 0.1,
        epochs: int = 50,
        batch_size: int | None = None,
        learning_rate: float = 0.03,
        weight_decay: float = 0.0,
        patience: int | None = 5,
        min_delta: float = 0.001,
        validation_fraction: float = 0.1,
        top_k: int = 3,
        network: nn.Module | None = None,
        random_state: int | None = 0,
        device: str | None = None,
    ) -> None:
        self.contamination = contamination
        self.threshold_rule = threshold_rule
        self.false_alarm_rate = false_alarm_rate
        self.score_rule = score_rule
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.batch_norm = batch_norm
        self.standardize = standardize
        self.loss = loss
        self.corruption = corruption
        self.corruption_level = corruption_level
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.top_k = top_k
        self.network = network
        self.random_state = random_state
        self.device = device

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, *, X_val: Any = None, trainer: Trainer | None = None,
            name: str = "detector") -> "AutoencoderDetector":
        """Train on the rows of `X`, then score them (decision_scores_, labels_) and set
        threshold_ by the threshold rule.

        y: ignored (PyOD's convention: the detector is unsupervised; y is accepted so that
            Pipeline and model selection can pass labels to their scorers).
        X_val: rows (taken to be normal) for early stopping, the score's standardisation and
            the false_alarm_rate rule; None holds out validation_fraction of X.
        trainer: the Trainer to use (the pipelines' own: their device precision, checkpoints,
            progress); None builds one from epochs, batch_size, learning_rate, weight_decay,
            patience and min_delta.
        name: the training phase's name in the history and the log.
        """
        self._check_params()
        seed = self._seed()
        x = self._rows(X, reset=True)
        if X_val is not None:
            x_train, x_val = x, self._rows(X_val, reset=False)
        else:
            x_train, x_val = self._hold_out(x, seed)
        self.center_, self.scale_ = _standardisation(x_train) if self.standardize else (None, None)
        inputs = self._standardized(x_train)
        val = inputs if x_val is None else self._standardized(x_val)
        start = self.network if self.network is not None else self._build(inputs, seed)
        corruption = IDENTITY if self.corruption in (None, "none") else CorruptionSpec(self.corruption, self.corruption_level)
        trainer = trainer or self._trainer(len(inputs), seed)
        self.network_, self.history_ = fine_tune(start, inputs, val, trainer, name, self.loss, corruption)
        self.network_.eval()
        self.score_reference_ = self._score_reference(inputs, val)
        self.decision_scores_ = self.decision_function(x)
        self.training_scores_ = _summary(self.decision_scores_)
        if self.threshold_rule == "contamination":
            self.set_threshold(self.decision_scores_)
        else:
            self.set_threshold(self._scores(val))
        return self

    def fit_predict(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """fit, then the fitted rows' flags (labels_): 1 = anomaly, 0 = normal."""
        return self.fit(X, y, **fit_params).labels_

    def describe_rows(self, X: Any) -> None:
        """Make `X` the rows decision_scores_, labels_ and training_scores_ describe, and under the
        "contamination" rule set threshold_ from their scores: for rows the detector did not learn
        but belong to the data (the pipeline's: every training row, anomalies included, of which
        `contamination` is the expected share)."""
        self.decision_scores_ = self.decision_function(X)
        self.training_scores_ = _summary(self.decision_scores_)
        if self.threshold_rule == "contamination":
            self.set_threshold(self.decision_scores_)
        else:
            self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)

    def set_threshold(self, reference_scores: np.ndarray) -> None:
        """Flag the rule's share of `reference_scores`: threshold_ becomes their upper quantile
        (and labels_ follow)."""
        share = self.contamination if self.threshold_rule == "contamination" else self.false_alarm_rate
        self.threshold_ = float(np.quantile(reference_scores, 1.0 - share))
        if hasattr(self, "decision_scores_"):
            self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)

    def _check_params(self) -> None:
        """The constructor takes anything (scikit-learn's rule); fit refuses what cannot work."""
        problems = []
        for key in ("contamination", "false_alarm_rate"):
            value = getattr(self, key)
            if not isinstance(value, numbers.Real) or not 0 < value < 0.5:
                problems.append(f"{key} is {value!r}; expected a share in (0, 0.5)")
        if not isinstance(self.validation_fraction, numbers.Real) or not 0 <= self.validation_fraction < 1:
            problems.append(f"validation_fraction is {self.validation_fraction!r}; expected a share in [0, 1)")
        for key, allowed in (("threshold_rule", THRESHOLD_RULES), ("score_rule", SCORE_RULES)):
            if getattr(self, key) not in allowed:
                problems.append(f"{key} is {getattr(self, key)!r}; expected one of {', '.join(allowed)}")
        for key in ("epochs", "top_k"):
            if not isinstance(getattr(self, key), numbers.Integral) or getattr(self, key) < 1:
                problems.append(f"{key} is {getattr(self, key)!r}; expected an integer >= 1")
        if problems:
            raise ValueError("AutoencoderDetector: " + "; ".join(problems) + ".")

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.randint(2**31))
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(2**31))
        return int(self.random_state)

    def _hold_out(self, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """validation_fraction of the rows (seeded), or none from fewer than 10 rows."""
        n_val = int(len(x) * self.validation_fraction)
        if n_val < 1 or len(x) - n_val < 9:
            return x, None
        generator = torch.Generator().manual_seed(derive_seed(seed, "detector.validation"))
        order = torch.randperm(len(x), generator=generator).to(x.device)
        return x[order[n_val:]], x[order[:n_val]]

    def _build(self, inputs: torch.Tensor, seed: int) -> DenseAutoencoder:
        sizes = list(self.hidden_sizes) if self.hidden_sizes is not None else default_network_sizes(inputs)
        with seeded(seed, "detector.init"):
            output = "sigmoid" if self.loss == "bce" else "linear"
            return DenseAutoencoder(inputs.shape[1], sizes, self.activation, self.batch_norm, output).to(inputs.device)

    def _trainer(self, n_rows: int, seed: int) -> Trainer:
        callbacks: list[Callback] = [] if self.patience is None else [EarlyStopping(self.patience, self.min_delta)]
        batch_size = self.batch_size or default_batch_size(n_rows)
        return Trainer(TrainSettings(self.epochs, batch_size, self.learning_rate, self.weight_decay, seed=seed), callbacks)

    # -- scoring ---------------------------------------------------------------------------

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly score per row: higher = more anomalous (the module's docstring)."""
        check_is_fitted(self, "network_")
        return self._scores(self._standardized(self._rows(X)))

    def predict(self, X: Any) -> np.ndarray:
        """1 for rows scored above threshold_ (anomalies), else 0."""
        check_is_fitted(self, "threshold_")
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def predict_proba(self, X: Any, method: str = "linear") -> np.ndarray:
        """[P(normal), P(anomaly)] per row, as PyOD defines them from the fitted rows' scores:
        "linear" scales a score by their min and max (clipped to [0, 1]); "unify" takes
        erf((score - mean) / (sd * sqrt 2)), clipped at 0 (Kriegel et al. 2011)."""
        from scipy.special import erf

        check_is_fitted(self, "training_scores_")
        if method not in PROBABILITY_METHODS:
            raise ValueError(f"method is {method!r}; expected one of {', '.join(PROBABILITY_METHODS)}")
        scores, stats = self.decision_function(X), self.training_scores_
        if method == "linear":
            anomalous = (scores - stats["min"]) / max(stats["max"] - stats["min"], np.finfo(np.float64).tiny)
        else:
            anomalous = erf((scores - stats["mean"]) / (max(stats["sd"], np.finfo(np.float64).tiny) * np.sqrt(2)))
        anomalous = np.clip(anomalous, 0.0, 1.0)
        return np.column_stack([1.0 - anomalous, anomalous])

    def transform(self, X: Any) -> np.ndarray:
        """The code of each row."""
        check_is_fitted(self, "network_")
        return predict_in_batches(self.network_.encode, self._standardized(self._rows(X))).detach().cpu().numpy()

    def reconstruct(self, X: Any) -> np.ndarray:
        """Each row as the network rebuilds it, in the input's own units."""
        check_is_fitted(self, "network_")
        with torch.no_grad():
            rebuilt = predict_in_batches(self.network_, self._standardized(self._rows(X)))
        if self.center_ is not None:
            rebuilt = rebuilt * self.scale_.to(rebuilt.device) + self.center_.to(rebuilt.device)
        return rebuilt.cpu().numpy()

    def feature_scores(self, X: Any) -> np.ndarray:
        """Each row's score split over its features (rows x features, all >= 0): the squared
        reconstruction error of each standardised feature (divided by the validation rows' sd
        of the error under score "combined"), plus, where the distance part is the larger
        one, each feature's term of the Mahalanobis distance, clipped at 0. A row's share of a
        feature is what `explain` and `reasons` give."""
        check_is_fitted(self, "network_")
        return self._parts(self._standardized(self._rows(X)), per_feature=True)

    def explain(self, X: Any, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Why each row scores as it does: the indices of its `k` (top_k, at most the number of
        features) features with the largest shares of feature_scores, and those shares (each
        row's shares of all features sum to 1), largest first."""
        contributions = self.feature_scores(X)
        k = min(k or self.top_k, contributions.shape[1])
        shares = contributions / np.maximum(contributions.sum(axis=1, keepdims=True), np.finfo(np.float32).tiny)
        top = np.argsort(-shares, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(shares, top, axis=1)

    def reasons(self, X: Any, names: list[str], rows: np.ndarray) -> dict[str, np.ndarray]:
        """Columns top_feature_1.., top_share_1.. (k = top_k) for every row of `X`: filled for
        the rows where `rows` is True (the flagged ones), empty (None, NaN) elsewhere."""
        k = min(self.top_k, len(names))
        columns: dict[str, np.ndarray] = {}
        for i in range(1, k + 1):
            columns[f"top_feature_{i}"] = np.full(len(rows), None, dtype=object)
            columns[f"top_share_{i}"] = np.full(len(rows), np.nan)
        rows = np.array(rows, dtype=bool)  # a copy: pandas may hand over a read-only array
        if rows.any():
            inputs = X[torch.from_numpy(rows).to(X.device)] if isinstance(X, torch.Tensor) else np.asarray(X)[rows]
            top, shares = self.explain(inputs, k)
            for i in range(k):
                columns[f"top_feature_{i + 1}"][rows] = np.asarray(names, dtype=object)[top[:, i]]
                columns[f"top_share_{i + 1}"][rows] = shares[:, i]
        return columns

    # -- the score's parts -------------------------------------------------------------------

    def _score_reference(self, inputs: torch.Tensor, val: torch.Tensor) -> dict[str, Any] | None:
        """What "combined" needs: the Ledoit-Wolf precision of the standardised training rows,
        and the mean and sd of each part over the validation rows."""
        if self.score_rule == "reconstruction":
            return None
        from sklearn.covariance import LedoitWolf

        rows = inputs.detach().cpu().double().numpy()
        estimate = LedoitWolf().fit(rows)
        self.score_reference_ = {"location": torch.from_numpy(estimate.location_).float(),
                                 "precision": torch.from_numpy(estimate.precision_).float()}
        errors, distances = self._raw_parts(val)
        self.score_reference_.update(
            reconstruction=(float(errors.mean()), _sd(errors)), distance=(float(distances.mean()), _sd(distances)))
        return self.score_reference_

    def _scores(self, inputs: torch.Tensor) -> np.ndarray:
        return self._parts(inputs, per_feature=False)

    def _parts(self, inputs: torch.Tensor, per_feature: bool) -> np.ndarray:
        reference = getattr(self, "score_reference_", None)
        errors = self._errors(inputs, per_feature)
        if reference is None:  # score "reconstruction"
            return errors
        distances = self._distances(inputs, per_feature)
        (error_mean, error_sd), (distance_mean, distance_sd) = reference["reconstruction"], reference["distance"]
        d = inputs.shape[1]
        if per_feature:
            error_z = (errors.mean(axis=1) - error_mean) / error_sd
            distance_z = (distances.sum(axis=1) / d - distance_mean) / distance_sd
            error_part = errors / error_sd
            distance_part = np.clip(distances, 0.0, None) / distance_sd
            return np.where((distance_z > error_z)[:, None], distance_part, error_part)
        return np.maximum((errors - error_mean) / error_sd, (distances - distance_mean) / distance_sd)

    def _raw_parts(self, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return self._errors(inputs, per_feature=False), self._distances(inputs, per_feature=False)

    @torch.no_grad()
    def _errors(self, inputs: torch.Tensor, per_feature: bool) -> np.ndarray:
        """Squared reconstruction errors of standardised rows: per feature, or their mean."""
        self.network_.eval()

        def squared(batch: torch.Tensor) -> torch.Tensor:
            errors = (self.network_(batch).float() - batch) ** 2
            return errors if per_feature else errors.mean(dim=1)

        return predict_in_batches(squared, inputs).cpu().double().numpy()

    @torch.no_grad()
    def _distances(self, inputs: torch.Tensor, per_feature: bool) -> np.ndarray:
        """Squared Mahalanobis distances from the training rows' centre, over the number of
        features: per feature (the row's terms (x - m)_j [P (x - m)]_j, which sum to it), or in all."""
        location = self.score_reference_["location"].to(inputs.device)
        precision = self.score_reference_["precision"].to(inputs.device)

        def terms(batch: torch.Tensor) -> torch.Tensor:
            centred = batch - location
            products = centred * (centred @ precision)
            return products / batch.shape[1] if per_feature else products.sum(dim=1) / batch.shape[1]

        return predict_in_batches(terms, inputs).cpu().double().numpy()

    # -- inputs ----------------------------------------------------------------------------

    def _rows(self, X: Any, reset: bool = False) -> torch.Tensor:
        """Rows as a float32 tensor where the network lies (before fit: on `device`, or where a
        tensor X lies). Arrays and DataFrames are checked as scikit-learn checks them (2-D,
        finite, numeric, the fitted number of features); tensors keep their device."""
        if isinstance(X, torch.Tensor):
            if X.ndim != 2:
                raise ValueError(f"Expected a 2-D tensor of rows x features, got {X.ndim} dimension(s).")
            if reset:
                self.n_features_in_ = X.shape[1]
            elif hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input.")
            tensor = X.float()
        else:
            array = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64], ensure_min_samples=2 if reset else 1)
            tensor = torch.from_numpy(np.require(array, np.float32, ["C", "W"]))  # copies a read-only or strided array
        if hasattr(self, "network_") and not reset:
            return tensor.to(next(self.network_.parameters()).device)
        if self.device is not None:
            return tensor.to(resolve_device(self.device))
        if self.network is not None:
            return tensor.to(next(self.network.parameters()).device)
        return tensor

    def _standardized(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "center_", None) is None:
            return x
        return (x - self.center_.to(x.device)) / self.scale_.to(x.device)

    @property
    def _n_features_out(self) -> int:
        """transform's columns (the code's units), for get_feature_names_out."""
        return int(self.network_.code_size)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]  # codes are float32 whatever the input
        return tags

    # -- persistence: nn.serialization (tensors plus JSON) -----------------------------------

    def tensors(self) -> dict[str, torch.Tensor]:
        """The fitted tensors besides the network's weights (the combined score's covariance)."""
        reference = getattr(self, "score_reference_", None)
        return {} if reference is None else {"location": reference["location"], "precision": reference["precision"]}

    def to_json(self) -> dict[str, Any]:
        params = self.get_params(deep=False)
        params.pop("network")
        if params["hidden_sizes"] is not None:
            params["hidden_sizes"] = list(params["hidden_sizes"])
        if not isinstance(params["random_state"], (numbers.Integral, type(None))):
            params["random_state"] = None  # a RandomState: its draws are not reproducible from JSON
        elif params["random_state"] is not None:
            params["random_state"] = int(params["random_state"])
        reference = getattr(self, "score_reference_", None)
        return {
            "estimator": "AutoencoderDetector",
            "params": params,
            "threshold": self.threshold_,
            "center": None if self.center_ is None else self.center_.cpu().tolist(),
            "scale": None if self.scale_ is None else self.scale_.cpu().tolist(),
            "n_features_in": getattr(self, "n_features_in_", None),
            "feature_names_in": list(map(str, self.feature_names_in_)) if hasattr(self, "feature_names_in_") else None,
            "score_reference": None if reference is None else {k: reference[k] for k in ("reconstruction", "distance")},
            "training_scores": getattr(self, "training_scores_", None),
        }

    @classmethod
    def from_json(
        cls, saved: dict[str, Any], network: nn.Module, tensors: dict[str, torch.Tensor] | None = None
    ) -> "AutoencoderDetector":
        """The detector `to_json` described, around its trained `network`. A description written
        before the detector was an estimator ({"settings": ..., "corruption": ...}) loads too:
        its threshold was set on the reconstruction error, so its score stays that."""
        if "settings" in saved:
            return cls._from_settings(saved, network)
        params = dict(saved["params"])
        if params.get("hidden_sizes") is not None:
            params["hidden_sizes"] = tuple(params["hidden_sizes"])
        detector = cls.fitted(network, saved["threshold"], saved.get("center"), saved.get("scale"), **params)
        if saved.get("n_features_in") is not None:
            detector.n_features_in_ = saved["n_features_in"]
        if saved.get("feature_names_in") is not None:
            detector.feature_names_in_ = np.asarray(saved["feature_names_in"], dtype=object)
        if saved.get("score_reference") is not None:
            detector.score_reference_ = {**{k: tuple(v) for k, v in saved["score_reference"].items()}, **(tensors or {})}
        if saved.get("training_scores") is not None:
            detector.training_scores_ = saved["training_scores"]
        return detector

    @classmethod
    def _from_settings(cls, saved: dict[str, Any], network: nn.Module) -> "AutoencoderDetector":
        settings = dict(saved["settings"])
        corruption = saved.get("corruption") or {}
        params = {
            **{key: settings[key] for key in (
                "contamination", "threshold_rule", "false_alarm_rate", "activation", "batch_norm", "standardize",
                "loss", "epochs", "batch_size", "learning_rate", "weight_decay", "patience", "min_delta", "top_k")
               if key in settings},
            "hidden_sizes": None if settings.get("hidden_sizes") is None else tuple(settings["hidden_sizes"]),
            "random_state": settings.get("seed", 0),
            "score_rule": "reconstruction",
        }
        if corruption.get("kind", "none") != "none" and corruption.get("level", 0.0) != 0.0:
            params.update(corruption=corruption["kind"], corruption_level=corruption["level"])
        return cls.fitted(network, saved["threshold"], saved.get("center"), saved.get("scale"), **params)

    @classmethod
    def fitted(cls, network: nn.Module, threshold: float | None, center: Any = None, scale: Any = None,
               **params: Any) -> "AutoencoderDetector":
        """A detector of a trained `network` (which it uses as it is: no copy), scoring by the
        reconstruction error with that threshold; `center` and `scale` standardise the rows
        first (None: they are scored as given)."""
        detector = cls(**{"score_rule": "reconstruction", **params})
        detector.network_ = network.eval()
        detector.threshold_ = threshold
        detector.center_ = None if center is None else torch.as_tensor(center, dtype=torch.float32)
        detector.scale_ = None if scale is None else torch.as_tensor(scale, dtype=torch.float32)
        detector.score_reference_ = None
        n_features = detector.center_.numel() if detector.center_ is not None else getattr(network, "n_features", None)
        if n_features is not None:
            detector.n_features_in_ = int(n_features)
        return detector


def default_network_sizes(rows: torch.Tensor, standardize: bool = False) -> list[int]:
    """The hidden sizes `fit` builds when hidden_sizes is None, for these training rows
    (standardised first when `standardize`, as fit does with standardize=True): [min(2d, 256),
    code], the code from the principal components holding 90% of the variance."""
    if standardize:
        center, scale = _standardisation(rows)
        rows = (rows - center) / scale
    return default_hidden_sizes(rows.shape[1], detector_code_size(principal_variances(rows), rows.shape[1]))


def principal_variances(rows: torch.Tensor) -> list[float]:
    """The rows' principal components' variances (up to a common factor), by torch (numpy's SVD
    took 2 s on 1,000 x 100 rows on a busy 2-core machine, torch's 25 ms)."""
    centred = rows.detach().double() - rows.detach().double().mean(dim=0)
    return (torch.linalg.svdvals(centred) ** 2).cpu().tolist() if len(rows) > 1 else []


def _standardisation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each feature's mean and sd over the rows; a (near-)constant feature keeps scale 1, as
    scikit-learn's StandardScaler does, so a value it never took counts as its distance, not a
    millionfold of it."""
    center, scale = x.mean(dim=0), x.std(dim=0) if len(x) > 1 else torch.zeros(x.shape[1], device=x.device)
    constant = scale <= 1e-6 * center.abs().clamp_min(1.0)
    return center, torch.where(constant, torch.ones_like(scale), scale)


def _sd(values: np.ndarray) -> float:
    sd = float(np.std(values))
    return sd if sd > 0 else 1.0


def _summary(scores: np.ndarray) -> dict[str, float]:
    return {"min": float(scores.min()), "max": float(scores.max()), "mean": float(scores.mean()), "sd": float(scores.std())}
