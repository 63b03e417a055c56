"""`kedro run --pipelines=tune`: an Optuna study of one job's validation metric.

Each trial draws settings from `tune.space` (TPE) or walks `tune.grid` (the grid sampler),
resolves them to concrete parameters (`resolve`), and trains the job through the pipelines'
own nodes on the run's one Trainer, with a `Pruning` callback that reports the job's
per-epoch validation figure to the trial (the median pruner ends trials that fall behind).
Every trial is an MLflow run nested in the run of the search. The study lives in sqlite
(catalog: tune_study), so an interrupted search resumes where it stopped; the best settings
are written as parameters to copy into conf/local (catalog: tune_best_params).

No torch or Optuna at import: `resolve` and `check_search` (rules against the data, run right
after ingestion by the project hook) need neither.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from typing import Any

import pandas as pd
from pydantic import BaseModel

from autoencoder_pipelines.config import SearchRange, TuneParams
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.data.frames import ModelInput
from autoencoder_pipelines.data.schema import DataSchema
from autoencoder_pipelines.jobs.tuning import (
    JOBS,
    Job,
    apply,
    default_choices,
    resolve,
    study_name,
    with_detector_sizes,
)

logger = logging.getLogger(__name__)


def run_search(
    data: ModelInput, tune: TuneParams, parameters: dict[str, Any], runtime: Any, storage: str
) -> tuple[pd.DataFrame, dict[str, Any], Any, Any, dict[str, list[dict[str, float]]]]:
    """The tune node: the study's trials (all runs of it), the best parameters, the history and
    importance figures, and the search's metrics for MLflow. `tune`: how to search;
    `parameters`: every section, as parsed once for the run (the search varies those of its
    job); the training and validation rows only, never the test rows."""
    import optuna

    sections: dict[str, BaseModel] = {k: v for k, v in parameters.items() if isinstance(v, BaseModel)}
    schema = data.schema
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:  # Optuna's own, to stderr
        if not any(isinstance(f, _WithoutInterruptTraceback) for f in handler.filters):
            handler.addFilter(_WithoutInterruptTraceback())
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # the detector's network as it derives it untuned (what the size factors scale), then the
    # study's name: a study sized another way is another study
    sections = with_detector_sizes(sections, schema, tune.objective, data.train)
    job, name = JOBS[tune.objective], study_name(tune, sections, schema)
    study = optuna.create_study(
        storage=storage, study_name=name, load_if_exists=True, direction=tune.direction,
        sampler=_sampler(tune, runtime.seed_for("tune")), pruner=_pruner(tune),
    )
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # The training lock (locks.py) keeps a second run off this data folder: a running
        # trial is one whose run was interrupted. It does not count; a new trial takes its place.
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
        logger.info("tune: trial %d of an interrupted run marked FAIL", stale.number)
    done = _count(study, "COMPLETE", "PRUNED")
    remaining = max(0, tune.n_trials - done)
    logger.info("tune: study '%s' in %s, %d trial(s) done, %d to run (tune.n_trials %d)%s",
                name, storage, done, remaining, tune.n_trials, "" if not done else ": resuming")
    if tune.start_from_defaults and tune.grid is None and not study.trials:
        study.enqueue_trial(default_choices(tune, sections, tune.objective))
    if remaining:
        objective = _Objective(data, sections, tune, runtime, job)
        study.optimize(objective, n_trials=remaining, timeout=tune.timeout, callbacks=[_report],
                       show_progress_bar=sys.stderr.isatty(), gc_after_trial=False)
    return _outcome(study, tune, sections, schema, job)


class _WithoutInterruptTraceback(logging.Filter):
    """Ctrl-C during a trial: Optuna logged the trial's failure with the whole traceback of the
    KeyboardInterrupt (60 lines) before the run's one-line `Interrupted`; the trial is marked
    FAIL and not counted either way (docs/tuning.md: Resume)."""

    interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            self.interrupted = True
            return False
        if self.interrupted and "failed with value None" in record.getMessage():  # its sequel, once
            self.interrupted = False
            return False
        return True


def _sampler(tune: TuneParams, seed: int) -> Any:
    import optuna

    if tune.grid is not None:
        return optuna.samplers.GridSampler({k: list(v) for k, v in tune.grid.searched().items()}, seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=tune.startup_trials, seed=seed)


def _pruner(tune: TuneParams) -> Any:
    import optuna

    if tune.pruner == "none":
        return optuna.pruners.NopPruner()
    # steps are epochs from 1: epochs 1..prune_warmup_epochs are never pruned
    return optuna.pruners.MedianPruner(n_startup_trials=tune.prune_startup_trials, n_warmup_steps=tune.prune_warmup_epochs + 1)


def _count(study: Any, *states: str) -> int:
    import optuna

    wanted = tuple(getattr(optuna.trial.TrialState, s) for s in states)
    return len(study.get_trials(deepcopy=False, states=wanted))


def _report(study: Any, trial: Any) -> None:
    """One log line per trial (the progress bar, on a terminal, shows the same)."""
    best = ""
    try:
        best = f"; best {study.best_value:.5g} (trial {study.best_trial.number})"
    except ValueError:  # no completed trial yet
        pass
    # a pruned trial's value is the last figure its pruner saw (for anomaly_ap a negated loss,
    # not an average precision): its epoch says more
    if trial.state.name == "PRUNED":
        value = "" if _pruned_at(trial) is None else f" at epoch {_pruned_at(trial)}"
    else:
        value = "" if trial.value is None else f" {trial.value:.5g}"
    logger.info("tune: trial %d %s%s in %.1f s%s", trial.number, trial.state.name.lower(), value,
                trial.duration.total_seconds() if trial.duration else 0.0, best)


class _Objective:
    """One trial: its settings, the job trained with the pruner in every phase, its value."""

    def __init__(self, data: ModelInput, sections, tune: TuneParams, runtime: Any, job: Job) -> None:
        self.data, self.schema, self.sections = data, data.schema, sections
        self.tune, self.runtime, self.job = tune, runtime, job

    def __call__(self, trial: Any) -> float:
        import optuna

        from autoencoder_pipelines.nn.trainer import Pruning

        choices = {key: _suggest(trial, key, spec) for key, spec in self.tune.searched().items()}
        settings = resolve(choices, self.sections, self.schema, self.tune.objective)
        trial.set_user_attr("settings", settings)
        pruning = Pruning(trial, self.job.pruned_phase, self.job.monitor, self.job.sign, optuna.TrialPruned)
        with _TrialRun(trial, choices, settings, self.job, pruning) as run:
            run.value = measure(self.tune.objective, self.data, apply(self.sections, settings), self.runtime.for_trial(pruning))
        return run.value


def _suggest(trial: Any, key: str, spec: Any) -> Any:
    if isinstance(spec, SearchRange):
        return trial.suggest_float(key, spec.low, spec.high, log=spec.log)
    return trial.suggest_categorical(key, list(spec))


class _TrialRun:
    """The trial as an MLflow run nested in the search's (nothing when the search is not tracked):
    its choices and settings as parameters, the pruner's per-epoch figures, its value and state."""

    def __init__(self, trial: Any, choices: dict[str, Any], settings: dict[str, Any], job: Job, pruning: Any) -> None:
        self.trial, self.choices, self.settings, self.job, self.pruning = trial, choices, settings, job, pruning
        self.run: Any = None
        self.value = float("nan")

    def __enter__(self) -> "_TrialRun":
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or mlflow.active_run() is None:
            return self
        from autoencoder_pipelines.config import flatten
        from autoencoder_pipelines.tracking.hook import run_name

        self.run = mlflow.start_run(run_name=run_name(f"trial {self.trial.number}", self.choices), nested=True,
                                    tags={"optuna.trial_number": str(self.trial.number)})
        self.trial.set_user_attr("mlflow_run_id", self.run.info.run_id)
        mlflow.log_params({**{f"tune.{k}": v for k, v in self.choices.items()},
                           **{k: str(v) for k, v in flatten(self.settings).items()}})
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if self.run is None:
            return False
        import mlflow
        import optuna

        from autoencoder_pipelines.tracking.datasets import MlflowMetricsDataset
        from autoencoder_pipelines.tracking.ui import history_name

        pruned = isinstance(error, optuna.TrialPruned)
        state = "COMPLETE" if error is None else ("PRUNED" if pruned else "FAIL")
        metrics = {history_name(f"{self.job.pruned_phase}.{self.job.monitor}"): [
            {"value": self.job.sign * v, "step": step} for step, v in enumerate(self.pruning.values, start=1)]}
        if error is None:
            metrics[self.job.metric] = [{"value": float(self.value), "step": 0}]
        MlflowMetricsDataset().save(metrics)  # into the trial's run, the active one
        mlflow.set_tag("optuna.state", state)
        if error is not None and not pruned:
            mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:5000])
        mlflow.end_run("FAILED" if state == "FAIL" else "FINISHED")
        return False


