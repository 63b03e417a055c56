"""Reading tables (CSV, Parquet, read_args, dropped bad rows), splitting and scaling. Every
refusal of a bad input is in test_bad_inputs.py."""

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.data import (
    apply_scaler,
    fit_scaler,
    validate_table,
)
from autoencoder_pipelines.config import DataParams, RuntimeParams, SplitParams
from autoencoder_pipelines.pipelines.data_processing.nodes import ingest, split_and_scale


def _table(n=60, labels=True):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((n, 4)), columns=["a", "b", "c", "d"])
    if labels:
        frame["kind"] = np.arange(n) % 3
    return frame


def _ingest_file(tmp_path, frame, suffix="csv", **data):
    path = tmp_path / f"input.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    return ingest(DataParams(source=suffix, path=str(path), **data))


def test_csv_and_parquet_are_read_with_label_and_id(tmp_path):
    frame = _table()
    frame["row"] = [f"r{i}" for i in range(len(frame))]
    for suffix in ("csv", "parquet"):
        validated, schema = _ingest_file(tmp_path, frame, suffix, label_column="kind", id_column="row")
        assert schema["features"] == ["a", "b", "c", "d"]
        assert schema["classes"] == [0, 1, 2]
        assert list(validated.columns[:2]) == ["id", "label"]
        assert validated["id"].iloc[3] == "r3"


def test_digits_is_the_default_source():
    validated, schema = ingest(DataParams())
    assert len(validated) == 1797 and len(schema["features"]) == 64
    assert schema["classes"] == list(range(10)) and schema["image_shape"] == [8, 8]


def test_unlisted_text_columns_are_left_out(tmp_path):
    frame = _table()
    frame["note"] = "x"
    _, schema = _ingest_file(tmp_path, frame, label_column="kind")
    assert "note" not in schema["features"]


def test_split_is_stratified_seeded_and_scaled_on_train_only(tmp_path):
    validated, schema = _ingest_file(tmp_path, _table(300), label_column="kind")
    train, val, test, scaler = split_and_scale(validated, schema, SplitParams(scaling="per_feature"), RuntimeParams(seed=3))
    assert (len(train), len(val), len(test)) == (210, 30, 60)
    assert set(train["id"]).isdisjoint(test["id"]) and set(val["id"]).isdisjoint(test["id"])
    assert test["label"].value_counts().to_dict() == {0: 20, 1: 20, 2: 20}
    raw_train = validated.set_index("id").loc[train["id"], schema["features"]]
    assert scaler["minimum"] == pytest.approx(raw_train.min().tolist())
    assert train[schema["features"]].min().min() == 0.0 and train[schema["features"]].max().max() == 1.0
    again = split_and_scale(validated, schema, SplitParams(scaling="per_feature"), RuntimeParams(seed=3))
    assert again[2]["id"].tolist() == test["id"].tolist()


def test_scaler_keeps_the_distance_of_unseen_values_and_handles_constant_features():
    frame = pd.DataFrame({"a": [0.0, 10.0], "b": [5.0, 5.0]})
    scaler = fit_scaler(frame, ["a", "b"], "per_feature")
    scaled = apply_scaler(pd.DataFrame({"a": [20.0, -5.0], "b": [5.0, 6.0]}), scaler)
    assert scaled["a"].tolist() == [2.0, -0.5]  # not clipped: an anomaly score should see it
    assert scaled["b"].tolist() == [0.0, 1.0]


def test_robust_scaling_ignores_a_few_extreme_training_rows():
    values = np.r_[np.linspace(0, 1, 200), [1000.0]]
    scaler = fit_scaler(pd.DataFrame({"a": values}), ["a"], "robust")
    assert scaler["maximum"][0] < 2  # the 99th percentile, not the outlier
    assert fit_scaler(pd.DataFrame({"a": values}), ["a"], "per_feature")["maximum"][0] == 1000.0


def test_validate_table_without_labels():
    frame, schema = validate_table(_table(labels=False), "memory")
    assert schema["classes"] is None and "label" not in frame.columns



def test_semicolons_and_decimal_commas_are_read_with_read_args(tmp_path):
    frame = _table()
    path = tmp_path / "input.csv"
    path.write_text(frame.to_csv(index=False, sep=";", decimal=","))
    validated, schema = ingest(DataParams(source="csv", path=str(path), label_column="kind",
                                          read_args={"sep": ";", "decimal": ","}))
    assert schema["features"] == ["a", "b", "c", "d"]
    assert np.allclose(validated["a"], frame["a"].astype("float32"))


def test_dropping_bad_rows_keeps_every_column_and_says_how_many(tmp_path, caplog):
    frame = _table()
    frame["b"] = frame["b"].astype(object)
    frame.loc[[3, 7], "b"] = "oops"
    frame.loc[10, "c"] = 1e300
    with caplog.at_level("WARNING"):
        validated, schema = _ingest_file(tmp_path, frame, label_column="kind", bad_rows="drop")
    assert schema["features"] == ["a", "b", "c", "d"] and len(validated) == 57
    assert schema["dropped_rows"] == 3
    assert "input.csv: dropped 3 of 60 rows with 3 bad cell(s) (data.bad_rows: drop)" in caplog.text
    assert "line 5, column 'b': 'oops' (not a number)" in caplog.text
    from autoencoder_pipelines.checks import derived_settings

    assert derived_settings(schema, None, None, None)["data.dropped_rows"] == 3  # a parameter of the MLflow run
