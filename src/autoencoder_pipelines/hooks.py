"""Project hooks: validate parameters before any work, stamp the run clock, log models to MLflow."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from torch import nn

from autoencoder_pipelines.config import RuntimeParams, parse, validate_parameters
from autoencoder_pipelines.errors import ConfigError
from autoencoder_pipelines.nn.distributed import (
    destroy_process_group,
    init_process_group,
    is_rank_zero,
    launched_by_torchrun,
    torchrun_world_size,
)
from autoencoder_pipelines.runtime import process_device
from autoencoder_pipelines.scoring import Scorer
from autoencoder_pipelines.tracking import check_tracking_store

logger = logging.getLogger(__name__)

# Pinned here so mlflow does not spend seconds inferring them offline at every log_model.
MODEL_PIP_REQUIREMENTS = ["torch==2.13.0", "numpy==2.4.6", "cloudpickle"]
SCORER_PIP_REQUIREMENTS = [*MODEL_PIP_REQUIREMENTS, "pandas==3.1.1", "click", "mlflow==3.17.0"]


class ProjectHooks:
    """Validate parameters before any work, stamp the run clock, tidy MLflow's run stack."""

    def __init__(self) -> None:
        self.checkpoint_dir: Path | None = None
        self.outer_run: tuple[str | None, int | None] = (None, 0)

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        """Before kedro-mlflow opens the store: fail clearly if it cannot be written."""
        # A run active before the session (a sweep's child run) is the caller's to end.
        active = mlflow.active_run()
        self.outer_run = (active.info.run_id if active is not None else None, _run_stack_depth())
        configured = (context.config_loader.get("mlflow") or {}).get("server", {}).get("mlflow_tracking_uri")
        if not configured and not os.environ.get("MLFLOW_TRACKING_URI"):
            # kedro-mlflow takes MLFLOW_TRACKING_URI when mlflow.yml leaves the URI null; the
            # default is a SQLite store in the project (MLflow 3.13+ refuses the file store).
            # Set for every session, not once at import, so sessions in one process agree.
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(context.project_path) / 'mlflow.db'}"
        uri = configured or os.environ["MLFLOW_TRACKING_URI"]
        if "DATABRICKS_RUNTIME_VERSION" not in os.environ:
            # Off Databricks, MLflow's check for a serverless-GPU job to resume costs ~0.7 s per run.
            os.environ.setdefault("MLFLOW_ENABLE_SGC_RUN_RESUMPTION_FOR_DATABRICKS_JOBS", "false")
        if is_rank_zero():  # other torchrun ranks do not log
            check_tracking_store(uri, Path(context.project_path))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        parsed = validate_parameters(catalog.load("parameters"))
        self.checkpoint_dir = Path(parsed["runtime"].checkpoint_dir)  # type: ignore[attr-defined]
        catalog["run_started_at"] = time.time()

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        _end_leftover_mlflow_runs("FINISHED", keep=self.outer_run)
        # The run succeeded, so nothing is left to resume; a failed run keeps its checkpoints.
        if self.checkpoint_dir is not None and self.checkpoint_dir.is_dir() and is_rank_zero():
            for checkpoint in self.checkpoint_dir.glob("*.pt"):
                checkpoint.unlink(missing_ok=True)

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        _end_leftover_mlflow_runs("FAILED", keep=self.outer_run)


class NodeTimingHook:
    """Seconds per node and per dataset save, logged and sent to the run as node_seconds.<node>
    and save_seconds.<dataset> (benchmarks/pipeline_profile.py reads them)."""

    def __init__(self) -> None:
        self.node_seconds: dict[str, float] = {}
        self.save_seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self.node_seconds.clear()
        self.save_seconds.clear()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._started[f"node:{node.name}"] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        self.node_seconds[node.name] = time.perf_counter() - self._started.pop(f"node:{node.name}")

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        self._started[f"save:{dataset_name}"] = time.perf_counter()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self.save_seconds[dataset_name] = time.perf_counter() - self._started.pop(f"save:{dataset_name}")

    @hook_impl(tryfirst=True)  # while kedro-mlflow's run is still open
    def after_pipeline_run(self) -> None:
        if not self.node_seconds:
            return
        slowest = sorted(self.node_seconds.items(), key=lambda item: -item[1])
        logger.info("node seconds: %s", ", ".join(f"{name} {sec:.1f}" for name, sec in slowest))
        if mlflow.active_run() is not None:
            mlflow.log_metrics(
                {f"node_seconds.{name}": sec for name, sec in self.node_seconds.items()}
                | {f"save_seconds.{name}": sec for name, sec in self.save_seconds.items()}
            )


