"""Atomic outputs: a write that fails midway (out of disk, a kill) leaves the previous complete
file and no temporary file, for every kind of file the catalog writes; and every catalog entry
that writes files writes them that way."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
import yaml
from fsspec.implementations.local import LocalFileOpener
from kedro.io import AbstractDataset, Version
from kedro.utils import load_obj

from autoencoder_pipelines.data.frames import ModelInput
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.framework import datasets
from autoencoder_pipelines.framework.datasets import AtomicWrites
from autoencoder_pipelines.nn.atomic import atomic_path, is_temporary
from autoencoder_pipelines.nn.networks import DenseAutoencoder

REPO = Path(__file__).resolve().parents[1]


def _disk_full_midway(monkeypatch):
    """Every local file write stores half its bytes, then fails as a full disk does."""
    original = LocalFileOpener.write

    def write(self, data):
        original(self, data[: max(len(data) // 2, 1)])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalFileOpener, "write", write)

    original_save = torch.save

    def torch_save(obj, path, *args, **kwargs):
        if hasattr(path, "write"):  # nn.atomic.atomic_file's handle
            path.write(b"PK\x03\x04half a model")
        else:
            Path(path).write_bytes(b"PK\x03\x04half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", torch_save)
    original_to_parquet = pd.DataFrame.to_parquet

    def to_parquet(self, path, *args, **kwargs):
        if isinstance(path, (str, Path)):
            Path(path).write_bytes(b"PAR1half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_to_parquet(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)
    return original_save


def _figure(title):
    figure, axis = plt.subplots()
    axis.set_title(title)
    return figure


CASES = {
    "parquet": (lambda p: datasets.ParquetDataset(filepath=str(p / "t.parquet")),
                lambda i: pd.DataFrame({"a": range(50 * (i + 1))})),
    "csv": (lambda p: datasets.CSVDataset(filepath=str(p / "t.csv")), lambda i: pd.DataFrame({"a": range(50 * (i + 1))})),
    "json": (lambda p: datasets.JSONDataset(filepath=str(p / "metrics.json")), lambda i: {"run": i, "values": list(range(99))}),
    "versioned json": (lambda p: datasets.JSONDataset(filepath=str(p / "scaler.json"), version=Version(None, None)),
                       lambda i: {"run": i}),
    "figure": (lambda p: datasets.MatplotlibDataset(filepath=str(p / "curves.png")), lambda i: _figure(f"run {i}")),
    "model": (lambda p: datasets.TorchModelDataset(filepath=str(p / "model.pt"), version=Version(None, None)),
              lambda i: DenseAutoencoder(8, [4])),
    "scored partition": (lambda p: datasets.AtomicParquetDataset(filepath=str(p / "day1.csv.parquet")),
                         lambda i: pd.DataFrame({"a": range(10 * (i + 1))})),
    "schema": (lambda p: datasets.DataSchemaDataset(filepath=str(p / "data_schema.json")),
               lambda i: DataSchema(source="t", features=[f"f{k}" for k in range(i + 2)], n_rows=10)),
    "model input": (lambda p: datasets.ModelInputDataset(path=str(p / "05_model_input")),
                    lambda i: ModelInput(*(pd.DataFrame({"a": range(10 * (i + 1))}),) * 3,
                                         DataSchema(source="t", features=["a"], n_rows=30 * (i + 1)))),
}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES)
def test_a_write_failing_midway_leaves_the_previous_file(tmp_path, monkeypatch, case):
    make, data = CASES[case]
    dataset = make(tmp_path)
    dataset.save(data(0))
    before = _files(tmp_path)
    assert before and not any(is_temporary(name) for name in before)
    _disk_full_midway(monkeypatch)
    with pytest.raises(Exception, match="No space left on device"):
        make(tmp_path).save(data(1))
    monkeypatch.undo()
    assert _files(tmp_path) == before, "the previous file changed, or a temporary file was left"
    if case != "figure":  # figures are write-only
        assert make(tmp_path).load() is not None


def test_a_checkpoint_failing_midway_keeps_the_previous_one(tmp_path, monkeypatch):
    from autoencoder_pipelines.nn.trainer import Checkpoint, Trainer, TrainSettings

    model, x = DenseAutoencoder(8, [4]), torch.rand(32, 8)

    def fit(epochs):
        loss = lambda batch, generator: ((model(batch[0]) - batch[0]) ** 2).mean()  # noqa: E731
        Trainer(TrainSettings(epochs=epochs, batch_size=16), [Checkpoint(tmp_path / "phase.pt")]).fit(model, loss, (x,))

    fit(2)
    before = _files(tmp_path)
    _disk_full_midway(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        fit(3)  # other settings: starts afresh and saves after its first epoch
    assert _files(tmp_path) == before


def test_atomic_path_renames_only_a_complete_write(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_path(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


# ParquetPartitionsDataset: its handle writes each file through datasets.parquet_stream (atomic_path)
# ModelInputDataset: a folder of atomic Parquet and JSON datasets
ATOMIC_PROJECT_DATASETS = (datasets.TorchModelDataset, datasets.AtomicParquetDataset, datasets.ParquetPartitionsDataset,
                           datasets.ModelInputDataset)
# OptunaStorageDataset: the study is a sqlite file Optuna writes in transactions; the catalog only names it
READ_ONLY = (datasets.TabularFileDataset, datasets.TableFileDataset, datasets.OptionalPartitionedDataset,
             datasets.OptunaStorageDataset)
NO_FILES = ("autoencoder_pipelines.tracking.datasets.MlflowMetricsDataset",
            "autoencoder_pipelines.tracking.datasets.MlflowParamsDataset", "MemoryDataset",
            "autoencoder_pipelines.framework.datasets.RuntimeDataset")


# Spark writes through its own commit protocol (task outputs under _temporary/, moved into place
# when the job succeeds; a failed job publishes nothing). Named, not imported: pyspark is optional.
SPARK_COMMITTED = ("spark.SparkDataset", "autoencoder_pipelines.framework.spark.SourcedSparkDataset")


def _writes_atomically(config: dict) -> bool:
    kind = config["type"]
    if kind in NO_FILES or kind in SPARK_COMMITTED:
        return True
    if kind.endswith("ArtifactDataset"):  # the file is written by the wrapped dataset
        return _writes_atomically(config["dataset"])
    if kind == "partitions.PartitionedDataset":
        return _writes_atomically({"type": config["dataset"]} if isinstance(config["dataset"], str) else config["dataset"])
    cls = load_obj(kind if "." in kind and kind.startswith("autoencoder") else f"kedro_datasets.{kind}")
    assert issubclass(cls, AbstractDataset)
    return issubclass(cls, (AtomicWrites, *ATOMIC_PROJECT_DATASETS, *READ_ONLY))


def test_every_catalog_entry_writes_atomically():
    catalog = yaml.safe_load((REPO / "conf/base/catalog.yml").read_text())
    entries = {name: config for name, config in catalog.items() if not name.startswith("_")}  # entries and patterns
    assert len(entries) > 30
    not_atomic = [name for name, config in entries.items() if not _writes_atomically(config)]
    assert not_atomic == []


def test_temporary_files_are_invisible_to_versions_and_partitions(tmp_path):
    dataset = datasets.JSONDataset(filepath=str(tmp_path / "s.json"), version=Version(None, None))
    dataset.save({"a": 1})
    (tmp_path / "s.json" / "2099-01-01T00.00.00.000Z").mkdir()
    (tmp_path / "s.json" / "2099-01-01T00.00.00.000Z" / ".s.json.1.abc.tmp").write_text("{")
    assert datasets.JSONDataset(filepath=str(tmp_path / "s.json"), version=Version(None, None)).load() == {"a": 1}
    assert json.loads(next((tmp_path / "s.json").glob("*/s.json")).read_text()) == {"a": 1}


def _on_a_full_disk(monkeypatch, folder: Path) -> None:
    """The next temporary file written in `folder` lands on /dev/full: every write fails as on a
    full disk (ENOSPC), the way the operating system reports it."""
    import autoencoder_pipelines.nn.atomic as atomic

    original = atomic.temporary_name

    def on_dev_full(name):
        temporary = original(name)
        (folder / temporary).symlink_to("/dev/full")
        return temporary

    monkeypatch.setattr(atomic, "temporary_name", on_dev_full)


def _full_after(monkeypatch, size: int) -> None:
    """Files that nn.atomic opens take `size` bytes, then fail as a disk that fills up midway
    (torch's writer then raises its own "enforce fail at inline_container.cc")."""
    import io

    import autoencoder_pipelines.nn.atomic as atomic

    class FillsUp(io.FileIO):
        def write(self, data):
            if self.tell() + len(data) > size:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(atomic, "open", lambda path, mode: FillsUp(path, "wb"), raising=False)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("disk", ["full", "fills up midway"])
def test_a_full_disk_while_saving_a_checkpoint_says_so_and_names_the_file(tmp_path, monkeypatch, disk):
    from autoencoder_pipelines.data.errors import user_error
    from autoencoder_pipelines.nn.trainer import Checkpoint, Trainer, TrainSettings

    model, x = DenseAutoencoder(8, [4]), torch.rand(32, 8)
    loss = lambda batch, generator: ((model(batch[0]) - batch[0]) ** 2).mean()  # noqa: E731
    if disk == "full":
        _on_a_full_disk(monkeypatch, tmp_path)
    else:
        _full_after(monkeypatch, 2000)
    with pytest.raises(OSError) as raised:
        Trainer(TrainSettings(epochs=2, batch_size=16), [Checkpoint(tmp_path / "phase.pt")]).fit(model, loss, (x,))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "phase.pt")
    assert "inline_container" not in str(raised.value)
    assert user_error(raised.value).format_message().startswith(f"{tmp_path / 'phase.pt'}: no space left on device")
    assert list(tmp_path.iterdir()) == []  # no temporary file, no torn checkpoint


