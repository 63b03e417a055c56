"""Code export and the PCA baseline."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autoencoder_pipelines.config import ModelParams, PhaseParams, ReductionParams
from autoencoder_pipelines.data.frames import ID, LABEL, ModelInput, features_tensor
from autoencoder_pipelines.jobs.metrics import collect_metrics
from autoencoder_pipelines.jobs.reduction import (
    finetune_reduction_autoencoder,
    reconstruction_mse,
)
from autoencoder_pipelines.jobs.runtime import Network, Runtime

if TYPE_CHECKING:
    from sklearn.decomposition import PCA

logger = logging.getLogger(__name__)
__all__ = [  # the node functions (some are the jobs layer's, shared with tune)
    "classify_features",
    "collect_metrics",
    "compare_with_pca",
    "export_embeddings",
    "finetune_reduction_autoencoder",
    "sweep_code_sizes",
]


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


def export_embeddings(autoencoder: Network, data: ModelInput) -> pd.DataFrame:
    """The bottleneck code of every row: id, split, label, z_0..z_{k-1}."""
    from autoencoder_pipelines.nn.inference import predict_in_batches

    autoencoder.eval()
    parts = data.parts()
    codes = {s: predict_in_batches(autoencoder.encode, features_tensor(p, data.schema)).numpy() for s, p in parts.items()}
    return _codes_frame(parts, codes, "z")


def compare_with_pca(autoencoder: Network, data: ModelInput, params: ReductionParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """PCA fitted on train with the autoencoder's code size; test reconstruction MSE of both."""
    n_components = params.pca_components or autoencoder.code_size
    features = data.schema.features
    pca = _fit_pca(data.values("train"), n_components)
    x_test = data.values("test")
    metrics = {
        "reduction.code_size": autoencoder.code_size,
        "reduction.pca_components": n_components,
        "reduction.ae_test_mse": reconstruction_mse(autoencoder, x_test),
        "reduction.pca_test_mse": _pca_test_mse(pca, x_test),
        "reduction.pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
    }
    logger.info(
        "reconstruction MSE at %d dims: autoencoder %.5f, PCA %.5f",
        n_components, metrics["reduction.ae_test_mse"], metrics["reduction.pca_test_mse"],
    )
    parts = data.parts()
    codes = {s: pca.transform(p[features].to_numpy()) for s, p in parts.items()}
    return _codes_frame(parts, codes, "pc"), metrics


def _fit_pca(x_train: np.ndarray, n_components: int) -> "PCA":
    from sklearn.decomposition import PCA

    return PCA(n_components=n_components, random_state=0).fit(x_train)


def _pca_test_mse(pca: "PCA", x_test: np.ndarray) -> float:
    return float(((pca.inverse_transform(pca.transform(x_test)) - x_test) ** 2).mean())


