"""Code export and the PCA baseline."""

from __future__ import annotations

import logging
import time
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
    "cluster_features",
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


def _pca_test_mse_by_size(x_train: np.ndarray, x_test: np.ndarray, sizes: list[int]) -> dict[int, float]:
    """PCA's test reconstruction MSE at each size, from one exact fit (the covariance's
    eigenvectors): the first k components of that fit are the k-component PCA, so the largest
    size's fit serves every size (a fit per size took about 0.5 s each on 7,000 x 784 rows)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=max(sizes), svd_solver="covariance_eigh").fit(x_train)
    centred = x_test - pca.mean_
    errors = {}
    for k in sizes:
        components = pca.components_[:k]
        errors[k] = float(((centred @ components.T @ components - centred) ** 2).mean())
    return errors


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
    stacks = get_kind(model.kind).stacks
    other_sizes = set(params.sweep_code_sizes) - {autoencoder.code_size}
    sizes = sorted(size for size in other_sizes if size < len(features)) if stacks else []
    pca_mse = _pca_test_mse_by_size(x_train, x_test, [autoencoder.code_size, *sizes])
    rows = [{
        "code_size": autoencoder.code_size, "autoencoder_test_mse": reconstruction_mse(autoencoder, x_test),
        "pca_test_mse": pca_mse[autoencoder.code_size], "epochs": params.epochs,
    }]
    if not stacks:
        return pd.DataFrame(rows)
    phase = PhaseParams(epochs=params.sweep_epochs, learning_rate=params.learning_rate, patience=5, batch_size=params.batch_size,
                        lr_schedule=params.lr_schedule, anneal_epochs=params.anneal_epochs, min_delta=params.min_delta)
    for size in sizes:
        hidden = [*model.hidden_sizes_for(len(features))[:-1], size]
        candidate = autoencoders.build_autoencoder(model.model_copy(update={"hidden_sizes": hidden}), schema, runtime.seed,
                                                   f"init.sweep.k{size}")
        for lower, pretrained in zip(candidate.layers[:-1], stack.layers[:-1], strict=True):
            lower.load_state_dict(pretrained.state_dict())
        trained, _ = autoencoders.fine_tune_phase(candidate, data, model, phase, runtime, f"reduction_sweep.k{size}")
        rows.append({
            "code_size": size, "autoencoder_test_mse": reconstruction_mse(trained, x_test),
            "pca_test_mse": pca_mse[size], "epochs": params.sweep_epochs,
        })
    return pd.DataFrame(rows).sort_values("code_size").reset_index(drop=True)


FEATURE_SETS = {"codes": "z_", "pca": "pc_"}


def _feature_sets(embeddings: pd.DataFrame, pca_embeddings: pd.DataFrame, data: ModelInput) -> dict[str, dict[str, np.ndarray]]:
    """The raw inputs, autoencoder codes and PCA codes of every train and test row, in the split's row
    order (the exports keep it): {"raw" | "codes" | "pca": {"train" | "test": rows x dimensions}}."""
    sets = {"raw": {split: getattr(data, split)[data.schema.features].to_numpy() for split in ("train", "test")}}
    for name, prefix in FEATURE_SETS.items():
        frame = embeddings if name == "codes" else pca_embeddings
        columns = [c for c in frame.columns if c.startswith(prefix)]
        sets[name] = {split: frame.loc[frame["split"] == split, columns].to_numpy() for split in ("train", "test")}
    return sets


def classify_features(
    embeddings: pd.DataFrame, pca_embeddings: pd.DataFrame, data: ModelInput, params: ReductionParams
) -> dict[str, Any]:
    """Learned features for classical classifiers: a linear SVM and a logistic regression
    (scikit-learn, each feature standardised on the training rows, C = 1) fitted on the
    training rows' autoencoder codes (the export), their raw inputs and their PCA codes of the
    same size, and scored on the test rows: `<codes|raw|pca>.<classifier>.test_accuracy`.
    Labelled rows only (the codes come from every row); nothing without labels. The three are
    fitted on the same training rows: all, or a stratified sample of `classifier_rows` of them
    (`classical.train_rows` says how many): the linear SVM on raw 784-pixel rows costs time in
    proportion to the rows (7,000 rows: 17 s, hitting its iteration cap)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from autoencoder_pipelines.data.frames import is_labelled

    if not data.schema.has_labels:
        return {}
    train, test = data.train, data.test
    labelled = {"train": is_labelled(train).to_numpy(), "test": is_labelled(test).to_numpy()}
    sets = {name: (rows["train"][labelled["train"]], rows["test"][labelled["test"]])
            for name, rows in _feature_sets(embeddings, pca_embeddings, data).items()}
    # the exports keep the split's row order, so the labels line up with the frames'
    y_train, y_test = (part.loc[labelled[split], LABEL].astype(str).to_numpy()
                       for split, part in (("train", train), ("test", test)))
    keep = _sample_rows(y_train, params.classifier_rows)
    if len(keep) < len(y_train):
        logger.info("classical classifiers: fitted on a stratified sample of %d of the %d labelled training rows "
                    "(reduction.classifier_rows)", len(keep), len(y_train))
        sets = {name: (x_train[keep], x_test) for name, (x_train, x_test) in sets.items()}
        y_train = y_train[keep]
    classifiers = {
        # newton-cg: the same optimum as the default lbfgs on these tables, about 10x faster here
        "logistic_regression": lambda: LogisticRegression(solver="newton-cg", max_iter=1000),
        # the dual solver with a cap: the primal one took 60 s on 7,000 raw 784-pixel rows (the
        # dual's 1,000 iterations: 10 s, within 0.005 of it there); the same optimum on the digits
        # random_state: the dual solver shuffles its coordinates (NumPy's global state otherwise)
        "linear_svm": lambda: LinearSVC(dual=True, max_iter=1000, random_state=0),
    }
    metrics: dict[str, Any] = {"classical.train_rows": len(y_train)}
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


