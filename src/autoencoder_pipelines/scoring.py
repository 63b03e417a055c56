"""The trained scorer: validation, scaling, codes, anomaly score and flag, class prediction.

One object holds everything fitted in training (schema, scaler, the reduction autoencoder,
the anomaly detector, the classifier), so a scoring job can never mix a scaler of one run
with a model of another. The `score` pipeline and the MLflow model both use it, so both
score rows identically. It is saved as one file of tensors plus JSON (nn.serialization).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from autoencoder_pipelines.data import ID, LABEL, apply_scaler, check_features, check_unique_columns
from autoencoder_pipelines.errors import DataValidationError
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.inference import predict_in_batches
from autoencoder_pipelines.nn.networks import EncoderClassifier
from autoencoder_pipelines.nn.serialization import load_bundle, save_bundle


IDS_SHOWN = 5  # duplicate ids named in a refusal


def check_ids(ids: pd.Series, column: str, source: str) -> None:
    """Ids must be present and unique within a file: every scored row is traced back by its id."""
    missing = int(ids.isna().sum())
    if missing:
        raise DataValidationError(f"{source}: column '{column}' (id): {missing} missing id(s)")
    duplicated = ids[ids.duplicated(keep=False)]
    if len(duplicated):
        shown = [str(value) for value in pd.unique(duplicated)[:IDS_SHOWN]]
        raise DataValidationError(
            f"{source}: column '{column}' (id): {len(duplicated)} rows share {duplicated.nunique()} id(s), "
            f"e.g. {shown}; ids must be unique within a file"
        )


class Scorer:
    def __init__(
        self,
        schema: dict[str, Any],
        scaler: dict[str, Any],
        autoencoder: nn.Module,
        detector: AutoencoderDetector,
        classifier: EncoderClassifier | None,
        example: list[dict[str, Any]] | None = None,
    ) -> None:
        """`example`: a few raw input rows (MLflow's input example, a smoke test for a copy)."""
        self.schema = schema
        self.scaler = scaler
        self.autoencoder = autoencoder.cpu().eval()
        self.detector = detector
        self.classifier = None if classifier is None else classifier.cpu().eval()
        self.example = example or []

    @property
    def features(self) -> list[str]:
        return self.schema["features"]

    @property
    def code_size(self) -> int:
        return self.autoencoder.code_size

    def input_example(self) -> pd.DataFrame | None:
        return pd.DataFrame(self.example) if self.example else None

    def validate(self, frame: pd.DataFrame, source: str) -> None:
        """The rows must carry exactly the training features (plus id/label columns), numeric and finite."""
        allowed = {c for c in (self.schema.get("id_column"), self.schema.get("label_column"), ID, LABEL) if c}
        check_unique_columns(list(frame.columns), source)
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
        check_features(frame.rename(columns=str), self.features, source,
                       "Fix or remove those rows; the file is scored once it is fixed.")
        id_column = self.schema.get("id_column")
        if id_column in columns:
            check_ids(frame[id_column], id_column, source)

    @torch.no_grad()
    def score(self, frame: pd.DataFrame, source: str = "rows", require_id: bool = False) -> pd.DataFrame:
        """One output row per input row: id, z_*, reconstruction_error, is_anomaly, top_feature_i and
        top_share_i (the flagged rows' features with the largest shares of their error; empty for
        the others), predicted_class, probability.

        The id is the row's value in the id column the model was trained with (`data.id_column`),
        else `<source>:<row>` (the row's position in `source`, from 0), so ids from different
        files never collide. `require_id`: a model trained with an id column refuses rows without it."""
        frame = frame.rename(columns=str)
        id_column = self.schema.get("id_column")
        if require_id and id_column and id_column not in frame.columns:
            raise DataValidationError(f"{source}: the id column '{id_column}' (data.id_column of the model) is missing")
        self.validate(frame, source)
        if id_column in frame.columns:
            ids = frame[id_column].astype(str).to_numpy()
        else:
            ids = np.array([f"{source}:{row}" for row in range(len(frame))], dtype=object)
        scaled = apply_scaler(frame[self.features], self.scaler)
        x = torch.tensor(scaled[self.features].to_numpy(dtype="float32"))
        codes = predict_in_batches(self.autoencoder.encode, x).numpy()
        errors = self.detector.decision_function(x)
        out = pd.DataFrame({ID: ids})
        out = pd.concat([out, pd.DataFrame(codes, columns=[f"z_{i}" for i in range(codes.shape[1])])], axis=1)
        out["reconstruction_error"] = errors
        out["is_anomaly"] = errors > self.detector.threshold_
        for column, values in self.detector.reasons(x, self.features, out["is_anomaly"].to_numpy()).items():
            out[column] = values  # why a flagged row is flagged: its features by share of its error
        if self.classifier is not None:
            probabilities = predict_in_batches(self.classifier.predict_proba, x).numpy()
            best = probabilities.argmax(axis=1)
            out["predicted_class"] = [self.schema["classes"][i] for i in best]
            out["predicted_probability"] = probabilities[np.arange(len(best)), best]
        return out

    def save(self, path: str | Path) -> None:
        parts = {"autoencoder": self.autoencoder, "detector": self.detector}
        if self.classifier is not None:
            parts["classifier"] = self.classifier
        save_bundle(path, parts, meta={"schema": self.schema, "scaler": self.scaler, "example": self.example})

    @classmethod
    def load(cls, path: str | Path) -> "Scorer":
        return cls.from_parts(*load_bundle(path))

    @classmethod
    def from_parts(cls, meta: dict[str, Any], parts: dict[str, Any]) -> "Scorer":
        return cls(meta["schema"], meta["scaler"], parts["autoencoder"], parts["detector"], parts.get("classifier"),
                   meta.get("example"))

