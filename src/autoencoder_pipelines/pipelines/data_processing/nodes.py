"""Ingestion, split/scale, and the fixed noisy evaluation sets."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import CorruptionParams, DataParams, SplitParams
from autoencoder_pipelines.data.errors import DataValidationError
from autoencoder_pipelines.data.frames import (
    LABEL,
    ModelInput,
    is_labelled,
    load_digits_frame,
)
from autoencoder_pipelines.data.images import PATH, read_idx_images, read_image_folder
from autoencoder_pipelines.data.scaling import apply_scaler, fit_scaler
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.data.tables import read_table
from autoencoder_pipelines.data.validation import validate_table
from autoencoder_pipelines.data.windows import chronological_split, cut_windows
from autoencoder_pipelines.jobs.runtime import Runtime

logger = logging.getLogger(__name__)


def ingest(params: DataParams) -> tuple[pd.DataFrame, DataSchema]:
    """Read the configured source and validate it into (frame, schema)."""
    if params.source == "windows":
        kind = "parquet" if str(params.path).endswith(".parquet") else "csv"
        frame, schema = cut_windows(
            read_table(params.path, kind, params.read_args), str(params.path), params.window_length, params.window_stride,
            params.feature_columns, params.time_column, params.min_rows,
        )
        logger.info(
            "cut %d windows of %d steps every %d from %d series in %s",
            len(frame), params.window_length, params.window_stride, len(schema.series_columns or []), params.path,
        )
        return frame, schema
    id_column = params.id_column
    if params.source == "digits":
        raw, source = load_digits_frame(), "sklearn digits"
        label_column = params.label_column or LABEL
        image_shape = params.image_shape or [8, 8]
    elif params.source in ("images", "idx"):
        if params.source == "images":
            raw, image_shape = read_image_folder(params.path, params.image_shape, params.bad_rows)
        else:
            raw, image_shape = read_idx_images(params.path, params.labels_path, params.image_shape)
        source, id_column = str(params.path), PATH
        label_column = LABEL if LABEL in raw.columns else None
    else:
        raw, source = read_table(params.path, params.source, params.read_args), str(params.path)
        label_column, image_shape = params.label_column, params.image_shape
    frame, schema = validate_table(
        raw,
        source,
        label_column=label_column,
        id_column=id_column,
        feature_columns=params.feature_columns,
        image_shape=image_shape,
        min_rows=params.min_rows,
        bad_rows=params.bad_rows,
    )
    if params.source == "digits":  # the demo holds out digit 9 as the anomaly
        schema = schema.model_copy(update={"default_normal_classes": list(range(9))})
    unlabelled = schema.unlabelled_rows or 0
    logger.info(
        "ingested %d rows x %d features from %s (%s)",
        len(frame), schema.n_features, source,
        f"{schema.n_classes} classes" + (f", {unlabelled} rows unlabelled" if unlabelled else "")
        if schema.has_labels else "unlabelled",
    )
    return frame, schema


def split_and_scale(
    frame: pd.DataFrame, schema: DataSchema, params: SplitParams, runtime: Runtime
) -> tuple[ModelInput, dict[str, Any]]:
    """Seeded train/validation/test split and a [0, 1] scaler fitted on train.

    Labelled rows are split stratified by class; unlabelled rows (an empty label) are placed
    in the same proportions by a seeded shuffle of their own and mixed in, so every part holds
    both kinds. Windows of a series are split in time order instead, leaving out the windows
    that share time steps with both sides of a cut, so no test window overlaps a training one."""
    from autoencoder_pipelines.jobs.checks import check_split, label_counts, split_sizes

    check_split(schema, params, label_counts(frame, schema))
    if schema.is_windows:
        _, n_val, n_test = split_sizes(len(frame), params)
        train, val, test = chronological_split(frame, n_val, n_test, schema.window_gap)
    else:
        train, val, test = _random_split(frame, schema, params, runtime)
    scaler = fit_scaler(train, schema.features, params.scaling_for(schema), schema.window_shape)
    parts = [apply_scaler(part, scaler).reset_index(drop=True) for part in (train, val, test)]
    logger.info("split %d rows into train %d / validation %d / test %d", len(frame), *map(len, parts))
    if schema.has_labels and not all(is_labelled(part).all() for part in parts):
        logger.info("labelled rows: train %d / validation %d / test %d (the others are unlabelled)",
                    *(int(is_labelled(part).sum()) for part in parts))
    return ModelInput(parts[0], parts[1], parts[2], schema), scaler


def _random_split(frame: pd.DataFrame, schema: DataSchema, params: SplitParams, runtime: Runtime):
    from sklearn.model_selection import train_test_split

    from autoencoder_pipelines.jobs.checks import split_sizes

    seed = runtime.seed_for("split")
    labelled = is_labelled(frame).to_numpy() if schema.has_labels else np.ones(len(frame), dtype=bool)
    known, unknown = frame[labelled], frame[~labelled]
    _, n_val, n_test = split_sizes(len(known), params)
    stratify = known[LABEL] if schema.has_labels else None
    try:
        rest, test = train_test_split(known, test_size=n_test, stratify=stratify, random_state=seed)
        train, val = train_test_split(
            rest, test_size=n_val, stratify=None if stratify is None else rest[LABEL], random_state=seed
        )
    except ValueError as error:
        raise DataValidationError(f"{schema.source}: cannot split: {error}") from None
    if len(unknown):
        _, n_val_u, n_test_u = split_sizes(len(unknown), params)
        order = np.random.default_rng(runtime.seed_for("split.unlabelled")).permutation(len(unknown))
        placed = (unknown.iloc[order[n_test_u + n_val_u:]], unknown.iloc[order[n_test_u:n_test_u + n_val_u]],
                  unknown.iloc[order[:n_test_u]])
        train, val, test = (
            pd.concat([part, extra]).sample(frac=1, random_state=runtime.seed_for(f"split.mix.{name}"))
            for part, extra, name in zip((train, val, test), placed, ("train", "val", "test"), strict=True)
        )
    return train, val, test


def count_rows(data: ModelInput) -> dict[str, Any]:
    """How many rows carry a label, in all and in each part: the classifiers use those, the
    rest feed pretraining and the unsupervised models only."""
    metrics: dict[str, Any] = {}
    for name, part in data.parts().items():
        labelled = int(is_labelled(part).sum()) if data.schema.has_labels else 0
        metrics[f"data.{name}_labelled_rows"] = labelled
        metrics[f"data.{name}_unlabelled_rows"] = len(part) - labelled
    for kind in ("labelled", "unlabelled"):
        metrics[f"data.{kind}_rows"] = sum(metrics[f"data.{name}_{kind}_rows"] for name in ("train", "val", "test"))
    return dict(sorted(metrics.items()))


def corrupt_eval_sets(data: ModelInput, corruption: CorruptionParams, runtime: Runtime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed (seeded) noisy copies of the validation and test sets; training corrupts afresh."""
    from autoencoder_pipelines.jobs.autoencoders import fixed_noise
    from autoencoder_pipelines.nn.corruption import CorruptionSpec

    seed = runtime.seed_for("corrupt_eval_sets")
    noisy_val, noisy_test = fixed_noise(data, CorruptionSpec.of(corruption), seed, ("val", "test"))
    return noisy_val, noisy_test