def _sample_rows(labels: np.ndarray, limit: int | None) -> np.ndarray:
    """Positions of at most `limit` rows, stratified by label (seeded); every row without a limit."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(labels))
    if limit is None or len(labels) <= limit:
        return positions
    try:
        keep, _ = train_test_split(positions, train_size=limit, stratify=labels, random_state=0)
    except ValueError:  # a class with a single row cannot be stratified
        keep, _ = train_test_split(positions, train_size=limit, random_state=0)
    return np.sort(keep)


CLUSTER_SCORES = ("ari", "nmi", "silhouette")


def cluster_features(
    embeddings: pd.DataFrame, pca_embeddings: pd.DataFrame, data: ModelInput, params: ReductionParams, runtime: Runtime
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Learned features for clustering: k-means (scikit-learn, k-means++ seeds, `n_init` restarts,
    seed runtime.seed) fitted on the training rows' raw inputs, autoencoder codes and PCA codes of
    the same size, each as the pipeline scaled or encoded it; the test rows are assigned to the
    nearest centre and scored: ARI and NMI against their labels (labelled rows only; none without
    labels) and the silhouette in each set's own space (on a seeded sample of at most
    `silhouette_rows` test rows). A table row per feature set (clustering.csv) and, in the
    metrics, the codes' ARI and NMI beside the better of the raw inputs' and the PCA codes'
    (`cluster/codes.<score>`, `cluster/best_baseline.<score>`), and each set's silhouette
    (`cluster/{codes,raw,pca}.silhouette`: measured in different spaces, none is the better)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
    from threadpoolctl import threadpool_limits

    from autoencoder_pipelines.data.frames import is_labelled

    clustering, schema = params.clustering, data.schema
    if not clustering.enabled:
        return pd.DataFrame(columns=["features", "dimensions", "n_clusters", *CLUSTER_SCORES, "seconds"]), {}
    k = clustering.clusters_for(schema)
    labelled = is_labelled(data.test).to_numpy()
    truth = data.test.loc[labelled, LABEL].astype(str).to_numpy() if labelled.any() else None
    rng = np.random.default_rng(runtime.seed)
    n_test = len(data.test)
    sample = np.sort(rng.choice(n_test, size=min(n_test, clustering.silhouette_rows), replace=False))
    rows = []
    # on runtime.threads, as torch: on the busy 2-core machine one thread took 0.5-0.9 s for the
    # digits' raw pixels against 6.6-11 s on scikit-learn's default of every core (load 12)
    with threadpool_limits(limits=runtime.params.threads):
        for name, splits in _feature_sets(embeddings, pca_embeddings, data).items():
            started = time.perf_counter()
            kmeans = KMeans(n_clusters=k, n_init=clustering.n_init, random_state=runtime.seed).fit(splits["train"])
            assigned = kmeans.predict(splits["test"])
            row = {"features": name, "dimensions": splits["train"].shape[1], "n_clusters": k}
            if truth is not None:
                row["ari"] = float(adjusted_rand_score(truth, assigned[labelled]))
                row["nmi"] = float(normalized_mutual_info_score(truth, assigned[labelled]))
            # undefined when the sample's rows fall in one cluster, or each in its own
            separated = 1 < len(np.unique(assigned[sample])) < len(sample)
            silhouette = silhouette_score(splits["test"][sample], assigned[sample]) if separated else float("nan")
            row["silhouette"] = float(silhouette)
            row["seconds"] = time.perf_counter() - started
            rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(3, "test_rows", n_test)
    table.insert(4, "labelled_test_rows", int(labelled.sum()))
    table.insert(5, "silhouette_rows", len(sample))
    scores = [score for score in CLUSTER_SCORES if score in table.columns]
    by_set = table.set_index("features")
    metrics: dict[str, Any] = {}
    for score in scores:  # an undefined silhouette (NaN) stays in the table only
        metrics[f"cluster/codes.{score}"] = float(by_set.loc["codes", score])
        if score == "silhouette":  # each in its own space: three figures, no "better" one across spaces
            metrics.update({f"cluster/{name}.silhouette": float(by_set.loc[name, score]) for name in ("raw", "pca")})
        else:
            metrics[f"cluster/best_baseline.{score}"] = float(by_set.loc[["raw", "pca"], score].max())
    metrics = {key: value for key, value in metrics.items() if np.isfinite(value)}
    logger.info(
        "k-means (k=%d, n_init=%d) on %d test rows: %s (%.1f s)", k, clustering.n_init, n_test,
        "; ".join(f"{r.features} " + ", ".join(f"{s} {getattr(r, s):.3f}" for s in scores) for r in table.itertuples()),
        table["seconds"].sum(),
    )
    return table, metrics
