"""Score a partitioned Parquet folder on Spark with the pinned registered model.

The model is the one the `score` pipeline uses (registry.alias resolved once to a version),
applied by mlflow.pyfunc.spark_udf: each Spark task runs the model's pyfunc, so rows get the
numbers the pandas pipeline gives them. Spark writes the output through its commit protocol:
a failed job (a bad cell in any row fails its task) publishes nothing."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from autoencoder_pipelines.config import MonitoringParams, RegistryParams
from autoencoder_pipelines.data.errors import DataValidationError, MonitoringAlert
from autoencoder_pipelines.data.frames import Skipped
from autoencoder_pipelines.framework.spark import SOURCE_COLUMN

logger = logging.getLogger(__name__)
SCORED = "_aep_scored"


def resolve_spark_model(registry: RegistryParams) -> tuple[Any, dict[str, str]]:
    """The model to score with, pinned (tracking.models.resolve_scoring_model), and its reference
    as the run's parameters."""
    from autoencoder_pipelines.tracking.models import pinned_scoring_model

    model = pinned_scoring_model(registry, "scoring on Spark with")
    return model, model.params()


def score_with_spark(rows: Any, model: Any) -> Any:
    """The scored rows (lazy: Spark computes them when the catalog saves them): id, codes,
    reconstruction_error, is_anomaly, predicted_class and probability, model_name,
    model_version, model_run_id. The id is the row's id column when the model has one, else
    `<file>:<row>` (the file under the input folder, the row's position in it from 0)."""
    import mlflow
    from mlflow.models import Model
    from pyspark.sql import functions as F

    signature = Model.load(model.files).signature  # read where the files are (the project may have moved)
    inputs = signature.inputs.inputs
    id_column = next((column.name for column in inputs if not column.required), None)
    expected = [column.name for column in inputs if column.required]
    missing = [name for name in expected if name not in rows.columns]
    if missing:
        raise DataValidationError(
            f"spark_incoming: {len(missing)} training feature column(s) missing, e.g. {missing[:5]}")
    if id_column and id_column not in rows.columns:
        raise DataValidationError(f"spark_incoming: the id column '{id_column}' (data.id_column of the model) is missing")
    if not id_column and SOURCE_COLUMN not in rows.columns:
        raise DataValidationError(
            f"spark_incoming: rows without ids need the dataset's source_column: {SOURCE_COLUMN} "
            "(autoencoder_pipelines.framework.spark.SourcedSparkDataset) to name them <file>:<row>")
    udf = mlflow.pyfunc.spark_udf(rows.sparkSession, model.files, env_manager="local")
    passed = expected + ([id_column] if id_column else [])
    scored = rows.withColumn(SCORED, udf(F.struct(*[F.col(name) for name in passed])))
    outputs = [name for name in signature.outputs.input_names() if name != "id"]
    identifier = F.col(f"{SCORED}.id") if id_column else F.col(SOURCE_COLUMN)
    columns = model.columns()

    def output(name: str) -> Any:
        # an unflagged row's top features are empty: null, where spark_udf's string cast wrote "None"
        value = F.col(f"{SCORED}.{name}")
        return F.when(F.col(f"{SCORED}.is_anomaly"), value) if name.startswith("top_") else value

    return scored.select(
        identifier.alias("id"),
        *[output(name).alias(name) for name in outputs],
        F.lit(columns["model_name"]).alias("model_name"),
        F.lit(columns["model_version"]).cast("long").alias("model_version"),
        F.lit(columns["model_run_id"]).cast("string").alias("model_run_id"),
    )


def spark_scoring_metrics(scored: Any, model: Any) -> dict[str, list[dict[str, float]]]:
    """Rows and anomalies this model version wrote (read back from the output: two small
    columns), for the MLflow run."""
    from pyspark.sql import functions as F

    version = model.columns()["model_version"]
    mine = scored.where(F.col("model_version").isNull() if version is None else F.col("model_version") == version)
    rows, anomalies = mine.agg(F.count(F.lit(1)), F.sum(F.col("is_anomaly").cast("long"))).first()
    anomalies = int(anomalies or 0)
    logger.info("scored %d rows on Spark, %d flagged as anomalies", rows, anomalies)
    figures = {"rows_scored": rows, "anomalies": anomalies, "anomaly_rate": anomalies / rows if rows else 0.0}
    return {f"score.{key}": [{"value": float(value), "step": 0}] for key, value in figures.items()}


def monitor_spark_scoring(
    rows: Any, scored: Any, model: Any, monitoring: MonitoringParams
) -> tuple[dict[str, list[dict[str, float]]], pd.DataFrame | Skipped, str]:
    """The `score` pipeline's monitoring, counted by Spark (jobs.monitoring.spark_tallies):
    the input's features and this model version's scored rows, by input file when rows are
    named <file>:<row> (a model without an id column), else for the whole run. The figures for
    MLflow, the per-file table, and the breaches (empty: none)."""
    from pyspark.sql import functions as F

    from autoencoder_pipelines.jobs.monitoring import NOTHING_MONITORED, spark_tallies, watch_scoring
    from autoencoder_pipelines.tracking.models import load_scorer

    if not monitoring.enabled:
        return {}, NOTHING_MONITORED, ""
    scorer = load_scorer(model)
    version = model.columns()["model_version"]
    mine = scored.where(F.col("model_version").isNull() if version is None else F.col("model_version") == version)
    by_file = not scorer.schema.id_column
    return watch_scoring(scorer.profile, monitoring,
                         lambda: spark_tallies(rows, mine, scorer.profile, SOURCE_COLUMN, by_file))


def alert_on_drift(alert: str) -> None:
    """Exit with the monitoring alert's code (3) when a threshold was breached; runs after the
    scored rows are written and the figures logged."""
    if alert:
        raise MonitoringAlert(alert)
