"""Score new inbox partitions; report bad ones after the good ones are written."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import pandas as pd

from autoencoder_pipelines.errors import DataValidationError, UserError
from autoencoder_pipelines.scoring import Scorer

logger = logging.getLogger(__name__)


class ScoringFailedError(UserError):
    """Some partitions could not be scored (the others were)."""


def score_partitions(
    scorer: Scorer,
    incoming: dict[str, Callable[[], pd.DataFrame]],
    already_scored: dict[str, Callable[[], pd.DataFrame]],
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Score every inbox partition that has no output yet; bad partitions are recorded, not fatal."""
    started = time.perf_counter()
    new = sorted(partition for partition in incoming if partition not in already_scored)
    outputs: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    if not new:
        logger.info("nothing new to score: %d partition(s) in the inbox, all scored already", len(incoming))
    for partition in new:
        try:
            outputs[partition] = scorer.score(incoming[partition](), source=partition)
            logger.info("scored %s: %d rows", partition, len(outputs[partition]))
        except DataValidationError as error:
            errors[partition] = str(error)
        except Exception as error:  # a bad file must not stop the good ones
            errors[partition] = f"{partition}: {type(error).__name__}: {error}"
        if partition in errors:
            logger.error("could not score %s", errors[partition])
    rows = sum(len(frame) for frame in outputs.values())
    anomalies = sum(int(frame["is_anomaly"].sum()) for frame in outputs.values())
    report = {
        "partitions_in_inbox": len(incoming),
        "partitions_new": len(new),
        "partitions_scored": len(outputs),
        "partitions_failed": len(errors),
        "rows": rows,
        "anomalies": anomalies,
        "anomaly_rate": anomalies / rows if rows else 0.0,
        "seconds": time.perf_counter() - started,
        "errors": errors,
    }
    return outputs, report


def scoring_metrics(report: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """The scoring run's figures for MLflow."""
    return {f"score.{key}": [{"value": float(value), "step": 0}] for key, value in report.items() if key != "errors"}


def fail_on_bad_partitions(report: dict[str, Any]) -> None:
    """Exit non-zero when a partition failed; runs after the good outputs are saved."""
    if report["errors"]:
        details = "; ".join(report["errors"].values())
        raise ScoringFailedError(
            f"{len(report['errors'])} of {report['partitions_new']} new partition(s) could not be scored "
            f"({report['partitions_scored']} were): {details}"
        )
