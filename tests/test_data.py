"""Reading tables (CSV, Parquet, read_args, dropped bad rows), splitting and scaling. Every
refusal of a bad input is in test_bad_inputs.py."""

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.config import DataParams, RuntimeParams, SplitParams
from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.scaling import apply_scaler, fit_scaler
from autoencoder_pipelines.data.validation import validate_table
from autoencoder_pipelines.jobs.runtime import Runtime
from autoencoder_pipelines.pipelines.data_processing.nodes import (
    ingest,
    split_and_scale,
)


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
        assert schema.features == ["a", "b", "c", "d"]
        assert schema.classes == [0, 1, 2]
        assert list(validated.columns[:2]) == ["id", "label"]
        assert validated["id"].iloc[3] == "r3"


def test_digits_is_the_default_source():
    validated, schema = ingest(DataParams())
    assert len(validated) == 1797 and len(schema.features) == 64
    assert schema.classes == list(range(10)) and schema.image_shape == [8, 8]


def test_unlisted_text_columns_are_left_out(tmp_path):
    frame = _table()
    frame["note"] = "x"
    _, schema = _ingest_file(tmp_path, frame, label_column="kind")
    assert "note" not in schema.features


def test_split_is_stratified_seeded_and_scaled_on_train_only(tmp_path):
    validated, schema = _ingest_file(tmp_path, _table(300), label_column="kind")
    data, scaler = split_and_scale(validated, schema, SplitParams(scaling="per_feature"), Runtime(RuntimeParams(seed=3)))
    train, val, test = data.train, data.val, data.test
    assert (len(train), len(val), len(test)) == (210, 30, 60)
    assert set(train["id"]).isdisjoint(test["id"]) and set(val["id"]).isdisjoint(test["id"])
    assert test["label"].value_counts().to_dict() == {0: 20, 1: 20, 2: 20}
    raw_train = validated.set_index("id").loc[train["id"], schema.features]
    assert scaler["minimum"] == pytest.approx(raw_train.min().tolist())
    assert train[schema.features].min().min() == 0.0 and train[schema.features].max().max() == 1.0
    again, _ = split_and_scale(validated, schema, SplitParams(scaling="per_feature"), Runtime(RuntimeParams(seed=3)))
    assert again.test["id"].tolist() == test["id"].tolist()


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
    assert schema.classes is None and "label" not in frame.columns



def test_semicolons_and_decimal_commas_are_read_with_read_args(tmp_path):
    frame = _table()
    path = tmp_path / "input.csv"
    path.write_text(frame.to_csv(index=False, sep=";", decimal=","))
    validated, schema = ingest(DataParams(source="csv", path=str(path), label_column="kind",
                                          read_args={"sep": ";", "decimal": ","}))
    assert schema.features == ["a", "b", "c", "d"]
    assert np.allclose(validated["a"], frame["a"].astype("float32"))


def test_dropping_bad_rows_keeps_every_column_and_says_how_many(tmp_path, caplog):
    frame = _table()
    frame["b"] = frame["b"].astype(object)
    frame.loc[[3, 7], "b"] = "oops"
    frame.loc[10, "c"] = 1e300
    with caplog.at_level("WARNING"):
        validated, schema = _ingest_file(tmp_path, frame, label_column="kind", bad_rows="drop")
    assert schema.features == ["a", "b", "c", "d"] and len(validated) == 57
    assert schema.dropped_rows == 3
    assert "input.csv: dropped 3 of 60 rows with 3 bad cell(s) (data.bad_rows: drop)" in caplog.text
    assert "line 5, column 'b': 'oops' (not a number)" in caplog.text
    from autoencoder_pipelines.jobs.checks import data_settings

    assert data_settings(schema, SplitParams())["data.dropped_rows"] == 3  # a parameter of the MLflow run
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
    assert len(windows) == (40 - 8) // 4 + 1 == schema.n_rows
    assert schema.window_shape == [2, 8] and schema.series_columns == ["a", "b"]  # text columns left out
    assert schema.features == [f"a_t{k}" for k in range(8)] + [f"b_t{k}" for k in range(8)]
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
    (lambda f: f.assign(when=f["when"].where(f["a"] != 3, "soon")), {},
     "column 'when' (time): 1 missing or unreadable times, e.g. 'soon'"),
    (lambda f: f.head(6), {}, "6 time steps, fewer than data.window_length 8"),
    (lambda f: f.head(12), {"min_rows": 5}, "12 time steps give 2 windows of 8 every 4; at least 5 are needed"),
    (lambda f: f.assign(b=f["b"].where(f["a"] != 3, np.nan)), {}, "column 'b': missing (empty or NaN)"),
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
    data, scaler = split_and_scale(windows, schema, SplitParams(), Runtime(RuntimeParams()))
    train, val, test = data.train, data.val, data.test
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
        split_and_scale(windows, schema, SplitParams(), Runtime(RuntimeParams()))