class DistributedRunHook:
    """Under torchrun, each process runs the whole job: join the process group before the first
    node, and keep outputs and MLflow to global rank 0. The other ranks train in lock-step (DDP
    keeps their weights equal) but hold their outputs in memory; settings.py registers the
    MLflow hooks on rank 0 only. Without torchrun this hook does nothing."""

    def __init__(self) -> None:
        self.active = False

    @hook_impl
    def after_context_created(self) -> None:
        if launched_by_torchrun() and not is_rank_zero():
            # Log files (info.log) are rank 0's: concurrent appends and rotations would mangle them.
            root = logging.getLogger()
            for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
                root.removeHandler(handler)
                handler.close()

    @hook_impl(trylast=True)  # after parameter validation and after kedro-mlflow opened its run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if not launched_by_torchrun():
            return
        runtime = parse(RuntimeParams, catalog.load("parameters").get("runtime"), "runtime")
        if runtime.strategy != "ddp":
            return
        # Every rank must issue the same collectives in the same order: one node at a time, all of them.
        if run_params.get("only_missing_outputs"):
            raise ConfigError("--only-missing-outputs cannot be used under torchrun: ranks other than 0 keep "
                              "no outputs, so they would run other nodes than rank 0")
        runner = str(run_params.get("runner"))  # Kedro records str(instance), or "None"
        if runner != "None" and "SequentialRunner" not in runner:
            raise ConfigError(f"the runner {runner} cannot be used under torchrun: data-parallel runs need "
                              "the SequentialRunner (every rank runs the same nodes in the same order)")
        device = process_device(runtime)
        try:
            backend = init_process_group(device)
        except Exception:
            if mlflow.active_run() is not None:  # Kedro calls no on_pipeline_error hook from here
                mlflow.end_run("FAILED")
            raise
        self.active = True
        world_size = torchrun_world_size()
        logger.info(
            "rank %s of %s (%s, %s)%s", os.environ["RANK"], world_size, device, backend,
            "" if is_rank_zero() else ": outputs stay in memory, rank 0 writes them",
        )
        if is_rank_zero():
            if mlflow.active_run() is not None:
                mlflow.log_params({"distributed.world_size": world_size, "distributed.backend": backend})
            return
        consumed = pipeline.all_inputs()
        catalog_logger = logging.getLogger("kedro.io.data_catalog")
        level = catalog_logger.level
        catalog_logger.setLevel(logging.ERROR)  # one "Replacing dataset" warning per output otherwise
        try:
            for name in pipeline.all_outputs():
                # copied on load like Kedro's own intermediate data; final outputs are only dropped
                catalog[name] = MemoryDataset() if name in consumed else MemoryDataset(copy_mode="assign")
        finally:
            catalog_logger.setLevel(level)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._leave()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._leave()

    def _leave(self) -> None:
        if self.active:
            destroy_process_group()
            self.active = False


def _run_stack_depth() -> int | None:
    """Depth of MLflow's active-run stack (private API; None if it ever goes away)."""
    stack = getattr(mlflow.tracking.fluent, "_active_run_stack", None)
    return len(stack.get()) if stack is not None else None


def _end_leftover_mlflow_runs(status: str, keep: tuple[str | None, int | None]) -> None:
    """kedro-mlflow pushes its run again at every node and leaves it on the stack after the
    session, so a second session in the same process (tests, notebooks, sweeps) would log
    into the first one's run. Pops the stack back to what it was when the session started
    (a sweep's child run stays, for its caller to end). Runs after kedro-mlflow (trylast)."""
    keep_id, keep_depth = keep
    while (active := mlflow.active_run()) is not None:
        depth = _run_stack_depth()
        if (depth is not None and keep_depth is not None and depth <= keep_depth) or (
            depth is None and active.info.run_id == keep_id
        ):
            break
        mlflow.end_run(status)


class MlflowModelLoggingHook:
    """Log the listed models to the active MLflow run (pytorch flavour) as they are saved.

    A hook rather than a catalog entry so each model is also saved versioned in
    data/06_models by one node output; outputs that are not torch modules (e.g. a skipped
    classifier) are not logged.
    """

    def __init__(self, datasets: tuple[str, ...]) -> None:
        self.datasets = datasets

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        if dataset_name not in self.datasets or mlflow.active_run() is None:
            return
        started = time.perf_counter()
        if isinstance(data, Scorer):
            # raw rows in, scored rows out: `mlflow models predict` works on it; the
            # package's code travels with the model so it loads without this project
            mlflow.pyfunc.log_model(
                name=dataset_name,
                python_model=data,
                pip_requirements=SCORER_PIP_REQUIREMENTS,
                code_paths=[str(Path(__file__).parent)],
            )
        elif isinstance(data, nn.Module):
            mlflow.pytorch.log_model(
                data,
                name=dataset_name,
                serialization_format="pickle",
                pip_requirements=MODEL_PIP_REQUIREMENTS,
            )
        else:
            return
        logger.info("logged model '%s' to MLflow in %.1f s", dataset_name, time.perf_counter() - started)
