"""The trained scorer: validation, scaling, codes, anomaly score and flag, class prediction.

One object holds everything fitted in training (schema, scaler, models, threshold), so a
scoring job can never mix a scaler of one run with a model of another. It is both what
the `score` pipeline uses and the MLflow pyfunc model, so both score rows identically.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from autoencoder_pipelines.data import ID, LABEL, Skipped, apply_scaler, check_features
from autoencoder_pipelines.errors import DataValidationError
from autoencoder_pipelines.nn.models import EncoderClassifier, StackedAutoencoder
from autoencoder_pipelines.nn.training import predict_in_batches, reconstruction_errors


class Scorer(mlflow.pyfunc.PythonModel):
    def __init__(
        self,
        schema: dict[str, Any],
        scaler: dict[str, Any],
        autoencoder: StackedAutoencoder,
        anomaly_model: StackedAutoencoder,
        threshold: float,
        classifier: EncoderClassifier | None,
    ) -> None:
        self.schema = schema
        self.scaler = scaler
        self.autoencoder = autoencoder.cpu().eval()
        self.anomaly_model = anomaly_model.cpu().eval()
        self.threshold = float(threshold)
        self.classifier = None if classifier is None else classifier.cpu().eval()

    @property
    def features(self) -> list[str]:
        return self.schema["features"]

    def validate(self, frame: pd.DataFrame, source: str) -> None:
        """The rows must carry exactly the training features (plus id/label columns), numeric and finite."""
        allowed = {c for c in (self.schema.get("id_column"), self.schema.get("label_column"), ID, LABEL) if c}
        columns = [str(c) for c in frame.columns]
        missing = [c for c in self.features if c not in columns]
        unexpected = [c for c in columns if c not in self.features and c not in allowed]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"{len(missing)} training feature column(s) missing, e.g. {missing[:5]}")
            if unexpected:
                parts.append(f"{len(unexpected)} column(s) the model was not trained on, e.g. {unexpected[:5]}")
            raise DataValidationError(f"{source}: " + "; ".join(parts))
        if len(frame) == 0:
            raise DataValidationError(f"{source}: no rows")
        check_features(frame.rename(columns=str), self.features, source)

    @torch.no_grad()
    def score(self, frame: pd.DataFrame, source: str = "rows") -> pd.DataFrame:
        """One output row per input row: id, z_*, reconstruction_error, is_anomaly, predicted_class, probability."""
        frame = frame.rename(columns=str)
        self.validate(frame, source)
        id_column = self.schema.get("id_column")
        ids = frame[id_column].astype(str).to_numpy() if id_column in frame.columns else np.arange(len(frame)).astype(str)
        scaled = apply_scaler(frame[self.features], self.scaler)
        x = torch.tensor(scaled[self.features].to_numpy(dtype="float32"))
        codes = predict_in_batches(self.autoencoder.encode, x).numpy()
        errors = reconstruction_errors(self.anomaly_model, x).numpy()
        out = pd.DataFrame({ID: ids})
        out = pd.concat([out, pd.DataFrame(codes, columns=[f"z_{i}" for i in range(codes.shape[1])])], axis=1)
        out["reconstruction_error"] = errors
        out["is_anomaly"] = errors > self.threshold
        if self.classifier is not None:
            probabilities = predict_in_batches(self.classifier.predict_proba, x).numpy()
            best = probabilities.argmax(axis=1)
            out["predicted_class"] = [self.schema["classes"][i] for i in best]
            out["predicted_probability"] = probabilities[np.arange(len(best)), best]
        return out

    def predict(self, context, model_input, params=None):  # noqa: D401 - MLflow's signature
        """MLflow pyfunc entry point: raw rows in, scored rows out."""
        return self.score(pd.DataFrame(model_input), source="model input")


def build_scorer(
    schema: dict[str, Any],
    scaler: dict[str, Any],
    autoencoder: StackedAutoencoder,
    anomaly_model: StackedAutoencoder,
    anomaly_metrics: dict[str, Any],
    classifier: EncoderClassifier | Skipped,
) -> Scorer:
    return Scorer(
        schema, scaler, autoencoder, anomaly_model, anomaly_metrics["anomaly.threshold"],
        None if isinstance(classifier, Skipped) else classifier,
    )
