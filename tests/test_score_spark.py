"""`kedro run --pipelines=score_spark` on Spark local[2]: a partitioned Parquet folder scored with
the registered champion through mlflow.pyfunc.spark_udf gets the numbers the pandas `score`
pipeline gives the same rows, and is written partitioned by model version.

pyspark is an optional dependency (the `spark` extra): without it, or without the modules
kedro-datasets' SparkDataset imports (hdfs, s3fs), or without Java, this module is skipped.
CI installs the extra (scripts/setup.sh), so it runs there."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

pytest.importorskip("pyspark")
pytest.importorskip("kedro_datasets.spark.spark_dataset", reason="kedro-datasets' SparkDataset needs hdfs and s3fs")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java", allow_module_level=True)

pytestmark = pytest.mark.spark

DIGITS = load_digits(as_frame=True).frame.drop(columns=["target"])
SCORING = "autoencoder-pipelines-scoring"


def test_spark_scores_rows_as_the_pandas_pipeline_and_partitions_by_version(scoring_project):
    project = scoring_project
    days = {"day=1/part-0.parquet": DIGITS.iloc[:700], "day=2/part-0.parquet": DIGITS.iloc[700:1500]}
    for folder in ("data/01_raw/incoming", "data/01_raw/incoming_spark"):
        for name, rows in days.items():
            path = project.path(f"{folder}/{name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            rows.astype("float32").to_parquet(path, index=False)  # Spark reads them as float

    project.run("score")
    project.run("score_spark")
    assert "SPARK_LOCAL_IP" not in os.environ  # set for the JVM's start only

    pandas_scored = pd.concat(pd.read_parquet(project.path(f"data/07_model_output/scored/{name}.parquet"))
                              for name in days).set_index("id")
    output = project.path("data/07_model_output/scored_spark")
    assert sorted(p.name for p in output.iterdir() if p.is_dir()) == ["model_version=1"]
    spark_scored = pd.read_parquet(output).set_index("id")
    assert len(spark_scored) == len(pandas_scored) == 1500
    assert set(spark_scored.index) == set(pandas_scored.index)  # "day=1/part-0.parquet:0", ...
    spark_scored = spark_scored.loc[pandas_scored.index]
    numbers = [c for c in pandas_scored.columns if c.startswith("z_")] + ["reconstruction_error", "predicted_probability"]
    difference = np.abs(spark_scored[numbers].to_numpy("float64") - pandas_scored[numbers].to_numpy("float64")).max()
    assert difference <= 1e-5
    assert (spark_scored["predicted_class"] == pandas_scored["predicted_class"]).all()
    assert (spark_scored["is_anomaly"] == pandas_scored["is_anomaly"]).all()
    # the flagged rows' reasons as the pandas path gives them; an unflagged row's are null, not "None"
    reasons = ["top_feature_1", "top_share_1"]
    flagged = pandas_scored["is_anomaly"].to_numpy(bool)
    assert spark_scored.loc[~flagged, reasons].isna().all().all() and flagged.any()
    assert (spark_scored.loc[flagged, "top_feature_1"] == pandas_scored.loc[flagged, "top_feature_1"]).all()
    assert (spark_scored["model_version"].astype(int) == 1).all()
    assert (spark_scored["model_name"] == "autoencoder-pipelines").all()

    run = max(project.runs(SCORING), key=lambda r: r.info.start_time)  # the scoring experiment, like `score`
    assert run.data.tags["mlflow.runName"] == "score_spark" and run.info.status == "FINISHED"
    assert run.data.metrics["score.rows_scored"] == 1500 and run.data.params["model.version"] == "1"

    # monitoring: counted by Spark aggregations, the figures the pandas pipeline computes, per file and for the run
    tables = {side: pd.read_csv(project.path(f"data/08_reporting/monitoring/{side}scoring_drift.csv")).set_index("scope")
              for side in ("", "spark_")}
    assert list(tables["spark_"].index) == list(tables[""].index) == [*days, "(all files)"]
    figures = ["rows", "anomaly_rate", "expected_anomaly_rate", "anomaly_p_value", "error_ks", "error_ks_p_value",
               "error_mean_ratio", "max_psi", "max_feature_ks", "features_drifted"]
    difference = (tables["spark_"][figures] - tables[""][figures]).abs().max()
    assert (difference <= 1e-3).all(), difference
    assert (tables["spark_"]["alert"] == tables[""]["alert"]).all()
    assert run.data.metrics["monitor/rows"] == 1500 and "psi/pixel_3_3" in run.data.metrics
