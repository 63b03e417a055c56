"""The search space of `kedro run --pipelines=tune`: a trial's choices resolved to parameters, and
the rules that check every reachable setting against the data before any trial. No torch or
Optuna at import."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel

from autoencoder_pipelines.config import (
    SECTIONS,
    CorruptionParams,
    SearchRange,
    TuneParams,
    parse,
)
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.nn.sizes import default_hidden_sizes

logger = logging.getLogger(__name__)


FACTORS = ("learning_rate", "width", "code_size", "epochs")


@dataclass(frozen=True)
class Job:
    """What an objective trains (its phases' sections), and the per-epoch figure its pruner sees."""

    phases: tuple[str, ...]
    pruned_phase: str
    monitor: str
    sign: float  # the reported figure is sign x monitor, so the pruner compares in the study's direction
    metric: str  # the objective's name in MLflow


JOBS = {
    "reconstruction": Job(("pretrain", "reduction"), "reduction", "val_loss", 1.0, "reduction.val_mse"),
    "accuracy": Job(("pretrain", "finetune"), "finetune", "val_accuracy", 1.0, "finetune.val_accuracy"),
    "anomaly_ap": Job(("anomaly",), "anomaly", "val_loss", -1.0, "anomaly.val_average_precision"),
}


def sections_searched(objective: str) -> set[str]:
    """The parameter sections a search of `objective` reads: its job's phases and what they
    train with, besides the search's own, the data's and the runtime's."""
    job = set(JOBS[objective].phases) | ({"model", "corruption"} if objective != "anomaly_ap" else set())
    return {"tune", "data", "split", "runtime"} | job


def space_name(tune: TuneParams) -> str:
    return "grid" if tune.grid is not None else "space"


def base_corruption(sections: dict[str, BaseModel], objective: str) -> CorruptionParams:
    """The corruption the job uses untuned: the detector's for anomaly_ap, else the pretraining's."""
    if objective == "anomaly_ap":
        return sections["anomaly"].corruption or CorruptionParams(kind="none", level=0.0)
    return sections["corruption"]


def base_sizes(sections: dict[str, BaseModel], schema: DataSchema, objective: str) -> tuple[str, list[int]]:
    """(section, hidden sizes) of the network the job trains, as configured or derived (the
    detector's derive from its training rows: with_detector_sizes pins them before a search)."""
    if objective == "anomaly_ap":
        sizes = sections["anomaly"].detector_choices(schema)["hidden_sizes"]
        return "anomaly", sizes or default_hidden_sizes(schema.n_features)  # unpinned: a quarter of d, as a guess
    return "model", list(sections["model"].hidden_sizes_for(schema.n_features))


def with_detector_sizes(sections: dict[str, BaseModel], schema: DataSchema, objective: str,
                        rows: pd.DataFrame) -> dict[str, BaseModel]:
    """`sections` with the anomaly detector's hidden sizes pinned to what it derives untuned from
    the normal ones of `rows` (its training rows), for anomaly_ap when none are set: the first
    trial is then the untuned detector, and the width and code factors scale its network."""
    anomaly = sections["anomaly"]
    if objective != "anomaly_ap" or not schema.has_labels:  # without labels check_search refuses the search
        return sections
    choices = anomaly.detector_choices(schema)
    if choices["hidden_sizes"] is not None:
        return sections
    from autoencoder_pipelines.jobs import checks
    from autoencoder_pipelines.jobs.anomaly import normal_part

    if checks.normal_classes(anomaly, schema) is None:  # refused by check_search too: nothing to size
        return sections
    normal_rows = normal_part(rows, schema, anomaly)
    if len(normal_rows) < 2:
        return sections
    import torch

    from autoencoder_pipelines.nn.detector import default_network_sizes

    rows = torch.tensor(normal_rows[schema.features].to_numpy(dtype="float32"))  # a copy: pandas may lend a read-only array
    sizes = default_network_sizes(rows, standardize=choices["standardize"])
    return {**sections, "anomaly": anomaly.model_copy(update={"hidden_sizes": sizes})}


def scaled_sizes(sizes: list[int], width: float | None, code: float | None) -> list[int]:
    """The code (last size) times `code`, the layers below it times `width`, kept wider than the code."""
    code_size = sizes[-1] if code is None else max(1, round(sizes[-1] * code))
    hidden = [max(code_size + 1, round(size * (width or 1.0))) for size in sizes[:-1]]
    return hidden + [code_size]


def resolve(
    choices: dict[str, Any], sections: dict[str, BaseModel], schema: DataSchema, objective: str
) -> dict[str, dict[str, Any]]:
    """The parameters a trial trains with, {section: {key: value}}: only what its choices change
    (what best_params.yml holds)."""
    job = JOBS[objective]
    settings: dict[str, dict[str, Any]] = {}
    for phase in job.phases:
        params = sections[phase]
        if "learning_rate" in choices:
            settings.setdefault(phase, {})["learning_rate"] = float(f"{params.learning_rate * choices['learning_rate']:.4g}")
        if "epochs" in choices:
            settings.setdefault(phase, {})["epochs"] = max(1, round(params.epochs * choices["epochs"]))
    if "width" in choices or "code_size" in choices:
        section, sizes = base_sizes(sections, schema, objective)
        settings.setdefault(section, {})["hidden_sizes"] = scaled_sizes(sizes, choices.get("width"), choices.get("code_size"))
    if "corruption_kind" in choices or "corruption_level" in choices:
        base = base_corruption(sections, objective)
        kind = choices.get("corruption_kind", base.kind)
        level = float(f"{choices.get('corruption_level', base.level):.4g}")
        if objective == "anomaly_ap":
            settings.setdefault("anomaly", {})["corruption"] = None if kind == "none" else {"kind": kind, "level": level}
        else:
            settings["corruption"] = {"kind": kind, "level": level}
    return settings


def apply(sections: dict[str, BaseModel], settings: dict[str, dict[str, Any]]) -> dict[str, BaseModel]:
    """`sections` with a trial's settings merged in, validated like the YAML would be."""
    merged = dict(sections)
    for name, changes in settings.items():
        merged[name] = parse(SECTIONS[name], {**sections[name].model_dump(), **changes}, name)
    return merged


def default_choices(tune: TuneParams, sections: dict[str, BaseModel], objective: str) -> dict[str, Any]:
    """The untuned configuration as choices (factors 1, the configured corruption), for the keys
    whose range or list holds it: the first trial, the reference to beat."""
    base = base_corruption(sections, objective)
    defaults = {**{key: 1.0 for key in FACTORS}, "corruption_kind": base.kind, "corruption_level": base.level}
    chosen = {}
    for key, spec in tune.searched().items():
        value = defaults[key]
        inside = spec.low <= value <= spec.high if isinstance(spec, SearchRange) else value in spec
        if inside:
            chosen[key] = value
    return chosen


def check_search(sections: dict[str, BaseModel], schema: DataSchema, label_counts: dict[Any, int] | None,
                 rows: pd.DataFrame | None = None) -> None:
    """Every setting a search can reach, against the data: a bad one fails the run right after
    ingestion, naming its tune key, not in trial 12 after an hour. `rows`: the table, whose
    normal rows size the detector's network the search scales (all of them, before the split
    and its scaling: the search sizes it on the normal training rows, a unit apart at most)."""
    from autoencoder_pipelines.jobs import checks

    tune: TuneParams = sections["tune"]
    if rows is not None:
        sections = with_detector_sizes(sections, schema, tune.objective, rows)
    objective, where = tune.objective, f"tune.{space_name(tune)}"
    if objective in ("accuracy", "anomaly_ap") and not schema.has_labels:
        raise ConfigError(
            f"tune.objective '{objective}' is measured against labels, but the data has none "
            f"({schema.source}: set data.label_column), or use tune.objective reconstruction"
        )
    if objective == "accuracy" and sections["finetune"].train_on_validation:
        # the objective is the validation rows' accuracy: a classifier trained on them scores itself
        raise ConfigError(
            "tune.objective 'accuracy' is measured on the validation rows, but finetune.train_on_validation=true "
            "trains the classifier on them too: the search would pick settings by how well they fit their own "
            "training rows. Search with finetune.train_on_validation=false, then train the best settings with it on"
        )
    if objective == "anomaly_ap":
        if checks.normal_classes(sections["anomaly"], schema) is None:
            raise ConfigError("tune.objective 'anomaly_ap' needs anomaly.normal_classes")
        checks.check_normal_rows(sections["anomaly"], schema, label_counts)
    else:
        from autoencoder_pipelines.jobs.autoencoders import check_kind_settings, check_model_on_data

        kind = check_kind_settings(sections["model"])  # the kind's options, parsed once a run (here, in tune)
        check_model_on_data(sections["model"], schema)
        corrupting = {"corruption_kind", "corruption_level"} & set(tune.searched())
        if corrupting and not kind.corrupts_inputs:
            raise ConfigError(
                f"{where}.{sorted(corrupting)[0]}: model.kind '{sections['model'].kind}' does not corrupt its "
                f"inputs, so a corruption changes nothing; set {where}.corruption_kind and corruption_level to null"
            )
    searched = tune.searched()
    unsearched_kind = "corruption_kind" not in searched
    if "corruption_level" in searched and unsearched_kind and base_corruption(sections, objective).kind == "none":
        raise ConfigError(
            f"{where}.corruption_level is searched, but the corruption kind is 'none' "
            f"({'anomaly.corruption' if objective == 'anomaly_ap' else 'corruption.kind'}) "
            f"and {where}.corruption_kind is not searched"
        )
    n_features = schema.n_features
    for key, spec in searched.items():
        values = [spec.low, spec.high] if isinstance(spec, SearchRange) else list(spec)
        for value in values:
            choices = {key: value}
            if key == "corruption_level":  # with every kind the search may pair it with
                kinds = searched.get("corruption_kind") or [base_corruption(sections, objective).kind]
                trials = [{"corruption_kind": k, "corruption_level": value} for k in kinds if k != "none"]
            else:
                trials = [choices]
            for trial in trials:
                _check_reachable(f"{where}.{key}", value, trial, sections, schema, objective, n_features)


def _check_reachable(key: str, value: Any, choices: dict[str, Any], sections: dict[str, BaseModel],
                     schema: DataSchema, objective: str, n_features: int) -> None:
    try:
        settings = resolve(choices, sections, schema, objective)
        resolved = apply(sections, settings)
    except ConfigError as error:
        raise ConfigError(f"{key} = {value} gives invalid parameters: {error}") from None
    for section in settings:
        sizes = settings[section].get("hidden_sizes")
        if sizes is not None and sizes[-1] >= n_features:
            raise ConfigError(
                f"{key} = {value} gives a code of {sizes[-1]} units (hidden sizes {sizes}) for {n_features} features: "
                f"a code must be smaller than the features; lower the {key.rsplit('.', 1)[1]} range"
            )
    if objective != "anomaly_ap" and "model" in settings:
        from autoencoder_pipelines.jobs.autoencoders import check_model_on_data

        try:
            check_model_on_data(resolved["model"], schema)
        except ConfigError as error:
            raise ConfigError(f"{key} = {value}: {error}") from None


def study_name(tune: TuneParams, sections: dict[str, BaseModel], schema: DataSchema) -> str:
    """tune.study_name, or the objective and a fingerprint of what the search depends on (the
    data, the untuned parameters of the job, the space): the same command resumes its study,
    other settings start another."""
    if tune.study_name:
        return tune.study_name
    from autoencoder_pipelines.jobs.runtime import result_parameters

    used = {"runtime", "data", "split", *JOBS[tune.objective].phases,
            *(("anomaly",) if tune.objective == "anomaly_ap" else ("model", "corruption"))}
    parameters = result_parameters({name: section for name, section in sections.items() if name in used})
    parameters["tune"] = tune.model_dump(mode="json", exclude={"n_trials", "timeout", "study_name"})
    data = {key: getattr(schema, key) for key in ("source", "features", "n_rows", "classes")}
    text = json.dumps([parameters, data], sort_keys=True, default=str)
    return f"{tune.objective}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
