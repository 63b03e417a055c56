"""The anomaly detector of a run: fitted on the normal rows, and the ranking figures of its scores."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from autoencoder_pipelines.config import AnomalyParams
from autoencoder_pipelines.data.frames import LABEL, ModelInput, features_tensor
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.checks import normal_classes, unsupervised_reason
from autoencoder_pipelines.jobs.runtime import History, Runtime, history_series

logger = logging.getLogger(__name__)


Detector = Any  # nn.detector.AutoencoderDetector (torch is imported where it is used)


TRUTH = "anomalous"  # the label's verdict per row: True, False, or missing without labels


def normal_part(frame: pd.DataFrame, schema: DataSchema, params: AnomalyParams) -> pd.DataFrame:
    """The rows labelled with a normal class (every row when there are no labels). Unlabelled
    rows of a labelled table are left out: nothing says they are normal."""
    normal = normal_classes(params, schema)
    return frame if normal is None else frame[frame[LABEL].isin(normal)]


def train_detector(data: ModelInput, anomaly: AnomalyParams, runtime: Runtime) -> tuple[Detector, History]:
    """Fit the detector on the normal training rows (early stopping, and the score's
    standardisation, on the normal validation rows); the threshold follows
    anomaly.threshold_rule: `contamination` of all training rows flagged, or `false_alarm_rate`
    of the normal validation rows."""
    from autoencoder_pipelines.nn.detector import AutoencoderDetector

    train, val, schema = data.train, data.val, data.schema
    choices = anomaly.detector_choices(schema)
    normal_train = normal_part(train, schema, anomaly)
    detector = AutoencoderDetector(
        anomaly.contamination, threshold_rule=anomaly.threshold_rule, false_alarm_rate=anomaly.false_alarm_rate,
        score_rule=choices["score_rule"],
        hidden_sizes=None if choices["hidden_sizes"] is None else tuple(choices["hidden_sizes"]),
        activation=anomaly.activation, batch_norm=anomaly.batch_norm, standardize=choices["standardize"], loss=choices["loss"],
        corruption=None if anomaly.corruption is None or anomaly.corruption.kind == "none" else anomaly.corruption.kind,
        corruption_level=0.0 if anomaly.corruption is None else anomaly.corruption.level,
        epochs=anomaly.epochs, batch_size=runtime.batch_size(len(normal_train), anomaly.batch_size),  # as the trainer below
        learning_rate=anomaly.learning_rate, weight_decay=anomaly.weight_decay, patience=anomaly.patience,
        min_delta=anomaly.min_delta, top_k=anomaly.top_features, random_state=runtime.seed_for("anomaly"),
    )
    reason = unsupervised_reason(anomaly, schema)
    if reason:
        logger.info("%s", reason)
    elif len(normal_train) < len(train):
        logger.info("anomaly detector: trained on the %d of %d training rows labelled normal", len(normal_train), len(train))
    (x_normal,) = runtime.place(features_tensor(normal_train, schema))
    x_val = runtime.features(normal_part(val, schema, anomaly), schema)
    detector.fit(x_normal, X_val=x_val, trainer=runtime.trainer(anomaly, "anomaly", len(x_normal)), name="anomaly")
    if len(normal_train) < len(train):  # contamination is a share of the data, anomalies included
        detector.describe_rows(runtime.features(train, schema))
    detector.network_.cpu()
    if choices["hidden_sizes"] is None:
        logger.info("anomaly detector: hidden sizes %s (the code: as many units as principal components hold 90%% of "
                    "the normal training rows' variance)", detector.network_.config["hidden_sizes"])
    return detector, history_series(detector.history_)


def truth(frame: pd.DataFrame, schema: DataSchema, params: AnomalyParams) -> pd.Series:
    normal = normal_classes(params, schema)
    if normal is None:
        return pd.Series(pd.NA, index=frame.index, dtype="boolean")
    truth = (~frame[LABEL].isin(normal)).astype("boolean")
    return truth.mask(frame[LABEL].isna())  # an unlabelled row: unknown, neither normal nor anomalous


def ranking_metrics(prefix: str, truth: pd.Series, scores: pd.Series) -> dict[str, float]:
    """ROC-AUC and average precision of `scores`, when the labels have both outcomes."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    known = truth.notna()
    if known.sum() == 0 or truth[known].nunique() < 2:
        return {}
    y = truth[known].astype(bool)
    return {f"{prefix}.roc_auc": float(roc_auc_score(y, scores[known])),
            f"{prefix}.average_precision": float(average_precision_score(y, scores[known])),
            **({"anomaly.test_anomaly_rate": float(y.mean())} if prefix == "anomaly" else {})}
