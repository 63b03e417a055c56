"""Score new inbox partitions with the pinned registered model; report bad ones after the good
ones are written."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import MonitoringParams, RegistryParams, ScoringParams
from autoencoder_pipelines.data.errors import DataValidationError, MonitoringAlert, UserError
from autoencoder_pipelines.data.frames import Skipped
from autoencoder_pipelines.data.images import ImageFile

logger = logging.getLogger(__name__)
ERRORS_SHOWN = 5  # refused partitions named in the failure: one screen, however many were refused


class ScoringFailedError(UserError):
    """Some partitions could not be scored. `run_status` is the MLflow status the scoring run
    earned: FINISHED when rows were scored (the good partitions' outputs are written), FAILED
    when none could be."""

    def __init__(self, message: str, run_status: str, alert: str = "") -> None:
        super().__init__(message + (f"\nALERT (monitoring): {alert}" if alert else ""))
        self.run_status = run_status
        self.run_tags = {"error": f"{type(self).__name__}: {message}", **({"alert": alert} if alert else {})}


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
    """Score every inbox partition that has no output yet, or whose content changed since its
    output was written (the output records the input's size, time and SHA-256; the output it
    replaces is kept under `_replaced/`), stamping each row with the model's name, version and
    training run; bad partitions are recorded, not fatal.

    `incoming`: data.TableFile loaders; `scored`: datasets.ParquetPartitions. Each file is
    streamed: read, scored and written `scoring.chunk_rows` rows at a time into one Parquet
    file, published (renamed into place) once its last chunk has passed every check; a file
    refused midway leaves no output (and a changed file's previous output in place)."""
    started = time.perf_counter()
    scorer.batch_rows = scoring.batch_rows
    done = scored.partitions()
    tables, changed, errors = _open_partitions(incoming, done, scored)
    new = sorted(partition for partition in incoming if partition not in done or partition in changed or partition in errors)
    id_column = scorer.schema.id_column
    written: dict[str, int] = {}
    rescored: dict[str, str] = {}
    tallies: dict[str, Any] = {}  # monitoring's counts of each written file (jobs/monitoring.py)
    profile = scorer.profile
    rows_refused = anomalies = 0
    if not new and not errors:
        logger.info("nothing new to score: %d partition(s) in the inbox, all scored already and unchanged", len(incoming))
    for partition in new:
        table = tables.get(partition)
        try:
            if partition in errors:
                raise DataValidationError(errors[partition])
            table.check()  # a missing or unreadable file is named before anything is written
            if isinstance(table, ImageFile):  # one row: the file's path and pixels, as the model's images
                chunks = table.chunks(scoring.chunk_rows, image_shape=scorer.schema.image_shape)
            else:
                chunks = table.chunks(scoring.chunk_rows, text_columns=(id_column,) if id_column else ())
            found = 0
            tally = None if profile is None else profile.empty()
            with scored.writer(partition, source=table.path) as stream:
                for frame in scorer.score_chunks(chunks, source=partition, require_id=True,
                                                 ids_of_source=lambda table=table: table.column(id_column),
                                                 observe=None if tally is None else profile.observer(tally)):
                    stream.write(stamp(frame, model))
                    found += int(frame["is_anomaly"].sum())
            written[partition] = stream.rows
            if tally is not None:
                tallies[partition] = tally
            anomalies += found
            if partition in changed:
                rescored[partition] = str(stream.kept) if stream.kept else ""
                logger.info("scored %s again: %d rows replace its output; the previous output is kept as %s",
                            partition, stream.rows, stream.kept)
            else:
                logger.info("scored %s: %d rows", partition, stream.rows)
        except DataValidationError as error:
            errors[partition] = _named_by_partition(str(error), partition)
        except Exception as error:  # noqa: BLE001 - a bad file must not stop the good ones
            errors[partition] = f"{partition}: {type(error).__name__}: {error}"
        if partition in errors:
            rows_refused += 0 if table is None else table.count_rows()
            logger.error("could not score %s", errors[partition])
    rows = sum(written.values())
    return {
        "partitions_in_inbox": len(incoming),
        "partitions_new": len(new),
        "partitions_scored": len(written),
        "partitions_rescored": len(rescored),
        "partitions_failed": len(errors),
        "rows_scored": rows,
        "rows_refused": rows_refused,
        "anomalies": anomalies,
        "anomaly_rate": anomalies / rows if rows else 0.0,
        "seconds": time.perf_counter() - started,
        "errors": errors,
        "rescored": rescored,  # partition -> where its previous output is kept
        "tallies": tallies,
    }


def _named_by_partition(message: str, partition: str) -> str:
    """A file's error named as the run names the file (`day1.csv: ...`, as in the inbox), not
    by its full path (`/srv/project/data/01_raw/incoming/day1.csv: ...`)."""
    head, separator, rest = message.partition(": ")
    if separator and head != partition and head.replace("\\", "/").endswith("/" + partition):
        return f"{partition}: {rest}"
    return message


def _open_partitions(
    incoming: dict[str, Callable[[], Any]], done: Any, scored: Any
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Each inbox file opened; of those already scored, the ones whose content changed since
    (partition -> why). A file that cannot be opened is an error of its own, not of the run."""
    tables: dict[str, Any] = {}
    changed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for partition in sorted(incoming):
        try:
            tables[partition] = incoming[partition]()
            if partition in done:
                tables[partition].check()
                reason = scored.change(partition, tables[partition].path)
                if reason is None:
                    continue
                changed[partition] = reason
                logger.info("%s changed since it was scored (%s): scoring it again", partition, reason)
        except DataValidationError as error:
            errors[partition] = _named_by_partition(str(error), partition)
        except Exception as error:  # noqa: BLE001 - a file that cannot even be listed must not stop the others
            errors[partition] = f"{partition}: {type(error).__name__}: {error}"
    return tables, changed, errors


def stamp(scored: pd.DataFrame, model: Any) -> pd.DataFrame:
    """The model's name, version and training run on every row (version empty for a plain URI, and
    for a model folder whose claimed version the registry does not confirm; run empty there too)."""
    columns = model.columns()
    scored["model_name"] = columns["model_name"]
    version, rows = columns["model_version"], len(scored)
    scored["model_version"] = pd.arrays.IntegerArray(  # Int64, missing for a plain URI
        np.full(rows, version or 0, dtype="int64"), np.full(rows, version is None))
    # text even when unknown (a model folder the registry does not confirm): one Parquet schema
    scored["model_run_id"] = pd.array([columns["model_run_id"]] * rows, dtype="string")
    return scored


def scoring_metrics(report: dict[str, Any]) -> tuple[dict[str, list[dict[str, float]]], dict[str, Any]]:
    """The scoring run's figures for MLflow (its time is time/node.score_partitions), and the
    report again: fail_on_bad_partitions takes it from here, so it runs after they are logged."""
    metrics = {f"score.{key}": [{"value": float(value), "step": 0}]
               for key, value in report.items() if key not in ("errors", "rescored", "seconds", "tallies")}
    return metrics, report


def monitor_scoring(
    scorer: Any, report: dict[str, Any], monitoring: MonitoringParams
) -> tuple[dict[str, list[dict[str, float]]], pd.DataFrame | Skipped, dict[str, Any]]:
    """Each scored file and the whole run against the model's reference profile
    (jobs/monitoring.py): the run's figures for MLflow (monitor/..., psi/<feature>,
    ks/<feature>), the per-file table, and the report with the breaches (`alert`), which
    fail_on_bad_partitions turns into the exit code."""
    from autoencoder_pipelines.jobs.monitoring import NOTHING_MONITORED, watch_scoring

    tallies = report.get("tallies") or {}
    if not monitoring.enabled or not tallies:
        return {}, NOTHING_MONITORED, {**report, "alert": ""}
    metrics, table, alert = watch_scoring(scorer.profile, monitoring, lambda: tallies)
    return metrics, table, {**report, "alert": alert}


def fail_on_bad_partitions(report: dict[str, Any]) -> None:
    """Exit non-zero when a partition failed (1), or when monitoring raised an alert (3); runs
    after the good outputs are saved and the figures logged."""
    alert = report.get("alert", "")
    if report["errors"]:
        errors = list(report["errors"].values())
        details = "\n".join(errors[:ERRORS_SHOWN])
        if len(errors) > ERRORS_SHOWN:
            details += f"\n... and {len(errors) - ERRORS_SHOWN} more (each in the log above: 'could not score')"
        raise ScoringFailedError(
            f"{len(report['errors'])} of {report['partitions_new']} new partition(s) could not be scored "
            f"({report['partitions_scored']} were, {report['rows_scored']} rows):\n{details}",
            run_status="FINISHED" if report["rows_scored"] else "FAILED",
            alert=alert,
        )
    if alert:
        raise MonitoringAlert(alert)
