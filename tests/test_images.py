"""Images as you have them: the bundled digits written as grayscale and RGB PNG folders (class
sub-folders, as torchvision's ImageFolder), a flat folder, an IDX pair; trained end to end; image
files scored from the inbox, a bad file refused naming it while the good ones are scored."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from autoencoder_pipelines.config import DataParams
from autoencoder_pipelines.data.errors import ConfigError, DataValidationError
from autoencoder_pipelines.data.idx import read_idx, write_idx
from autoencoder_pipelines.data.images import ImageFile, pixel_names, read_idx_images, read_image_folder

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "digits_to_images.py"
DIGITS = load_digits()
PIXELS = np.rint(DIGITS.images * (255 / 16)).reshape(len(DIGITS.images), -1)  # as the script writes them


def _script(out: Path, *args: str) -> Path:
    subprocess.run([sys.executable, str(SCRIPT), str(out), *args], check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """The docs' script, run as the docs run it: gray and RGB class folders, an IDX pair."""
    root = tmp_path_factory.mktemp("images")
    return {"gray": _script(root / "gray"), "rgb": _script(root / "rgb", "--rgb"), "idx": _script(root / "idx", "--idx")}


def _png(path: Path, array: np.ndarray, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode=mode).save(path)
    return path


def _in_digit_order(frame: pd.DataFrame) -> pd.DataFrame:
    order = frame["path"].str.extract(r"digit_(\d+)")[0].astype(int)
    return frame.assign(_order=order.to_numpy()).sort_values("_order").drop(columns="_order").reset_index(drop=True)


# -- reading --------------------------------------------------------------------------------


def test_a_grayscale_class_folder_reads_as_the_digits_with_their_labels(written):
    frame, shape = read_image_folder(written["gray"])
    assert shape == [8, 8] and len(frame) == 1797
    assert list(frame.columns[:2]) == ["path", "label"] and list(frame.columns[2:]) == pixel_names([8, 8])
    frame = _in_digit_order(frame)
    assert frame["path"][0] == "0/digit_0000.png"
    assert (frame["label"].to_numpy() == DIGITS.target).all()  # folder names 0..9 become the numbers
    np.testing.assert_array_equal(frame[pixel_names([8, 8])].to_numpy(), PIXELS)


def test_an_rgb_folder_keeps_its_channels(written):
    frame, shape = read_image_folder(written["rgb"])
    assert shape == [3, 8, 8] and frame.shape[1] == 2 + 3 * 64
    assert frame.columns[2] == "red_0_0" and frame.columns[-1] == "blue_7_7"
    frame = _in_digit_order(frame)
    red = frame[[f"red_{r}_{c}" for r in range(8) for c in range(8)]].to_numpy()
    np.testing.assert_allclose(red, PIXELS, atol=1)  # the script draws the digit in the red channel at full scale
    gray, _ = read_image_folder(written["rgb"], image_shape=[1, 8, 8])  # converted to grayscale on request
    assert list(gray.columns[2:]) == pixel_names([8, 8])


def test_an_idx_pair_reads_as_the_png_folder_does(written):
    frame, shape = read_idx_images(written["idx"] / "images.idx3-ubyte.gz", written["idx"] / "labels.idx1-ubyte.gz")
    assert shape == [8, 8] and len(frame) == 1797 and frame["path"][3] == "images.idx3-ubyte.gz:3"
    assert (frame["label"].to_numpy() == DIGITS.target).all()
    np.testing.assert_array_equal(frame[pixel_names([8, 8])].to_numpy(), PIXELS)
    unlabelled, _ = read_idx_images(written["idx"] / "images.idx3-ubyte.gz")
    assert "label" not in unlabelled.columns
    bigger, shape = read_idx_images(written["idx"] / "images.idx3-ubyte.gz", image_shape=[16, 16])
    assert shape == [16, 16] and bigger.shape[1] == 1 + 256


