"""Every kind of bad input data fails with the file, the column and the count."""

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.data import (
    DataValidationError,
    apply_scaler,
    fit_scaler,
    read_table,
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


def test_missing_file(tmp_path):
    with pytest.raises(DataValidationError, match="nope.csv: file not found"):
        ingest(DataParams(source="csv", path=str(tmp_path / "nope.csv")))


def test_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataValidationError, match="empty.csv: file is empty"):
        ingest(DataParams(source="csv", path=str(tmp_path / "empty.csv")))


def test_header_only_file(tmp_path):
    (tmp_path / "header.csv").write_text("a,b,c\n")
    with pytest.raises(DataValidationError, match="header.csv: no rows"):
        ingest(DataParams(source="csv", path=str(tmp_path / "header.csv")))


def test_unreadable_parquet(tmp_path):
    (tmp_path / "bad.parquet").write_text("this is not parquet")
    with pytest.raises(DataValidationError, match="bad.parquet: cannot be read as parquet"):
        read_table(tmp_path / "bad.parquet", "parquet")


def test_listed_non_numeric_column(tmp_path):
    frame = _table()
    frame["b"] = frame["b"].astype(str)
    frame.loc[[3, 7], "b"] = "oops"
    with pytest.raises(DataValidationError, match=r"input.csv: 2 bad cells in 2 of 60 rows:\n  line 5, column 'b': 'oops' \(not a number\)\n  line 9"):
        _ingest_file(tmp_path, frame, feature_columns=["a", "b"])


def test_unlisted_text_columns_are_left_out(tmp_path):
    frame = _table()
    frame["note"] = "x"
    _, schema = _ingest_file(tmp_path, frame, label_column="kind")
    assert "note" not in schema["features"]


def test_nan_and_inf_are_counted_per_column(tmp_path):
    frame = _table()
    frame.loc[[1, 2], "c"] = np.nan
    frame.loc[5, "c"] = np.inf
    with pytest.raises(DataValidationError, match=r"input.csv: 3 bad cells in 3 of 60 rows:\n  line 3, column 'c': missing \(empty or NaN\)\n.*\n  line 7, column 'c': inf \(infinite\)"):
        _ingest_file(tmp_path, frame)


def test_inf_in_parquet(tmp_path):
    frame = _table()
    frame.loc[0, "a"] = -np.inf
    with pytest.raises(DataValidationError, match=r"input.parquet: 1 bad cell in 1 of 60 rows:\n  row 1, column 'a': -inf \(infinite\)"):
        _ingest_file(tmp_path, frame, "parquet")


def test_absent_label_column(tmp_path):
    with pytest.raises(DataValidationError, match="input.csv: data.label_column 'target' is not a column; columns are \\[a, b, c, d, kind\\]"):
        _ingest_file(tmp_path, _table(), label_column="target")


def test_absent_id_column(tmp_path):
    with pytest.raises(DataValidationError, match="data.id_column 'key' is not a column"):
        _ingest_file(tmp_path, _table(), id_column="key")


def test_duplicate_ids(tmp_path):
    frame = _table()
    frame["row"] = [i // 2 for i in range(len(frame))]
    with pytest.raises(DataValidationError, match="column 'row' \\(id\\): 30 duplicate ids"):
        _ingest_file(tmp_path, frame, id_column="row")


def test_missing_labels(tmp_path):
    frame = _table()
    frame["kind"] = frame["kind"].astype("float")
    frame.loc[4, "kind"] = np.nan
    with pytest.raises(DataValidationError, match=r"line 6, column 'kind' \(label\): missing label"):
        _ingest_file(tmp_path, frame, label_column="kind")


def test_single_class(tmp_path):
    frame = _table()
    frame["kind"] = 1
    with pytest.raises(DataValidationError, match="column 'kind' \\(label\\): a single class 1"):
        _ingest_file(tmp_path, frame, label_column="kind")


def test_too_few_rows(tmp_path):
    with pytest.raises(DataValidationError, match="input.csv: 10 rows; at least 20 are needed"):
        _ingest_file(tmp_path, _table(10), label_column="kind")


def test_fewer_rows_than_the_split_needs(tmp_path):
    validated, schema = _ingest_file(tmp_path, _table(24), label_column="kind")
    with pytest.raises(DataValidationError, match="test set of 2 and a validation set of 2, fewer than the 3 classes"):
        split_and_scale(validated, schema, SplitParams(test_fraction=0.1, val_fraction=0.1), RuntimeParams())


def test_a_class_too_small_to_stratify(tmp_path):
    frame = _table()
    frame.loc[0, "kind"] = 9
    validated, schema = _ingest_file(tmp_path, frame, label_column="kind")
    with pytest.raises(DataValidationError, match="class 9 has 1 row\\(s\\)"):
        split_and_scale(validated, schema, SplitParams(), RuntimeParams())


def test_no_numeric_features(tmp_path):
    frame = pd.DataFrame({"name": ["x"] * 30, "kind": [0, 1] * 15})
    with pytest.raises(DataValidationError, match="no numeric feature columns"):
        _ingest_file(tmp_path, frame, label_column="kind")


def test_reserved_feature_names(tmp_path):
    frame = _table().rename(columns={"a": "split"})
    with pytest.raises(DataValidationError, match="feature column\\(s\\) \\[split\\] use a reserved name"):
        _ingest_file(tmp_path, frame, label_column="kind")


def test_image_shape_must_match_the_features(tmp_path):
    with pytest.raises(DataValidationError, match="data.image_shape \\[3, 3\\] holds 9 values but there are 4 feature columns"):
        _ingest_file(tmp_path, _table(), label_column="kind", image_shape=[3, 3])


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


def test_validate_table_without_labels():
    frame, schema = validate_table(_table(labels=False), "memory")
    assert schema["classes"] is None and "label" not in frame.columns
