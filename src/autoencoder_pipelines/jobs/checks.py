"""Every rule that compares the settings with the data, in one place. The project hook runs
those of the sections a run uses right after ingestion, before any training node
(framework/hooks.py), so a run that would fail fails in seconds with one short message; the
training nodes call the same rules. The `settings` nodes record what the defaults became on
the data (`derived.*` parameters of the MLflow run)."""

from __future__ import annotations

import logging
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from autoencoder_pipelines.config import AnomalyParams, ModelParams, ReductionParams, SplitParams
from autoencoder_pipelines.data.errors import ConfigError, DataValidationError
from autoencoder_pipelines.data.frames import LABEL, native, shown_names
from autoencoder_pipelines.data.schema import DataSchema

logger = logging.getLogger(__name__)


def split_sizes(n_rows: int, split: SplitParams) -> tuple[int, int, int]:
    """(train, validation, test) row counts."""
    n_test, n_val = int(round(split.test_fraction * n_rows)), int(round(split.val_fraction * n_rows))
    return n_rows - n_test - n_val, n_val, n_test


def check_features_vary(frame: pd.DataFrame, schema: DataSchema) -> None:
    """Features that carry information: at least two feature columns must vary (an autoencoder
    of constant columns reconstructs them perfectly and learns nothing: a detector that flags
    nothing, ROC-AUC 0.5); constant columns are named in a warning."""
    features = schema.features
    values = frame[features].to_numpy(dtype="float64")
    varying = values.max(axis=0) > values.min(axis=0) if len(values) else [False] * len(features)
    constant = [name for name, varies in zip(features, varying, strict=True) if not varies]
    moving = [name for name, varies in zip(features, varying, strict=True) if varies]
    if len(moving) < 2:
        found = (f"all {len(features)} feature column(s) are constant {shown_names(constant)}" if not moving else
                 f"only 1 of {len(features)} feature columns varies ('{moving[0]}'); the others are constant "
                 f"{shown_names(constant)}")
        raise DataValidationError(
            f"{schema.source}: {found}: an autoencoder needs at least 2 varying features to learn anything. "
            "Check the file, or choose the features with data.feature_columns")
    if constant:
        logger.warning("%s: %d of %d feature column(s) are constant and carry no information: %s",
                       schema.source, len(constant), len(features), shown_names(constant))


def check_split(schema: DataSchema, split: SplitParams, label_counts: dict[Any, int] | None) -> None:
    """Rows enough for every part of the split and, with labels, for a stratified split of the
    labelled rows (unlabelled rows are placed in the parts too, but no class counts on them)."""
    n_rows = schema.n_rows
    n_train, n_val, n_test = split_sizes(n_rows, split)
    if min(n_train, n_val, n_test) < 1:
        raise DataValidationError(
            f"{schema.source}: {n_rows} rows are too few for the split "
            f"(test {split.test_fraction}, validation {split.val_fraction}): every part needs a row"
        )
    if schema.is_windows and n_train - 2 * schema.window_gap < 1:
        raise DataValidationError(
            f"{schema.source}: {n_rows} windows are too few for a time-ordered split of {n_val} validation and "
            f"{n_test} test windows with the {schema.window_gap} windows that overlap both sides left out at each "
            "cut; use a longer series, or a larger data.window_stride"
        )
    if not label_counts:
        return
    smallest = min(label_counts, key=label_counts.get)
    if label_counts[smallest] < 3:
        raise DataValidationError(
            f"{schema.source}: column '{schema.label_column}' (label): class {native(smallest)!r} has "
            f"{label_counts[smallest]} row(s); a stratified train/validation/test split needs at least 3 labelled rows per class"
        )
    n_labelled = sum(label_counts.values())
    _, n_val, n_test = split_sizes(n_labelled, split)
    if min(n_test, n_val) < len(label_counts):
        rows = f"{n_rows} rows" if n_labelled == n_rows else f"{n_labelled} labelled rows (of {n_rows})"
        raise DataValidationError(
            f"{schema.source}: {rows} give a test set of {n_test} and a validation set of {n_val}, "
            f"fewer than the {len(label_counts)} classes a stratified split needs; raise the fractions or add "
            f"{'labelled ' if n_labelled < n_rows else ''}rows"
        )


