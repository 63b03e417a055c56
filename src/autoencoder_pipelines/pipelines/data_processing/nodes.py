"""Ingestion and split/scale nodes."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import DataParams, RuntimeParams, SplitParams
from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import (
    LABEL,
    has_labels,
    is_labelled,
    load_digits_frame,
)
from autoencoder_pipelines.data.scaling import apply_scaler, fit_scaler
from autoencoder_pipelines.data.tables import read_table
from autoencoder_pipelines.data.validation import validate_table
from autoencoder_pipelines.data.windows import (
    chronological_split,
    cut_windows,
    window_gap,
)
from autoencoder_pipelines.nn.seeding import derive_seed

logger = logging.getLogger(__name__)


def ingest(params: DataParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the configured source and validate it into (frame, schema)."""
    if params.source == "windows":
        kind = "parquet" if str(params.path).endswith(".parquet") else "csv"
        frame, schema = cut_windows(
            read_table(params.path, kind, params.read_args), str(params.path), params.window_length, params.window_stride,
            params.feature_columns, params.time_column, params.min_rows,
        )
        logger.info(
            "cut %d windows of %d steps every %d from %d series in %s",
            len(frame), params.window_length, params.window_stride, len(schema["series_columns"]), params.path,
        )
        return frame, schema
    if params.source == "digits":
        raw, source = load_digits_frame(), "sklearn digits"
        label_column = params.label_column or LABEL
        image_shape = params.image_shape or [8, 8]
    else:
        raw, source = read_table(params.path, params.source, params.read_args), str(params.path)
        label_column, image_shape = params.label_column, params.image_shape
    frame, schema = validate_table(
        raw,
        source,
        label_column=label_column,
        id_column=params.id_column,
        feature_columns=params.feature_columns,
        image_shape=image_shape,
        min_rows=params.min_rows,
        bad_rows=params.bad_rows,
    )
    if params.source == "digits":
        schema["default_normal_classes"] = list(range(9))  # the demo holds out digit 9 as the anomaly
    unlabelled = schema.get("unlabelled_rows", 0)
    logger.info(
        "ingested %d rows x %d features from %s (%s)",
        len(frame), len(schema["features"]), source,
        f"{len(schema['classes'])} classes" + (f", {unlabelled} rows unlabelled" if unlabelled else "")
        if has_labels(schema) else "unlabelled",
    )
    return frame, schema


def split_and_scale(
    frame: pd.DataFrame, schema: dict[str, Any], params: SplitParams, runtime: RuntimeParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Seeded train/validation/test split and a [0, 1] scaler fitted on train.

    Labelled rows are split stratified by class; unlabelled rows (an empty label) are placed
    in the same proportions by a seeded shuffle of their own and mixed in, so every part holds
    both kinds. Windows of a series are split in time order instead, leaving out the windows
    that share time steps with both sides of a cut, so no test window overlaps a training one."""
    from autoencoder_pipelines.jobs.checks import check_split, label_counts, split_sizes

    seed = derive_seed(runtime.seed, "split")
    check_split(schema, params, label_counts(frame, schema))
    if schema.get("window_shape"):
        _, n_val, n_test = split_sizes(len(frame), params)
        train, val, test = chronological_split(frame, n_val, n_test, window_gap(schema))
    else:
        train, val, test = _random_split(frame, schema, params, seed, runtime.seed)
    scaler = fit_scaler(train, schema["features"], params.scaling_for(schema), schema.get("window_shape"))
    parts = [apply_scaler(part, scaler).reset_index(drop=True) for part in (train, val, test)]
    logger.info("split %d rows into train %d / validation %d / test %d", len(frame), *map(len, parts))
    if has_labels(schema) and not all(is_labelled(part).all() for part in parts):
        logger.info("labelled rows: train %d / validation %d / test %d (the others are unlabelled)",
                    *(int(is_labelled(part).sum()) for part in parts))
    return parts[0], parts[1], parts[2], scaler


def _random_split(frame, schema, params, seed, run_seed):
    from sklearn.model_selection import train_test_split

    from autoencoder_pipelines.jobs.checks import split_sizes

    labelled = is_labelled(frame).to_numpy() if has_labels(schema) else np.ones(len(frame), dtype=bool)
    known, unknown = frame[labelled], frame[~labelled]
    _, n_val, n_test = split_sizes(len(known), params)
    stratify = known[LABEL] if has_labels(schema) else None
    try:
        rest, test = train_test_split(known, test_size=n_test, stratify=stratify, random_state=seed)
        train, val = train_test_split(
            rest, test_size=n_val, stratify=None if stratify is None else rest[LABEL], random_state=seed
        )
    except ValueError as error:
        raise DataValidationError(f"{schema['source']}: cannot split: {error}") from None
    if len(unknown):
        _, n_val_u, n_test_u = split_sizes(len(unknown), params)
        order = np.random.default_rng(derive_seed(run_seed, "split.unlabelled")).permutation(len(unknown))
        placed = (unknown.iloc[order[n_test_u + n_val_u:]], unknown.iloc[order[n_test_u:n_test_u + n_val_u]],
                  unknown.iloc[order[:n_test_u]])
        train, val, test = (
            pd.concat([part, extra]).sample(frac=1, random_state=derive_seed(run_seed, f"split.mix.{name}"))
            for part, extra, name in zip((train, val, test), placed, ("train", "val", "test"))
        )
    return train, val, test


def count_rows(
    train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, schema: dict[str, Any]
) -> dict[str, Any]:
    """How many rows carry a label, in all and in each part: the classifiers use those, the
    rest feed pretraining and the unsupervised models only."""
    metrics: dict[str, Any] = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        labelled = int(is_labelled(part).sum()) if has_labels(schema) else 0
        metrics[f"data.{name}_labelled_rows"] = labelled
        metrics[f"data.{name}_unlabelled_rows"] = len(part) - labelled
    for kind in ("labelled", "unlabelled"):
        metrics[f"data.{kind}_rows"] = sum(metrics[f"data.{name}_{kind}_rows"] for name in ("train", "val", "test"))
    return dict(sorted(metrics.items()))
