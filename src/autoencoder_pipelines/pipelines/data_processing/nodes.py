"""Ingestion, split/scale and evaluation-set corruption nodes."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from autoencoder_pipelines.config import CorruptionParams, DataParams, RuntimeParams, SplitParams
from autoencoder_pipelines.data import (
    LABEL,
    DataValidationError,
    apply_scaler,
    fit_scaler,
    has_labels,
    load_digits_frame,
    native,
    read_table,
    validate_table,
)
from autoencoder_pipelines.nn.seeding import derive_seed

logger = logging.getLogger(__name__)


def ingest(params: DataParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the configured source and validate it into (frame, schema)."""
    if params.source == "digits":
        raw, source = load_digits_frame(), "sklearn digits"
        label_column = params.label_column or LABEL
        image_shape = params.image_shape or [8, 8]
    else:
        raw, source = read_table(params.path, params.source), str(params.path)
        label_column, image_shape = params.label_column, params.image_shape
    frame, schema = validate_table(
        raw,
        source,
        label_column=label_column,
        id_column=params.id_column,
        feature_columns=params.feature_columns,
        image_shape=image_shape,
        min_rows=params.min_rows,
    )
    logger.info(
        "ingested %d rows x %d features from %s (%s)",
        len(frame), len(schema["features"]), source,
        f"{len(schema['classes'])} classes" if has_labels(schema) else "unlabelled",
    )
    return frame, schema


def split_and_scale(
    frame: pd.DataFrame, schema: dict[str, Any], params: SplitParams, runtime: RuntimeParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Seeded train/validation/test split (stratified when labelled) and a [0, 1] scaler fitted on train."""
    from sklearn.model_selection import train_test_split

    seed = derive_seed(runtime.seed, "split")
    n_rows = len(frame)
    n_test = int(round(params.test_fraction * n_rows))
    n_val = int(round(params.val_fraction * n_rows))
    if min(n_test, n_val, n_rows - n_test - n_val) < 1:
        raise DataValidationError(
            f"{schema['source']}: {n_rows} rows are too few for the split "
            f"(test {params.test_fraction}, validation {params.val_fraction}): every part needs a row"
        )
    stratify = frame[LABEL] if has_labels(schema) else None
    if stratify is not None:
        counts = stratify.value_counts()
        if counts.min() < 3:
            raise DataValidationError(
                f"{schema['source']}: column '{schema['label_column']}' (label): class {native(counts.idxmin())!r} has "
                f"{int(counts.min())} row(s); a stratified train/validation/test split needs at least 3 per class"
            )
        if min(n_test, n_val) < len(counts):
            raise DataValidationError(
                f"{schema['source']}: {n_rows} rows give a test set of {n_test} and a validation set of {n_val}, "
                f"fewer than the {len(counts)} classes a stratified split needs; raise the fractions or add rows"
            )
    try:
        rest, test = train_test_split(frame, test_size=n_test, stratify=stratify, random_state=seed)
        train, val = train_test_split(
            rest, test_size=n_val, stratify=None if stratify is None else rest[LABEL], random_state=seed
        )
    except ValueError as error:
        raise DataValidationError(f"{schema['source']}: cannot split: {error}") from None
    scaler = fit_scaler(train, schema["features"], params.scaling)
    parts = [apply_scaler(part, scaler).reset_index(drop=True) for part in (train, val, test)]
    logger.info("split %d rows into train %d / validation %d / test %d", n_rows, *map(len, parts))
    return parts[0], parts[1], parts[2], scaler


def corrupt_eval_sets(
    val: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict[str, Any],
    corruption: CorruptionParams,
    runtime: RuntimeParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed (seeded) noisy copies of the validation and test sets; training corrupts afresh."""
    import torch

    from autoencoder_pipelines.data import features_tensor
    from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt

    spec = CorruptionSpec.of(corruption)
    generator = torch.Generator().manual_seed(derive_seed(runtime.seed, "corrupt_eval_sets"))
    noisy = []
    for part in (val, test):
        out = part.copy()
        out[schema["features"]] = corrupt(features_tensor(part, schema), spec, generator).numpy()
        noisy.append(out)
    return noisy[0], noisy[1]
