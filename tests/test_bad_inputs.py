"""Every refusal in one table: bad files, bad cells, data that does not fit the settings, bad
parameters, a busy folder, bad scoring files. Each case runs the pipeline in-process on one copy
of a trained tiny project and asserts what the command line would print (cli.failure_block:
one short block, recognised as a refusal, not a bug) and that no earlier output changed: every
file under data/ (metrics.json, model versions, scored partitions, ...) stays byte-identical.

Then, in subprocesses, the command line itself: a refusal is one short block at the end, with
no traceback on the screen, and the traceback in errors.log."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.data.errors import user_error
from autoencoder_pipelines.framework.cli import failure_block
from autoencoder_pipelines.framework.locks import TrainingLock

DIGITS_COLUMNS = [f"pixel_{i}_{j}" for i in range(8) for j in range(8)]


def _table(n: int = 60, labels: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((n, 4)), columns=["a", "b", "c", "d"])
    if labels:
        frame["kind"] = np.arange(n) % 3
    return frame


def _with(frame: pd.DataFrame, edit: Callable[[pd.DataFrame], Any]) -> pd.DataFrame:
    frame = frame.copy()
    edit(frame)
    return frame


def _text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _cells(text: str, replacements: dict[tuple[int, int], str]) -> str:
    """A CSV text with some cells (line number, column position) replaced by raw text."""
    lines = text.splitlines()
    for (line, column), value in replacements.items():
        cells = lines[line - 1].split(",")
        cells[column] = value
        lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _digits(rows: slice) -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame.drop(columns=["target"]).iloc[rows]


@dataclass
class Case:
    """A run of `pipeline` with `params` (as --params gives them) that must be refused with a
    message holding every fragment of `expected`. `files` are written to the case's own folder
    under data/01_raw/cases/ (a DataFrame as CSV or Parquet by suffix, else text or bytes);
    `data` is short for a `data` block reading the case's first file; "{case}" in a string
    parameter is that folder. `inbox` files go to the scoring inbox for the case only; `conf`
    files are written under conf/local for the case only."""

    pipeline: str
    expected: list[str]
    files: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inbox: dict[str, Any] = field(default_factory=dict)
    conf: dict[str, str] = field(default_factory=dict)
    hold_lock: bool = False
    fresh: bool = False  # a new project, with nothing trained
    one_line: bool = False  # the message is one line (parameters)


@dataclass
class Link:
    """A symbolic link to `target` (relative to the link's folder)."""

    target: str


def _latin1(text: str, line: int) -> bytes:
    """`text` in Latin-1, with an é (not UTF-8) at the start of line `line`'s last cell."""
    lines = text.splitlines()
    head, _, last = lines[line - 1].rpartition(",")
    lines[line - 1] = f"{head},\xe9{last}" if head else f"\xe9{last}"
    return ("\n".join(lines) + "\n").encode("latin-1")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _data(path_suffix: str = "csv", **data: Any) -> dict[str, Any]:
    return {"source": path_suffix, **data}


def _png(shape: tuple[int, ...], mode: str = "L", seed: int = 0) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8), mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


TABLE = _table()
SEMICOLONS = _text(TABLE).replace(",", ";")

