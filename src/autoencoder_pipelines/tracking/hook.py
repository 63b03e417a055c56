"""One MLflow run per `kedro run`, on MLflow's public API, ended with a short summary.

In place of kedro-mlflow (whose CLI plugin imports MLflow, 2 s, at every `kedro` command, and
whose hook re-opens its run at every node, each re-open stacking a copy of the run under
MLflow 3, and logs each parameter in its own call). This one opens the run at the second node
(the first starts without MLflow's import and store, about 2 s), logs every parameter
(flattened, `model.hidden_sizes`) in a few batched calls, and ends the run with the status it
earned: FINISHED, FAILED (with the error as a tag) or KILLED (Ctrl-C, SIGTERM; a
run left RUNNING by a process that died is marked KILLED at the next start). An error may
carry the status its run earned (`run_status`): a scoring run that wrote some outputs before
refusing a bad partition is FINISHED, with the error as a tag, and the command still fails.

Training runs log their scoring model (tracking/models.py) and, once the run has succeeded,
register it as a new version and, when asked (`registry.promote`), point the alias at it. Scoring runs go to the
registry's scoring experiment; `promote` opens no run (the registry records the alias).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Optional

from kedro.framework.hooks import hook_impl
from pydantic import BaseModel, ConfigDict, Field

from autoencoder_pipelines.config import RegistryParams, flatten, parse
from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.tracking.store import (
    check_tracking_store,
    default_tracking_uri,
    prepare_store,
)

logger = logging.getLogger(__name__)

SCORING_MODEL = "scoring_model"  # the catalog entry logged (and registered) as the MLflow scoring model
SCORING_PIPELINES = {"score", "score_spark"}  # their runs go to the registry's scoring experiment
# registry operations (the registry records them) and reading the scoring runs back: no run is opened
NO_RUN_PIPELINES = {"promote", "monitor"}
# Metrics shown in the summary printed at the end of a run, when the run has them.
HEADLINE = (
    "finetune.test_accuracy", "denoise.test_mse_denoised", "reduction.ae_test_mse", "anomaly.roc_auc",
    "score.rows_scored", "score.rows_refused", "score.partitions_scored", "score.partitions_failed",
    "monitor/anomaly_rate", "monitor/expected_anomaly_rate", "monitor/error_ks", "monitor/max_psi",
    "monitor/features_drifted", "tune.best_value", "tune.trials_complete",
    "tune.trials_pruned", "run.seconds",
)

# MLflow's limits (mlflow.utils.validation): params per call and characters per value.
PARAMS_PER_CALL, PARAM_VALUE_LIMIT = 100, 6000


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
    "tracking.run.name": "none: the hook names each run after what it runs",
    "tracking.run.nested": "none: an active run is joined, not nested under (tune nests its trials itself)",
    "tracking.params.dict_params": "none: parameters are always flattened with '.' (model.hidden_sizes)",
    "tracking.params.long_params_strategy": "none: a value over MLflow's length limit becomes a tag",
    "ui.port": "none: mlflow ui --port",
    "ui.host": "none: mlflow ui --host",
}


class TrackingConfig(BaseModel):
    """The project's MLflow hook: where runs are tracked, and which pipelines are not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
                "Expected: tracking_uri, experiment, disable_for_pipelines (conf/base/mlflow.yml; "
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


