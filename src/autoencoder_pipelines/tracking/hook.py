"""One MLflow run per `kedro run`, on MLflow's public API.

In place of kedro-mlflow (whose CLI plugin imports MLflow, 2 s, at every `kedro` command, and
whose hook re-opens its run at every node, each re-open stacking a copy of the run under
MLflow 3, and logs each parameter in its own call). This one starts the run before the first node, logs every
parameter (flattened, `model.hidden_sizes`) in a few batched calls, and ends the run with the
status it earned: FINISHED, FAILED (with the error as a tag) or KILLED (Ctrl-C, SIGTERM; a
run left RUNNING by a process that died is marked KILLED at the next start).
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
from pydantic import BaseModel, ConfigDict

from autoencoder_pipelines.tracking.store import default_tracking_uri, prepare_store

logger = logging.getLogger(__name__)

SCORING_MODEL = "scoring_model"  # the catalog entry logged as the MLflow scoring model

# MLflow's limits (mlflow.utils.validation): params per call and characters per value.
PARAMS_PER_CALL, PARAM_VALUE_LIMIT = 100, 6000


class TrackingConfig(BaseModel):
    """conf/base/mlflow.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: Optional[str] = None  # None: MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db
    experiment: str = "autoencoder_pipelines"
    disable_for_pipelines: list[str] = []


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


class MlflowTrackingHook:
    def __init__(self) -> None:
        self.config = TrackingConfig()
        self.uri: str | None = None
        self.project_path: Path | None = None
        self.parameters: dict[str, Any] = {}
        self.run_id: str | None = None
        self.started_here = False
        self.catalog: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.config = TrackingConfig.model_validate(context.config_loader.get("mlflow") or {})
        self.project_path = Path(context.project_path)
        self.uri = self.config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(self.project_path)
        self.parameters = dict(context.config_loader["parameters"])

    def enabled_for(self, run_params: dict[str, Any]) -> bool:
        from autoencoder_pipelines.nn.launch import is_rank_zero

        names = run_params.get("pipeline_names") or ["__default__"]
        return is_rank_zero() and not set(names) & set(self.config.disable_for_pipelines)

    @hook_impl(trylast=True)  # after the parameters are validated and the runtime resolved
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if self.started_here:  # the previous run in this process was interrupted (KeyboardInterrupt)
            import mlflow

            mlflow.end_run("KILLED")
        self.run_id, self.started_here, self.catalog = None, False, catalog
        if not self.enabled_for(run_params):
            return
        import mlflow

        active = mlflow.active_run()
        experiment_id = prepare_store(self.uri, self.project_path, None if active else self.config.experiment)
        if active is not None:  # a caller's run (compare, sweep, a notebook): log into it, leave it open
            self.run_id = active.info.run_id
        else:
            mark_dead_runs_killed(experiment_id)
            names = run_params.get("pipeline_names") or ["__default__"]
            run = mlflow.start_run(
                run_name="+".join(names),
                tags={"aep.host": socket.gethostname(), "aep.pid": str(os.getpid()),
                      "kedro.command": " ".join(sys.argv[1:]) or "session.run"},
            )
            self.run_id, self.started_here = run.info.run_id, True
            _end_killed_on_exit(self.run_id)
        log_parameters(self.parameters)
        from autoencoder_pipelines.nn.launch import launched_by_torchrun, torchrun_world_size

        if launched_by_torchrun():
            import torch.distributed as dist

            backend = dist.get_backend() if dist.is_initialized() else "none"
            mlflow.log_params({"distributed.world_size": torchrun_world_size(), "distributed.backend": backend})

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if dataset_name == SCORING_MODEL and self.run_id is not None:
            from autoencoder_pipelines.tracking.models import log_scoring_model

            info = log_scoring_model(data, self.catalog.get(dataset_name).saved_path)
            logger.info("logged the scoring model to MLflow: %s", info.model_uri)

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        if self.started_here:
            import mlflow

            mlflow.end_run("FINISHED")
            self.started_here = False

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: BaseException) -> None:
        if self.started_here:
            import mlflow

            mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:5000])
            mlflow.end_run("FAILED")
            self.started_here = False


def log_parameters(parameters: dict[str, Any]) -> None:
    """Every parameter, flattened, in batches; a value over MLflow's length limit becomes a tag."""
    import mlflow

    flat = {name: str(value) for name, value in flatten(parameters).items()}
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
