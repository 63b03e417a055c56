"""Typed, validated parameters: one pydantic model per `conf/base/parameters*.yml` section.

Nodes receive plain dicts (so kedro-mlflow can flatten and log them) and parse them here;
the project hook validates every section before any node runs, so a mistyped key fails the
run at once with its key path, value and what is allowed.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autoencoder_pipelines.errors import ConfigError
from autoencoder_pipelines.nn.device import resolve_device
from autoencoder_pipelines.nn.distributed import launched_by_torchrun, torchrun_world_size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuntimeParams(_Strict):
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    batch_size: int = Field(64, ge=1)
    num_workers: int = Field(0, ge=0)
    pin_memory: bool = False
    # Training data goes to the GPU when it takes at most this fraction of free device
    # memory; larger data stays in host memory and is streamed a batch at a time.
    device_memory_fraction: float = Field(0.5, gt=0, le=1)
    seed: int = 42
    threads: Optional[int] = Field(None, ge=1)
    log_every: int = Field(10, ge=0)
    compile: bool = False
    strategy: Literal["single", "ddp"] = "single"
    num_processes: int = Field(2, ge=1)  # with ddp: data-parallel processes per training phase
    checkpoint_every: int = Field(1, ge=0)  # epochs; 0 turns checkpoints off
    checkpoint_dir: str = "data/06_models/checkpoints"

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        name = value.strip().lower()
        if not (name in ("auto", "cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit())):
            raise ValueError("expected one of auto, cpu, cuda, cuda:N, mps")
        return name


class DataParams(_Strict):
    source: Literal["digits", "csv", "parquet"] = "digits"
    path: Optional[str] = None
    label_column: Optional[str] = None
    id_column: Optional[str] = None
    feature_columns: Optional[list[str]] = None
    image_shape: Optional[list[int]] = None
    min_rows: int = Field(20, ge=2)

    @model_validator(mode="after")
    def _path_for_files(self) -> "DataParams":
        if self.source != "digits" and not self.path:
            raise ValueError(f"data.path is required when data.source is '{self.source}'")
        return self


class SplitParams(_Strict):
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    scaling: Literal["global", "per_feature"] = "global"

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


class SparseParams(_Strict):
    sparsity: Literal["l1", "kl"] = "l1"  # kl needs sigmoid activations (codes in [0, 1])
    target: float = Field(0.05, gt=0, lt=1)  # rho, for kl
    weight: float = Field(0.001, ge=0)


class ContractiveParams(_Strict):
    weight: float = Field(0.01, ge=0)  # lambda


class VaeParams(_Strict):
    beta: float = Field(1.0, ge=0)


class ConvParams(_Strict):
    channels: list[int] = Field(default_factory=lambda: [16, 32], min_length=1)


MODEL_KINDS = ("undercomplete", "denoising", "sparse", "contractive", "vae", "conv")
STACKED_KINDS = ("undercomplete", "denoising", "sparse", "contractive")


class ModelParams(_Strict):
    kind: Literal["undercomplete", "denoising", "sparse", "contractive", "vae", "conv"] = "denoising"
    hidden_sizes: list[int] = Field(default_factory=lambda: [256, 128, 32], min_length=1)
    activation: Literal["sigmoid", "relu", "tanh"] = "sigmoid"
    code_activation: Literal["sigmoid", "relu", "tanh", "linear"] = "linear"
    loss: Literal["mse", "l1", "bce"] = "bce"
    l1_weight: float = Field(0.0, ge=0)  # L1 penalty on weights, every kind (L2: a phase's weight_decay)
    sparse: SparseParams = SparseParams()
    contractive: ContractiveParams = ContractiveParams()
    vae: VaeParams = VaeParams()
    conv: ConvParams = ConvParams()

    @field_validator("hidden_sizes")
    @classmethod
    def _positive(cls, sizes: list[int]) -> list[int]:
        if any(size < 1 for size in sizes):
            raise ValueError("every hidden size must be >= 1")
        return sizes

    @model_validator(mode="after")
    def _kl_needs_sigmoid(self) -> "ModelParams":
        if self.kind == "sparse" and self.sparse.sparsity == "kl" and (
            self.activation != "sigmoid" or self.code_activation != "sigmoid"
        ):
            raise ValueError(
                "sparse.sparsity 'kl' needs codes in [0, 1]: set activation and code_activation to sigmoid, or use 'l1'"
            )
        return self

    @property
    def stacked(self) -> bool:
        return self.kind in STACKED_KINDS


class PhaseParams(_Strict):
    """One training phase's optimisation budget."""

    epochs: int = Field(50, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: Optional[int] = Field(None, ge=1)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: Optional[float] = Field(None, gt=0)
    batch_size: Optional[int] = Field(None, ge=1)  # None: runtime.batch_size


class PretrainParams(PhaseParams):
    # One corruption per layer; None uses the top-level `corruption` for every layer.
    layer_corruption: Optional[list[CorruptionParams]] = None


class FinetuneParams(PhaseParams):
    mode: Literal["full", "head_only"] = "full"
    dropout: float = Field(0.0, ge=0, lt=1)
    input_corruption: Optional[CorruptionParams] = None
    # Final fit on train + validation rows for exactly `epochs` (no early stopping, no
    # validation metrics): more labelled rows, as a model refit before deployment would use.
    train_on_validation: bool = False

    @model_validator(mode="after")
    def _no_early_stopping_without_validation(self) -> "FinetuneParams":
        if self.train_on_validation and self.patience is not None:
            raise ValueError("train_on_validation leaves no validation rows for early stopping: set patience to null")
        return self


class DenoiserParams(PhaseParams):
    pass


class ReductionParams(PhaseParams):
    pca_components: Optional[int] = Field(None, ge=1)  # None: the autoencoder's code size
    # AE vs PCA at other code sizes, each a fresh top layer on the pretrained lower layers
    sweep_code_sizes: list[int] = Field(default_factory=list)
    sweep_epochs: int = Field(30, ge=1)


class AnomalyParams(PhaseParams):
    contamination: float = Field(0.05, gt=0, lt=1)
    normal_classes: Optional[list[Any]] = None
    corruption: Optional[CorruptionParams] = None


class ReportParams(_Strict):
    grid_samples: int = Field(8, ge=1, le=32)
    max_points_2d: int = Field(2000, ge=10)


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
RUN_OPTIONS = {"model_uri"}


def validate_parameters(parameters: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every known section, plus the rules that span sections."""
    unknown = sorted(set(parameters) - set(SECTIONS) - RUN_OPTIONS)
    if unknown:
        raise ConfigError(
            f"Invalid parameters: unknown section(s) {unknown}; known: {', '.join([*SECTIONS, *sorted(RUN_OPTIONS)])}"
        )
    parsed = {key: parse(model, parameters.get(key), key) for key, model in SECTIONS.items()}
    runtime: RuntimeParams = parsed["runtime"]  # type: ignore[assignment]
    try:
        device = resolve_device(runtime.device)
    except RuntimeError as error:
        raise ConfigError(str(error)) from None
    if torchrun_world_size() > 1 and runtime.strategy != "ddp":
        raise ConfigError(
            f"runtime.strategy is '{runtime.strategy}' but torchrun started {torchrun_world_size()} processes; "
            "add --params=runtime.strategy=ddp, or run without torchrun"
        )
    if runtime.strategy == "ddp" and device.type != "cpu" and not launched_by_torchrun():
        raise ConfigError(
            f"runtime.strategy 'ddp' on {device}: on GPUs, launch one process per GPU with torchrun, e.g. "
            "`torchrun --standalone --nproc-per-node=<GPUs> --no-python kedro run ...` (README: data-parallel "
            "training); without torchrun, ddp starts CPU processes (runtime.device=cpu)"
        )
    pretrain: PretrainParams = parsed["pretrain"]  # type: ignore[assignment]
    model: ModelParams = parsed["model"]  # type: ignore[assignment]
    if pretrain.layer_corruption is not None and len(pretrain.layer_corruption) != len(model.hidden_sizes):
        raise ConfigError(
            f"pretrain.layer_corruption: {len(pretrain.layer_corruption)} entries for "
            f"{len(model.hidden_sizes)} layers in model.hidden_sizes; give one per layer or null"
        )
    return parsed