# ---- unlabelled rows (an empty label cell) ---------------------------------------------

def _partly_labelled(n=300, empty=0.8, seed=0):
    frame = _table(n)
    frame.loc[np.random.default_rng(seed).random(n) < empty, "kind"] = np.nan
    return frame


def test_empty_label_cells_are_unlabelled_rows_not_bad_cells(tmp_path):
    frame = _partly_labelled()
    frame.loc[5, "a"] = np.nan  # a missing feature is still a bad cell
    from autoencoder_pipelines.data.errors import DataValidationError

    with pytest.raises(DataValidationError, match=r"1 bad cell in 1 of 300 rows:\n  line 7, column 'a'"):
        _ingest_file(tmp_path, frame, label_column="kind")
    validated, schema = _ingest_file(tmp_path, frame, label_column="kind", bad_rows="drop")
    assert len(validated) == 299 and schema.dropped_rows == 1  # only the bad feature's row
    labelled = int(frame.drop(index=5)["kind"].notna().sum())
    assert (schema.labelled_rows, schema.unlabelled_rows) == (labelled, 299 - labelled)
    assert schema.classes == [0, 1, 2] and all(type(c) is int for c in schema.classes)  # not 0.0, 1.0, 2.0
    assert validated["label"].isna().sum() == 299 - labelled


def test_other_bad_labels_are_still_refused_with_empty_cells_around():
    from autoencoder_pipelines.data.errors import DataValidationError
    from autoencoder_pipelines.jobs.checks import check_label_type

    frame = _partly_labelled()
    frame.loc[frame["kind"].notna().idxmax(), "kind"] = 0.5
    validated, schema = validate_table(frame, "memory", label_column="kind")
    with pytest.raises(DataValidationError, match=r"holds non-integer numbers \(e.g. 0.5\)"):
        check_label_type(schema, validated["label"])
    single = _partly_labelled()
    single.loc[single["kind"].notna(), "kind"] = 1
    with pytest.raises(DataValidationError, match="a single class 1"):
        validate_table(single, "memory", label_column="kind")


def test_an_all_empty_label_column_is_unlabelled_data_with_a_warning(caplog):
    frame = _table()
    frame["kind"] = np.nan
    with caplog.at_level("WARNING"):
        validated, schema = validate_table(frame, "memory", label_column="kind")
    assert schema.classes is None and "label" not in validated.columns and len(validated) == 60
    assert schema.label_column == "kind"  # a scoring file may still carry it
    assert "memory: column 'kind' (label) is empty in every row: the data is treated as unlabelled" in caplog.text
    assert (schema.labelled_rows, schema.unlabelled_rows) == (0, 60)


def test_a_text_label_of_spaces_is_as_empty_as_a_blank_cell():
    frame = _table(8)
    frame["kind"] = ["cat", "", "dog", None, "  ", "cat", "dog", np.nan]
    validated, schema = validate_table(frame, "memory", label_column="kind")
    assert schema.classes == ["cat", "dog"] and schema.unlabelled_rows == 4
    assert validated["label"].notna().tolist() == [True, False, True, False, False, True, True, False]


def test_the_split_stratifies_the_labelled_rows_and_places_the_unlabelled_ones():
    from autoencoder_pipelines.pipelines.data_processing.nodes import count_rows

    validated, schema = validate_table(_partly_labelled(600, empty=0.7), "memory", label_column="kind")
    data, _ = split_and_scale(validated, schema, SplitParams(), Runtime(RuntimeParams(seed=3)))
    parts = [data.train, data.val, data.test]
    ids = [set(part["id"]) for part in parts]
    assert set.union(*ids) == set(validated["id"]) and sum(map(len, ids)) == 600
    counts = count_rows(data)
    assert counts["data.labelled_rows"] == schema.labelled_rows
    assert counts["data.unlabelled_rows"] == schema.unlabelled_rows
    for name, _part, share in (("train", parts[0], 0.7), ("val", parts[1], 0.1), ("test", parts[2], 0.2)):
        # both kinds of row in every part, in about the split's proportions
        assert counts[f"data.{name}_unlabelled_rows"] == pytest.approx(share * schema.unlabelled_rows, abs=1)
        assert counts[f"data.{name}_labelled_rows"] == pytest.approx(share * schema.labelled_rows, abs=1)
    per_class = parts[2]["label"].value_counts()
    assert per_class.max() - per_class.min() <= 2  # stratified (the labelled classes are balanced)
    assert not parts[0]["label"].head(20).notna().all() and parts[0]["label"].head(20).notna().any()  # mixed
    again, _ = split_and_scale(validated, schema, SplitParams(), Runtime(RuntimeParams(seed=3)))
    assert [p["id"].tolist() for p in again.parts().values()] == [p["id"].tolist() for p in parts]  # seeded