def test_orphaned_temporary_files_of_killed_runs_are_removed_and_nothing_else(tmp_path):
    import os
    import time

    from autoencoder_pipelines.nn.atomic import remove_orphans, temporary_name

    old = time.time() - 3600
    (tmp_path / "day=1").mkdir()
    orphans = [tmp_path / ".a.csv.parquet.4194999.5f3a1b.tmp", tmp_path / "day=1" / ".b.parquet.4194998.00aa11.tmp"]
    mine = tmp_path / temporary_name("c.parquet")  # this process's: being written
    recent = tmp_path / ".d.parquet.4194997.abcdef.tmp"  # a dead pid, but touched a moment ago
    foreign = [tmp_path / ".notes.tmp", tmp_path / ".x.12.tmp", tmp_path / "e.4194999.5f3a1b.tmp", tmp_path / "f.parquet"]
    for path in [*orphans, mine, recent, *foreign]:
        path.write_text("x")
        if path is not recent:
            os.utime(path, (old, old))
    assert sorted(remove_orphans(tmp_path)) == [orphans[0]]  # this folder only
    assert remove_orphans(tmp_path, recursive=True) == [orphans[1]]
    assert all(p.exists() for p in [mine, recent, *foreign])


def test_a_training_removes_what_killed_runs_left_in_its_data_folder(tmp_path):
    import os
    import time

    from autoencoder_pipelines.framework.locks import TrainingLock

    models = tmp_path / "06_models" / "scoring_model.pt" / "2026-12-04T10.00.00.000Z"
    models.mkdir(parents=True)
    orphan = models / ".scoring_model.pt.4194999.5f3a1b.tmp"
    orphan.write_bytes(b"PK half a model")
    os.utime(orphan, (time.time() - 3600,) * 2)
    lock = TrainingLock(tmp_path)
    lock.acquire("refuse")
    lock.release()
    assert not orphan.exists() and models.is_dir()
