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
    with pytest.raises(DataValidationError, match=r"input.csv: column 'b' is not numeric .*2 non-numeric values, e.g. 'oops'"):
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
    with pytest.raises(DataValidationError, match="input.csv: column 'c' has 2 NaN and 1 infinite values"):
        _ingest_file(tmp_path, frame)


def test_inf_in_parquet(tmp_path):
    frame = _table()
    frame.loc[0, "a"] = -np.inf
    with pytest.raises(DataValidationError, match="input.parquet: column 'a' has 0 NaN and 1 infinite"):
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
    with pytest.raises(DataValidationError, match="column 'kind' \\(label\\): 1 missing labels"):
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


def test_scaler_keeps_unseen_values_beyond_the_range_and_handles_constant_features():
    frame = pd.DataFrame({"a": [0.0, 10.0], "b": [5.0, 5.0]})
    scaler = fit_scaler(frame, ["a", "b"], "per_feature")
    scaled = apply_scaler(pd.DataFrame({"a": [20.0, -5.0], "b": [5.0, 6.0]}), scaler)
    assert scaled["a"].tolist() == [2.0, -0.5]  # an anomaly keeps its distance
    assert scaled["b"].tolist() == [0.0, 1.0]


def test_robust_scaling_ignores_a_few_extreme_training_rows():
    values = np.r_[np.linspace(0, 1, 200), [1000.0]]
    scaler = fit_scaler(pd.DataFrame({"a": values}), ["a"], "robust")
    assert scaler["maximum"][0] < 2  # the 99th percentile, not the outlier
    assert fit_scaler(pd.DataFrame({"a": values}), ["a"], "per_feature")["maximum"][0] == 1000.0


def test_validate_table_without_labels():
    frame, schema = validate_table(_table(labels=False), "memory")
    assert schema["classes"] is None and "label" not in frame.columns


# -- windows of a series ---------------------------------------------------------------------


def _series(n=40):
    """Two series over a time column, stored out of order: a = t, b = 100 + t."""
    t = np.arange(n)
    frame = pd.DataFrame({"when": pd.date_range("2026-01-01", periods=n, freq="h").astype(str), "a": t * 1.0,
                          "b": 100.0 + t, "note": ["x"] * n})
    return frame.sample(frac=1.0, random_state=0)


def test_a_series_is_cut_into_overlapping_windows_in_time_order(tmp_path):
    path = tmp_path / "series.csv"
    _series().to_csv(path, index=False)
    windows, schema = ingest(DataParams(source="windows", path=str(path), time_column="when",
                                        window_length=8, window_stride=4, min_rows=2))
    assert len(windows) == (40 - 8) // 4 + 1 == schema["n_rows"]
    assert schema["window_shape"] == [2, 8] and schema["series_columns"] == ["a", "b"]  # text columns left out
    assert schema["features"] == [f"a_t{k}" for k in range(8)] + [f"b_t{k}" for k in range(8)]
    # window k holds time steps 4k .. 4k + 7 of each series, in time order, and starts at its id
    assert windows.loc[2, [f"a_t{k}" for k in range(8)]].tolist() == list(range(8, 16))
    assert windows.loc[2, [f"b_t{k}" for k in range(8)]].tolist() == [100.0 + k for k in range(8, 16)]
    assert windows.loc[2, "id"] == "2026-01-01 08:00:00"
    # without a time column the file order is kept and the id is the first row's number
    in_order = _series().sort_values("when")
    in_order.to_csv(path, index=False)
    unordered, _ = ingest(DataParams(source="windows", path=str(path), window_length=8, window_stride=4, min_rows=2))
    assert unordered["id"].tolist()[:3] == ["0", "4", "8"]
    assert unordered.drop(columns="id").equals(windows.drop(columns="id"))


@pytest.mark.parametrize("change, extra, message", [
    (lambda f: f.assign(when=f["when"].where(f["a"] != 3, f["when"].iloc[0])), {}, "column 'when' (time): 1 repeated times"),
    (lambda f: f.assign(when=f["when"].where(f["a"] != 3, "soon")), {}, "column 'when' (time): 1 missing or unreadable times, e.g. 'soon'"),
    (lambda f: f.head(6), {}, "6 time steps, fewer than data.window_length 8"),
    (lambda f: f.head(12), {"min_rows": 5}, "12 time steps give 2 windows of 8 every 4; at least 5 are needed"),
    (lambda f: f.assign(b=f["b"].where(f["a"] != 3, np.nan)), {}, "column 'b' has 1 NaN"),
    (lambda f: f, {"time_column": "time"}, "data.time_column 'time' is not a column"),
])
def test_bad_series_are_refused_with_the_column_and_the_count(tmp_path, change, extra, message):
    path = tmp_path / "series.csv"
    change(_series()).to_csv(path, index=False)
    settings = {"time_column": "when", "window_length": 8, "window_stride": 4, "min_rows": 2, **extra}
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ingest(DataParams(source="windows", path=str(path), **settings))


@pytest.mark.parametrize("settings, message", [
    ({"source": "windows", "path": "s.csv", "label_column": "y"}, "data.label_column does not apply to windows"),
    ({"source": "csv", "path": "s.csv", "time_column": "t"}, "needs data.source 'windows'"),
])
def test_window_settings_are_checked(settings, message):
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=message):
        DataParams(**settings)


def test_windows_are_split_in_time_order_with_no_shared_time_step_and_scaled_per_series(tmp_path):
    path = tmp_path / "series.csv"
    _series(400).sort_values("when").to_csv(path, index=False)
    windows, schema = ingest(DataParams(source="windows", path=str(path), window_length=8, window_stride=2))
    train, val, test, scaler = split_and_scale(windows, schema, SplitParams(), RuntimeParams())
    starts = [part["id"].astype(int) for part in (train, val, test)]  # the first time step of each window
    assert (len(val), len(test)) == (round(0.1 * len(windows)), round(0.2 * len(windows)))
    assert starts[0].max() + 7 < starts[1].min() and starts[1].max() + 7 < starts[2].min()  # no shared step
    assert starts[1].min() - starts[0].max() == 8 and len(train) + len(val) + len(test) == len(windows) - 6  # 3 left out per cut
    assert scaler["kind"] == "per_channel"
    for series in ("a", "b"):  # one range per series: its windows keep their shape
        values = train[[f"{series}_t{k}" for k in range(8)]].to_numpy()
        assert values.min() == pytest.approx(0) and values.max() == pytest.approx(1)
        assert np.allclose(np.diff(values, axis=1), np.diff(values, axis=1)[0, 0], rtol=1e-4)  # still a straight line


def test_too_few_windows_for_a_time_ordered_split_with_gaps(tmp_path):
    path = tmp_path / "series.csv"
    _series(25).sort_values("when").to_csv(path, index=False)
    windows, schema = ingest(DataParams(source="windows", path=str(path), window_length=8, window_stride=1, min_rows=10))
    with pytest.raises(DataValidationError, match="18 windows are too few for a time-ordered split .* the 7 windows"):
        split_and_scale(windows, schema, SplitParams(), RuntimeParams())
