"""Scoring a file in chunks (the `score` pipeline's node, on small files): exactly the rows and
numbers of scoring it whole, in several chunks, with every check of whole-file scoring, and no
output where a later chunk is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from autoencoder_pipelines.config import ModelParams, ScoringParams
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.tables import TableFile
from autoencoder_pipelines.framework.datasets import ParquetPartitions, parquet_stream
from autoencoder_pipelines.jobs.autoencoders import architecture
from autoencoder_pipelines.jobs.scoring import Scorer
from autoencoder_pipelines.nn.detector import AutoencoderDetector
from autoencoder_pipelines.nn.kinds import get_kind
from autoencoder_pipelines.nn.networks import EncoderClassifier
from autoencoder_pipelines.pipelines.score.nodes import score_partitions

FEATURES = [f"f{i}" for i in range(12)]
ROWS = 300
CHUNKS = ScoringParams(chunk_rows=64, batch_rows=32)  # 300 rows: 5 chunks of 64, 64, 64, 64, 44


class Model:
    def columns(self):
        return {"model_name": "m", "model_version": 3, "model_run_id": "r"}


def _scorer(id_column: str | None = None) -> Scorer:
    torch.manual_seed(0)
    schema = DataSchema(source="t", features=FEATURES, classes=["a", "b", "c"], id_column=id_column, n_rows=ROWS)
    kind = get_kind("undercomplete")
    arch = architecture(ModelParams(kind="undercomplete", hidden_sizes=[8, 3]), schema)
    autoencoder = kind.build(arch)
    detector = AutoencoderDetector.fitted(kind.build(arch), threshold=0.2, center=torch.full((12,), 0.5),
                                          scale=torch.full((12,), 0.3))
    scaler = {"kind": "per_feature", "features": FEATURES, "minimum": [-1.0] * 12, "maximum": [2.0] * 12}
    return Scorer(schema, scaler, autoencoder, detector, EncoderClassifier.on(autoencoder, 3))


def _frame(ids: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 12)), columns=FEATURES)
    if ids:
        frame.insert(0, "key", [f"k{i:04d}" for i in range(ROWS)])
    return frame


def _run(scorer, inbox: dict[str, TableFile], out) -> dict:
    handles = {name: (lambda table=table: table) for name, table in inbox.items()}
    return score_partitions(scorer, Model(), handles, ParquetPartitions(out), CHUNKS)


def test_streamed_scoring_gives_exactly_the_rows_of_scoring_whole_in_several_chunks(tmp_path, monkeypatch):
    frame = _frame()
    frame.to_parquet(tmp_path / "day1.parquet", row_group_size=50)  # row groups across the chunks
    frame.to_csv(tmp_path / "day2.csv", index=False)
    chunk_sizes: list[int] = []
    original = TableFile.chunks

    def chunks(self, rows, text_columns=()):
        for chunk in original(self, rows, text_columns):
            chunk_sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(TableFile, "chunks", chunks)
    scorer = _scorer()
    inbox = {name: TableFile(tmp_path / name) for name in ("day1.parquet", "day2.csv")}
    report = _run(scorer, inbox, tmp_path / "scored")

    assert report["errors"] == {} and report["rows_scored"] == 2 * ROWS
    assert chunk_sizes == [64, 64, 64, 64, 44] * 2
    for name in inbox:
        streamed = pd.read_parquet(tmp_path / "scored" / f"{name}.parquet")
        whole_scorer = _scorer()
        whole_scorer.batch_rows = CHUNKS.batch_rows
        whole = whole_scorer.score(frame, source=name)
        whole.to_parquet(tmp_path / "whole.parquet", index=False)
        expected = pd.read_parquet(tmp_path / "whole.parquet")
        pd.testing.assert_frame_equal(streamed.drop(columns=["model_name", "model_version", "model_run_id"]), expected,
                                      check_exact=True)
        assert list(streamed["id"][[0, 299]]) == [f"{name}:0", f"{name}:299"]
        assert (streamed["model_version"] == 3).all()
    assert report["anomalies"] == int(expected["is_anomaly"].sum()) * 2


def test_a_refusal_in_a_later_chunk_names_the_files_line_and_leaves_no_output(tmp_path):
    frame = _frame(ids=True)
    bad = frame.copy()
    bad.loc[250, "f3"] = np.nan
    bad.to_csv(tmp_path / "nan.csv", index=False)
    repeated = frame.copy()
    repeated.loc[280, "key"] = "k0007"  # its twin is in the first chunk
    repeated.to_parquet(tmp_path / "dup.parquet")
    frame.to_parquet(tmp_path / "good.parquet")
    inbox = {name: TableFile(tmp_path / name) for name in ("nan.csv", "dup.parquet", "good.parquet")}

    report = _run(_scorer(id_column="key"), inbox, tmp_path / "scored")

    assert sorted(p.name for p in (tmp_path / "scored").iterdir()) == ["good.parquet.parquet"]  # no temporary left
    assert ("nan.csv: 1 bad cell in 1 of 64 rows (rows 193-256 of the file):\n"
            "  line 252, column 'f3': missing (empty or NaN)") in report["errors"]["nan.csv"]
    assert report["errors"]["dup.parquet"].startswith("dup.parquet: column 'key' (id): 2 rows share 1 id(s), e.g. ['k0007']")
    assert report["rows_refused"] == 2 * ROWS and report["rows_scored"] == ROWS
    good = pd.read_parquet(tmp_path / "scored" / "good.parquet.parquet")
    assert list(good["id"]) == list(frame["key"])


def test_a_stream_failing_midway_leaves_the_previous_file(tmp_path):
    target = tmp_path / "day1.csv.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="killed"):
        with parquet_stream(target) as stream:
            stream.write(pd.DataFrame({"a": [3, 4]}))
            raise RuntimeError("killed")
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [target.name]
    with parquet_stream(target) as stream:
        for start in (0, 2):
            stream.write(pd.DataFrame({"a": [start, start + 1]}))
    assert list(pd.read_parquet(target)["a"]) == [0, 1, 2, 3]


def test_reasons_columns_keep_their_type_when_the_first_chunks_flag_no_row(tmp_path):
    """A chunk without a flagged row has empty reasons: they stay text, so the file's later
    chunks (with flagged rows) still fit the Parquet schema the first chunk set."""
    scorer = _scorer()
    frame = _frame()
    frame.iloc[200:] *= 20  # far off: only the last chunks can hold flagged rows
    errors = scorer.score(frame)["reconstruction_error"].to_numpy()
    scorer.detector.threshold_ = float(errors[:192].max())
    assert (errors[200:] > scorer.detector.threshold_).any()
    frame.to_parquet(tmp_path / "day1.parquet")
    report = _run(scorer, {"day1.parquet": TableFile(tmp_path / "day1.parquet")}, tmp_path / "scored")

    assert report["errors"] == {} and report["rows_scored"] == ROWS
    streamed = pd.read_parquet(tmp_path / "scored" / "day1.parquet.parquet")
    flagged = streamed["is_anomaly"]
    assert flagged[200:].any() and not flagged[:192].any()
    assert streamed.loc[flagged, "top_feature_1"].isin(FEATURES).all()
    assert streamed.loc[~flagged, "top_feature_1"].isna().all()
