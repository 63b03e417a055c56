"""Typed, validated parameters: one pydantic model per `conf/base/parameters*.yml` section,
the one source of defaults (the YAML files show them; a test fails where the two disagree).

Nodes annotate their `params:` inputs with these models, so Kedro hands them validated
objects. The project hook validates every section before any node runs, so a mistyped key
fails the run at once with its key path, value and what is allowed. No torch here: a kind's
own options (`model.<kind>`) are checked against the kind registry when a run trains.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.nn.kinds import kind_names
from autoencoder_pipelines.nn.sizes import default_batch_size, scaled_learning_rate


class _Strict(BaseModel):
    # Every field has a description: the parameter reference in docs/ is generated from them, and
    # a test requires one for every field. (Field(description=...), not attribute docstrings:
    # pydantic reads those from the source at import, 0.2 s CPU at every kedro command.)
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuntimeParams(_Strict):
    """Where and how training runs, resolved once per run."""

    device: str = Field(
        "auto",
        description="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps; asking for an absent device fails "
        "before any work.",
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description="fp32, or bf16 / fp16 with autocast (fp16 adds gradient scaling); conf/gpu uses bf16.",
    )
    batch_size: Optional[int] = Field(
        None, ge=1,
        description="Every phase's batch size unless the phase sets its own. null: from the training rows and the "
        "device: on a CPU clamp(rows / 40, 32, 256), small tables keep small batches, large ones train in fewer, "
        "larger steps; on a CUDA GPU clamp(rows / 16, 256, 4096), with the learning rates scaled (lr_scaling); "
        "below 320 rows, on either, rows / 10 and at least 8 (about ten steps an epoch).",
    )
    lr_scaling: Literal["none", "sqrt", "linear"] = Field(
        "sqrt",
        description="A batch from the GPU's rule scales each phase's learning rate (set for the CPU rule's batch of "
        "the same rows) by the square root (sqrt) or the ratio (linear) of the two batches; none: unchanged. A batch "
        "you set is used with its rate as set.",
    )
    pin_memory: bool = Field(
        False,
        description="Pin host memory for data streamed to the GPU (faster copies); no effect on CPU.",
    )
    device_memory_fraction: float = Field(
        0.5, gt=0, le=1,
        description="Training data goes to the GPU when it takes at most this share of free device memory; larger "
        "data stays in host memory and is streamed a batch at a time.",
    )
    seed: int = Field(
        42,
        description="The run's seed: each phase derives its own stream from it (split, noise, initial weights).",
    )
    threads: Optional[int] = Field(
        1, ge=1,
        description="CPU threads for torch and the k-means of reduction.clustering; null: all cores. The default "
        "networks are small: one thread ran the digits job faster than two.",
    )
    log_every: int = Field(
        10, ge=0,
        description="A log line every N epochs of each phase where there is no progress bar (CI, cron); 0: phase "
        "summaries only.",
    )
    compile: bool = Field(
        False,
        description="torch.compile each training step (pays off for long GPU runs; needs a C compiler; off under "
        "ddp).",
    )
    cuda_graphs: bool = Field(
        False,
        description="CUDA: each phase's whole step (forward, backward, Adam) captured once as a CUDA graph and "
        "replayed for every batch (conf/gpu turns it on); not with fp16, compile, ddp or per-batch callbacks.",
    )
    strategy: Literal["single", "ddp"] = Field(
        "single",
        description="single: one process; ddp: data-parallel training under torchrun (docs: GPU and distributed).",
    )
    checkpoint_every: int = Field(
        1, ge=0,
        description="Epochs between checkpoints (0: off); a killed run resumes from them.",
    )
    checkpoint_seconds: float = Field(
        30.0, ge=0,
        description="And at most one checkpoint every this many seconds, and one when a phase ends (each write is "
        "flushed to disk); 0: every checkpoint_every epochs.",
    )
    checkpoint_dir: str = Field(
        "data/06_models/checkpoints",
        description="Where checkpoints go: each run keeps its own folder in it, removed when the run succeeds.",
    )
    on_busy: Literal["wait", "refuse"] = Field(
        "wait",
        description="Another training holds this project's data folder: wait for it, or refuse at once (exit code "
        "75).",
    )

    def batch_size_for(self, n_rows: int, phase: Optional[int] = None, device: str = "cpu") -> int:
        """A phase's batch on `n_rows` training rows on a device of type `device`."""
        if phase is not None:
            return phase
        if self.batch_size is not None:
            return self.batch_size
        return default_batch_size(n_rows, device)

    def learning_rate_for(self, rate: float, n_rows: int, phase: Optional[int] = None, device: str = "cpu") -> float:
        """A phase's learning rate `rate` (set for the CPU's batch rule) for the batch it trains with:
        scaled by lr_scaling when that batch is the GPU rule's, unchanged when it was set."""
        batch = self.batch_size_for(n_rows, phase, device)
        if phase is not None or self.batch_size is not None:
            return rate
        return scaled_learning_rate(rate, batch, default_batch_size(n_rows), self.lr_scaling)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        name = value.strip().lower()
        if not (name in ("auto", "cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())):
            raise ValueError("expected one of auto, cpu, cuda, cuda:N, mps")
        return name


class DataParams(_Strict):
    """The table to learn from: its file, its columns, and what to do with bad rows."""

    source: Literal["digits", "csv", "parquet", "windows", "images", "idx"] = Field(
        "digits",
        description="digits: scikit-learn's bundled 8x8 images; csv, parquet: your table at `path`; windows: a CSV "
        "(or .parquet) of numeric series over time, cut into overlapping windows; images: a folder of PNG or JPEG "
        "files at `path` (class sub-folders give the labels, as torchvision's ImageFolder; a flat folder is "
        "unlabelled); idx: MNIST-format IDX images at `path` (gzip or not), labels at `labels_path`.",
    )
    path: Optional[str] = Field(
        None, description="The file (csv, parquet, windows), the folder (images) or the IDX images file (idx).")
    labels_path: Optional[str] = Field(
        None, description="idx: the IDX labels file (one label per image); null: unlabelled images.")
    label_column: Optional[str] = Field(
        None,
        description="Optional: enables the classifier, the stratified split and the anomaly ROC-AUC; a row with an "
        "empty label is unlabelled (pretraining and the unsupervised models only).",
    )
    id_column: Optional[str] = Field(
        None,
        description="Optional: row ids carried into every output (missing or repeated ids are refused).",
    )
    feature_columns: Optional[list[str]] = Field(
        None,
        description="The feature columns (windows: the series); null: every numeric column other than the label, id "
        "and time columns (a text column left out is named in the log).",
    )
    image_shape: Optional[list[int]] = Field(
        None,
        description="Rows are images of this shape: [height, width] (grayscale) or [3, height, width] (RGB, channel "
        "first), e.g. [28, 28]: drawn as images, scaled globally, bce loss. images, idx: every image is resized to "
        "it ([1, h, w] or [3, h, w] also converts the colour); null: the images' own size (all one size, else refused "
        "naming the files).",
    )
    min_rows: int = Field(
        20, ge=2,
        description="The fewest rows a table may have once bad rows are dropped (windows: the fewest windows cut "
        "from the series).",
    )
    bad_rows: Literal["refuse", "drop"] = Field(
        "refuse",
        description="A row with a bad cell (a feature not a number, empty, NaN, infinite, beyond float32's range; a "
        "missing id): refuse the file naming them, or drop those rows and say how many. An empty label is not a bad "
        "cell: the row is unlabelled. A column is never dropped.",
    )
    read_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed to pandas.read_csv / read_parquet as they are, e.g. {sep: \";\", decimal: \",\"}.",
    )
    window_length: int = Field(32, ge=2, description="windows: time steps per window.")
    window_stride: int = Field(
        8, ge=1,
        description="windows: time steps from one window's start to the next (below window_length: overlapping).",
    )
    time_column: Optional[str] = Field(
        None,
        description="windows: rows are put in this column's order (numbers or dates, each once); null: file order.",
    )

    @field_validator("image_shape")
    @classmethod
    def _image_shape(cls, value: Optional[list[int]]) -> Optional[list[int]]:
        if value is None:
            return value
        if len(value) not in (2, 3) or min(value) < 1 or (len(value) == 3 and value[0] not in (1, 3)):
            raise ValueError("expected [height, width] or [channels, height, width] with 1 or 3 channels")
        return value

    @model_validator(mode="after")
    def _path_for_files(self) -> "DataParams":
        if self.source != "digits" and not self.path:
            raise ValueError(f"data.path is required when data.source is '{self.source}'")
        repeated = sorted(c for c, n in Counter(self.feature_columns or []).items() if n > 1)
        if repeated:
            raise ValueError(f"data.feature_columns names {repeated} more than once; name each column once")
        if self.labels_path is not None and self.source != "idx":
            raise ValueError("data.labels_path is the IDX labels file: it needs data.source 'idx'")
        if self.source in ("images", "idx"):
            for key in ("label_column", "id_column", "feature_columns"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"data.{key} does not apply to images (labels are class sub-folders or the IDX labels file; "
                        "ids are paths; features are pixels); set it to null"
                    )
        if self.source == "windows":
            for key in ("label_column", "id_column", "image_shape"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"data.{key} does not apply to windows of a series (a window's id is its start time); set it to null"
                    )
        elif self.time_column is not None:
            raise ValueError("data.time_column orders a series cut into windows: it needs data.source 'windows'")
        return self


class SplitParams(_Strict):
    """The seeded train/validation/test split and the scaler fitted on the training rows."""

    test_fraction: float = Field(
        0.2, gt=0, lt=1,
        description="Share of all rows held out for the test figures (stratified by class where there are labels).",
    )
    val_fraction: float = Field(
        0.1, gt=0, lt=1,
        description="Share of all rows for validation: early stopping, thresholds, tuning.",
    )
    scaling: Literal["auto", "global", "per_feature", "robust", "per_channel"] = Field(
        "auto",
        description="Fitted on the training rows only. auto: images share one range (global); tables are scaled per "
        "feature by their 1st-99th percentile range (robust), so outliers do not squash everything else and stay "
        "visible outside [0, 1]; windows of a series per series (per_channel), and split in time order without "
        "shared time steps. per_feature: each feature's min-max.",
    )

    def scaling_for(self, schema: DataSchema) -> str:
        if self.scaling != "auto":
            return self.scaling
        if schema.is_windows:
            return "per_channel"
        return "global" if schema.is_images else "robust"

    @model_validator(mode="after")
    def _room_for_training(self) -> "SplitParams":
        if self.test_fraction + self.val_fraction >= 0.9:
            raise ValueError("test_fraction + val_fraction must leave at least 10% for training")
        return self


class CorruptionParams(_Strict):
    """Input corruption (Vincent et al. 2010), drawn afresh every batch in training; `corruption`
    also makes the fixed noisy validation and test sets."""

    kind: Literal["none", "masking", "salt_and_pepper", "gaussian"] = Field(
        "masking",
        description="masking: zero a fraction of the values; salt_and_pepper: set a fraction to the minimum or "
        "maximum; gaussian: add noise of deviation `level`; none.",
    )
    level: float = Field(
        0.25, ge=0,
        description="A fraction in [0, 1] for masking and salt_and_pepper, sigma for gaussian (masking 25%: Vincent "
        "et al.'s MNIST setting).",
    )

    @field_validator("level")
    @classmethod
    def _fraction_in_range(cls, level: float, info: ValidationInfo) -> float:
        kind = info.data.get("kind")
        if kind in ("masking", "salt_and_pepper") and level > 1:
            raise ValueError(f"a {kind} level is a fraction: expected a value in [0, 1]")
        return level


LOSS = Literal["mse", "l1", "bce"]


def stack_sizes(n_features: int) -> list[int]:
    """Hidden sizes from d features: [clamp(4d, 16, 256), clamp(2d, 8, 128), code], code =
    clamp(round(3d/8), 2, 32) and below d (digits, d = 64: [256, 128, 24])."""
    code = max(1, min(max(2, min(32, round(3 * n_features / 8))), n_features - 1))
    return [min(max(4 * n_features, 16), 256), max(min(max(2 * n_features, 8), 128), code + 1), code]


def data_loss(loss: str, schema: DataSchema) -> str:
    """`loss`, or for auto: bce for images (pixel intensities in [0, 1]), mse for tables and for
    windows of a series (continuous values: a Gaussian, not a Bernoulli, likelihood)."""
    return loss if loss != "auto" else ("bce" if schema.is_images else "mse")


class ModelParams(_Strict):
    """The network. A kind's own options sit under its name (`model.sparse.weight`); they are
    validated by the kind's schema (nn/kinds/<kind>.py), not here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field(
        "denoising",
        description="The autoencoder kind (one module each in nn/kinds/): undercomplete, denoising, sparse, "
        "contractive, vae, conv, adversarial, conv1d_vae.",
    )
    hidden_sizes: Optional[list[int]] = Field(
        None, min_length=1,
        description="Hidden layer sizes; the last is the code size. null: from the d features, [clamp(4d, 16, 256), "
        "clamp(2d, 8, 128), clamp(3d/8, 2, 32)] (digits: [256, 128, 24]).",
    )
    activation: Literal["sigmoid", "relu", "tanh"] = Field("relu", description="Activation of the hidden layers.")
    code_activation: Literal["sigmoid", "relu", "tanh", "linear"] = Field(
        "linear",
        description="Activation of the code layer; linear keeps the codes unbounded (sigmoid for sparse with kl).",
    )
    loss: Literal["auto", "mse", "l1", "bce"] = Field(
        "auto",
        description="The reconstruction loss of the data. auto: bce for images (values in [0, 1]), mse for tables "
        "and windows.",
    )
    hidden_loss: LOSS = Field(
        "mse",
        description="The loss of stacked layers above the first, which reconstruct hidden codes; bce there needs "
        "sigmoid activations.",
    )
    l1_weight: float = Field(
        0.0, ge=0,
        description="L1 penalty on the weights in pretraining, every kind (L2 is a phase's weight_decay).",
    )

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        if kind not in kind_names():
            raise ValueError(f"expected one of {', '.join(kind_names())}")
        return kind

    @field_validator("hidden_sizes")
    @classmethod
    def _positive(cls, sizes: list[int] | None) -> list[int] | None:
        if sizes is not None and any(size < 1 for size in sizes):
            raise ValueError("every hidden size must be >= 1")
        return sizes

    def hidden_sizes_for(self, n_features: int) -> list[int]:
        """The configured sizes, or `stack_sizes(n_features)`."""
        return list(self.hidden_sizes) if self.hidden_sizes is not None else stack_sizes(n_features)

    def loss_for(self, schema: DataSchema) -> str:
        return data_loss(self.loss, schema)

    @model_validator(mode="after")
    def _known_blocks(self) -> "ModelParams":
        for key, value in (self.model_extra or {}).items():
            if key not in kind_names():
                raise ValueError(f"unknown key '{key}'{did_you_mean(key, [*type(self).model_fields, *kind_names()])}; "
                                 f"a block of options must be named after a kind ({', '.join(kind_names())})")
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"model.{key} must be a block of options (got {value!r})")
        if self.hidden_loss == "bce" and self.activation != "sigmoid" and len(self.hidden_sizes or [0, 0]) > 1:
            raise ValueError("hidden_loss 'bce' needs codes in [0, 1]: set activation to sigmoid, or use mse or l1")
        return self

    def kind_options(self, kind: str | None = None) -> dict[str, Any]:
        """The raw `model.<kind>` block (the chosen kind's by default)."""
        return dict((self.model_extra or {}).get(kind or self.kind) or {})


class PhaseParams(_Strict):
    """One training phase's optimisation budget."""

    epochs: int = Field(50, ge=1, description="The most epochs the phase trains: a cap when early stopping is on.")
    learning_rate: float = Field(1e-3, gt=0, description="Adam's learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on the weights (Adam's weight_decay).")
    patience: Optional[int] = Field(
        None, ge=1,
        description="Early stopping: epochs without improvement of the validation loss before the phase stops (the "
        "best weights are kept); null: no early stopping.",
    )
    min_delta: float = Field(
        0.001, ge=0, lt=1,
        description="An improvement smaller than this share of the best value does not count (0.001: 0.1%).",
    )
    lr_schedule: Literal["constant", "cosine", "anneal_on_plateau"] = Field(
        "constant",
        description="constant; cosine: annealed to 0 over `epochs` (the cap: early stopping then ends it at a high "
        "rate); anneal_on_plateau: constant until `patience` epochs bring no improvement (or the cap is near), then "
        "annealed to 0 over `anneal_epochs` more, then stop with the best epoch's weights.",
    )
    anneal_epochs: int = Field(
        5, ge=1,
        description="anneal_on_plateau: the epochs over which the rate is annealed to 0 before the phase stops.",
    )
    grad_clip: Optional[float] = Field(None, gt=0, description="Bound on the gradient norm; null: no clipping.")
    batch_size: Optional[int] = Field(
        None, ge=1,
        description="This phase's batch size; null: runtime.batch_size, or the rule from the training rows.",
    )


class PretrainParams(PhaseParams):
    """Pretraining: greedy layer-wise (each layer gets this budget) or end to end (vae, conv,
    adversarial, conv1d_vae)."""

    epochs: int = Field(
        30, ge=1,
        description="The most epochs each layer (or the whole network) trains: a cap under early stopping.",
    )
    learning_rate: float = Field(0.003, gt=0, description="Adam's learning rate.")
    patience: Optional[int] = Field(
        5, ge=1,
        description="Early stopping on each layer's validation loss; null: no early stopping.",
    )
    lr_schedule: Literal["constant", "cosine", "anneal_on_plateau"] = Field(
        "anneal_on_plateau",
        description="anneal_on_plateau: each layer ends annealed (PhaseParams.lr_schedule).",
    )
    layer_corruption: Optional[list[CorruptionParams]] = Field(
        None,
        description="One corruption ({kind, level}) per layer (needs model.hidden_sizes); null: `corruption` for "
        "every layer.",
    )


class FinetuneParams(PhaseParams):
    """The pretrained encoder with a softmax head, and a random-init twin trained on the same
    budget (what pretraining bought); labelled rows only."""

    epochs: int = Field(100, ge=1, description="The most epochs: a cap under early stopping.")
    patience: Optional[int] = Field(
        5, ge=1,
        description="Early stopping on the validation loss; null: none (required with train_on_validation).",
    )
    learning_rate: float = Field(0.003, gt=0, description="Adam's learning rate.")
    lr_schedule: Literal["constant", "cosine", "anneal_on_plateau"] = Field(
        "anneal_on_plateau",
        description="anneal_on_plateau: constant until the validation loss plateaus, then annealed to 0 over "
        "anneal_epochs, then stop (cosine over the 100-epoch cap ended training at a high rate: "
        "benchmarks/schedule_and_stopping.py).",
    )
    mode: Literal["full", "head_only"] = Field(
        "full",
        description="full: the encoder and the head are trained; head_only: the encoder stays frozen.",
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout before the head.")
    input_corruption: Optional[CorruptionParams] = Field(
        CorruptionParams(kind="gaussian", level=0.2),
        description="Corrupts training batches afresh (augmentation); null: none.",
    )
    train_on_validation: bool = Field(
        False,
        description="A final fit on train + validation rows for exactly `epochs` (no early stopping, no validation "
        "metrics): more labelled rows, as a model refit before deployment would use.",
    )
    label_fractions: list[float] = Field(
        default_factory=list,
        description="The label budget curve, e.g. [0.01, 0.05, 0.1, 1.0]: for each fraction, both classifiers again "
        "on that share of the labelled rows (stratified, seeded, nested), beside logistic regression on PCA codes. "
        "[]: off (each fraction below 1 trains two more classifiers).",
    )

    @field_validator("label_fractions")
    @classmethod
    def _fractions(cls, fractions: list[float]) -> list[float]:
        if any(not 0 < f <= 1 for f in fractions):
            raise ValueError("every fraction must be in (0, 1]")
        return sorted(set(fractions))

    @model_validator(mode="after")
    def _no_early_stopping_without_validation(self) -> "FinetuneParams":
        if self.train_on_validation and self.patience is not None:
            raise ValueError("train_on_validation leaves no validation rows for early stopping: set patience to null")
        return self


class DenoiserParams(PhaseParams):
    """The unrolled stack, fine-tuned corrupted -> clean."""

    epochs: int = Field(100, ge=1, description="The most epochs: a cap under early stopping.")
    patience: Optional[int] = Field(5, ge=1, description="Early stopping on the validation loss; null: none.")
    learning_rate: float = Field(0.003, gt=0, description="Adam's learning rate.")
    lr_schedule: Literal["constant", "cosine", "anneal_on_plateau"] = Field(
        "anneal_on_plateau",
        description="anneal_on_plateau: constant until the validation loss plateaus, then annealed to 0 over "
        "anneal_epochs, then stop.",
    )


class ClusteringParams(_Strict):
    """k-means on the autoencoder codes, the raw inputs and PCA codes of the same size: fitted on the
    training rows, scored on the test rows (clustering.csv and .png, cluster/* metrics)."""

    def clusters_for(self, schema: DataSchema) -> int:
        """k: as set; else the number of classes of a labelled table, 8 (scikit-learn's default) without labels."""
        return self.n_clusters or (len(schema.classes) if schema.has_labels else 8)

    enabled: bool = Field(True, description="false: no clustering (an empty table, a placeholder figure, no metrics).")
    n_clusters: Optional[int] = Field(
        None, ge=2,
        description="k of k-means; null: the number of classes of a labelled table, 8 (scikit-learn's default) "
        "without labels.",
    )
    n_init: int = Field(
        10, ge=1, description="k-means restarts from k-means++ seeds (the best inertia wins); the seed is runtime.seed."
    )
    silhouette_rows: int = Field(
        2000, ge=10,
        description="The silhouette is computed on at most this many test rows (a seeded sample): it costs the "
        "square of the rows.",
    )


class ReductionParams(PhaseParams):
    """The unrolled stack fine-tuned clean -> clean; its codes are the export."""

    epochs: int = Field(100, ge=1, description="The most epochs: a cap under early stopping.")
    patience: Optional[int] = Field(5, ge=1, description="Early stopping on the validation loss; null: none.")
    learning_rate: float = Field(0.003, gt=0, description="Adam's learning rate.")
    lr_schedule: Literal["constant", "cosine", "anneal_on_plateau"] = Field(
        "anneal_on_plateau",
        description="anneal_on_plateau: constant until the validation loss plateaus, then annealed to 0 over "
        "anneal_epochs, then stop.",
    )
    pca_components: Optional[int] = Field(
        None, ge=1,
        description="Components of the PCA baseline; null: the autoencoder's code size (a like-for-like comparison).",
    )
    sweep_code_sizes: list[int] = Field(
        default_factory=lambda: [8, 16, 32],
        description="Autoencoder against PCA at these code sizes too, each a fresh top layer on the pretrained lower "
        "layers (reduction_by_code_size.csv/.png); []: skip.",
    )
    sweep_epochs: int = Field(
        10, ge=1,
        description="Epochs of each code size's top layer in that sweep (a quick comparison, not a full training).",
    )
    classifier_rows: Optional[int] = Field(
        2000, ge=2,
        description="The classical classifiers on codes, raw inputs and PCA are fitted on at most this many labelled "
        "training rows (a stratified seeded sample, the same for the three); null: all of them.",
    )
    clustering: ClusteringParams = Field(
        ClusteringParams(),
        description="k-means on the codes against the raw inputs and PCA codes: ARI and NMI against the labels, "
        "silhouette always.",
    )


class AnomalyParams(PhaseParams):
    """The detector (nn/detector.py): its network, training and threshold."""

    def detector_choices(self, schema: DataSchema) -> dict[str, Any]:
        """hidden_sizes, standardize, loss and score_rule as set, or from the kind of data. A table's
        hidden sizes are None unless set: the detector derives its code from the training rows
        (nn.sizes.detector_code_size) when it fits."""
        d, images = schema.n_features, schema.is_images
        sizes = self.hidden_sizes or (stack_sizes(d) if images else None)
        return {
            "hidden_sizes": None if sizes is None else list(sizes),
            "standardize": (not images) if self.standardize is None else self.standardize,
            "loss": data_loss(self.loss, schema),
            "score_rule": self.score_rule or ("reconstruction" if images else "combined"),
        }

    normal_classes: Optional[list[Any]] = Field(
        None,
        description="Label values that are normal (the detector learns those rows; ROC-AUC and AP are measured); "
        "null: 0 (or False) of a 0/1 label; any other label, or none: the detector learns every training row "
        "unsupervised and flags the contamination share (the log says so; no ROC-AUC or AP).",
    )
    threshold_rule: Literal["contamination", "false_alarm_rate"] = Field(
        "contamination",
        description="contamination: the threshold is the `contamination` upper quantile of the training rows' "
        "scores; false_alarm_rate: it flags that share of the normal validation rows.",
    )
    contamination: float = Field(
        0.05, gt=0, lt=0.5,
        description="The expected share of anomalies in the data (as in PyOD and scikit-learn).",
    )
    false_alarm_rate: float = Field(
        0.05, gt=0, lt=0.5,
        description="With threshold_rule false_alarm_rate: the share of normal validation rows flagged.",
    )
    score_rule: Optional[Literal["combined", "reconstruction"]] = Field(
        None,
        description="combined: the larger of the standardised reconstruction error and Mahalanobis distance from the "
        "normal rows' centre; reconstruction: the error alone; null: combined on tables, reconstruction on images "
        "(the distance between pixel vectors ranked the bundled digits' anomalies worse: ROC-AUC 0.893 against 0.937).",
    )
    hidden_sizes: Optional[list[int]] = Field(
        None, min_length=1,
        description="The detector's hidden sizes; null: tables [min(2d, 256), code] with the code as wide as the "
        "principal components holding 90% of the normal training rows' variance, images model.hidden_sizes' rule.",
    )
    standardize: Optional[bool] = Field(
        None,
        description="Standardise each feature by the normal training rows; null: yes for tables, no for images "
        "(pixels as scaled).",
    )
    loss: Literal["auto", "mse", "l1", "bce"] = Field(
        "auto",
        description="auto: mse for tables (linear output), bce for images (sigmoid output).",
    )
    activation: Literal["sigmoid", "relu", "tanh"] = Field(
        "relu",
        description="Hidden activation; tanh is worth trying where anomalies are simply far from the centre (relu "
        "had the best mean ROC-AUC over 12 tables: docs, anomaly detection).",
    )
    batch_norm: bool = Field(True, description="Batch normalisation after each hidden layer.")
    epochs: int = Field(50, ge=1, description="The most epochs: a cap under early stopping.")
    learning_rate: float = Field(0.03, gt=0, description="Adam's learning rate of the detector's own network.")
    patience: Optional[int] = Field(5, ge=1, description="Early stopping on the validation loss; null: none.")
    batch_size: Optional[int] = Field(
        256, ge=1,
        description="The detector's batch size; null: the rule from the normal training rows.",
    )
    corruption: Optional[CorruptionParams] = Field(
        None,
        description="e.g. {kind: gaussian, level: 0.1}: a denoising detector; null: clean inputs.",
    )
    top_features: int = Field(
        3, ge=1,
        description="Each flagged row names its k features with the largest shares of its reconstruction error.",
    )


class ReportParams(_Strict):
    """The figures and analyses of a training run."""

    grid_samples: int = Field(8, ge=1, le=32, description="Test rows in the clean / corrupted / denoised figure.")
    max_points_2d: int = Field(
        2000, ge=10,
        description="At most this many test rows in the 2-D view of the codes (a readable scatter).",
    )
    contraction_rows: int = Field(
        300, ge=3,
        description="Test rows whose encoder Jacobians (and pairs) the contraction analysis measures.",
    )
    generation_rows: int = Field(
        500, ge=3,
        description="Generative kinds: test rows compared with as many generated ones (MMD).",
    )


class RegistryParams(_Strict):
    """The MLflow Model Registry: the name training registers its scoring model under, the
    alias scoring loads, and promotion, which only happens when asked for."""

    model_name: str = Field("autoencoder-pipelines", min_length=1, description="The registered model's name.")
    alias: str = Field(
        "champion", min_length=1,
        description="The alias scoring loads (models:/<model_name>@<alias>); only promotion moves it.",
    )
    register_model: bool = Field(
        True,
        description="A training run registers its scoring model as a new version (compare and sweep never do).",
    )
    promote: bool = Field(False, description="A training run also points the alias at the version it registered.")
    version: Optional[int] = Field(
        None, ge=1,
        description="promote: the version to promote; score: load this version instead of the alias.",
    )
    model_uri: Optional[str] = Field(
        None,
        description="score: this MLflow model (runs:/..., models:/..., a model folder) instead of the registry; also "
        "--params=model_uri=...",
    )
    run_id: Optional[str] = Field(
        None, min_length=1,
        description="register: the training run whose scoring model to register (a run whose registration failed).",
    )
    scoring_experiment: Optional[str] = Field(
        None,
        description="The experiment of scoring runs; null: <model_name>-scoring.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "RegistryParams":
        if self.promote and not self.register_model:
            raise ValueError("promote needs register_model: true (only a registered version can be promoted)")
        if self.version is not None and self.model_uri:
            raise ValueError("give registry.version or registry.model_uri, not both")
        return self

    @property
    def experiment(self) -> str:
        """The experiment of scoring runs."""
        return self.scoring_experiment or f"{self.model_name}-scoring"


class SearchRange(_Strict):
    """Values from `low` to `high` (log: evenly on a log scale), written "low..high" or
    "low..high log" (or as {low, high, log}). A string, so conf/local can replace a range by a
    list of values and back: the config loader cannot merge a list into a mapping."""

    low: float = Field(description="The lowest value.")
    high: float = Field(description="The highest value.")
    log: bool = Field(False, description="Draw evenly on a log scale.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        bounds, _, scale = value.strip().partition(" ")
        low, separator, high = bounds.partition("..")
        if not separator or scale.strip() not in ("", "log"):
            raise ValueError(f"a range is 'low..high' or 'low..high log' (got {value!r})")
        try:
            return {"low": float(low), "high": float(high), "log": scale.strip() == "log"}
        except ValueError:
            raise ValueError(f"a range is 'low..high' or 'low..high log' with numbers (got {value!r})") from None

    @model_serializer
    def _as_text(self) -> str:
        return f"{self.low:g}..{self.high:g}" + (" log" if self.log else "")

    @model_validator(mode="after")
    def _ordered(self) -> "SearchRange":
        if not self.low < self.high:
            raise ValueError(f"low must be below high (got low {self.low}, high {self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        return self


CORRUPTION_KIND = Literal["none", "masking", "salt_and_pepper", "gaussian"]


def _range_or_list(positive: bool) -> Any:
    """A range {low, high, log} or a list of values; errors name the one given."""
    value = Annotated[float, Field(gt=0)] if positive else Annotated[float, Field(ge=0)]
    return Annotated[
        Union[Annotated[SearchRange, Tag("range")], Annotated[list[value], Field(min_length=1), Tag("list")]],
        Discriminator(lambda v: "list" if isinstance(v, (list, tuple)) else "range"),
    ]


Factor = _range_or_list(positive=True)


class _SpaceKeys(_Strict):
    """What a search varies. learning_rate, width, code_size and epochs are multiples of what the
    job uses untuned (its configured value, or the one derived from the data), so one space fits
    every table; corruption_level is the level itself (a fraction; sigma for gaussian)."""

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, values: Any) -> Any:
        if isinstance(values, dict):
            unknown = sorted(set(values) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}{did_you_mean(unknown[0], list(cls.model_fields))}; "
                                 f"known: {', '.join(cls.model_fields)}")
        return values

    def searched(self) -> dict[str, Any]:
        """The keys searched (not null), with their ranges or value lists."""
        return {key: value for key, value in self if value is not None}


class SearchSpace(_SpaceKeys):
    """Each key a range {low, high, log}, a list of values (chosen among), or null (not searched)."""

    learning_rate: Optional[Factor] = Field(
        SearchRange(low=0.3, high=3.0, log=True),
        description="x each trained phase's learning rate.",
    )
    width: Optional[Factor] = Field(
        SearchRange(low=0.5, high=2.0, log=True),
        description="x the hidden layers below the code (kept wider than the code).",
    )
    code_size: Optional[Factor] = Field(
        None,
        description="x the code size (kept below the number of features); off by default: reconstruction error alone "
        "always prefers the largest code.",
    )
    epochs: Optional[Factor] = Field(
        SearchRange(low=0.5, high=1.5),
        description="x each phase's epochs (a cap under early stopping).",
    )
    corruption_kind: Optional[list[CORRUPTION_KIND]] = Field(
        default_factory=lambda: ["none", "masking", "gaussian", "salt_and_pepper"], min_length=1,
        description="The pretraining's corruption kinds to choose among (the detector's for anomaly_ap).",
    )
    corruption_level: Optional[_range_or_list(positive=False)] = Field(
        SearchRange(low=0.05, high=0.5),
        description="The corruption level itself (a fraction; sigma for gaussian).",
    )


class SearchGrid(_SpaceKeys):
    """Every combination of the listed values (Optuna's grid sampler); null keys stay untuned."""

    learning_rate: Optional[list[Annotated[float, Field(gt=0)]]] = Field(
        None, min_length=1,
        description="Multiples of each trained phase's learning rate.",
    )
    width: Optional[list[Annotated[float, Field(gt=0)]]] = Field(
        None, min_length=1,
        description="Multiples of the hidden layers below the code.",
    )
    code_size: Optional[list[Annotated[float, Field(gt=0)]]] = Field(
        None, min_length=1,
        description="Multiples of the code size.",
    )
    epochs: Optional[list[Annotated[float, Field(gt=0)]]] = Field(
        None, min_length=1,
        description="Multiples of each phase's epochs.",
    )
    corruption_kind: Optional[list[CORRUPTION_KIND]] = Field(None, min_length=1, description="Corruption kinds.")
    corruption_level: Optional[list[Annotated[float, Field(ge=0)]]] = Field(
        None, min_length=1,
        description="Corruption levels (a fraction; sigma for gaussian).",
    )


class TuneParams(_Strict):
    """`kedro run --pipelines=tune`: an Optuna study of one job's validation metric (tuning.py)."""

    objective: Literal["reconstruction", "accuracy", "anomaly_ap"] = Field(
        "reconstruction",
        description="reconstruction: the reduction autoencoder's validation MSE (pretraining, then fine-tuning; "
        "minimised); accuracy: the fine-tuned classifier's validation accuracy (needs labels); anomaly_ap: the "
        "detector's average precision on the validation rows (needs normal and anomalous labels).",
    )
    n_trials: int = Field(
        20, ge=1,
        description="Trials of the study in all, those of earlier (interrupted) runs included: raise it to search "
        "further.",
    )
    timeout: Optional[float] = Field(
        None, gt=0,
        description="Seconds this run may search (the trial under way finishes); null: until n_trials.",
    )
    study_name: Optional[str] = Field(
        None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
        description="null: the objective and a fingerprint of the data, the untuned parameters and the space; a new "
        "name starts afresh.",
    )
    space: SearchSpace = Field(SearchSpace(), description="What a trial varies (TPE sampler).")
    grid: Optional[SearchGrid] = Field(
        None,
        description="Set: every combination of these values (Optuna's grid sampler) instead of TPE over `space`.",
    )
    startup_trials: int = Field(5, ge=1, description="TPE: random trials before it models the results.")
    pruner: Literal["median", "none"] = Field(
        "median",
        description="median: stop a trial whose validation curve falls below the median of the others at the same "
        "epoch; none: never.",
    )
    prune_startup_trials: int = Field(3, ge=0, description="Trials that finish before any is pruned.")
    prune_warmup_epochs: int = Field(3, ge=0, description="Epochs of a trial's last phase before it can be pruned.")
    start_from_defaults: bool = Field(
        True,
        description="The first trial is the untuned configuration: the reference to beat.",
    )

    @property
    def direction(self) -> str:
        return "minimize" if self.objective == "reconstruction" else "maximize"

    def searched(self) -> dict[str, Any]:
        """The keys this search varies, and their ranges or value lists."""
        return (self.grid or self.space).searched()

    @model_validator(mode="after")
    def _something_to_search(self) -> "TuneParams":
        if not self.searched():
            raise ValueError(f"nothing to search: every key of tune.{'grid' if self.grid else 'space'} is null")
        return self


class ScoringParams(_Strict):
    """How `score` reads and scores a file: `chunk_rows` rows at a time (memory is bounded by a
    chunk, about chunk_rows x features x 12 bytes, whatever the file's size), in forward passes
    of `batch_rows` rows. chunk_rows is a multiple of batch_rows, so a file gets exactly the
    numbers in chunks that it gets scored whole."""

    chunk_rows: int = Field(
        65536, ge=1,
        description="Rows read, checked, scored and written at a time: memory is bounded by a chunk, not by the "
        "file.",
    )
    batch_rows: int = Field(4096, ge=1, description="Rows per forward pass; chunk_rows must be a multiple of it.")

    @model_validator(mode="after")
    def _aligned(self) -> "ScoringParams":
        if self.chunk_rows % self.batch_rows:
            raise ValueError(f"chunk_rows ({self.chunk_rows}) must be a multiple of batch_rows ({self.batch_rows})")
        return self



class MonitoringParams(_Strict):
    """Scoring that watches itself (jobs/monitoring.py): the reference profile training stores in
    the scoring model, the thresholds a scoring run's statistics are held to, and the `monitor`
    pipeline's window. A breach marks the run (its `alert` tag), still writes the scored rows,
    and ends the command with exit code 3."""

    enabled: bool = Field(
        True,
        description="Compare every scoring run (each file and the whole run) with the model's reference profile; "
        "false: no statistics, no alerts.",
    )
    alpha: float = Field(
        0.001, gt=0, lt=1,
        description="Significance of each test: the anomaly rate (Fisher's exact test against the held-out rows), "
        "the reconstruction error (KS) and each feature (KS at alpha / number of features: Bonferroni).",
    )
    anomaly_rate_ratio: float = Field(
        1.5, ge=1,
        description="An anomaly rate breaches when it is significantly above the expected rate and at least this "
        "many times it.",
    )
    error_ks: float = Field(
        0.1, gt=0, le=1,
        description="The reconstruction-error distribution breaches when its one-sided KS statistic against the "
        "held-out rows' errors (how far the batch's errors sit above them) is at least this (and significant).",
    )
    psi: float = Field(
        0.2, gt=0,
        description="A feature drifts when its population stability index is at least this (0.1: moderate, 0.2: "
        "large, by the usual rule) and its KS test is significant.",
    )
    top_features: int = Field(5, ge=1, description="The most drifted features named in the alert and the summary.")
    feature_metrics: int = Field(
        50, ge=0,
        description="Per-feature metrics (psi/<feature>, ks/<feature>) of a scoring run: every feature up to this "
        "many, else the most drifted.",
    )
    grid: int = Field(
        100, ge=10,
        description="Training: the profile's quantile bins per feature (the KS statistics' grid); a multiple of "
        "psi_bins. Fixed in each model: changing it takes a new training.",
    )
    psi_bins: int = Field(10, ge=2, description="Training: the profile's PSI bins per feature (quantile bins).")
    last_runs: int = Field(50, ge=1, description="`kedro run --pipelines=monitor`: the scoring runs drawn, newest last.")

    @model_validator(mode="after")
    def _grid_of_psi_bins(self) -> "MonitoringParams":
        if self.grid % self.psi_bins:
            raise ValueError(f"grid ({self.grid}) must be a multiple of psi_bins ({self.psi_bins})")
        return self


SECTIONS: dict[str, type[BaseModel]] = {
    "runtime": RuntimeParams,
    "data": DataParams,
    "split": SplitParams,
    "corruption": CorruptionParams,
    "model": ModelParams,
    "pretrain": PretrainParams,
    "finetune": FinetuneParams,
    "denoiser": DenoiserParams,
    "reduction": ReductionParams,
    "anomaly": AnomalyParams,
    "report": ReportParams,
    "registry": RegistryParams,
    "tune": TuneParams,
    "scoring": ScoringParams,
    "monitoring": MonitoringParams,
}

Section = TypeVar("Section", bound=BaseModel)


def parse(model: type[Section], params: dict[str, Any] | None, key: str) -> Section:
    """Validate one section; a failure becomes one line naming key path, value and rule (an
    unknown key with the known one it is closest to)."""
    try:
        return model.model_validate(params or {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = ".".join([key, *(str(part) for part in item["loc"])])
            value = item.get("input")
            shown = "" if isinstance(value, dict) else f" (got {value!r})"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                known = _fields_at(model, item["loc"][:-1])
                hint = did_you_mean(str(item["loc"][-1]), known) or (f"; known: {', '.join(known)}" if known else "")
                message, shown = f"unknown key{hint}", ""
            problems.append(f"{path}: {message}{shown}")
        raise ConfigError("Invalid parameters: " + "; ".join(problems)) from None


def did_you_mean(key: str, known: list[str]) -> str:
    """` (did you mean 'kind'?)` for the known key closest to a mistyped one, else ''."""
    import difflib

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model that `loc` (a path of field names) leads to, or []."""
    import typing

    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


# Top-level keys that are not sections: run-time options given with --params.
# data_dir: where training writes (tools' own folders); model_uri: short for registry.model_uri.
RUN_OPTIONS = {"model_uri", "data_dir"}


def validate_parameters(parameters: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every known section, plus the rules that span sections (no torch needed)."""
    unknown = sorted(set(parameters) - set(SECTIONS) - RUN_OPTIONS)
    if unknown:
        known = [*SECTIONS, *sorted(RUN_OPTIONS)]
        raise ConfigError(
            f"Invalid parameters: unknown section(s) {unknown}{did_you_mean(unknown[0], known)}; known: {', '.join(known)}"
        )
    parsed = {key: parse(model, parameters.get(key), key) for key, model in SECTIONS.items()}
    pretrain: PretrainParams = parsed["pretrain"]  # type: ignore[assignment]
    model: ModelParams = parsed["model"]  # type: ignore[assignment]
    if pretrain.layer_corruption is not None and model.hidden_sizes is None:
        raise ConfigError(
            "pretrain.layer_corruption gives one corruption per layer: set model.hidden_sizes too, "
            "so the number of layers does not depend on the data"
        )
    if pretrain.layer_corruption is not None and len(pretrain.layer_corruption) != len(model.hidden_sizes):
        raise ConfigError(
            f"pretrain.layer_corruption: {len(pretrain.layer_corruption)} entries for "
            f"{len(model.hidden_sizes)} layers in model.hidden_sizes; give one per layer or null"
        )
    return parsed


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"kind": "vae"}} -> {"model.kind": "vae"}; lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# -- conf/base/mlflow.yml ---------------------------------------------------------------------

# kedro-mlflow's mlflow.yml keys (kedro-mlflow 2.0) and what stands for each here: a user's old
# file is refused naming them (docs/kedro-mlflow.md has the whole mapping).
KEDRO_MLFLOW_KEYS = {
    "server.mlflow_tracking_uri": "tracking_uri (or the MLFLOW_TRACKING_URI variable)",
    "server.mlflow_registry_uri": "none: set the MLFLOW_REGISTRY_URI variable",
    "server.credentials": "none: export MLflow's own variables (MLFLOW_TRACKING_TOKEN, ...) in the environment",
    "server.request_header_provider": "none: an MLflow request-header-provider plugin (entry point)",
    "tracking.disable_tracking.pipelines": "disable_for_pipelines",
    "tracking.disable_tracking.disable_autologging": "none: autologging is never turned on",
    "tracking.experiment.name": "experiment",
    "tracking.experiment.create_experiment_kwargs": "none: the experiment takes the store's artifact location",
    "tracking.experiment.restore_if_deleted": "none: a deleted experiment is restored by `mlflow experiments restore`",
    "tracking.run.id": "none: each kedro run starts a run, or joins the one active in the process (a notebook)",
    "tracking.run.name": "none: the hook names each run after the pipeline and its --params overrides",
    "tracking.run.nested": "none: an active run is joined, not nested under (tune nests its trials itself)",
    "tracking.params.dict_params": "none: parameters are always flattened with '.' (model.hidden_sizes)",
    "tracking.params.long_params_strategy": "none: a value over MLflow's length limit becomes a tag",
    "ui.port": "none: mlflow ui --port",
    "ui.host": "none: mlflow ui --host",
}


class TrackingConfig(_Strict):
    """conf/base/mlflow.yml, read by the project's MLflow hook (tracking/hook.py): where runs are
    tracked, and which pipelines are not."""

    tracking_uri: Optional[str] = Field(
        None,
        description="The MLflow store; null: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the project "
        "(artifacts in ./mlruns).",
    )
    experiment: str = Field(
        "autoencoder_pipelines",
        description="The experiment of training runs (scoring runs go to registry.scoring_experiment).",
    )
    disable_for_pipelines: list[str] = Field(
        ["data_processing"],
        description="Pipelines that run without an MLflow run (nothing to compare).",
    )
    server_timeout_seconds: float = Field(
        5.0, gt=0,
        description="A tracking server (http://...) is asked for its health with this timeout before a run starts.",
    )
    store_wait_seconds: float = Field(
        60.0, ge=0,
        description="A SQLite store locked by another process is waited for this long before the run fails.",
    )

    @classmethod
    def from_conf(cls, raw: dict[str, Any] | None) -> "TrackingConfig":
        """mlflow.yml validated; a kedro-mlflow file is refused in one block naming each of its keys
        and what stands for it here, any other problem in one line naming the key."""
        raw = dict(raw or {})
        found = [key for key in KEDRO_MLFLOW_KEYS if _has_key(raw, key)]
        for block in ("server", "tracking", "ui"):  # a block of kedro-mlflow's with none of the known keys
            if block in raw and not any(key.startswith(f"{block}.") for key in found):
                found.append(f"{block}.*")
        if found:
            width = max(map(len, found))
            lines = [f"  {key.ljust(width)} -> {KEDRO_MLFLOW_KEYS.get(key, 'none')}" for key in found]
            raise ConfigError(
                "mlflow.yml is kedro-mlflow's format, which this project does not read (its own MLflow hook replaced "
                "kedro-mlflow). Each key found, and what stands for it here:\n" + "\n".join(lines) + "\n"
                "Expected: tracking_uri, experiment, disable_for_pipelines, server_timeout_seconds, store_wait_seconds "
                "(conf/base/mlflow.yml; "
                "docs/kedro-mlflow.md)."
            )
        return parse(cls, raw, "mlflow")


def _has_key(raw: dict[str, Any], dotted: str) -> bool:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