def check_label_type(schema: DataSchema, labels: pd.Series) -> None:
    """A label names classes: text, booleans or whole numbers, not measurements."""
    values = labels.dropna().unique()  # an empty cell is an unlabelled row, not a value
    if pd.api.types.is_float_dtype(labels) and not all(float(v).is_integer() for v in values):
        example = next(v for v in values if not float(v).is_integer())
        raise DataValidationError(
            f"{schema.source}: column '{schema.label_column}' (label) holds non-integer numbers "
            f"(e.g. {native(example)!r}): a label names classes; point data.label_column at a class column"
        )


def normal_classes(anomaly: AnomalyParams, schema: DataSchema) -> list[Any] | None:
    """The label values the detector learns as normal; None: it learns every training row
    unsupervised (PyOD's way: `contamination` of them flagged), as without labels.

    With normal classes, the detector learns the rows labelled normal only: an unlabelled row
    cannot be said to be normal (it still counts in the `contamination` threshold, which is a
    share of all training rows). Set: they must be classes of the data. Unset: a 0/1 (or
    False/True) label means 0 (False) is normal; the bundled digits hold out 9; the classes of
    any other label say nothing of which are normal, so the detector learns every row
    (`unsupervised_reason` says why, in one line) and no ROC-AUC or AP is measured.
    """
    if anomaly.normal_classes is not None:
        if not schema.has_labels:
            raise ConfigError(
                f"anomaly.normal_classes is set (got {anomaly.normal_classes}) but the data has no labels "
                f"({'no label column' if not schema.label_column else repr(schema.label_column) + ' is empty in every row'}); "
                "set data.label_column or anomaly.normal_classes: null"
            )
        unknown = [c for c in anomaly.normal_classes if c not in schema.classes]
        if unknown:
            raise ConfigError(
                f"anomaly.normal_classes: {unknown} are not classes of the data (classes: {schema.classes})"
            )
        return list(anomaly.normal_classes)
    if not schema.has_labels:
        return None
    classes = schema.classes
    if schema.default_normal_classes is not None:
        return list(schema.default_normal_classes)
    if len(classes) == 2 and set(classes) in ({0, 1}, {False, True}):
        return [classes[0]]
    return None


def unsupervised_reason(anomaly: AnomalyParams, schema: DataSchema) -> str | None:
    """One line for the log when a labelled table's detector learns every row because its
    normal classes cannot be inferred from the labels; None otherwise."""
    if not schema.has_labels or normal_classes(anomaly, schema) is not None:
        return None
    classes = schema.classes or []
    shown = _params_list(classes[:-1][:3])
    return (
        f"anomaly detector: unsupervised (anomaly.normal_classes unset, and the label column "
        f"'{schema.label_column}' has {len(classes)} classes, none of them known to be normal): it learns every "
        f"training row and flags the contamination share of them; no ROC-AUC or AP. Name the normal classes to "
        f"measure them, e.g. --params=\"anomaly.normal_classes=[{shown}]\""
    )


def _params_list(values: list[Any]) -> str:
    """Classes as a --params list holds them: numbers bare, text quoted (Kedro's Rich console
    would also take an unquoted [setosa,versicolor] for a style tag and show nothing)."""
    return ",".join(str(v) if isinstance(v, numbers.Real) else repr(str(v)) for v in values)  # numpy's too


def check_normal_rows(anomaly: AnomalyParams, schema: DataSchema, label_counts: dict[Any, int] | None) -> None:
    normal = normal_classes(anomaly, schema)
    if normal is None or not label_counts:
        return
    n_normal = sum(label_counts.get(c, 0) for c in normal)
    n_labelled = sum(label_counts.values())  # unlabelled rows are not known anomalies
    if n_normal == n_labelled:
        raise ConfigError(
            f"anomaly.normal_classes {normal} covers every class of the data: no row is an anomaly to measure"
        )
    if anomaly.normal_classes is None and n_normal < n_labelled / 2:  # 0 of a 0/1 label, taken as normal
        anomalous = sorted((c for c in label_counts if c not in normal), key=str)
        named = " or ".join(map(str, anomalous))
        logger.warning(
            "anomaly: %s of the %d labelled rows (%.0f%%) are %s, taken as the anomalies (the detector learns the "
            "rows labelled %s): anomalies are expected to be rare. If the rows labelled %s are the normal ones, "
            "set --params=\"anomaly.normal_classes=[%s]\"", n_labelled - n_normal, n_labelled,
            100 * (n_labelled - n_normal) / n_labelled, named, " or ".join(map(str, normal)), named,
            _params_list(anomalous))


