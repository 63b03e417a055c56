"""Spark for the `score_spark` pipeline: the session (conf/base/spark.yml) and the dataset that
reads a partitioned Parquet folder. Imported only where Spark is used: pyspark is an optional
dependency (`pip install -e .[spark]`), and nothing else in the project needs it."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

SPARK_PIPELINES = {"score_spark"}  # the pipelines that get a Spark session
SOURCE_COLUMN = "_aep_row_source"  # SparkDataset(source_column=...): "<file>:<row>" of each row
INSTALL_HINT = "pip install -e '.[spark]' (pyspark, and hdfs and s3fs that kedro-datasets' SparkDataset imports)"


def spark_session(settings: dict[str, Any]) -> Any:
    """The session the settings describe (conf/base/spark.yml: any `spark.*` key), made once
    per process. Python workers run this interpreter unless PYSPARK_PYTHON says otherwise."""
    from autoencoder_pipelines.data.errors import UserError

    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(f"score_spark needs pyspark, which is not installed: {INSTALL_HINT}") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # The JVM looks for this machine's address before it reads the session's settings: it warned
    # that the hostname resolves to the loopback, then used another interface. Set for its start
    # only, so that no later process (or session) inherits it.
    loopback = str(settings.get("spark.driver.host", "")) in ("127.0.0.1", "localhost")
    set_here = loopback and "SPARK_LOCAL_IP" not in os.environ
    if set_here:
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    try:
        session = builder.getOrCreate()
    finally:
        if set_here:
            del os.environ["SPARK_LOCAL_IP"]
    session.sparkContext.setLogLevel(str(settings.get("aep.log_level", "WARN")))
    logger.info("Spark %s, master %s", session.version, session.sparkContext.master)
    return session


class SparkHooks:
    """Starts the Spark session (conf/base/spark.yml) before a pipeline in SPARK_PIPELINES runs,
    so kedro-datasets' SparkDataset finds it configured, and stops it at the end of the run."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.session: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        try:
            self.settings = dict(context.config_loader["spark"] or {})
        except Exception:  # noqa: BLE001 - no spark.yml: Spark's own defaults
            self.settings = {}

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        names = set(run_params.get("pipeline_names") or [])
        if names & SPARK_PIPELINES:
            self.session = spark_session(self.settings)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._stop()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None


def _spark_dataset_class() -> type:
    from autoencoder_pipelines.data.errors import UserError

    try:
        from kedro_datasets.spark.spark_dataset import SparkDataset
    except ImportError as error:
        raise UserError(f"kedro-datasets' spark.SparkDataset does not import ({error}): {INSTALL_HINT}") from None
    return SparkDataset


def __getattr__(name: str) -> Any:
    # `SourcedSparkDataset` is built on first use, so importing this module needs no pyspark
    if name == "SourcedSparkDataset":
        cls = _make_sourced_dataset(_spark_dataset_class())
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _make_sourced_dataset(base: type) -> type:
    class SourcedSparkDataset(base):  # type: ignore[misc, valid-type]
        """kedro-datasets' spark.SparkDataset that, with `source_column`, also gives every loaded
        row its source `<file>:<row>`: the file's path under `filepath` and the row's position
        in it from 0 (Parquet's `_metadata.row_index`), as the pandas `score` pipeline names
        rows without an id."""

        def __init__(self, *, source_column: str | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._source_column = source_column

        def load(self) -> Any:
            from pyspark.sql import functions as F

            frame = super().load()
            if not self._source_column:
                return frame
            root = str(Path(str(self._get_load_path())).resolve()).rstrip("/") + "/"
            path = F.url_decode(F.col("_metadata.file_path"))
            relative = F.regexp_replace(path, r"^.*?\Q" + root + r"\E", "")
            row = F.col("_metadata.row_index").cast("string")
            return frame.withColumn(self._source_column, F.concat(relative, F.lit(":"), row))

    return SourcedSparkDataset