def test_a_stratified_fraction_keeps_every_class_and_grows_by_adding_rows():
    from autoencoder_pipelines.data.frames import stratified_sample

    frame = pd.DataFrame({"id": [str(i) for i in range(230)],
                          "label": pd.array([0] * 100 + [1] * 100 + [2] * 10 + [None] * 20, dtype="Int64")})
    small = stratified_sample(frame, 0.01, seed=7)
    assert small["label"].value_counts().to_dict() == {0: 1, 1: 1, 2: 1}  # at least one row per class
    half = stratified_sample(frame, 0.5, seed=7)
    assert half["label"].value_counts().to_dict() == {0: 50, 1: 50, 2: 5} and half["label"].notna().all()
    assert set(small["id"]) <= set(half["id"])  # nested: a larger budget adds labels
    assert len(stratified_sample(frame, 1.0, seed=7)) == 210
    assert stratified_sample(frame, 0.5, seed=7)["id"].tolist() == half["id"].tolist()
    assert stratified_sample(frame, 0.5, seed=8)["id"].tolist() != half["id"].tolist()


# -- the schema --------------------------------------------------------------------------------


def test_the_schema_is_typed_and_written_as_the_json_it_always_was(tmp_path):
    from autoencoder_pipelines.data.schema import DataSchema
    from autoencoder_pipelines.framework.datasets import DataSchemaDataset

    frame = _table()
    frame.loc[5, "kind"] = None
    _, schema = validate_table(frame, "memory", label_column="kind")
    assert (schema.has_labels, schema.n_classes, schema.n_features, schema.is_images) == (True, 3, 4, False)
    assert schema.labelled_count == 59
    # the keys ingestion wrote before the schema was typed, in its order, and nothing else
    assert list(schema.to_json()) == ["source", "features", "label_column", "id_column", "classes", "image_shape",
                                      "n_rows", "labelled_rows", "unlabelled_rows"]
    dataset = DataSchemaDataset(filepath=str(tmp_path / "data_schema.json"))
    dataset.save(schema)
    assert dataset.load() == schema
    # a file written before partial labels (no row counts) still loads: every row labelled
    old = {"source": "sklearn digits", "features": ["a", "b"], "label_column": "label", "id_column": None,
           "classes": [0, 1], "image_shape": None, "n_rows": 10, "default_normal_classes": [0]}
    assert DataSchema.from_json(old).labelled_count == 10 and DataSchema.from_json(old).to_json() == old
    with pytest.raises(ValueError, match="featurs"):  # a key the schema does not know is refused, not ignored
        DataSchema.from_json({**old, "featurs": ["a"]})


def test_windows_know_their_gap_and_tables_have_none():
    from autoencoder_pipelines.data.schema import DataSchema

    windows = DataSchema(source="s", features=["a_t0"], n_rows=9, window_shape=[1, 8], window_stride=2)
    assert windows.is_windows and windows.window_gap == 3  # (8 - 1) // 2
    with pytest.raises(ValueError, match="not windows of a series"):
        _ = DataSchema(source="t", features=["a"], n_rows=9).window_gap


# -- the file itself: compression, encoding, links (issue 32) ------------------------------

def _latin1_table() -> bytes:
    """Five rows; the cell of line 4 holds an é written in Latin-1 (not UTF-8)."""
    lines = ["a,b,city", "1,2,Paris", "3,4,Lyon", "5,6,N\xeemes", "7,8,Metz", "9,1,Caen"]
    return ("\n".join(lines) + "\n").encode("latin-1")


def test_a_byte_that_is_not_utf8_is_named_by_the_file_line(tmp_path):
    from autoencoder_pipelines.data.errors import DataValidationError
    from autoencoder_pipelines.data.tables import TableFile, read_table

    path = tmp_path / "cities.csv"
    path.write_bytes(_latin1_table())
    with pytest.raises(DataValidationError) as whole:
        read_table(path, "csv")
    assert str(whole.value) == (f"{path}: line 4, byte 6: 0xee is not utf-8 text; save the file as UTF-8, or give its "
                                "encoding (data.read_args: {encoding: latin-1}, for instance)")
    with pytest.raises(DataValidationError, match=r"cities.csv: line 4, byte 6: 0xee is not utf-8 text"):
        list(TableFile(path).chunks(2))  # in the second chunk: still the file's line
    assert read_table(path, "csv", {"encoding": "latin-1"})["city"].iloc[2] == "N\xeemes"


