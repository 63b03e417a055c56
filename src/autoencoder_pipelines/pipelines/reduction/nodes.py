"""Code export and the PCA baseline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from autoencoder_pipelines.config import ModelParams, ReductionParams, parse
from autoencoder_pipelines.data import ID, LABEL, features_tensor
from autoencoder_pipelines.jobs import fine_tune_unrolled
from autoencoder_pipelines.nn.corruption import CorruptionSpec
from autoencoder_pipelines.nn.models import StackedAutoencoder
from autoencoder_pipelines.nn.training import predict_in_batches

logger = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def _codes_frame(parts: dict[str, pd.DataFrame], codes: dict[str, np.ndarray], prefix: str) -> pd.DataFrame:
    frames = []
    for split, part in parts.items():
        keep = [c for c in (ID, LABEL) if c in part.columns]
        frame = part[keep].copy()
        frame.insert(1, "split", split)
        width = codes[split].shape[1]
        frame = pd.concat([frame, pd.DataFrame(codes[split], columns=[f"{prefix}_{i}" for i in range(width)])], axis=1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def finetune_reduction_autoencoder(
    stack: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    schema: dict[str, Any],
    model: dict[str, Any],
    reduction: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[StackedAutoencoder, dict[str, list[float]]]:
    """Fine-tune the unrolled stack clean -> clean: the best reconstruction for its code size
    (the denoiser trades clean-input fidelity for robustness to noise)."""
    return fine_tune_unrolled(
        stack, train, val, schema,
        corruption=CorruptionSpec("none", 0.0),
        phase=parse(ReductionParams, reduction, "reduction"),
        loss=parse(ModelParams, model, "model").loss,
        runtime=runtime, name="reduction", seed_offset=60,
    )


def export_embeddings(
    autoencoder: StackedAutoencoder, train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, schema: dict[str, Any]
) -> pd.DataFrame:
    """The bottleneck code of every row: id, split, label, z_0..z_{k-1}."""
    autoencoder.eval()
    parts = dict(zip(SPLITS, (train, val, test)))
    codes = {s: predict_in_batches(autoencoder.encode, features_tensor(p, schema)).numpy() for s, p in parts.items()}
    return _codes_frame(parts, codes, "z")


def compare_with_pca(
    autoencoder: StackedAutoencoder,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict[str, Any],
    reduction: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """PCA fitted on train with the autoencoder's code size; test reconstruction MSE of both."""
    params = parse(ReductionParams, reduction, "reduction")
    n_components = params.pca_components or autoencoder.code_size
    features = schema["features"]
    pca = PCA(n_components=n_components, random_state=0).fit(train[features].to_numpy())
    x_test = test[features].to_numpy(dtype="float32")
    pca_reconstruction = pca.inverse_transform(pca.transform(x_test))
    autoencoder.eval()
    ae_reconstruction = predict_in_batches(autoencoder, features_tensor(test, schema)).numpy()
    metrics = {
        "reduction.code_size": autoencoder.code_size,
        "reduction.pca_components": n_components,
        "reduction.ae_test_mse": float(((ae_reconstruction - x_test) ** 2).mean()),
        "reduction.pca_test_mse": float(((pca_reconstruction - x_test) ** 2).mean()),
        "reduction.pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
    }
    logger.info(
        "reconstruction MSE at %d dims: autoencoder %.5f, PCA %.5f",
        n_components, metrics["reduction.ae_test_mse"], metrics["reduction.pca_test_mse"],
    )
    parts = dict(zip(SPLITS, (train, val, test)))
    codes = {s: pca.transform(p[features].to_numpy()) for s, p in parts.items()}
    return _codes_frame(parts, codes, "pc"), metrics
