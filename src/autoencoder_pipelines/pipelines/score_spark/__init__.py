"""Batch scoring on Spark: a partitioned Parquet folder scored with the registered model the
alias points to (mlflow.pyfunc.spark_udf), written as Parquet partitioned by model version."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