def measure(objective: str, data: ModelInput, sections: dict[str, BaseModel], runtime: Any) -> float:
    """Train the objective's job with `sections` through the pipelines' nodes; its validation metric."""
    from autoencoder_pipelines.data.frames import (
        features_tensor,
        labelled_part,
        labels_tensor,
    )
    from autoencoder_pipelines.nn.inference import predict_classes

    val, schema = data.val, data.schema
    if objective == "anomaly_ap":
        from autoencoder_pipelines.jobs.anomaly import (
            ranking_metrics,
            train_detector,
            truth,
        )

        detector, _ = train_detector(data, sections["anomaly"], runtime)
        scores = pd.Series(detector.decision_function(features_tensor(val, schema)), index=val.index)
        metrics = ranking_metrics("val", truth(val, schema, sections["anomaly"]), scores)
        if not metrics:
            raise ConfigError("tune.objective 'anomaly_ap': the validation rows hold only one of normal / anomalous")
        return metrics["val.average_precision"]
    from autoencoder_pipelines.jobs.pretraining import pretrain_stack

    stack, _ = pretrain_stack(data, sections["model"], sections["pretrain"], sections["corruption"], runtime)
    if objective == "reconstruction":
        from autoencoder_pipelines.jobs.reduction import (
            finetune_reduction_autoencoder,
            reconstruction_mse,
        )

        autoencoder, _ = finetune_reduction_autoencoder(stack, data, sections["model"], sections["reduction"], runtime)
        return reconstruction_mse(autoencoder, data.values("val"))
    from autoencoder_pipelines.jobs.classification import finetune_classifier

    classifier, _ = finetune_classifier(stack, data, sections["finetune"], runtime)
    labelled = labelled_part(val)
    predicted = predict_classes(classifier, features_tensor(labelled, schema))
    return float((predicted == labels_tensor(labelled, schema)).float().mean())