class MlflowTrackingHook:
    def __init__(self) -> None:
        self.config = TrackingConfig()
        self.registry = RegistryParams()
        self.uri: str | None = None
        self.project_path: Path | None = None
        self.parameters: dict[str, Any] = {}
        self.run_id: str | None = None
        self.started_here = False
        self.catalog: Any = None
        self.names: list[str] = []
        self.logged_model_uri: str | None = None
        self.registered_version: int | None = None
        self.promoted = False
        self.outputs: list[str] = []
        self.pending = False  # a run to open at the second node
        self.nodes_started = 0

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.config = TrackingConfig.from_conf(context.config_loader.get("mlflow"))
        self.project_path = Path(context.project_path)
        self.uri = self.config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(self.project_path)
        self.parameters = context.config_loader["parameters"]  # typed sections, parsed once (config_loader.py)
        self.registry = self.parameters["registry"]

    def enabled_for(self, run_params: dict[str, Any]) -> bool:
        from autoencoder_pipelines.nn.launch import is_rank_zero

        names = run_params.get("pipeline_names") or ["__default__"]
        return is_rank_zero() and not set(names) & (set(self.config.disable_for_pipelines) | NO_RUN_PIPELINES)

    @property
    def scoring(self) -> bool:
        return bool(set(self.names) & SCORING_PIPELINES)

    @hook_impl(trylast=True)  # after the parameters are validated and the runtime resolved
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if self.started_here:  # the previous run in this process was interrupted (KeyboardInterrupt)
            import mlflow

            mlflow.end_run("KILLED")
        self.run_id, self.started_here, self.catalog = None, False, catalog
        self.names = run_params.get("pipeline_names") or ["__default__"]
        self.logged_model_uri, self.registered_version, self.promoted, self.outputs = None, None, False, []
        self._check_promotion(pipeline)
        if self.scoring or set(self.names) & NO_RUN_PIPELINES:
            import mlflow  # their first node reads the registry

            mlflow.set_tracking_uri(self.uri)
        self.pending, self.nodes_started = self.enabled_for(run_params), 0
        if self.scoring:  # its first node logs the model it loaded: MLflow is in use from the start
            self.open_run()  # (which checks the store)
        elif self.pending:  # a store that cannot be written fails now, before any node (no MLflow import)
            check_tracking_store(self.uri, self.project_path)

    @hook_impl(trylast=True)
    def before_node_run(self) -> None:
        self.nodes_started += 1
        if self.nodes_started >= 2:
            self.open_run()

    def open_run(self) -> None:
        """Start (or join) the MLflow run and log every parameter: once per kedro run, at the
        second node, or at the end of a run that had fewer, or at its failure."""
        if not self.pending:
            return
        self.pending = False
        import mlflow

        active = mlflow.active_run()
        experiment = self.registry.experiment if self.scoring else self.config.experiment
        experiment_id = prepare_store(self.uri, self.project_path, None if active else experiment)
        if active is not None:  # a caller's run (compare, sweep, a notebook): log into it, leave it open
            self.run_id = active.info.run_id
        else:
            mark_dead_runs_killed(experiment_id)
            run = mlflow.start_run(
                run_name="+".join(self.names),
                tags={"aep.host": socket.gethostname(), "aep.pid": str(os.getpid()),
                      "kedro.command": " ".join(sys.argv[1:]) or "session.run"},
            )
            self.run_id, self.started_here = run.info.run_id, True
            _end_killed_on_exit(self.run_id)
        # A scoring run's parameters are the model it used (logged by the pipeline) and the
        # registry settings; the training sections would describe the configuration, not the model.
        # What the defaults became on the data (derived.*) is logged by the check nodes'
        # `<section>_settings` datasets (MlflowParamsDataset).
        log_parameters({"registry": self.registry} if self.scoring else self.parameters)
        from autoencoder_pipelines.nn.launch import (
            launched_by_torchrun,
            torchrun_world_size,
        )

        if launched_by_torchrun():
            import torch.distributed as dist

            backend = dist.get_backend() if dist.is_initialized() else "none"
            mlflow.log_params({"distributed.world_size": torchrun_world_size(), "distributed.backend": backend})

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

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        """A save that logs to MLflow opens the run first, even at the first node."""
        from autoencoder_pipelines.tracking import datasets

        dataset = self.catalog.get(dataset_name) if self.catalog is not None else None
        logged = (datasets.ArtifactDataset, datasets.MlflowMetricsDataset, datasets.MlflowParamsDataset)
        if dataset_name == SCORING_MODEL or isinstance(dataset, logged):
            self.open_run()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        dataset = self.catalog.get(dataset_name) if self.catalog is not None else None
        path = getattr(dataset, "_path", None) or getattr(dataset, "_filepath", None)
        if path is not None:
            folder = Path(str(path)) if hasattr(dataset, "_path") else Path(str(path)).parent
            self.outputs.append(_relative(folder))
        if dataset_name == SCORING_MODEL and self.run_id is not None:
            from autoencoder_pipelines.tracking.models import log_scoring_model

            self.logged_model_uri = log_scoring_model(data, dataset.saved_path).model_uri
            logger.info("logged the scoring model to MLflow: %s", self.logged_model_uri)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        """A folder that a node writes through the handle its dataset loads (the scored
        partitions, streamed) is an output of the run too."""
        dataset = self.catalog.get(dataset_name) if self.catalog is not None else None
        if getattr(dataset, "written_by_node", False):
            self.outputs.append(_relative(Path(str(dataset._path))))

    @hook_impl(tryfirst=True, specname="after_pipeline_run")  # before the other hooks log into the run
    def open_run_before_the_end(self) -> None:
        self.open_run()

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        # Only a run that succeeded registers its model (and promotes it when asked).
        if self.logged_model_uri is not None and self.registry.register_model and self.started_here:
            try:
                self._register()
            except Exception as error:
                self.on_pipeline_error(error)
                raise
        if self.started_here:
            import mlflow

            mlflow.end_run("FINISHED")
            self.started_here = False
            self._print_summary("FINISHED")
        elif "promote" in self.names:
            self._print_alias()

    def _register(self) -> None:
        import mlflow

        from autoencoder_pipelines.tracking.models import promote

        name = self.registry.model_name
        self.registered_version = int(mlflow.register_model(self.logged_model_uri, name).version)
        logger.info("registered the scoring model as %s version %s", name, self.registered_version)
        if self.registry.promote:
            promote(name, self.registry.alias, self.registered_version)
            self.promoted = True

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: BaseException) -> None:
        self.open_run()  # a run that failed at its first node is recorded too
        if self.started_here:
            import mlflow

            status = getattr(error, "run_status", "FAILED")
            # an error may name its own tags: a monitoring alert is an `alert`, not an `error`
            tags = getattr(error, "run_tags", None) or {"error": f"{type(error).__name__}: {error}"}
            mlflow.set_tags({name: str(value)[:5000] for name, value in tags.items()})
            mlflow.end_run(status)
            self.started_here = False
            self._print_summary(status)

    def _print_summary(self, status: str) -> None:
        """A few lines, printed last (stdout, not only the log): the run, how to see it, its
        headline metrics, the model, where the outputs are."""
        try:
            print("\n".join(self.summary(status)), flush=True)
        except Exception as error:  # a summary must never turn a finished run into a failure
            logger.warning("no run summary: %s", error)

    def _print_alias(self) -> None:
        """After `promote`: where the alias points now, printed last."""
        from mlflow import MlflowClient

        name, alias = self.registry.model_name, self.registry.alias
        version = MlflowClient(self.uri).get_model_version_by_alias(name, alias)
        print(f"{name}@{alias} -> version {version.version} (training run {version.run_id}): "
              f"the next score runs use it", flush=True)

    def summary(self, status: str) -> list[str]:
        from mlflow import MlflowClient

        run = MlflowClient(self.uri).get_run(self.run_id)
        experiment = self.registry.experiment if self.scoring else self.config.experiment
        lines = [f"MLflow run {self.run_id} ({'+'.join(self.names)}) {status}, experiment '{experiment}'"]
        alert = run.data.tags.get("alert")
        if alert:  # a scoring run's monitoring breaches (jobs/monitoring.py)
            lines += [f"  ALERT: {line}" for line in alert.splitlines()]
        metrics = run.data.metrics
        shown = [f"{name} {_number(metrics[name])}" for name in HEADLINE if name in metrics]
        if shown:
            lines.append("  metrics: " + ", ".join(shown))
        model = self._model_line(run)
        if model:
            lines.append("  model: " + model)
        if self.outputs:
            lines.append("  outputs: " + ", ".join(sorted(set(self.outputs))))
        if self.uri and self.uri.startswith(("http://", "https://")):
            lines.append(f"  UI: {self.uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{self.run_id}")
        else:
            lines.append(f"  UI: mlflow ui --backend-store-uri {self.uri}   "
                         f"then http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{self.run_id}")
        return lines

    def _model_line(self, run: Any) -> str:
        name, alias = self.registry.model_name, self.registry.alias
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


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def log_parameters(parameters: dict[str, Any]) -> None:
    """Every parameter (typed sections as their JSON), flattened, in batches; a value over
    MLflow's length limit becomes a tag."""
    import mlflow

    plain = {key: value.model_dump(mode="json") if isinstance(value, BaseModel) else value for key, value in parameters.items()}
    flat = {name: str(value) for name, value in flatten(plain).items()}
    long = {name: value for name, value in flat.items() if len(value) > PARAM_VALUE_LIMIT}
    short = [(name, value) for name, value in flat.items() if name not in long]
    for start in range(0, len(short), PARAMS_PER_CALL):
        mlflow.log_params(dict(short[start : start + PARAMS_PER_CALL]))
    if long:
        mlflow.set_tags(long)


def mark_dead_runs_killed(experiment_id: str) -> None:
    """Runs of this host still RUNNING whose process is gone (kill -9, power loss) -> KILLED."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=200):
        tags = run.data.tags
        if tags.get("aep.host") == host and tags.get("aep.pid", "").isdigit() and not _alive(int(tags["aep.pid"])):
            client.set_tag(run.info.run_id, "error", f"process {tags['aep.pid']} ended without closing the run")
            client.set_terminated(run.info.run_id, "KILLED")
            logger.warning("MLflow run %s was left RUNNING by a dead process: marked KILLED", run.info.run_id)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    if not _SIGTERM_INSTALLED and _is_main_thread():
        # SIGTERM's default ends the process without exit handlers; exit as Python does on Ctrl-C.
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        _SIGTERM_INSTALLED = True


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