def check_writable(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise DataValidationError(f"{folder}: outputs cannot be written there ({error.strerror or error})") from None


def label_counts(frame: pd.DataFrame, schema: DataSchema) -> dict[Any, int] | None:
    return frame[LABEL].value_counts().to_dict() if schema.has_labels else None


def writable_output_folders(data_dir: str | os.PathLike) -> list[Path]:
    root = Path(data_dir)
    return [root / name for name in ("02_intermediate", "05_model_input", "06_models", "07_model_output", "08_reporting")]


def check_settings(frame: pd.DataFrame, schema: DataSchema, sections: dict[str, Any], used: set[str]) -> None:
    """The rules of the sections a run `used` against its data (the label names classes; the
    rows fill every part of the split; the kind's own options, parsed here once a run, and its
    network on the data; the normal classes are classes of the data, and not all of them; k-means
    has k training rows at least). The tune search's rules are jobs.tuning.check_search."""
    check_features_vary(frame, schema)
    counts = label_counts(frame, schema)
    if schema.has_labels:
        check_label_type(schema, frame[LABEL])
    if "split" in used:
        check_split(schema, sections["split"], counts)
    if "model" in used:
        from autoencoder_pipelines.jobs.autoencoders import check_kind_settings, check_model_on_data

        check_kind_settings(sections["model"])
        check_model_on_data(sections["model"], schema)
    if "anomaly" in used:
        check_normal_rows(sections["anomaly"], schema, counts)
    if "reduction" in used and "split" in sections:
        check_clustering(sections["reduction"], schema, sections["split"])


def check_clustering(reduction: ReductionParams, schema: DataSchema, split: SplitParams) -> None:
    """k-means needs at least k training rows."""
    clustering = reduction.clustering
    n_train = split_sizes(schema.n_rows, split)[0]
    if clustering.enabled and clustering.clusters_for(schema) > n_train:
        raise ConfigError(
            f"reduction.clustering.n_clusters: k-means cannot make {clustering.clusters_for(schema)} clusters of the "
            f"{n_train} training rows of {schema.source}; set a smaller n_clusters, or reduction.clustering.enabled: false"
        )


# -- what the defaults became on this data: the `settings` nodes, as derived.* parameters --------


def data_settings(schema: DataSchema, split: SplitParams) -> dict[str, Any]:
    # data.file: the runs table's column that tells which data a run learned (tracking/ui.py)
    derived: dict[str, Any] = {"data.file": Path(schema.source).name, "data.n_features": schema.n_features,
                               "data.n_rows": schema.n_rows}
    if schema.has_labels:
        derived["data.labelled_rows"] = schema.labelled_count
    if schema.dropped_rows:
        derived["data.dropped_rows"] = schema.dropped_rows  # data.bad_rows: drop
    if schema.ignored_columns:  # named in full up to 10 (data.feature_columns may leave out hundreds)
        derived["data.ignored_columns"] = shown_names(schema.ignored_columns)
    derived["split.scaling"] = split.scaling_for(schema)
    return _logged(derived)


def model_settings(schema: DataSchema, model: ModelParams) -> dict[str, Any]:
    return _logged({"model.hidden_sizes": model.hidden_sizes_for(schema.n_features), "model.loss": model.loss_for(schema)})


def anomaly_settings(schema: DataSchema, anomaly: AnomalyParams) -> dict[str, Any]:
    derived: dict[str, Any] = {"anomaly.normal_classes": normal_classes(anomaly, schema)}
    if unsupervised_reason(anomaly, schema):
        derived["anomaly.unsupervised"] = True  # a labelled table whose normal classes are not named
    # a table's hidden sizes come from its rows when the detector fits (its log line names them)
    derived.update({f"anomaly.{key}": value for key, value in anomaly.detector_choices(schema).items() if value is not None})
    return _logged(derived)


def _logged(derived: dict[str, Any]) -> dict[str, Any]:
    logger.info("settings on this data: %s", ", ".join(f"{k}={v}" for k, v in derived.items()))
    return derived
