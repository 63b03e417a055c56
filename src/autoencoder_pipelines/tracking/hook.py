"""One MLflow run per `kedro run`, on MLflow's public API, ended with a short summary.

In place of kedro-mlflow (docs/kedro-mlflow.md says why). The run opens at the second node (the
first starts without MLflow's import and store, about 2 s), is named after what sets it apart
(`denoise kind=sparse`: the pipeline and the --params overrides), described by its command and
headline metrics, and given the settings it is compared on as parameters (tracked_parameters;
all of them are its artifact parameters.yml). It ends with the status it earned: FINISHED,
FAILED (the error as a tag) or KILLED (Ctrl-C, SIGTERM; a run left RUNNING by a process that died
is marked KILLED at the next start). An error may carry the status its run earned (`run_status`):
a scoring run that wrote some outputs before refusing a bad partition is FINISHED, with the error
as a tag, and the command still fails.

Training runs log their scoring model (models.py), with the run's test figures as the model's
metrics, and once the run has succeeded register it and, when asked (`registry.promote`), point
the alias at it. Scoring runs go to the registry's scoring experiment; `promote` opens no run.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from pydantic import BaseModel

from autoencoder_pipelines.config import RegistryParams, TrackingConfig, flatten
from autoencoder_pipelines.data.errors import ConfigError, UserError, user_error
from autoencoder_pipelines.nn.atomic import process_running
from autoencoder_pipelines.nn.launch import is_rank_zero, launched_by_torchrun, torchrun_world_size
from autoencoder_pipelines.tracking.models import first_line
from autoencoder_pipelines.tracking.store import (
    check_tracking_store,
    configure_wait,
    default_tracking_uri,
    prepare_store,
    waiting_for_store,
)
from autoencoder_pipelines.tracking.ui import HEADLINE, TEST, runs_table_url

logger = logging.getLogger(__name__)

SCORING_MODEL = "scoring_model"  # the catalog entry logged (and registered) as the MLflow scoring model
SCORING_REPORT = "scoring_report"  # the score node's report: the summary names the files scored again
SCORING_PIPELINES = {"score", "score_spark"}  # their runs go to the registry's scoring experiment
# registry operations (the registry records them) and reading the scoring runs back: no run is opened
NO_RUN_PIPELINES = {"promote", "register", "monitor"}
SERVING = {"registry", "scoring"}  # read by scoring and registering only: not on a run that reads `parameters` whole
# Settings that change how a run goes, not what it computes: in its parameters.yml, not its parameters.
# So are the evaluation's sample sizes and restarts (how much it spends measuring, not what it trains).
UNTRACKED = {f"runtime.{key}" for key in ("checkpoint_dir", "checkpoint_every", "checkpoint_seconds", "log_every",
                                          "on_busy", "pin_memory", "device_memory_fraction", "threads", "compile",
                                          "cuda_graphs")} | {
    "report.grid_samples", "report.max_points_2d", "data.min_rows", "anomaly.top_features",
    "reduction.classifier_rows", "reduction.clustering.n_init", "reduction.clustering.silhouette_rows"}
# Options that apply under one choice only (besides a kind's, model.<kind>.*): (option prefix, choice, values).
CHOSEN = [("data.window_", "data.source", {"windows"}),
          ("anomaly.contamination", "anomaly.threshold_rule", {"contamination"}),
          ("anomaly.false_alarm_rate", "anomaly.threshold_rule", {"false_alarm_rate"}),
          ("report.contraction_rows", "model.kind", {"contractive"}),
          ("report.generation_rows", "model.kind", {"vae", "adversarial", "conv1d_vae"})]  # the kinds with sample()
# The same within any section (a training phase's): (option, its section's choice, values).
CHOSEN_IN_SECTION = [("anneal_epochs", "lr_schedule", {"anneal_on_plateau"})]
PARAM_VALUE_LIMIT = 6000  # MLflow's characters per parameter value (mlflow.utils.validation)


class MlflowTrackingHook:
    def __init__(self) -> None:
        self.config, self.registry = TrackingConfig(), RegistryParams()
        self.uri: str | None = None
        self.project_path = Path.cwd()
        self.parameters: dict[str, Any] = {}
        self.run_id, self.catalog, self.names = None, None, []
        self.started_here = self.pending = False  # pending: a run to open at the second node

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.config = TrackingConfig.from_conf(context.config_loader.get("mlflow"))
        configure_wait(self.config.store_wait_seconds)
        self.project_path = Path(context.project_path)
        self.uri = self.config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(self.project_path)
        typed = context.config_loader["parameters"]  # typed sections, parsed once (config_loader.py)
        self.registry = typed["registry"]
        self.parameters = {key: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
                           for key, value in typed.items()}

    @property
    def scoring(self) -> bool:
        return bool(set(self.names) & SCORING_PIPELINES)

    @hook_impl(trylast=True)  # after the parameters are validated and the runtime resolved
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if self.started_here:  # the previous run in this process was interrupted (KeyboardInterrupt)
            import mlflow

            mlflow.end_run("KILLED")
        self.run_id, self.started_here, self.catalog, self.outputs = None, False, catalog, []
        self.names = run_params.get("pipeline_names") or ["__default__"]
        self.overrides = {k: v for k, v in flatten(run_params.get("runtime_params") or {}).items() if k != "data_dir"}
        self.env, self.model, self.registered_version, self.promoted = run_params.get("env"), None, None, False
        self.rescored: dict[str, str] = {}  # a scoring run's files scored again -> their previous output, kept
        self.registration_failed: str | None = None  # why a finished training's model is not registered (promoted)
        inputs = pipeline.all_inputs()
        self.sections = {name[7:].split(".")[0] for name in inputs if name.startswith("params:")}
        self.sections |= {"runtime"} & set(inputs)  # the `runtime` dataset: resolved from params:runtime
        if "parameters" in inputs:  # a node reads them all (tune): those its objective uses
            from autoencoder_pipelines.jobs.tuning import sections_searched

            objective = (self.parameters.get("tune") or {}).get("objective")
            self.sections |= (sections_searched(objective) if objective else set(self.parameters)) - SERVING
        if not self.scoring:  # a training reads monitoring.* only to store the profile scoring compares with
            self.sections.discard("monitoring")
        self._check_promotion(pipeline)
        off = set(self.config.disable_for_pipelines) | NO_RUN_PIPELINES
        self.pending, self.nodes_started = is_rank_zero() and not set(self.names) & off, 0
        # The registry is read from a store that exists (a mistyped one is never created); a
        # store this run writes to must be writable; a server must answer: all checked now,
        # before any node (no MLflow import). A model folder scored without tracking needs none.
        reads_registry = bool(set(self.names) & NO_RUN_PIPELINES) or (self.scoring and not _local_model(self.registry.model_uri))
        if reads_registry or self.pending:
            check_tracking_store(self.uri, self.project_path, must_exist=reads_registry,
                                 server_timeout=self.config.server_timeout_seconds)
        if self.scoring or set(self.names) & NO_RUN_PIPELINES:
            import mlflow  # their first node reads the registry

            mlflow.set_tracking_uri(self.uri)
        if self.scoring:  # its first node logs the model it loaded: MLflow is in use from the start
            self.open_run()

    @hook_impl(trylast=True)
    def before_node_run(self) -> None:
        self.nodes_started += 1
        if self.nodes_started >= 2:
            self.open_run()

    def open_run(self) -> None:
        """Start (or join) the MLflow run and log its parameters: once per kedro run, at the
        second node, or at the end of a run that had fewer, or at its failure."""
        if not self.pending:
            return
        self.pending = False
        import mlflow

        active = mlflow.active_run()
        experiment = self.registry.experiment if self.scoring else self.config.experiment
        experiment_id = prepare_store(self.uri, self.project_path, None if active else experiment, self.scoring)
        if active is not None:  # a caller's run (compare, sweep, a notebook): log into it, leave it open
            self.run_id = active.info.run_id
        else:
            waiting_for_store(lambda: mark_dead_runs_killed(experiment_id), "looking for dead runs", self.uri)
            warn_if_artifacts_moved(experiment_id)
            label = "denoise" if self.names == ["__default__"] else "+".join(self.names)  # pipeline_registry's default
            env = {} if self.env in (None, "local") else {"env": self.env}
            tags = {"aep.host": socket.gethostname(), "aep.pid": str(os.getpid())}
            run = waiting_for_store(lambda: mlflow.start_run(run_name=run_name(label, self.overrides | env),
                                                             description=f"`{self.command()}`", tags=tags),
                                    "starting the run", self.uri)
            self.run_id, self.started_here = run.info.run_id, True
            _end_killed_on_exit(self.run_id)
        # what the defaults became on the data (derived.*): the settings nodes' <section>_settings datasets
        tracked = tracked_parameters(self.parameters, self.sections)
        waiting_for_store(lambda: log_parameters(tracked), "logging the parameters", self.uri)
        waiting_for_store(lambda: mlflow.log_dict(self.parameters, "parameters.yml"), "logging parameters.yml", self.uri)
        if launched_by_torchrun():
            import torch.distributed as dist

            backend = dist.get_backend() if dist.is_initialized() else "none"
            mlflow.log_params({"distributed.world_size": torchrun_world_size(), "distributed.backend": backend})

    def command(self) -> str:
        """The command line of a `kedro run` (`python -m <package> run` too), else the in-process call."""
        if sys.argv[1:2] == ["run"]:
            return "kedro " + shlex.join(sys.argv[1:])
        return f"session.run(pipeline_names={self.names!r}, runtime_params={self.overrides or None!r})"

    def _check_promotion(self, pipeline: Any) -> None:
        """`registry.promote` promotes the version this run registers: refuse, before a run is
        opened, a training run that could register none."""
        if not self.registry.promote or self.scoring or set(self.names) & NO_RUN_PIPELINES:
            return
        if SCORING_MODEL not in pipeline.all_outputs():
            logger.warning("registry.promote is ignored: pipeline %s trains no scoring model", "+".join(self.names))
        elif set(self.names) & set(self.config.disable_for_pipelines):
            raise ConfigError(
                f"registry.promote=true needs an MLflow run to register the model in, but tracking is off for "
                f"{'+'.join(self.names)} (mlflow.yml: disable_for_pipelines)"
            )

    def _dataset(self, name: str) -> Any:
        return self.catalog.get(name) if self.catalog is not None else None

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        """A save that logs to MLflow opens the run first, even at the first node."""
        from autoencoder_pipelines.tracking import datasets

        logged = (datasets.ArtifactDataset, datasets.MlflowMetricsDataset, datasets.MlflowParamsDataset)
        if dataset_name == SCORING_MODEL or isinstance(self._dataset(dataset_name), logged):
            self.open_run()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        dataset = self._dataset(dataset_name)
        path = getattr(dataset, "_path", None) or getattr(dataset, "_filepath", None)
        if path is not None:
            folder = Path(str(path)) if hasattr(dataset, "_path") else Path(str(path)).parent
            self.outputs.append(_relative(folder))
        if dataset_name == SCORING_REPORT and isinstance(data, dict):
            self.rescored = dict(data.get("rescored") or {})
            if self.rescored and self.run_id is not None:
                self._tag("score.rescored", ", ".join(sorted(self.rescored)))
        if dataset_name == SCORING_MODEL and self.run_id is not None:
            from autoencoder_pipelines.tracking.models import log_scoring_model

            self.model = log_scoring_model(data, dataset.saved_path)
            logger.info("logged the scoring model to MLflow: %s", self.model.model_uri)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        """A folder that a node writes through the handle its dataset loads (the scored
        partitions, streamed) is an output of the run too."""
        dataset = self._dataset(dataset_name)
        if getattr(dataset, "written_by_node", False):
            self.outputs.append(_relative(Path(str(dataset._path))))

    @hook_impl(tryfirst=True, specname="after_pipeline_run")  # before the other hooks log into the run
    def open_run_before_the_end(self) -> None:
        self.open_run()

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        if self.model is not None:
            try:
                waiting_for_store(self._metrics_to_model, "logging the model's metrics", self.uri)
            except Exception as error:  # noqa: BLE001 - the run's own metrics are logged: not worth the training
                logger.warning("the logged model's metrics are not set: %s", first_line(error))
        # Only a run that succeeded registers its model (and promotes it when asked). A
        # registration that fails (a store locked past the wait) leaves the training's result
        # whole: the run ends FINISHED with its model logged, the summary prints the command that
        # registers it, and the command exits non-zero.
        if self.model is not None and self.registry.register_model and self.started_here:
            try:
                self._register()
            except Exception as error:  # noqa: BLE001 - a failed registration must not cost the finished training
                found = user_error(error)
                self.registration_failed = (found.format_message() if found
                                            else f"{type(error).__name__}: {first_line(error)}")
                logger.error("the training finished but its model is not %s: %s",
                             "promoted" if self.registered_version else "registered", self.registration_failed)
                self._tag("aep.registration_failed", self.registration_failed)
        if self.started_here:
            self._end("FINISHED")
            if self.registration_failed:
                raise RegistrationFailedError(
                    f"training finished (MLflow run {self.run_id} FINISHED, its scoring model logged), but "
                    f"{self._later()[0]}: {self.registration_failed}. Later: {self._later()[1]}")
        elif set(self.names) & {"promote", "register"}:
            self._print_alias()

    def _metrics_to_model(self) -> None:
        """The run's test figures become its logged model's metrics too (the Models page and the
        registry show them per version): each logged again with the model's id at its own step
        and time, which the run's history keeps once."""
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        client = MlflowClient()
        keys = [key for key in client.get_run(self.run_id).data.metrics if key.startswith(TEST)]
        latest = [client.get_metric_history(self.run_id, key)[-1] for key in keys]
        client.log_batch(self.run_id, metrics=[Metric(m.key, m.value, m.timestamp, m.step, model_id=self.model.model_id)
                                               for m in latest])

    def _register(self) -> None:
        from autoencoder_pipelines.tracking.models import promote, register_run

        name = self.registry.model_name
        self.registered_version, _ = register_run(self.run_id, name)
        logger.info("registered the scoring model as %s version %s", name, self.registered_version)
        if self.registry.promote:
            promote(name, self.registry.alias, self.registered_version)
            self.promoted = True

    def _later(self) -> tuple[str, str]:
        """What was not done after a finished training, and the command that does it."""
        if self.registered_version is not None:
            return (f"promoting version {self.registered_version} failed",
                    f"kedro run --pipelines=promote --params=registry.version={self.registered_version}")
        promote = ",registry.promote=true" if self.registry.promote else ""
        return "registering its model failed", f"kedro run --pipelines=register --params=registry.run_id={self.run_id}{promote}"

    def _tag(self, key: str, value: str) -> None:
        """A tag on the run, if the store takes it (it may be the store that failed)."""
        import mlflow

        try:
            waiting_for_store(lambda: mlflow.set_tag(key, value[:5000]), "tagging the run", self.uri)
        except Exception as error:  # noqa: BLE001 - the summary and the exit code say it anyway
            logger.warning("could not tag the run with %s: %s", key, first_line(error))

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: BaseException) -> None:
        self.open_run()  # a run that failed at its first node is recorded too
        if self.started_here:
            self._end(getattr(error, "run_status", "FAILED"), error)

    def _end(self, status: str, error: BaseException | None = None) -> None:
        """End the run with `status`, its description the command and the headline, and print a
        few lines last (stdout, not only the log): the run, its headline metrics, the model, where
        the outputs are, the UI."""
        import mlflow

        if error is not None:
            found = user_error(error)  # a refusal's own words (a locked store's without its SQL)
            # an error may name its own tags: a monitoring alert is an `alert`, not an `error`
            tags = getattr(error, "run_tags", None) or {
                "error": f"{type(error).__name__}: {found.format_message() if found else error}"}
            for name, value in tags.items():
                self._tag(name, str(value))
        try:
            lines = self.summary(status)
            headline = [line.strip() for line in lines if line.startswith(("  metrics:", "  model:"))]
            self._tag("mlflow.note.content", "\n\n".join([f"`{self.command()}`", *headline]))
        except Exception as failure:  # noqa: BLE001 - a summary must never turn a finished run into a failure
            lines = []
            logger.warning("no run summary: %s", failure)
        try:
            waiting_for_store(lambda: mlflow.end_run(status), "ending the run", self.uri)
        except Exception as failure:
            if error is None:
                raise
            # the next run marks it KILLED (its process is gone)
            logger.warning("the MLflow run %s could not be ended %s: %s", self.run_id, status, first_line(failure))
        finally:
            self.started_here = False
            if lines:
                print("\n".join(lines), flush=True)

    def _print_alias(self) -> None:
        """After `promote` (and `register`): what the registry holds now, printed last."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        name, alias = self.registry.model_name, self.registry.alias
        client = MlflowClient(self.uri)
        if "register" in self.names and self.registry.run_id:
            versions = client.search_model_versions(f"name = '{name}' and run_id = '{self.registry.run_id}'")
            version = max(int(v.version) for v in versions)
            print(f"training run {self.registry.run_id} is '{name}' version {version}"
                  + ("" if self.registry.promote else f"; promote it: kedro run --pipelines=promote "
                                                      f"--params=registry.version={version}"), flush=True)
            if not self.registry.promote:
                return
        try:
            version = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return
        print(f"{name}@{alias} -> version {version.version} (training run {version.run_id}): "
              f"the next score runs use it", flush=True)

    def summary(self, status: str) -> list[str]:
        from mlflow import MlflowClient

        run = MlflowClient(self.uri).get_run(self.run_id)
        experiment = self.registry.experiment if self.scoring else self.config.experiment
        lines = [f"MLflow run {self.run_id} ({run.info.run_name}) {status}, experiment '{experiment}'"]
        alert = run.data.tags.get("alert")
        if alert:  # a scoring run's monitoring breaches (jobs/monitoring.py)
            lines += [f"  ALERT: {line}" for line in alert.splitlines()]
        metrics = run.data.metrics
        shown = [f"{name} {_number(metrics[name])}" for name in HEADLINE if name in metrics]
        lines += ["  metrics: " + ", ".join(shown)] if shown else []
        model = self._model_line(run)
        lines += ["  model: " + model] if model else []
        if self.rescored:
            kept = sorted({_relative(Path(p).parent) for p in self.rescored.values() if p})
            lines.append(f"  rescored: {', '.join(sorted(self.rescored))} (changed since scored; outputs replaced, "
                         f"the previous ones kept in {', '.join(kept) or 'no folder'})")
        lines += ["  outputs: " + ", ".join(sorted(set(self.outputs)))] if self.outputs else []
        if self.uri and self.uri.startswith(("http://", "https://")):
            lines.append(f"  UI: {runs_table_url(self.uri, run.info.experiment_id)}")
        else:
            lines.append(f"  UI: mlflow ui --backend-store-uri {self.uri}   then "
                         f"{runs_table_url('http://127.0.0.1:5000', run.info.experiment_id)}")
        return lines

    def _model_line(self, run: Any) -> str:
        name, alias = self.registry.model_name, self.registry.alias
        if self.registration_failed:
            done = (f"registered '{name}' version {self.registered_version}, NOT promoted" if self.registered_version
                    else f"logged ({self.model.model_uri}), NOT registered")
            return f"{done} (see below); later: {self._later()[1]}"
        if self.registered_version is not None:
            if self.promoted:
                return f"registered '{name}' version {self.registered_version}, promoted to @{alias}"
            return (f"registered '{name}' version {self.registered_version}, not promoted: kedro run "
                    f"--pipelines=promote --params=registry.version={self.registered_version}")
        params = run.data.params
        if self.scoring and params.get("model.uri"):
            if params.get("model.name"):
                return f"scored with '{params['model.name']}' version {params['model.version']}"
            return f"scored with {params['model.uri']}"
        return ""


def _local_model(uri: str | None) -> bool:
    """A model given as a folder (not models:/, runs:/, s3://...): scoring it reads no registry."""
    from urllib.parse import urlparse

    return bool(uri) and urlparse(uri).scheme in ("", "file")


class RegistrationFailedError(UserError):
    """A training finished (its run FINISHED, its model logged) but registering or promoting the
    model failed: the message says the command that does it later."""


def run_name(label: str, overrides: dict[str, Any]) -> str:
    """`denoise kind=sparse corruption.level=0.5`: the label and what was set for this run alone
    (model.* keys without their section), the text the MLflow UI shows in every table and legend.
    The data's settings come last, data.path as its file name: what tells runs of one table
    apart is read first (the runs table has a column for the data, derived.data.file)."""
    shown = []
    for key, value in sorted(overrides.items(), key=lambda item: item[0].startswith("data.")):
        if key == "data.path" and isinstance(value, str):
            value = Path(value).name
        text = f"{value:.4g}" if isinstance(value, float) else str(value).replace(" ", "")
        text = text.lower() if isinstance(value, bool) else text
        shown.append(f"{key.removeprefix('model.')}={text}")
    return " ".join([label, *shown])[:250]


def tracked_parameters(parameters: dict[str, Any], sections: set[str]) -> dict[str, Any]:
    """The settings a run is compared on, flattened: the sections its nodes read, with the options
    of the choices made only (the kind's model.<kind>.*, CHOSEN), and neither unset values (null:
    the derived.* parameters the settings nodes log hold what they became) nor UNTRACKED."""
    every = flatten(parameters)
    kind = every.get("model.kind", "denoising")
    flat = flatten({key: value for key, value in parameters.items() if key in sections})
    return {key: value for key, value in flat.items()
            if value not in (None, [], {}) and key not in UNTRACKED
            and not (key.startswith("model.") and key.count(".") > 1 and key.split(".")[1] != kind)
            and not any(key.startswith(option) and every.get(choice) not in wanted for option, choice, wanted in CHOSEN)
            and not any(key.endswith(f".{option}") and every.get(f"{key.rsplit('.', 1)[0]}.{choice}") not in wanted
                        for option, choice, wanted in CHOSEN_IN_SECTION)}


def log_parameters(parameters: dict[str, Any]) -> None:
    """As the run's parameters (MLflow splits them into batches); a value over MLflow's length limit
    becomes a tag."""
    import mlflow

    text = {name: str(value) for name, value in parameters.items()}
    mlflow.log_params({name: value for name, value in text.items() if len(value) <= PARAM_VALUE_LIMIT})
    mlflow.set_tags({name: value for name, value in text.items() if len(value) > PARAM_VALUE_LIMIT})


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _relative(path: Path) -> str:
    path, here = path.resolve(), Path.cwd().resolve()
    return str(path.relative_to(here) if path.is_relative_to(here) else path)


def mark_dead_runs_killed(experiment_id: str) -> None:
    """Runs of this host still RUNNING whose process is gone (kill -9, power loss) -> KILLED."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=200):
        tags = run.data.tags
        if tags.get("aep.host") == host and tags.get("aep.pid", "").isdigit() and not process_running(int(tags["aep.pid"])):
            client.set_tag(run.info.run_id, "error", f"process {tags['aep.pid']} ended without closing the run")
            client.set_terminated(run.info.run_id, "KILLED")
            logger.warning("MLflow run %s was left RUNNING by a dead process: marked KILLED", run.info.run_id)


def warn_if_artifacts_moved(experiment_id: str) -> None:
    """An experiment whose artifact folder is a local path that no longer exists (the project was
    moved, and the store keeps absolute paths): MLflow would make that folder again, outside
    the project, for this run's models and figures. Registered versions are found under the
    project's mlruns/ (tracking.models.version_location); new artifacts need a new experiment."""
    import mlflow

    from autoencoder_pipelines.tracking.models import local_path, own_artifact_folders

    experiment = mlflow.get_experiment(experiment_id)
    folder = local_path(experiment.artifact_location or "")
    # a new experiment's folder is made at its first artifact: missing, but in the project
    if folder is not None and not folder.exists() and folder not in own_artifact_folders(folder):
        logger.warning(
            "experiment '%s' keeps its artifacts at %s, which does not exist (the project moved?): MLflow makes "
            "that folder again for this run's models and figures. To keep them in this project, give its runs a new "
            "experiment (experiment: <name> in conf/local/mlflow.yml)", experiment.name, folder)


_SIGTERM_INSTALLED = False


def _end_killed_on_exit(run_id: str) -> None:
    """A run still open when the process exits was interrupted (Ctrl-C, SIGTERM): KILLED.
    Registered after MLflow's own exit handler, so it runs first (MLflow's would say FINISHED)."""
    global _SIGTERM_INSTALLED

    def end_if_open() -> None:
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run("KILLED")

    atexit.register(end_if_open)
    import threading

    if not _SIGTERM_INSTALLED and threading.current_thread() is threading.main_thread():
        # SIGTERM's default ends the process without exit handlers; exit as Python does on Ctrl-C.
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        _SIGTERM_INSTALLED = True
