"""Score new inbox partitions with the pinned registered model; report bad ones after the good
ones are written."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import RegistryParams, ScoringParams
from autoencoder_pipelines.data.errors import DataValidationError, UserError
from autoencoder_pipelines.data.images import ImageFile

logger = logging.getLogger(__name__)
ERRORS_SHOWN = 5  # refused partitions named in the failure: one screen, however many were refused


class ScoringFailedError(UserError):
    """Some partitions could not be scored. `run_status` is the MLflow status the scoring run
    earned: FINISHED when rows were scored (the good partitions' outputs are written), FAILED
    when none could be."""

    def __init__(self, message: str, run_status: str) -> None:
        super().__init__(message)
        self.run_status = run_status


def load_scoring_model(registry: RegistryParams) -> tuple[Any, Any, dict[str, str]]:
    """The scorer of the model the registry pins (the alias resolved once to a version, or
    registry.version, or registry.model_uri), the reference stamped on every row, and the
    reference as the run's parameters. Nothing is unpickled: the scorer is tensors plus JSON,
    and MLflow is told to refuse pickled models in this process."""
    from autoencoder_pipelines.tracking.models import load_scorer, pinned_scoring_model

    model = pinned_scoring_model(registry)
    return load_scorer(model), model, model.params()


def score_partitions(
    scorer: Any,
    model: Any,
    incoming: dict[str, Callable[[], Any]],
    scored: Any,
    scoring: ScoringParams,
) -> dict[str, Any]:
    """Score every inbox partition that has no output yet, stamping each row with the model's
    name, version and training run; bad partitions are recorded, not fatal.

    `incoming`: data.TableFile loaders; `scored`: datasets.ParquetPartitions. Each file is
    streamed: read, scored and written `scoring.chunk_rows` rows at a time into one Parquet
    file, published (renamed into place) once its last chunk has passed every check; a file
    refused midway leaves no output."""
    started = time.perf_counter()
    scorer.batch_rows = scoring.batch_rows
    done = scored.partitions()
    new = sorted(partition for partition in incoming if partition not in done)
    id_column = scorer.schema.id_column
    written: dict[str, int] = {}
    errors: dict[str, str] = {}
    rows_refused = anomalies = 0
    if not new:
        logger.info("nothing new to score: %d partition(s) in the inbox, all scored already", len(incoming))
    for partition in new:
        table = None
        try:
            table = incoming[partition]()
            if isinstance(table, ImageFile):  # one row: the file's path and pixels, as the model's images
                chunks = table.chunks(scoring.chunk_rows, image_shape=scorer.schema.image_shape)
            else:
                chunks = table.chunks(scoring.chunk_rows, text_columns=(id_column,) if id_column else ())
            found = 0
            with scored.writer(partition) as stream:
                for frame in scorer.score_chunks(chunks, source=partition, require_id=True,
                                                 ids_of_source=lambda: table.column(id_column)):
                    stream.write(stamp(frame, model))
                    found += int(frame["is_anomaly"].sum())
            written[partition] = stream.rows
            anomalies += found
            logger.info("scored %s: %d rows", partition, stream.rows)
        except DataValidationError as error:
            errors[partition] = str(error)
        except Exception as error:  # a bad file must not stop the good ones
            errors[partition] = f"{partition}: {type(error).__name__}: {error}"
        if partition in errors:
            rows_refused += 0 if table is None else table.count_rows()
            logger.error("could not score %s", errors[partition])
    rows = sum(written.values())
    return {
        "partitions_in_inbox": len(incoming),
        "partitions_new": len(new),
        "partitions_scored": len(written),
        "partitions_failed": len(errors),
        "rows_scored": rows,
        "rows_refused": rows_refused,
        "anomalies": anomalies,
        "anomaly_rate": anomalies / rows if rows else 0.0,
        "seconds": time.perf_counter() - started,
        "errors": errors,
    }


def stamp(scored: pd.DataFrame, model: Any) -> pd.DataFrame:
    """The model's name, version and training run on every row (version empty for a plain URI)."""
    columns = model.columns()
    scored["model_name"] = columns["model_name"]
    version, rows = columns["model_version"], len(scored)
    scored["model_version"] = pd.arrays.IntegerArray(  # Int64, missing for a plain URI
        np.full(rows, version or 0, dtype="int64"), np.full(rows, version is None))
    scored["model_run_id"] = columns["model_run_id"]
    return scored


def scoring_metrics(report: dict[str, Any]) -> tuple[dict[str, list[dict[str, float]]], dict[str, Any]]:
    """The scoring run's figures for MLflow (its time is time/node.score_partitions), and the
    report again: fail_on_bad_partitions takes it from here, so it runs after they are logged."""
    metrics = {f"score.{key}": [{"value": float(value), "step": 0}]
               for key, value in report.items() if key not in ("errors", "seconds")}
    return metrics, report


def fail_on_bad_partitions(report: dict[str, Any]) -> None:
    """Exit non-zero when a partition failed; runs after the good outputs are saved and the
    figures logged."""
    if report["errors"]:
        errors = list(report["errors"].values())
        details = "\n".join(errors[:ERRORS_SHOWN])
        if len(errors) > ERRORS_SHOWN:
            details += f"\n... and {len(errors) - ERRORS_SHOWN} more (each in the log above: 'could not score')"
        raise ScoringFailedError(
            f"{len(report['errors'])} of {report['partitions_new']} new partition(s) could not be scored "
            f"({report['partitions_scored']} were, {report['rows_scored']} rows):\n{details}",
            run_status="FINISHED" if report["rows_scored"] else "FAILED",
        )
