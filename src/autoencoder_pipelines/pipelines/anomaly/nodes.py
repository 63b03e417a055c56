"""Anomaly model fine-tuning, per-row scores, threshold and flags."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from autoencoder_pipelines.config import AnomalyParams, ConfigError, ModelParams, parse
from autoencoder_pipelines.data import ID, LABEL, features_tensor, has_labels
from autoencoder_pipelines.jobs import fine_tune_unrolled
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.models import StackedAutoencoder
from autoencoder_pipelines.nn.training import reconstruction_errors

logger = logging.getLogger(__name__)
History = dict[str, list[float]]


def normal_rows(frame: pd.DataFrame, schema: dict[str, Any], params: AnomalyParams) -> pd.DataFrame:
    """Rows of the normal classes (all rows when `anomaly.normal_classes` is unset)."""
    if params.normal_classes is None:
        return frame
    if not has_labels(schema):
        raise ConfigError(
            f"anomaly.normal_classes is set (got {params.normal_classes}) but the data has no label column; "
            "set data.label_column or anomaly.normal_classes: null"
        )
    unknown = [c for c in params.normal_classes if c not in schema["classes"]]
    if unknown:
        raise ConfigError(
            f"anomaly.normal_classes: {unknown} are not classes of the data (classes: {schema['classes']})"
        )
    return frame[frame[LABEL].isin(params.normal_classes)]


def train_anomaly_model(
    stack: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    model: dict[str, Any],
    anomaly: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[StackedAutoencoder, History]:
    """Fine-tune the unrolled stack to reconstruct normal rows only."""
    params = parse(AnomalyParams, anomaly, "anomaly")
    noise = params.corruption
    spec = CorruptionSpec("none", 0.0) if noise is None else CorruptionSpec(kind=noise.kind, level=noise.level)
    return fine_tune_unrolled(
        stack, normal_rows(train, schema, params), normal_rows(val, schema, params), schema,
        corruption=spec, phase=params, loss=parse(ModelParams, model, "model").loss,
        runtime=runtime, name="anomaly", seed_offset=50,
    )


def score_anomalies(
    model: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict[str, Any],
    anomaly: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every row; threshold at the (1 - contamination) quantile of normal validation errors."""
    params = parse(AnomalyParams, anomaly, "anomaly")
    val_normal_errors = reconstruction_errors(model, features_tensor(normal_rows(val, schema, params), schema)).numpy()
    threshold = float(np.quantile(val_normal_errors, 1.0 - params.contamination))
    frames = []
    for split, part in (("train", train), ("val", val), ("test", test)):
        keep = [c for c in (ID, LABEL) if c in part.columns]
        frame = part[keep].copy()
        frame.insert(1, "split", split)
        frame["reconstruction_error"] = reconstruction_errors(model, features_tensor(part, schema)).numpy()
        frame["is_anomaly"] = frame["reconstruction_error"] > threshold
        frames.append(frame)
    scores = pd.concat(frames, ignore_index=True)
    test_scores = scores[scores["split"] == "test"]
    metrics: dict[str, Any] = {
        "anomaly.threshold": threshold,
        "anomaly.contamination": params.contamination,
        "anomaly.test_flag_rate": float(test_scores["is_anomaly"].mean()),
    }
    if params.normal_classes is not None:
        truth = ~test_scores[LABEL].isin(params.normal_classes)
        if truth.nunique() == 2:
            metrics["anomaly.roc_auc"] = float(roc_auc_score(truth, test_scores["reconstruction_error"]))
            metrics["anomaly.average_precision"] = float(
                average_precision_score(truth, test_scores["reconstruction_error"])
            )
            metrics["anomaly.test_anomaly_rate"] = float(truth.mean())
            logger.info("anomaly ROC-AUC %.4f, average precision %.4f", metrics["anomaly.roc_auc"], metrics["anomaly.average_precision"])
    return scores, metrics