# -- what the search leaves ------------------------------------------------------------------


def _outcome(study: Any, tune: TuneParams, sections: dict[str, BaseModel], schema: DataSchema, job: Job):
    trials = trials_table(study)
    states = trials["state"].value_counts() if len(trials) else pd.Series(dtype=int)
    metrics: dict[str, float] = {f"tune.trials_{s.lower()}": float(states.get(s, 0)) for s in ("COMPLETE", "PRUNED", "FAIL")}
    completed = _count(study, "COMPLETE")
    if not completed:
        raise ConfigError(f"tune: no trial of study '{study.study_name}' completed ({dict(states)}): no best parameters")
    best = study.best_trial
    metrics.update({"tune.best_value": float(best.value), "tune.best_trial": float(best.number)})
    best_params = best.user_attrs.get("settings") or resolve(best.params, sections, schema, tune.objective)
    logger.info("tune: best %s %.5g (trial %d of %d): %s", job.metric, best.value, best.number, len(trials),
                json.dumps(best_params))
    importance, importances = importance_figure(study)
    metrics.update({f"tune.importance.{k}": float(v) for k, v in importances.items()})
    history = history_figure(study)
    return (trials, best_params, history, importance, {k: [{"value": v, "step": 0}] for k, v in metrics.items()})


def trials_table(study: Any) -> pd.DataFrame:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        rows.append({
            "number": trial.number, "state": trial.state.name,
            "value": trial.value if trial.state.name == "COMPLETE" else None,  # a pruned one's: the pruner's figure
            "pruned_at_epoch": _pruned_at(trial),
            "seconds": trial.duration.total_seconds() if trial.duration else None,
            **{f"params_{k}": v for k, v in trial.params.items()},
            "settings": json.dumps(trial.user_attrs.get("settings")),
            "mlflow_run_id": trial.user_attrs.get("mlflow_run_id"),
        })
    return pd.DataFrame(rows)


def _pruned_at(trial: Any) -> int | None:
    """The epoch a pruned trial was stopped at (its last report); None for any other trial."""
    return max(trial.intermediate_values) if trial.state.name == "PRUNED" and trial.intermediate_values else None


def history_figure(study: Any) -> Any:
    from optuna.visualization.matplotlib import plot_optimization_history

    from autoencoder_pipelines.jobs.figures import pyplot

    pyplot()
    axes = plot_optimization_history(study)
    axes.figure.set_size_inches(7, 4.5)
    axes.figure.tight_layout()
    return axes.figure


def importance_figure(study: Any) -> tuple[Any, dict[str, float]]:
    """Optuna's parameter importances (fANOVA) and their figure; a placeholder that says why
    when there are not enough completed trials (2) or nothing varied."""
    import optuna
    from optuna.visualization.matplotlib import plot_param_importances

    from autoencoder_pipelines.jobs.figures import placeholder, pyplot

    completed = _count(study, "COMPLETE")
    if completed < 2:
        return placeholder("Parameter importance", f"needs 2 completed trials ({completed} so far)"), {}
    try:
        importances = optuna.importance.get_param_importances(study)
        pyplot()
        axes = plot_param_importances(study)
    except (RuntimeError, ValueError) as error:  # e.g. every completed trial drew the same values
        return placeholder("Parameter importance", f"not available: {error}"[:90]), {}
    axes.figure.set_size_inches(7, 4.5)
    axes.figure.tight_layout()
    return axes.figure, dict(importances)
