"""Project hooks: parameters checked before any work and the runtime resolved once, node
timings, and the torchrun rank rules. MLflow's run is tracking/hook.py's."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from autoencoder_pipelines.config import validate_parameters
from autoencoder_pipelines.errors import ConfigError
from autoencoder_pipelines.nn.launch import is_rank_zero, launched_by_torchrun, torchrun_world_size

logger = logging.getLogger(__name__)


class ProjectHooks:
    """Validate parameters before any work, resolve the runtime once, stamp the run clock."""

    def __init__(self) -> None:
        self.checkpoint_dir: Path | None = None
        self.sections: dict[str, Any] = {}

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        """Every section checked before the catalog is built (no torch needed): a bad parameter
        stops the run here, before any MLflow run is opened."""
        self.sections = validate_parameters(context.config_loader["parameters"])

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from autoencoder_pipelines.runtime import resolve_runtime

        if "params:model" in pipeline.all_inputs():
            from autoencoder_pipelines.jobs import check_kind_settings

            check_kind_settings(self.sections["model"])
        runtime = resolve_runtime(self.sections["runtime"])
        self.checkpoint_dir = Path(runtime.params.checkpoint_dir)
        catalog["runtime"] = MemoryDataset(runtime, copy_mode="assign")
        catalog["run_started_at"] = time.time()

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        # The run succeeded, so nothing is left to resume; a failed run keeps its checkpoints.
        if self.checkpoint_dir is not None and self.checkpoint_dir.is_dir() and is_rank_zero():
            for checkpoint in self.checkpoint_dir.glob("*.pt"):
                checkpoint.unlink(missing_ok=True)


class NodeTimingHook:
    """Seconds per node and per dataset save, logged and sent to the run as time/node.<node>
    and time/save.<dataset> (benchmarks/pipeline_profile.py reads them)."""

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

    @hook_impl(tryfirst=True)  # while the MLflow run is still open
    def after_pipeline_run(self) -> None:
        self._log()

    @hook_impl(tryfirst=True)  # a failed run's nodes took time too (a scoring run that refused a file)
    def on_pipeline_error(self) -> None:
        self._log()

    def _log(self) -> None:
        if not self.node_seconds:
            return
        slowest = sorted(self.node_seconds.items(), key=lambda item: -item[1])
        logger.info("node seconds: %s", ", ".join(f"{name} {sec:.1f}" for name, sec in slowest))
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_metrics(
                {f"time/node.{name}": sec for name, sec in self.node_seconds.items()}
                | {f"time/save.{name}": sec for name, sec in self.save_seconds.items()}
            )


class DistributedRunHook:
    """Under torchrun, each process runs the whole job: join the process group before the first
    node, and keep outputs and MLflow to global rank 0. The other ranks train in lock-step (DDP
    keeps their weights equal) but hold their outputs in memory; settings.py registers the
    MLflow tracking to rank 0. Without torchrun this hook does nothing."""

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

    @hook_impl  # after the runtime is resolved (tryfirst), before the MLflow run opens (trylast)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if not launched_by_torchrun():
            return
        runtime = catalog.load("runtime")
        if runtime.params.strategy != "ddp":
            return
        # Every rank must issue the same collectives in the same order: one node at a time, all of them.
        if run_params.get("only_missing_outputs"):
            raise ConfigError("--only-missing-outputs cannot be used under torchrun: ranks other than 0 keep "
                              "no outputs, so they would run other nodes than rank 0")
        runner = str(run_params.get("runner"))  # Kedro records str(instance), or "None"
        if runner != "None" and "SequentialRunner" not in runner:
            raise ConfigError(f"the runner {runner} cannot be used under torchrun: data-parallel runs need "
                              "the SequentialRunner (every rank runs the same nodes in the same order)")
        from autoencoder_pipelines.nn.distributed import init_process_group

        backend = init_process_group(runtime.device)
        self.active = True
        logger.info(
            "rank %s of %s (%s, %s)%s", os.environ["RANK"], torchrun_world_size(), runtime.device, backend,
            "" if is_rank_zero() else ": outputs stay in memory, rank 0 writes them",
        )
        if is_rank_zero():
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
            from autoencoder_pipelines.nn.distributed import destroy_process_group

            destroy_process_group()
            self.active = False