def test_compressed_csv_is_read_by_its_name_or_its_content(tmp_path, caplog):
    import bz2
    import gzip

    from autoencoder_pipelines.data.errors import DataValidationError
    from autoencoder_pipelines.data.tables import TableFile, read_table

    text = b"a,b\n1,2\n3,4\n5,x\n"
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text))
    (tmp_path / "t.csv.bz2").write_bytes(bz2.compress(text))
    (tmp_path / "gzip_inside.csv").write_bytes(gzip.compress(text))
    for name in ("t.csv.gz", "t.csv.bz2", "gzip_inside.csv"):
        assert read_table(tmp_path / name, "csv")["a"].tolist() == [1, 3, 5], name
        assert sum(len(c) for c in TableFile(tmp_path / name).chunks(2)) == 3
    assert "gzip_inside.csv: gzip-compressed although named .csv: read as gzip (name it gzip_inside.csv.gz)" in caplog.text
    # line numbers of bad cells come from the decompressed file
    from autoencoder_pipelines.data.tables import row_namer

    assert row_namer(read_table(tmp_path / "t.csv.gz", "csv"))(2) == "line 4"

    (tmp_path / "plain.csv.gz").write_bytes(text)
    with pytest.raises(DataValidationError, match="plain.csv.gz: named as gzip-compressed but not compressed"):
        read_table(tmp_path / "plain.csv.gz", "csv")
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "table.csv")
    with pytest.raises(DataValidationError, match="table.csv: a Parquet file named .csv; rename it to .parquet"):
        list(TableFile(tmp_path / "table.csv").chunks(2))


def test_a_symbolic_link_loop_and_a_link_to_nothing_are_named_as_such(tmp_path):
    from autoencoder_pipelines.data.errors import DataValidationError
    from autoencoder_pipelines.data.tables import TableFile, read_table

    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    (tmp_path / "gone.csv").symlink_to(tmp_path / "deleted.csv")
    with pytest.raises(DataValidationError, match=r"a.csv: a symbolic link loop \(the link leads back to itself\)"):
        read_table(tmp_path / "a.csv", "csv")
    with pytest.raises(DataValidationError, match=r"a.csv: a symbolic link loop"):
        list(TableFile(tmp_path / "a.csv").chunks(10))
    with pytest.raises(DataValidationError, match=r"gone.csv: a symbolic link to .*deleted.csv, which does not exist"):
        read_table(tmp_path / "gone.csv", "csv")


def test_constant_feature_columns_are_named_in_a_warning(caplog):
    from autoencoder_pipelines.jobs.checks import check_features_vary

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 0.0, 0.0], "c": [4.0, 5.0, 4.0], "d": [7.0] * 3})
    from autoencoder_pipelines.data.schema import DataSchema

    schema = DataSchema(source="t.csv", features=["a", "b", "c", "d"], n_rows=3)
    with caplog.at_level("WARNING"):
        check_features_vary(frame, schema)
    assert "t.csv: 2 of 4 feature column(s) are constant and carry no information: ['b', 'd']" in caplog.text
    # as Kedro's console shows it (Rich markup): the names stay (unquoted, `[b, d]` read as a style tag)
    from rich.text import Text

    from autoencoder_pipelines.data.frames import shown_names

    assert Text.from_markup(caplog.records[0].getMessage()).plain == caplog.records[0].getMessage()
    assert Text.from_markup(shown_names(["pixel_0_0", "pixel_4_0"])).plain == "['pixel_0_0', 'pixel_4_0']"
    caplog.clear()
    check_features_vary(frame[["a", "c"]], DataSchema(source="t.csv", features=["a", "c"], n_rows=3))
    assert caplog.text == ""


def test_a_0_1_label_whose_anomalies_are_the_majority_is_warned_about(caplog):
    from autoencoder_pipelines.config import AnomalyParams
    from autoencoder_pipelines.data.schema import DataSchema
    from autoencoder_pipelines.jobs.checks import check_normal_rows

    schema = DataSchema(source="bc.csv", features=["a"], n_rows=569, label_column="target", classes=[0, 1])
    with caplog.at_level("WARNING"):
        check_normal_rows(AnomalyParams(), schema, {1: 357, 0: 212})  # breast_cancer: 1 is benign
    assert ("357 of the 569 labelled rows (63%) are 1, taken as the anomalies" in caplog.text
            and 'set --params="anomaly.normal_classes=[1]"' in caplog.text)
    caplog.clear()
    with caplog.at_level("WARNING"):
        check_normal_rows(AnomalyParams(normal_classes=[0]), schema, {1: 357, 0: 212})  # chosen: no word
        check_normal_rows(AnomalyParams(), schema, {1: 20, 0: 549})
    assert caplog.text == ""