CASES = {
    # -- the file ------------------------------------------------------------------------
    "missing file": Case("data_processing", ["nope.csv: file not found (data.path, source 'csv')"],
                         params={"data": {"source": "csv", "path": "{case}/nope.csv"}}),
    "empty file": Case("data_processing", ["in.csv: file is empty"], files={"in.csv": ""}, data=_data()),
    "header only": Case("data_processing", ["in.csv: no rows"], files={"in.csv": "a,b,c\n"}, data=_data()),
    "unreadable parquet": Case("data_processing", ["in.parquet: cannot be read as parquet"],
                               files={"in.parquet": b"this is not parquet"}, data=_data("parquet")),
    "a folder, not a file": Case("data_processing", ["is a directory; expected a csv file"],
                                 files={"folder.csv/x": "1"}, params={"data": {"source": "csv", "path": "{case}/folder.csv"}}),
    "separated by semicolons": Case("data_processing", ["in.csv: every line parses into one column",
                                                        "separated by ';'? Set data.read_args: {sep: ';'}"],
                                    files={"in.csv": SEMICOLONS}, data=_data()),
    "read_args not of pandas": Case("data_processing", ["are not options of pandas.read_csv", "'sepp'"],
                                    files={"in.csv": SEMICOLONS}, data=_data(read_args={"sepp": ";"})),
    "not UTF-8": Case("data_processing", ["in.csv: line 5, byte", "is not utf-8 text",
                                          "or give its encoding (data.read_args: {encoding: latin-1}, for instance)"],
                      files={"in.csv": _latin1(_text(TABLE), 5)}, data=_data()),
    "a Parquet file named .csv": Case("data_processing", ["in.csv: a Parquet file named .csv; rename it to .parquet"],
                                      files={"in.csv": _parquet_bytes(TABLE)}, data=_data()),
    "a symbolic link loop": Case("data_processing", ["loop.csv: a symbolic link loop (the link leads back to itself)"],
                                 files={"loop.csv": Link("loop2.csv"), "loop2.csv": Link("loop.csv")}, data=_data()),
    "duplicate column names": Case("data_processing", ["in.csv: duplicate column name(s) ['a']; every column needs its own name"],
                                   files={"in.csv": _text(TABLE).replace("a,b,c,d", "a,b,a,d", 1)}, data=_data()),
    # -- bad cells: file, line, column, value; never a dropped column ---------------------
    "one text cell in a number column": Case(
        "data_processing",
        ["in.csv: 1 bad cell in 1 of 60 rows:", "  line 5, column 'b': 'oops' (not a number)",
         "Expected: features are numbers within float32's range (±3.4e38)",
         "Fix them, or set data.bad_rows: drop to drop those rows (never a column)."],
        files={"in.csv": _cells(_text(TABLE), {(5, 1): "oops"})}, data=_data(label_column="kind")),
    "a listed text column": Case(
        "data_processing", ["2 bad cells in 2 of 60 rows:", "line 5, column 'b': 'x' (not a number)", "line 9, column 'b'"],
        files={"in.csv": _cells(_text(TABLE), {(5, 1): "x", (9, 1): "y"})}, data=_data(feature_columns=["a", "b"])),
    "an empty cell": Case("data_processing", ["line 3, column 'c': missing (empty or NaN)"],
                          files={"in.csv": _cells(_text(TABLE), {(3, 2): ""})}, data=_data()),
    "infinity": Case("data_processing", ["line 7, column 'c': inf (infinite)"],
                     files={"in.csv": _cells(_text(TABLE), {(7, 2): "inf"})}, data=_data()),
    "beyond float32": Case("data_processing", ["line 11, column 'a': 1e+300 (beyond float32's range ±3.4e38)"],
                           files={"in.csv": _cells(_text(TABLE), {(11, 0): "1e300"})}, data=_data()),
    "beyond float64": Case("data_processing", ["line 12, column 'a': inf (infinite)"],
                           files={"in.csv": _cells(_text(TABLE), {(12, 0): "1e400"})}, data=_data()),
    "infinity in parquet": Case("data_processing", ["in.parquet: 1 bad cell in 1 of 60 rows:",
                                                    "row 1, column 'a': -inf (infinite)"],
                                files={"in.parquet": _with(TABLE, lambda f: f.__setitem__("a", [-np.inf, *f["a"][1:]]))},
                                data=_data("parquet")),
    "more than five bad cells": Case(
        "data_processing", ["7 bad cells in 7 of 60 rows (the first 5 below):", "line 2, column 'a'", "line 6, column 'a'"],
        files={"in.csv": _cells(_text(TABLE), {(line, 0): "?" for line in range(2, 9)})}, data=_data()),
    "decimal commas": Case("data_processing", ["line 2, column 'a': '0,5' (not a number)",
                                               "Numbers written 1,5 need data.read_args: {decimal: ','}"],
                           files={"in.csv": _cells(_text(TABLE), {(2, 0): '"0,5"'})}, data=_data()),
    "a missing id": Case("data_processing", ["line 4, column 'row' (id): missing id"],
                         files={"in.csv": _cells(_text(_with(TABLE, lambda f: f.insert(0, "row", range(60)))), {(4, 0): ""})},
                         data=_data(id_column="row")),
    "too few rows after dropping bad ones": Case(
        "data_processing", ["in.csv: 19 rows after dropping 5 with bad cells; at least 20 are needed (data.min_rows)"],
        files={"in.csv": _cells(_text(_table(24)), {(line, 0): "x" for line in range(2, 7)})},
        data=_data(bad_rows="drop")),
    # -- the table's structure ------------------------------------------------------------
    "no numeric feature": Case("data_processing", ["no numeric feature columns"],
                               files={"in.csv": pd.DataFrame({"name": ["x"] * 30, "kind": [0, 1] * 15})},
                               data=_data(label_column="kind")),
    "absent label column": Case("data_processing", ["in.csv: data.label_column 'target' is not a column; "
                                                    "columns are ['a', 'b', 'c', 'd', 'kind']"],
                                files={"in.csv": TABLE}, data=_data(label_column="target")),
    "absent id column": Case("data_processing", ["data.id_column 'key' is not a column"], files={"in.csv": TABLE},
                             data=_data(id_column="key")),
    "absent feature column": Case("data_processing", ["data.feature_columns ['zz'] not in the file"], files={"in.csv": TABLE},
                                  data=_data(feature_columns=["a", "zz"])),
    "duplicate ids": Case("data_processing", ["column 'row' (id): 30 duplicate ids"],
                          files={"in.csv": _with(TABLE, lambda f: f.insert(0, "row", [i // 2 for i in range(60)]))},
                          data=_data(id_column="row")),
    "a single class": Case("data_processing", ["column 'kind' (label): a single class 1"],
                           files={"in.csv": _with(TABLE, lambda f: f.__setitem__("kind", 1))}, data=_data(label_column="kind")),
    "too few rows": Case("data_processing", ["in.csv: 10 rows; at least 20 are needed (data.min_rows)"],
                         files={"in.csv": _table(10)}, data=_data(label_column="kind")),
    "a reserved name": Case("data_processing", ["feature column(s) ['split'] use a reserved name"],
                            files={"in.csv": TABLE.rename(columns={"a": "split"})}, data=_data(label_column="kind")),
    "image shape mismatch": Case("data_processing", ["data.image_shape [3, 3] holds 9 values but there are 4 feature columns"],
                                 files={"in.csv": TABLE}, data=_data(label_column="kind", image_shape=[3, 3])),
    # -- the data against the settings (right after ingestion) ----------------------------
    "every feature constant": Case(
        "anomaly", ["in.csv: all 4 feature column(s) are constant ['a', 'b', 'c', 'd']: an autoencoder needs at least 2 varying "
                    "features to learn anything"],
        files={"in.csv": TABLE.assign(a=1.0, b=0.0, c=0.5, d=2.0)}, data=_data(label_column="kind"),
        params={"anomaly": {"normal_classes": [0]}}),
    "one varying feature": Case(
        "data_processing", ["in.csv: only 1 of 4 feature columns varies ('c'); the others are constant ['a', 'b', 'd']"],
        files={"in.csv": TABLE.assign(a=1.0, b=0.0, d=2.0)}, data=_data(label_column="kind")),
    "a label of measurements": Case("data_processing", ["column 'a' (label) holds non-integer numbers"],
                                    files={"in.csv": TABLE}, data=_data(label_column="a")),
    "too few rows for the split": Case("data_processing", ["too few for the split"], files={"in.csv": _table(24)},
                                       data=_data(min_rows=2), params={"split": {"test_fraction": 0.01}}),
    "too few rows to stratify": Case("data_processing", ["a test set of 2 and a validation set of 2, fewer than the 3 classes"],
                                     files={"in.csv": _table(24)}, data=_data(label_column="kind"),
                                     params={"split": {"test_fraction": 0.1, "val_fraction": 0.1}}),
    # an empty label is an unlabelled row, not a bad cell; the labelled rows must still stratify
    "too few labelled rows to stratify": Case(
        "data_processing", ["in.csv: 12 labelled rows (of 60) give a test set of 2 and a validation set of 1, "
                            "fewer than the 3 classes"],
        files={"in.csv": _with(TABLE, lambda f: f.__setitem__("kind", f["kind"].where(f.index < 12)))},
        data=_data(label_column="kind")),
    "a class too small to stratify": Case("data_processing", ["class 9 has 1 row(s)"],
                                          files={"in.csv": _with(TABLE, lambda f: f.loc.__setitem__((0, "kind"), 9))},
                                          data=_data(label_column="kind")),
    "code size of the feature count": Case("denoise", ["model.hidden_sizes: the code size 4 must be smaller than "
                                                       "the 4 input features"],
                                           files={"in.csv": TABLE}, data=_data(label_column="kind"),
                                           params={"model": {"hidden_sizes": [8, 4]}}),
    "conv without an image shape": Case("denoise", ["model.kind 'conv' needs images: set data.image_shape"],
                                        files={"in.csv": TABLE}, data=_data(), params={"model": {"kind": "conv"}}),
    "normal classes not in the data": Case("anomaly", ["anomaly.normal_classes: [7] are not classes of the data"],
                                           files={"in.csv": TABLE}, data=_data(label_column="kind"),
                                           params={"anomaly": {"normal_classes": [0, 7]}}),
    "every class normal": Case("anomaly", ["covers every class of the data"], files={"in.csv": TABLE},
                               data=_data(label_column="kind"), params={"anomaly": {"normal_classes": [0, 1, 2]}}),
    # -- image folders: every file's header read before any pixel, files named ------------
    "images of mixed sizes": Case(
        "data_processing", ["imgs: the images have 2 sizes (height x width):", "  8x8: 2 file(s), e.g. a/1.png, a/2.png",
                            "  10x10: 1 file(s), e.g. b/3.png", "Set data.image_shape to resize them all to one size"],
        files={"imgs/a/1.png": _png((8, 8)), "imgs/a/2.png": _png((8, 8)), "imgs/b/3.png": _png((10, 10))},
        params={"data": {"source": "images", "path": "{case}/imgs"}}),
    "an image folder with bad files": Case(
        "data_processing", ["imgs: 2 of 4 image files cannot be used:", "empty.png: file is empty",
                            "text.png: not an image Pillow can read (PNG or JPEG expected)", "set data.bad_rows: drop"],
        files={"imgs/a/1.png": _png((8, 8)), "imgs/a/2.png": _png((8, 8)), "imgs/a/empty.png": b"", "imgs/b/text.png": "hello"},
        params={"data": {"source": "images", "path": "{case}/imgs"}}),
    "idx labels of another length": Case(
        "data_processing", ["labels.idx: 3 labels for the 2 images of images.idx; expected one label per image"],
        files={"images.idx": bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(8),
               "labels.idx": bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3])},
        params={"data": {"source": "idx", "path": "{case}/images.idx", "labels_path": "{case}/labels.idx"}}),
    # -- parameters (before any node) ------------------------------------------------------
    "a fraction above 1": Case("data_processing", ["corruption.level: a masking level is a fraction: "
                                                   "expected a value in [0, 1] (got 1.5)"],
                               params={"corruption": {"level": 1.5}}, one_line=True),
    "an unknown section": Case("data_processing", ["unknown section(s) ['corruptoin'] (did you mean 'corruption'?)"],
                               params={"corruptoin": {"level": 0.1}},
                               one_line=True),
    "an unknown model key": Case("data_processing", ["model: unknown key 'hidden_size' (did you mean 'hidden_sizes'?)",
                                                     "a block of options must be named after a kind"],
                                 params={"model": {"hidden_size": [3]}}, one_line=True),
    "a word for a number": Case("data_processing", ["pretrain.epochs", "'many'", "valid integer"],
                                params={"pretrain": {"epochs": "many"}}, one_line=True),
    "an empty list": Case("data_processing", ["model.hidden_sizes", "at least 1 item"], params={"model": {"hidden_sizes": []}},
                          one_line=True),
    "an unknown device": Case("data_processing", ["runtime.device", "'tpu'", "auto, cpu, cuda, cuda:N, mps"],
                              params={"runtime": {"device": "tpu"}}, one_line=True),
    "an absent device": Case("data_processing", ["cuda"], params={"runtime": {"device": "cuda:7"}}, one_line=True),
    "an unknown corruption": Case("data_processing", ["corruption.kind", "'blur'"], params={"corruption": {"kind": "blur"}},
                                  one_line=True),
    "an unknown model kind": Case("data_processing", ["model.kind", "'gan'", "contractive, conv, conv1d_vae, denoising"],
                                  params={"model": {"kind": "gan"}}, one_line=True),
    "a file source without a path": Case("data_processing", ["data.path is required"], params={"data": {"source": "csv"}},
                                         one_line=True),
    "one corruption per layer, too few": Case(
        "data_processing", ["pretrain.layer_corruption", "1 entries for 2 layers"], one_line=True,
        params={"model": {"hidden_sizes": [8, 4]}, "pretrain": {"layer_corruption": [{"kind": "masking", "level": 0.1}]}}),
    "bce on relu codes": Case("data_processing", ["hidden_loss 'bce' needs codes in [0, 1]"],
                              params={"model": {"hidden_loss": "bce"}}, one_line=True),
    "a kind's option out of range": Case("denoise", ["model.sparse.weight: Input should be greater than or equal to 0 (got -1)"],
                                         params={"model": {"sparse": {"weight": -1}}}, one_line=True),
    "an unknown bad_rows": Case("data_processing", ["data.bad_rows", "'sometimes'", "'refuse' or 'drop'"],
                                params={"data": {"bad_rows": "sometimes"}}, one_line=True),
    "promote without registering": Case("data_processing", ["registry: promote needs register_model: true"],
                                        params={"registry": {"promote": True, "register_model": False}}, one_line=True),
    "a version and a model uri": Case("data_processing", ["give registry.version or registry.model_uri"],
                                      params={"registry": {"version": 2, "model_uri": "runs:/x/scoring_model"}}, one_line=True),
    "version 0": Case("data_processing", ["registry.version", "greater than or equal to 1"],
                      params={"registry": {"version": 0}}, one_line=True),
    "promote without a version": Case("promote", ["promoting needs the version to promote: `kedro run --pipelines=promote "
                                                  "--params=registry.version=N`"], one_line=True),
    "score without a champion": Case("score", ["no model is registered as 'autoencoder-pipelines@champion'"], one_line=True,
                                     fresh=True),
    "an unknown on_busy": Case("data_processing", ["runtime.on_busy", "'later'", "'wait' or 'refuse'"],
                               params={"runtime": {"on_busy": "later"}}, one_line=True),
    "ddp without torchrun": Case("data_processing", ["runtime.strategy 'ddp' trains one process per GPU",
                                                     "--rdzv-endpoint=127.0.0.1:0"],
                                 params={"runtime": {"strategy": "ddp"}}, one_line=True),
    # -- the folders and the tracking store -----------------------------------------------
    "another training holds the folder": Case(
        "data_processing", ["another training is running in this folder (pid", "--params=data_dir=<folder>"],
        params={"runtime": {"on_busy": "refuse"}}, hold_lock=True, one_line=True),
    "outputs cannot be written": Case("data_processing", ["08_reporting: outputs cannot be written there"],
                                      files={"in.csv": TABLE, "elsewhere/08_reporting": "a file, not a folder"},
                                      data=_data(), params={"data_dir": "{case}/elsewhere"}),
    "data folder cannot be made": Case("data_processing", ["a_file/data: outputs cannot be written there (Not a directory)"],
                                       files={"a_file": "not a folder"}, params={"data_dir": "{case}/a_file/data"},
                                       one_line=True),
    "tracking store not writable": Case("anomaly", ["MLflow tracking store", "cannot be written",
                                                            "Set MLFLOW_TRACKING_URI to a writable store"],
                                        files={"a_file": "not a folder"},
                                        conf={"mlflow.yml": "tracking_uri: sqlite:///{case}/a_file/mlflow.db\n"}),
    "a tracking folder that does not exist": Case(
        "anomaly", ["MLflow tracking store", "/typo/mlflow.db': the folder", "does not exist", "nothing was created"],
        conf={"mlflow.yml": "tracking_uri: sqlite:///{case}/typo/mlflow.db\n"}, one_line=True),
    "scoring from a tracking folder that does not exist": Case(
        "score", ["/typo/mlflow.db': the folder", "does not exist", "nothing was created"],
        conf={"mlflow.yml": "tracking_uri: sqlite:///{case}/typo/mlflow.db\n"}, one_line=True),
    "scoring from a store that does not exist": Case(
        "score", ["there is no store at", "nothing was created"], files={"folder/x": "a folder"},
        conf={"mlflow.yml": "tracking_uri: sqlite:///{case}/folder/mlflow.db\n"}, one_line=True),
    "promoting in a store that does not exist": Case(
        "promote", ["there is no store at", "nothing was created"], files={"folder/x": "a folder"},
        params={"registry": {"version": 1}},
        conf={"mlflow.yml": "tracking_uri: sqlite:///{case}/folder/mlflow.db\n"}, one_line=True),
    "a tracking server that is down": Case(
        "score", ["MLflow tracking server http://127.0.0.1:9 does not answer"],
        conf={"mlflow.yml": "tracking_uri: http://127.0.0.1:9\nserver_timeout_seconds: 2\n"}, one_line=True),
    # -- scoring: a bad file is refused, the scored ones stay -----------------------------
    "scoring: beyond float32": Case(
        "score", ["1 of 1 new partition(s) could not be scored", "big.csv: 1 bad cell in 1 of 5 rows:",
                  "line 3, column 'pixel_0_1': 1e+300 (beyond float32's range ±3.4e38)"],
        inbox={"big.csv": _cells(_text(_digits(slice(0, 5))), {(3, 1): "1e300"})}),
    "scoring: a truncated image": Case(
        "score", ["1 of 1 new partition(s) could not be scored", "cut.png: truncated or corrupt image"],
        inbox={"cut.png": _png((8, 8))[:70]}),
    "scoring: an image of another size": Case(
        "score", ["big.png: 10x10 pixels (height x width); the model was trained on 8x8 images"],
        inbox={"big.png": _png((10, 10))}),
    "scoring: a colour image for a grayscale model": Case(
        "score", ["rgb.png: a colour (3 channels) image; the model was trained on grayscale (1 channel) images"],
        inbox={"rgb.png": _png((8, 8, 3), "RGB")}),
    "scoring: an empty image file": Case("score", ["none.png: file is empty"], inbox={"none.png": b""}),
    "scoring: duplicate columns": Case(
        "score", ["dup.csv: duplicate column name(s) ['pixel_0_0']"],
        inbox={"dup.csv": _text(_digits(slice(0, 5))).replace("pixel_0_1,", "pixel_0_0,", 1)}),
    "scoring: not UTF-8": Case(
        "score", ["latin.csv: line 3, byte", "is not utf-8 text"], inbox={"latin.csv": _latin1(_text(_digits(slice(0, 5))), 3)}),
    "scoring: a symbolic link loop": Case(
        "score", ["loop.csv: a symbolic link loop (the link leads back to itself)"],
        inbox={"loop.csv": Link("loop2.csv"), "loop2.csv": Link("loop.csv")}),
    "scoring: separated by semicolons": Case(
        "score", ["semi.csv: every line parses into one column", "separated by ';'?"],
        inbox={"semi.csv": _text(_digits(slice(0, 5))).replace(",", ";")}),
}


@pytest.fixture(scope="module")
def project(trained_project, tmp_path_factory):
    """A copy of the trained tiny project with one scored partition: the earlier outputs."""
    copy = trained_project.copy(tmp_path_factory.mktemp("bad_inputs") / "project")
    copy.promote(1)
    inbox = copy.path("data/01_raw/incoming")
    inbox.mkdir(parents=True)
    _digits(slice(0, 20)).to_csv(inbox / "good.csv", index=False)
    copy.run("score")
    assert copy.path("data/07_model_output/scored/good.csv.parquet").exists()
    return copy


def _outputs(root: Path) -> dict[str, str]:
    """Every output file under data/ (not the inputs in 01_raw, nor the lock files), hashed."""
    data = root / "data"
    if not data.is_dir():
        return {}
    return {str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.rglob("*"))
            if p.is_file() and not p.relative_to(data).parts[0] == "01_raw" and not p.name.startswith(".training")}


def _write(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Link):
        path.symlink_to(content.target)
    elif isinstance(content, pd.DataFrame):
        content.to_parquet(path) if path.suffix == ".parquet" else content.to_csv(path, index=False)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _fill(value: Any, folder: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{case}", str(folder))
    if isinstance(value, dict):
        return {k: _fill(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, folder) for v in value]
    return value


@pytest.mark.parametrize("name", CASES)
def test_a_bad_input_is_refused_and_changes_no_earlier_output(name, request, make_project):
    case = CASES[name]
    project = make_project() if case.fresh else request.getfixturevalue("project")
    folder = project.path("data/01_raw/cases") / name.replace(" ", "_").replace(":", "")
    for relative, content in case.files.items():
        _write(folder / relative, content)
    params = _fill(dict(case.params), folder)
    if case.data is not None:
        first = next(iter(case.files))
        params["data"] = {**case.data, "path": str(folder / first)}
    inbox = project.path("data/01_raw/incoming")
    for relative, content in case.inbox.items():
        _write(inbox / relative, content)
    conf = {project.path("conf/local") / relative: _fill(text, folder) for relative, text in case.conf.items()}
    for path, text in conf.items():
        path.write_text(text)
    holder = TrainingLock(project.path("data")) if case.hold_lock else None
    before = _outputs(project.root)
    try:
        if holder:
            holder.acquire("refuse")
        with pytest.raises(Exception) as raised:
            project.run(case.pipeline, **params)
    finally:
        if holder:
            holder.release()
        for path in conf:
            path.unlink()
        for relative in case.inbox:
            (inbox / relative).unlink()
    error = raised.value
    assert user_error(error) is not None, f"not a refusal but {type(error).__name__}: {error}"
    block = failure_block(error, ["errors.log"], verbose=False)
    for fragment in case.expected:
        assert fragment in block, block
    message = block.splitlines()[:-1]
    assert len(message) <= (1 if case.one_line else 8), block
    assert _outputs(project.root) == before, "an earlier output changed"
    assert not (folder / "typo").exists() and not (folder / "folder" / "mlflow.db").exists(), "a store was created"
    free = TrainingLock(project.path("data"))
    free.acquire("refuse")  # the refused run left the data folder free
    free.release()



# -- the command line ---------------------------------------------------------------------

def _cli(project, *args: str) -> subprocess.CompletedProcess:
    return project.kedro("run", *args, env={"COLUMNS": "200"})


@pytest.mark.parametrize("kind, args", [
    ("config", ["--pipelines=data_processing", "--params=corruption.level=1.5"]),
    ("data", ["--pipelines=data_processing", "--params=data.source=csv,data.path=data/01_raw/cases/cli.csv"]),
    ("busy", ["--pipelines=data_processing", "--params=runtime.on_busy=refuse"]),
])
def test_the_command_line_prints_one_short_block_and_logs_the_traceback(project, kind, args):
    _write(project.path("data/01_raw/cases/cli.csv"), _cells(_text(TABLE), {(5, 1): "oops", (9, 2): "1e300"}))
    (project.root / "errors.log").unlink(missing_ok=True)
    holder = TrainingLock(project.path("data")) if kind == "busy" else None
    before = _outputs(project.root)
    try:
        if holder:
            holder.acquire("refuse")
        result = _cli(project, *args)
    finally:
        if holder:
            holder.release()
    output = result.stdout + result.stderr
    assert result.returncode == (75 if kind == "busy" else 1), output[-3000:]
    assert "Traceback" not in output and "─" not in output, output[-3000:]  # no (rich) traceback
    assert "--from-nodes" not in output and "No nodes ran" not in output  # Kedro's resume advice does not fix it
    lines = output.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("Error: "))
    block = lines[start:]
    assert len(block) <= 6, "\n".join(block)
    assert block[-1] == "(traceback in errors.log; --verbose prints it here)"
    expected = {"config": "Error: Invalid parameters: corruption.level: a masking level is a fraction",
                "data": "Error: data/01_raw/cases/cli.csv: 2 bad cells in 2 of 60 rows:",
                "busy": "another training is running in this folder (pid"}[kind]
    assert expected in "\n".join(block), "\n".join(block)
    assert "Traceback (most recent call last)" in (project.root / "errors.log").read_text()
    assert _outputs(project.root) == before
    if kind == "data":
        assert "Node ingest: ingest" not in output, "Kedro's repetition of the message stays off the screen"
        assert block[1:3] == ["  line 5, column 'b': 'oops' (not a number)",
                              "  line 9, column 'c': 1e+300 (beyond float32's range ±3.4e38)"]


def test_verbose_prints_the_traceback_too(project):
    result = project.kedro("run", "--pipelines=data_processing", "--params=corruption.level=1.5", "--verbose")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback (most recent call last)" in output
    assert output.rstrip().splitlines()[-1].startswith("Error: Invalid parameters: corruption.level")


def test_an_unexpected_error_is_one_block_too():
    from kedro.io import DatasetError

    from autoencoder_pipelines.data.errors import DataValidationError

    try:
        raise RuntimeError("the loss went sideways\nsecond line")
    except RuntimeError as error:
        block = failure_block(error, ["info.log", "errors.log"], verbose=False)
    assert block.splitlines() == ["RuntimeError: the loss went sideways", "second line",
                                  "An unexpected error: the traceback is in errors.log (--verbose prints it here)."]
    try:  # a refusal wrapped by Kedro (a dataset's load) is shown as the refusal
        try:
            raise DataValidationError("x.csv: file is empty")
        except DataValidationError as cause:
            raise DatasetError("Failed while loading data from dataset X.\nx.csv: file is empty") from cause
    except DatasetError as error:
        assert failure_block(error, [], verbose=False).splitlines() == ["x.csv: file is empty",
                                                                        "(--verbose prints the traceback)"]