def test_idx_files_plain_or_gzip_and_their_refusals(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", array)
    write_idx(tmp_path / "a.idx.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), array)
    write_idx(tmp_path / "f.idx", np.ones((2, 2), dtype=np.float32))
    assert read_idx(tmp_path / "f.idx").dtype == np.float32
    raw = (tmp_path / "a.idx").read_bytes()
    cases = {
        "short.idx": (raw[:-3], "the IDX header says 2 x 3 x 4 elements of 1 byte(s) (40 bytes with the header), "
                                "the file has 37: truncated"),
        "long.idx": (raw + b"x", "trailing bytes"),
        "png.idx": (b"\x89PNG\r\n\x1a\n" + raw, "not an IDX file: its magic number is 89504e47"),
        "empty.idx": (b"", "0 bytes; not an IDX file"),
        "bad.idx.gz": (gzip.compress(raw)[:-10], "a gzip file that cannot be decompressed"),
    }
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataValidationError, match="^" + str(tmp_path / name).replace(".", r"\.")) as error:
            read_idx(tmp_path / name)
        assert expected in str(error.value), name
    with pytest.raises(DataValidationError, match="file not found"):
        read_idx(tmp_path / "missing.idx")
    write_idx(tmp_path / "labels.idx", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataValidationError, match="3 labels for the 2 images of a.idx; expected one label per image"):
        read_idx_images(tmp_path / "a.idx", tmp_path / "labels.idx")
    with pytest.raises(DataValidationError, match="holds n x height x width values; this one is 2 x 2"):
        read_idx_images(tmp_path / "f.idx")


def test_a_flat_folder_is_unlabelled_and_top_level_files_beside_classes_are_unlabelled_rows(tmp_path):
    for i in range(3):
        _png(tmp_path / "flat" / f"{i}.png", np.full((4, 4), 10 * i))
    frame, shape = read_image_folder(tmp_path / "flat")
    assert shape == [4, 4] and "label" not in frame.columns and list(frame["path"]) == ["0.png", "1.png", "2.png"]
    _png(tmp_path / "mixed" / "cat" / "a.png", np.zeros((4, 4)))
    _png(tmp_path / "mixed" / "dog" / "b.jpg", np.zeros((4, 4)))
    _png(tmp_path / "mixed" / "c.png", np.zeros((4, 4)))
    (tmp_path / "mixed" / "notes.txt").write_text("not an image")  # left out, with a warning
    frame, _ = read_image_folder(tmp_path / "mixed")
    assert frame.set_index("path")["label"].to_dict() == {"c.png": None, "cat/a.png": "cat", "dog/b.jpg": "dog"}


def test_images_of_several_sizes_are_refused_naming_them_unless_image_shape_resizes_them(tmp_path):
    for i in range(4):
        _png(tmp_path / "a" / f"small_{i}.png", np.zeros((8, 8)))
    _png(tmp_path / "b" / "big.png", np.zeros((12, 10)))
    with pytest.raises(DataValidationError) as error:
        read_image_folder(tmp_path)
    assert str(error.value).splitlines() == [
        f"{tmp_path}: the images have 2 sizes (height x width):",
        "  8x8: 4 file(s), e.g. a/small_0.png, a/small_1.png, a/small_2.png",
        "  12x10: 1 file(s), e.g. b/big.png",
        "Set data.image_shape to resize them all to one size, e.g. data.image_shape: [8, 8]",
    ]
    frame, shape = read_image_folder(tmp_path, image_shape=[6, 6])
    assert shape == [6, 6] and frame.shape == (5, 2 + 36)


def _bad_files(folder: Path) -> dict[str, str]:
    """Each bad-image case as a file, and what its refusal says."""
    noise = io.BytesIO()  # random pixels: the compressed data is most of the file
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)).save(noise, format="PNG")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not a picture")
    (folder / "truncated.png").write_bytes(noise.getvalue()[: len(noise.getvalue()) // 2])
    return {"empty.png": "file is empty", "text.png": "not an image Pillow can read (PNG or JPEG expected)",
            "truncated.png": "truncated or corrupt image"}


def test_bad_image_files_are_refused_in_one_block_naming_each_or_left_out_on_request(tmp_path):
    folder = tmp_path / "bad"
    for i in range(3):
        _png(folder / f"good_{i}.png", np.full((8, 8), 50 * i))
    expected = _bad_files(folder)
    with pytest.raises(DataValidationError) as error:
        read_image_folder(folder)
    lines = str(error.value).splitlines()
    assert lines[0] == f"{folder}: 2 of 6 image files cannot be used:"  # the truncated file's header reads
    message = str(error.value)
    for name, problem in expected.items():
        if name != "truncated.png":  # a header that reads: its pixels are refused in the second pass
            assert f"{folder / name}: {problem}" in message
    assert lines[-1] == "Fix or remove them, or set data.bad_rows: drop to leave them out."
    (folder / "empty.png").unlink()
    (folder / "text.png").unlink()
    with pytest.raises(DataValidationError, match="truncated.png: truncated or corrupt image"):
        read_image_folder(folder)
    frame, _ = read_image_folder(folder, bad_rows="drop")
    assert sorted(frame["path"]) == ["good_0.png", "good_1.png", "good_2.png"]


def test_an_image_to_score_must_have_the_models_size_and_mode(tmp_path, monkeypatch):
    good = _png(tmp_path / "good.png", np.full((8, 8), 7))
    row = ImageFile(good).row([8, 8])
    assert list(row.columns) == ["path", *pixel_names([8, 8])] and row["path"][0] == good.as_posix()  # outside the cwd: absolute
    monkeypatch.chdir(tmp_path)
    assert ImageFile(good).row([8, 8])["path"][0] == "good.png"  # inside: relative to it (the project)
    assert (row[pixel_names([8, 8])].to_numpy() == 7).all()
    refusals = {
        _png(tmp_path / "big.png", np.zeros((10, 8))): "10x8 pixels (height x width); the model was trained on 8x8 images",
        _png(tmp_path / "rgb.png", np.zeros((8, 8, 3)), "RGB"): "a colour (3 channels) image; "
                                                                 "the model was trained on grayscale (1 channel) images",
    }
    for name, problem in _bad_files(tmp_path).items():
        refusals[tmp_path / name] = problem
    for path, problem in refusals.items():
        with pytest.raises(DataValidationError) as error:
            ImageFile(path).row([8, 8])
        assert str(error.value).startswith(f"{path}: {problem}")
    with pytest.raises(DataValidationError, match="trained on a table, not on images"):
        ImageFile(good).row(None)


def test_data_params_for_images_and_idx():
    assert DataParams(source="images", path="x", image_shape=[3, 28, 28]).image_shape == [3, 28, 28]
    for bad in ({"source": "images"}, {"source": "images", "path": "x", "label_column": "y"},
                {"source": "csv", "path": "x", "labels_path": "y"}, {"source": "images", "path": "x", "image_shape": [2, 8, 8]},
                {"source": "images", "path": "x", "image_shape": [8]}):
        with pytest.raises(Exception) as error:
            DataParams(**bad)
        assert isinstance(error.value, (ValueError, ConfigError))


# -- end to end -----------------------------------------------------------------------------


def test_a_grayscale_png_folder_trains_end_to_end_and_its_image_files_are_scored(make_project, tiny, written):
    """`denoise` on the digits as PNG class folders with the defaults (ten classes: the detector
    learns every row), then the score pipeline on image files dropped in the inbox: the good ones
    scored (ids: their paths), each bad one refused naming it, nothing scored twice."""
    from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError

    project = make_project(tiny)
    project.run("denoise", data={"source": "images", "path": str(written["gray"])})
    metrics = project.metrics()
    assert metrics["finetune.test_accuracy"] > 0.2 and metrics["data.labelled_rows"] == 1797  # tiny settings; chance: 0.1
    assert "anomaly.roc_auc" not in metrics
    embeddings = pd.read_parquet(project.path("data/07_model_output/embeddings.parquet"))
    assert embeddings["id"].str.match(r"^\d/digit_\d{4}\.png$").all()  # ids: the files' paths in the folder

    project.promote(1)
    inbox = project.path("data/01_raw/incoming")
    good = [inbox / "batch1" / f"digit_{i:04d}.png" for i in range(1790, 1797)]
    for path in good:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(next(written["gray"].rglob(path.name)).read_bytes())
    bad = {name: (inbox / "batch1" / name, problem) for name, problem in _bad_files(inbox / "batch1").items()}
    bad["big.png"] = (_png(inbox / "batch1" / "big.png", np.zeros((10, 8))),
                      "10x8 pixels (height x width); the model was trained on 8x8 images")
    bad["rgb.png"] = (_png(inbox / "batch1" / "rgb.png", np.zeros((8, 8, 3)), "RGB"),
                      "a colour (3 channels) image; the model was trained on grayscale (1 channel) images")
    with pytest.raises(ScoringFailedError) as error:
        project.run("score")
    message = str(error.value)
    assert message.startswith("5 of 12 new partition(s) could not be scored (7 were, 7 rows):\n")
    assert "... and 0 more" not in message and len(message.splitlines()) == 6  # one line a file, one screen
    for path, problem in bad.values():
        assert f"\n{path.relative_to(inbox).as_posix()}: {problem}" in message  # named as the inbox names it
    scored = pd.concat([pd.read_parquet(f) for f in sorted(project.path("data/07_model_output/scored").rglob("*.parquet"))])
    assert sorted(scored["id"].str.rsplit("/", n=1).str[-1]) == [p.name for p in good]  # ids: the inbox paths
    assert scored["id"].str.startswith("data/01_raw/incoming/batch1/").all()  # relative to the project
    assert scored["predicted_class"].isin(range(10)).all() and scored["model_version"].eq(1).all()

    for path, _ in bad.values():
        path.unlink()
    project.run("score")  # idempotent: every good file has its output, nothing new to score
    again = pd.concat([pd.read_parquet(f) for f in sorted(project.path("data/07_model_output/scored").rglob("*.parquet"))])
    pd.testing.assert_frame_equal(again.reset_index(drop=True), scored.reset_index(drop=True))


def test_an_rgb_folder_trains_the_conv_kind_on_its_three_channels(make_project, tiny, written):
    project = make_project(tiny)
    data = {"source": "images", "path": str(written["rgb"])}
    project.run("data_processing", data=data)
    project.run("pretraining", data=data, model={"kind": "conv", "hidden_sizes": [8]})
    schema = json.loads(project.path("data/02_intermediate/data_schema.json").read_text())
    assert schema["image_shape"] == [3, 8, 8] and len(schema["features"]) == 192
    from autoencoder_pipelines.nn.serialization import load_bundle

    (saved,) = [p for p in project.path("data/06_models/pretrained_stack.pt").rglob("*") if p.is_file()]  # versioned
    meta, parts = load_bundle(saved)
    network = parts["model"]
    assert network.image_shape == (3, 8, 8) and network.n_features == 192


def test_an_idx_pair_runs_the_anomaly_pipeline(make_project, written):
    project = make_project({"runtime": {"device": "cpu", "log_every": 0, "threads": 1}, "anomaly": {"epochs": 3}})
    project.run("anomaly", data={"source": "idx", "path": str(written["idx"] / "images.idx3-ubyte.gz"),
                                 "labels_path": str(written["idx"] / "labels.idx1-ubyte.gz")})
    scores = pd.read_parquet(project.path("data/07_model_output/anomaly_scores.parquet"))
    assert len(scores) == 1797 and scores["id"].str.startswith("images.idx3-ubyte.gz:").all()
    assert abs(scores.loc[scores["split"] == "train", "is_anomaly"].mean() - 0.05) < 0.01
    # digit 0 named normal: today's behaviour, measured
    project.run("anomaly", data={"source": "idx", "path": str(written["idx"] / "images.idx3-ubyte.gz"),
                                 "labels_path": str(written["idx"] / "labels.idx1-ubyte.gz")},
                anomaly={"normal_classes": [0, 1, 2, 3, 4, 5, 6, 7, 8], "epochs": 3})
    assert project.metrics()["anomaly.roc_auc"] > 0.6
