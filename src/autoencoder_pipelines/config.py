"""Typed, validated parameters: one pydantic model per `conf/base/parameters*.yml` section,
the one source of defaults (the YAML files show them; a test fails where the two disagree).

Nodes annotate their `params:` inputs with these models, so Kedro hands them validated
objects. The project hook validates every section before any node runs, so a mistyped key
fails the run at once with its key path, value and what is allowed. No torch here: a kind's
own options (`model.<kind>`) are checked against the kind registry when a run trains.
"""

from __future__ import annotations

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
from autoencoder_pipelines.nn.kinds import kind_names
from autoencoder_pipelines.nn.sizes import default_batch_size, default_hidden_sizes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuntimeParams(_Strict):
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # None: from the training rows, clamp(rows / 40, 32, 256): small tables keep small batches,
    # large ones train in fewer, larger steps; a phase's own batch_size wins
    batch_size: Optional[int] = Field(None, ge=1)
    pin_memory: bool = False
    # Training data goes to the GPU when it takes at most this fraction of free device
    # memory; larger data stays in host memory and is streamed a batch at a time.
    device_memory_fraction: float = Field(0.5, gt=0, le=1)
    seed: int = 42
    threads: Optional[int] = Field(1, ge=1)  # None: all cores
    log_every: int = Field(10, ge=0)
    compile: bool = False
    strategy: Literal["single", "ddp"] = "single"  # ddp: under torchrun
    checkpoint_every: int = Field(1, ge=0)  # epochs; 0 turns checkpoints off
    checkpoint_dir: str = "data/06_models/checkpoints"  # each run keeps its own folder in it
    # Another training holds this project's data folder: wait for it, or refuse at once.
    on_busy: Literal["wait", "refuse"] = "wait"

    def batch_size_for(self, n_rows: int, phase: Optional[int] = None) -> int:
        if phase is not None:
            return phase
        if self.batch_size is not None:
            return self.batch_size
        return default_batch_size(n_rows)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        name = value.strip().lower()
        if not (name in ("auto", "cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())):
            raise ValueError("expected one of auto, cpu, cuda, cuda:N, mps")
        return name


class DataParams(_Strict):
    # windows: a CSV (or .parquet) of numeric series over time, cut into overlapping windows
    source: Literal["digits", "csv", "parquet", "windows"] = "digits"
    path: Optional[str] = None
    label_column: Optional[str] = None
    id_column: Optional[str] = None
    feature_columns: Optional[list[str]] = None  # windows: the series columns
    image_shape: Optional[list[int]] = None
    min_rows: int = Field(20, ge=2)  # windows: the number of windows
    # A row with a bad cell (a feature not a number, empty, NaN, infinite, beyond float32's
    # range; a missing id): refuse the file naming them, or drop those rows and say how many.
    # An empty label is not a bad cell: the row is unlabelled (it feeds pretraining and the
    # unsupervised models, not the classifier).
    bad_rows: Literal["refuse", "drop"] = "refuse"
    # Passed to pandas.read_csv / read_parquet, e.g. {sep: ";", decimal: ","}
    read_args: dict[str, Any] = Field(default_factory=dict)
    window_length: int = Field(32, ge=2)  # time steps per window (source windows)
    window_stride: int = Field(8, ge=1)  # time steps from one window's start to the next
    time_column: Optional[str] = None  # rows ordered by it; None: file order

    @model_validator(mode="after")
    def _path_for_files(self) -> "DataParams":
        if self.source != "digits" and not self.path:
            raise ValueError(f"data.path is required when data.source is '{self.source}'")
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
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    # auto: images (data.image_shape known) share one range (global); tables are scaled per
    # feature by their 1st-99th percentile range (robust), so outliers in the training rows
    # do not squash everything else, and stay visible as values outside [0, 1]
    # windows of a series are scaled per series (per_channel), keeping each window's shape, and
    # split in time order (train, then validation, then test) without shared time steps
    scaling: Literal["auto", "global", "per_feature", "robust", "per_channel"] = "auto"

    def scaling_for(self, schema: dict[str, Any]) -> str:
        if self.scaling != "auto":
            return self.scaling
        if schema.get("window_shape"):
            return "per_channel"
        return "global" if is_images(schema) else "robust"

    @model_validator(mode="after")
    def _room_for_training(self) -> "SplitParams":
        if self.test_fraction + self.val_fraction >= 0.9:
            raise ValueError("test_fraction + val_fraction must leave at least 10% for training")
        return self


class CorruptionParams(_Strict):
    kind: Literal["none", "masking", "salt_and_pepper", "gaussian"] = "masking"
    level: float = Field(0.25, ge=0)

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


def is_images(schema: dict[str, Any]) -> bool:
    """Rows are images when the data says its shape (data.image_shape; the bundled digits)."""
    return bool(schema.get("image_shape"))


def data_loss(loss: str, schema: dict[str, Any]) -> str:
    """`loss`, or for auto: bce for images (pixel intensities in [0, 1]), mse for tables and for
    windows of a series (continuous values: a Gaussian, not a Bernoulli, likelihood)."""
    return loss if loss != "auto" else ("bce" if is_images(schema) else "mse")


class ModelParams(_Strict):
    """The network. A kind's own options sit under its name (`model.sparse.weight`); they are
    validated by the kind's schema (nn/kinds/<kind>.py), not here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = "denoising"
    # None: from the number of features d (hidden_sizes_for); the last size is the code size
    hidden_sizes: Optional[list[int]] = Field(None, min_length=1)
    activation: Literal["sigmoid", "relu", "tanh"] = "relu"
    code_activation: Literal["sigmoid", "relu", "tanh", "linear"] = "linear"
    # the data's reconstruction; auto: bce for images (values in [0, 1]), mse for tables and windows
    loss: Literal["auto", "mse", "l1", "bce"] = "auto"
    # Layers above the first reconstruct hidden codes; bce there needs sigmoid activations.
    hidden_loss: LOSS = "mse"
    l1_weight: float = Field(0.0, ge=0)  # L1 penalty on weights, every kind (L2: a phase's weight_decay)

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

    def loss_for(self, schema: dict[str, Any]) -> str:
        return data_loss(self.loss, schema)

    @model_validator(mode="after")
    def _known_blocks(self) -> "ModelParams":
        for key, value in (self.model_extra or {}).items():
            if key not in kind_names():
                raise ValueError(f"unknown key '{key}'; a block of options must be named after a kind ({', '.join(kind_names())})")
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

    epochs: int = Field(50, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: Optional[int] = Field(None, ge=1)  # early stopping on the validation loss
    # improvements smaller than this share of the best value do not count (0.001: 0.1%)
    min_delta: float = Field(0.001, ge=0, lt=1)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: Optional[float] = Field(None, gt=0)
    batch_size: Optional[int] = Field(None, ge=1)  # None: runtime.batch_size_for the training rows


class PretrainParams(PhaseParams):
    epochs: int = Field(30, ge=1)
    learning_rate: float = Field(0.003, gt=0)
    patience: Optional[int] = Field(5, ge=1)
    # One corruption per layer; None uses the top-level `corruption` for every layer.
    layer_corruption: Optional[list[CorruptionParams]] = None


class FinetuneParams(PhaseParams):
    epochs: int = Field(100, ge=1)
    patience: Optional[int] = Field(10, ge=1)
    learning_rate: float = Field(0.003, gt=0)
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    mode: Literal["full", "head_only"] = "full"
    dropout: float = Field(0.0, ge=0, lt=1)
    input_corruption: Optional[CorruptionParams] = CorruptionParams(kind="gaussian", level=0.2)
    # Final fit on train + validation rows for exactly `epochs` (no early stopping, no
    # validation metrics): more labelled rows, as a model refit before deployment would use.
    train_on_validation: bool = False
    # The label budget curve: for each fraction, both classifiers again on that share of the
    # labelled training and validation rows (stratified, seeded, nested, at least one row per
    # class), next to logistic regression on PCA codes. Empty: no curve (the default run
    # stays as fast as before; each fraction below 1 trains two more classifiers).
    label_fractions: list[float] = Field(default_factory=list)

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
    epochs: int = Field(100, ge=1)
    patience: Optional[int] = Field(10, ge=1)


class ReductionParams(PhaseParams):
    epochs: int = Field(100, ge=1)
    patience: Optional[int] = Field(10, ge=1)
    pca_components: Optional[int] = Field(None, ge=1)  # None: the autoencoder's code size
    # AE vs PCA at other code sizes, each a fresh top layer on the pretrained lower layers
    sweep_code_sizes: list[int] = Field(default_factory=lambda: [8, 16, 32])
    sweep_epochs: int = Field(10, ge=1)


class AnomalyParams(PhaseParams):
    """The detector (nn/detector.py): its network, training and threshold."""

    def detector_choices(self, schema: dict[str, Any]) -> dict[str, Any]:
        """hidden_sizes, standardize and loss as set, or from the kind of data."""
        d, images = len(schema["features"]), is_images(schema)
        return {
            "hidden_sizes": list(self.hidden_sizes or (stack_sizes(d) if images else default_hidden_sizes(d))),
            "standardize": (not images) if self.standardize is None else self.standardize,
            "loss": data_loss(self.loss, schema),
        }

    # None: from the label column (checks.normal_classes): 0/False of a 0/1 label; every row
    # without labels; a multi-class label must be named
    normal_classes: Optional[list[Any]] = None
    # contamination: the expected share of anomalies in the data (as in PyOD and scikit-learn);
    # the threshold is that upper quantile of the training rows' scores.
    # false_alarm_rate: the share of normal validation rows flagged.
    threshold_rule: Literal["contamination", "false_alarm_rate"] = "contamination"
    contamination: float = Field(0.05, gt=0, lt=0.5)
    false_alarm_rate: float = Field(0.05, gt=0, lt=0.5)
    # The network and its inputs follow the kind of data unless set (null). Tables: each
    # feature standardised by the normal training rows, [min(2d, 256), d // 4], a linear output
    # and mse. Images: pixels as scaled ([0, 1]), stack_sizes(d), a sigmoid output and bce.
    hidden_sizes: Optional[list[int]] = Field(None, min_length=1)
    standardize: Optional[bool] = None
    loss: Literal["auto", "mse", "l1", "bce"] = "auto"
    activation: Literal["sigmoid", "relu", "tanh"] = "relu"
    batch_norm: bool = True
    epochs: int = Field(50, ge=1)
    learning_rate: float = Field(0.03, gt=0)
    patience: Optional[int] = Field(5, ge=1)
    batch_size: Optional[int] = Field(256, ge=1)
    corruption: Optional[CorruptionParams] = None
    # Each flagged row names its features with the largest shares of its reconstruction error.
    top_features: int = Field(3, ge=1)


class ReportParams(_Strict):
    grid_samples: int = Field(8, ge=1, le=32)
    max_points_2d: int = Field(2000, ge=10)
    contraction_rows: int = Field(300, ge=3)  # test rows of the contraction analysis (their pairs too)
    generation_rows: int = Field(500, ge=3)  # test rows and as many generated ones, for the MMD


class RegistryParams(_Strict):
    """The MLflow Model Registry: the name training registers its scoring model under, the
    alias scoring loads, and promotion, which only happens when asked for."""

    model_name: str = Field("autoencoder-pipelines", min_length=1)
    alias: str = Field("champion", min_length=1)
    register_model: bool = True  # a training run registers its scoring model as a new version
    promote: bool = False  # a training run also points the alias at the version it registered
    version: Optional[int] = Field(None, ge=1)  # promote: the version to promote; score: load it, not the alias
    model_uri: Optional[str] = None  # score: this MLflow model (runs:/..., models:/..., a model folder) instead
    run_id: Optional[str] = Field(None, min_length=1)  # register: the training run whose scoring model to register
    scoring_experiment: Optional[str] = None  # None: "<model_name>-scoring"

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

    low: float
    high: float
    log: bool = False

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
                raise ValueError(f"unknown key(s) {unknown}; known: {', '.join(cls.model_fields)}")
        return values

    def searched(self) -> dict[str, Any]:
        """The keys searched (not null), with their ranges or value lists."""
        return {key: value for key, value in self if value is not None}


class SearchSpace(_SpaceKeys):
    """Each key a range {low, high, log}, a list of values (chosen among), or null (not searched)."""

    learning_rate: Optional[Factor] = SearchRange(low=0.3, high=3.0, log=True)  # x each phase's learning rate
    width: Optional[Factor] = SearchRange(low=0.5, high=2.0, log=True)  # x the hidden layers below the code
    # x the code size; off by default: the reconstruction objective would only ever pick the largest
    code_size: Optional[Factor] = None
    epochs: Optional[Factor] = SearchRange(low=0.5, high=1.5)  # x each phase's epochs (a cap under early stopping)
    corruption_kind: Optional[list[CORRUPTION_KIND]] = Field(
        default_factory=lambda: ["none", "masking", "gaussian", "salt_and_pepper"], min_length=1)
    corruption_level: Optional[_range_or_list(positive=False)] = SearchRange(low=0.05, high=0.5)


class SearchGrid(_SpaceKeys):
    """Every combination of the listed values (Optuna's grid sampler); null keys stay untuned."""

    learning_rate: Optional[list[Annotated[float, Field(gt=0)]]] = Field(None, min_length=1)
    width: Optional[list[Annotated[float, Field(gt=0)]]] = Field(None, min_length=1)
    code_size: Optional[list[Annotated[float, Field(gt=0)]]] = Field(None, min_length=1)
    epochs: Optional[list[Annotated[float, Field(gt=0)]]] = Field(None, min_length=1)
    corruption_kind: Optional[list[CORRUPTION_KIND]] = Field(None, min_length=1)
    corruption_level: Optional[list[Annotated[float, Field(ge=0)]]] = Field(None, min_length=1)


class TuneParams(_Strict):
    """`kedro run --pipelines=tune`: an Optuna study of one job's validation metric (tuning.py)."""

    # reconstruction: the reduction autoencoder's validation MSE (pretraining, then fine-tuning);
    # accuracy: the fine-tuned classifier's validation accuracy (needs labels);
    # anomaly_ap: the detector's average precision on the validation rows (needs normal and anomalous labels)
    objective: Literal["reconstruction", "accuracy", "anomaly_ap"] = "reconstruction"
    n_trials: int = Field(20, ge=1)  # trials of the study in all, those of earlier (interrupted) runs included
    timeout: Optional[float] = Field(None, gt=0)  # seconds this run may search; null: until n_trials
    study_name: Optional[str] = Field(None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")  # null: objective + fingerprint
    space: SearchSpace = SearchSpace()
    grid: Optional[SearchGrid] = None  # set: the grid sampler over these values instead of TPE over `space`
    startup_trials: int = Field(5, ge=1)  # TPE: random trials before it models the results
    pruner: Literal["median", "none"] = "median"  # stop a trial whose validation curve is below the median
    prune_startup_trials: int = Field(3, ge=0)  # trials that finish before any is pruned
    prune_warmup_epochs: int = Field(3, ge=0)  # epochs of a trial's last phase before it can be pruned
    start_from_defaults: bool = True  # the first trial is the untuned configuration (the reference)

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

    chunk_rows: int = Field(65536, ge=1)
    batch_rows: int = Field(4096, ge=1)

    @model_validator(mode="after")
    def _aligned(self) -> "ScoringParams":
        if self.chunk_rows % self.batch_rows:
            raise ValueError(f"chunk_rows ({self.chunk_rows}) must be a multiple of batch_rows ({self.batch_rows})")
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
}

Section = TypeVar("Section", bound=BaseModel)


def parse(model: type[Section], params: dict[str, Any] | None, key: str) -> Section:
    """Validate one section; a failure becomes one line naming key path, value and rule."""
    try:
        return model.model_validate(params or {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = ".".join([key, *(str(part) for part in item["loc"])])
            value = item.get("input")
            shown = "" if isinstance(value, dict) else f" (got {value!r})"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {message}{shown}")
        raise ConfigError("Invalid parameters: " + "; ".join(problems)) from None


# Top-level keys that are not sections: run-time options given with --params.
# data_dir: where training writes (tools' own folders); model_uri: short for registry.model_uri.
RUN_OPTIONS = {"model_uri", "data_dir"}


def validate_parameters(parameters: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every known section, plus the rules that span sections (no torch needed)."""
    unknown = sorted(set(parameters) - set(SECTIONS) - RUN_OPTIONS)
    if unknown:
        raise ConfigError(
            f"Invalid parameters: unknown section(s) {unknown}; known: {', '.join([*SECTIONS, *sorted(RUN_OPTIONS)])}"
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