def sweep_code_sizes(
    stack: Network, autoencoder: Network, data: ModelInput, model: ModelParams, params: ReductionParams, runtime: Runtime
) -> pd.DataFrame:
    """Test reconstruction MSE of autoencoder and PCA at several code sizes.

    The trained reduction autoencoder gives its own size; each other size is the pretrained
    stack's lower layers under a fresh top layer, fine-tuned clean -> clean with
    `sweep_epochs` (a smaller budget than the main model's, noted in the table). Kinds that
    do not stack have no lower layers to reuse and show their own size only.
    """
    from autoencoder_pipelines.jobs import autoencoders
    from autoencoder_pipelines.nn.kinds import get_kind

    features, schema = data.schema.features, data.schema
    x_train, x_test = data.values("train"), data.values("test")
    rows = [{
        "code_size": autoencoder.code_size, "autoencoder_test_mse": reconstruction_mse(autoencoder, x_test),
        "pca_test_mse": _pca_test_mse(_fit_pca(x_train, autoencoder.code_size), x_test), "epochs": params.epochs,
    }]
    if not get_kind(model.kind).stacks:
        return pd.DataFrame(rows)
    phase = PhaseParams(epochs=params.sweep_epochs, learning_rate=params.learning_rate, patience=5, batch_size=params.batch_size)
    for size in sorted(set(params.sweep_code_sizes) - {autoencoder.code_size}):
        if size >= len(features):
            continue
        sizes = [*model.hidden_sizes_for(len(features))[:-1], size]
        candidate = autoencoders.build_autoencoder(model.model_copy(update={"hidden_sizes": sizes}), schema, runtime.seed, f"init.sweep.k{size}")
        for lower, pretrained in zip(candidate.layers[:-1], stack.layers[:-1]):
            lower.load_state_dict(pretrained.state_dict())
        trained, _ = autoencoders.fine_tune_phase(candidate, data, model, phase, runtime, f"reduction_sweep.k{size}")
        rows.append({
            "code_size": size, "autoencoder_test_mse": reconstruction_mse(trained, x_test),
            "pca_test_mse": _pca_test_mse(_fit_pca(x_train, size), x_test), "epochs": params.sweep_epochs,
        })
    return pd.DataFrame(rows).sort_values("code_size").reset_index(drop=True)


FEATURE_SETS = {"codes": "z_", "pca": "pc_"}


def classify_features(embeddings: pd.DataFrame, pca_embeddings: pd.DataFrame, data: ModelInput) -> dict[str, Any]:
    """Learned features for classical classifiers: a linear SVM and a logistic regression
    (scikit-learn, each feature standardised on the training rows, C = 1) fitted on the
    training rows' autoencoder codes (the export), their raw inputs and their PCA codes of the
    same size, and scored on the test rows: `<codes|raw|pca>.<classifier>.test_accuracy`.
    Labelled rows only (the codes come from every row); nothing without labels."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from autoencoder_pipelines.data.frames import is_labelled

    if not data.schema.has_labels:
        return {}
    train, test, features = data.train, data.test, data.schema.features
    labelled = {"train": is_labelled(train).to_numpy(), "test": is_labelled(test).to_numpy()}
    sets = {"raw": (train[features].to_numpy()[labelled["train"]], test[features].to_numpy()[labelled["test"]])}
    for name, prefix in FEATURE_SETS.items():
        frame = embeddings if name == "codes" else pca_embeddings
        columns = [c for c in frame.columns if c.startswith(prefix)]
        sets[name] = tuple(frame.loc[frame["split"] == split, columns].to_numpy()[labelled[split]] for split in ("train", "test"))
    # the exports keep the split's row order, so the labels line up with the frames'
    y_train, y_test = (part.loc[labelled[split], LABEL].astype(str).to_numpy()
                       for split, part in (("train", train), ("test", test)))
    classifiers = {
        # newton-cg: the same optimum as the default lbfgs on these tables, about 10x faster here
        "logistic_regression": lambda: LogisticRegression(solver="newton-cg", max_iter=1000),
        # the dual solver with a cap: the primal one took 60 s on 7,000 raw 784-pixel rows (the
        # dual's 1,000 iterations: 10 s, within 0.005 of it there); the same optimum on the digits
        "linear_svm": lambda: LinearSVC(dual=True, max_iter=1000),
    }
    metrics: dict[str, Any] = {}
    for name, (x_train, x_test) in sets.items():
        metrics[f"{name}.dimensions"] = x_train.shape[1]
        for classifier, make in classifiers.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                fitted = make_pipeline(StandardScaler(), make()).fit(x_train, y_train)
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                logger.info("classical classifiers: %s on %s stopped at its iteration cap before converging", classifier, name)
            metrics[f"{name}.{classifier}.test_accuracy"] = float((fitted.predict(x_test) == y_test).mean())
    logger.info("classical classifiers, test accuracy: %s", ", ".join(
        f"{k.removesuffix('.test_accuracy')} {v:.4f}" for k, v in metrics.items() if k.endswith("accuracy")))
    return metrics
