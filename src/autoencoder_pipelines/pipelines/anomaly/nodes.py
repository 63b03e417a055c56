"""Anomaly detection: the detector (an autoencoder of the normal rows), per-row scores, flags."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from autoencoder_pipelines.config import AnomalyParams, ModelParams
from autoencoder_pipelines.data import ID, LABEL, features_tensor, has_labels
from autoencoder_pipelines.errors import ConfigError
from autoencoder_pipelines.runtime import History, Network, Runtime, history_series

logger = logging.getLogger(__name__)
Detector = Any  # nn.detector.AutoencoderDetector (torch is imported where it is used)


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
    stack: Network,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    model: ModelParams,
    anomaly: AnomalyParams,
    runtime: Runtime,
) -> tuple[Detector, History]:
    """The detector: a copy of the pretrained network fine-tuned to reconstruct normal rows;
    its threshold flags `contamination` of the normal validation rows."""
    from autoencoder_pipelines.nn.corruption import CorruptionSpec
    from autoencoder_pipelines.nn.detector import AutoencoderDetector, DetectorSettings

    settings = DetectorSettings(
        contamination=anomaly.contamination, threshold_rule="false_alarm_rate", loss=model.loss,
        epochs=anomaly.epochs, batch_size=anomaly.batch_size or runtime.params.batch_size,
        learning_rate=anomaly.learning_rate, weight_decay=anomaly.weight_decay, patience=anomaly.patience,
        min_delta=anomaly.min_delta, seed=runtime.seed_for("train.anomaly"),
    )
    detector = AutoencoderDetector(stack.to(runtime.device), settings, CorruptionSpec.of(anomaly.corruption))
    (x_train,) = runtime.place(features_tensor(normal_rows(train, schema, anomaly), schema))
    detector.fit(x_train, runtime.features(normal_rows(val, schema, anomaly), schema),
                 trainer=runtime.trainer(anomaly, "anomaly"), name="anomaly")
    stack.cpu()
    detector.network.cpu()
    return detector, history_series(detector.history_)


def score_anomalies(
    detector: Detector,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict[str, Any],
    params: AnomalyParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score and flag every row; ROC-AUC and average precision on the test rows when labels
    say which rows are anomalous."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    frames = []
    for split, part in (("train", train), ("val", val), ("test", test)):
        keep = [c for c in (ID, LABEL) if c in part.columns]
        frame = part[keep].copy()
        frame.insert(1, "split", split)
        frame["reconstruction_error"] = detector.decision_function(features_tensor(part, schema))
        frame["is_anomaly"] = frame["reconstruction_error"] > detector.threshold_
        frames.append(frame)
    scores = pd.concat(frames, ignore_index=True)
    test_scores = scores[scores["split"] == "test"]
    metrics: dict[str, Any] = {
        "anomaly.threshold": detector.threshold_,
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
