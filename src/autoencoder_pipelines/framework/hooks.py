"""Project hooks: the run's runtime, lock and checkpoint folder, when the settings checks run,
node timings, and the torchrun rank rules. MLflow's run is tracking/hook.py's. No hook puts
anything into the catalog: `runtime` is a catalog dataset (framework.datasets.RuntimeDataset)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from autoencoder_pipelines.data.errors import ConfigError
from autoencoder_pipelines.nn.launch import (
    is_rank_zero,
    launched_by_torchrun,
    torchrun_world_size,
)

logger = logging.getLogger(__name__)


class ProjectHooks:
    """Hold the data folder for a training (locks.py), resolve the runtime once with this run's
    checkpoint folder (the `runtime` dataset), check the settings against the data before any
    training; after a success, remove this run's checkpoints (and only them).

    The checks (jobs.checks.check_settings, and jobs.tuning.check_search for tune) are those of
    the parameter sections the run's nodes use: right after ingestion, on its outputs before
    they are saved (a refused run changes no earlier output); or, in a run without ingestion
    (`--pipelines=pretraining`, `--from-nodes=...`), at its start, on the saved data.

    The parameters were validated when they were read (framework.config_loader): a bad one
    stopped the command before any of this, and before any MLflow run was opened."""

    def __init__(self) -> None:
        self.checkpoints: Path | None = None  # this run's checkpoint folder (a training run)
        self.sections: dict[str, Any] = {}
        self.project_path = Path.cwd()
        self.data_dir = "data"
        self.lock: Any = None  # locks.TrainingLock while a training runs
        self.used: set[str] = set()  # the parameter sections this run's nodes read

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        self.sections = context.config_loader["parameters"]  # parsed into typed sections, once
        self.project_path = Path(context.project_path)
        self.data_dir = str(self.project_path / (self.sections.get("data_dir") or "data"))

    @hook_impl(hookwrapper=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> Any:
        """Around every other before_pipeline_run hook: this part first; and when one of them
        fails (Kedro then calls no on_pipeline_error), the data folder is released again."""
        try:
            self._prepare_run(run_params, pipeline, catalog)
        except BaseException:  # Kedro calls no on_pipeline_error for a failing before_pipeline_run
            self._release()
            raise
        outcome = yield
        if outcome.excinfo is not None:
            self._release()

    def _prepare_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from autoencoder_pipelines.framework.datasets import RuntimeDataset
        from autoencoder_pipelines.framework.locks import TrainingLock, needs_lock
        from autoencoder_pipelines.jobs.runtime import (
            checkpoint_folder,
            resolve_runtime,
            run_key,
        )

        self._release()  # the previous run in this process was interrupted (KeyboardInterrupt)
        self.checkpoints = None
        params = self.sections["runtime"]
        training = needs_lock(pipeline)
        checkpoints = None
        if training:
            checkpoint_dir = Path(params.checkpoint_dir)
            if not checkpoint_dir.is_absolute():
                checkpoint_dir = self.project_path / checkpoint_dir
            checkpoints = checkpoint_folder(checkpoint_dir, run_params, run_key(self.sections, run_params, self.data_dir))
        RuntimeDataset.start(resolve_runtime(params, checkpoints))
        if training and is_rank_zero():  # under torchrun, rank 0 writes every output
            self.lock = TrainingLock(self.data_dir)
            self.lock.acquire(params.on_busy)
            self.checkpoints = checkpoints
            if params.checkpoint_every > 0:
                self._mention_other_checkpoints(checkpoints)
        if "data_schema" in pipeline.datasets():  # a run on the data: its outputs go under data_dir
            from autoencoder_pipelines.jobs import checks

            checks.check_writable(checks.writable_output_folders(self.data_dir))
        self.used = {name.removeprefix("params:") for name in pipeline.all_inputs() if name.startswith("params:")}
        saved = {"data_schema", "model_input"} & set(pipeline.inputs())  # a run without ingestion, on the saved data
        if saved and catalog.exists("validated_data") and catalog.exists("data_schema"):
            self.check_settings(catalog.load("validated_data"), catalog.load("data_schema"))

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        if "data_schema" in outputs:  # ingestion: Kedro saves its outputs after this hook
            self.check_settings(outputs["validated_data"], outputs["data_schema"])

    def check_settings(self, frame: Any, schema: Any) -> None:
        from autoencoder_pipelines.jobs.checks import check_settings, label_counts

        check_settings(frame, schema, self.sections, self.used)
        if "tune" in self.used:  # every setting the search can reach
            from autoencoder_pipelines.jobs.tuning import check_search

            check_search(self.sections, schema, label_counts(frame, schema), frame)

    @staticmethod
    def _mention_other_checkpoints(own: Path) -> None:
        if not own.parent.is_dir():
            return
        others = sorted(p.name for p in own.parent.iterdir() if p != own and (p.is_dir() or p.suffix == ".pt"))
        if others:
            logger.info(
                "%s also holds checkpoints of %d other run(s) that did not finish (%s): a run resumes from its "
                "own only; delete them if you will not run those settings again", own.parent, len(others),
                ", ".join(others[:5]) + (", ..." if len(others) > 5 else ""),
            )
        if own.is_dir():
            logger.info("resuming from the checkpoints of this run in %s", own)

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        # The run succeeded, so nothing is left to resume: remove this run's checkpoint folder
        # (a failed or killed run keeps it, for the restart).
        try:
            if self.checkpoints is not None:
                remove_checkpoints(self.checkpoints)
        finally:
            self.checkpoints = None
            self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self.checkpoints = None
        self._release()

    def _release(self) -> None:
        from autoencoder_pipelines.framework.datasets import RuntimeDataset

        RuntimeDataset.end()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def remove_checkpoints(folder: Path) -> None:
    """The checkpoint files a run wrote (and temporary files it left), its folder, and the
    checkpoint directory when nothing else is in it. Never another run's files."""
    from autoencoder_pipelines.nn.atomic import is_temporary

    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and (path.suffix == ".pt" or is_temporary(path)):
            path.unlink(missing_ok=True)
    for directory in (folder, folder.parent):
        try:
            directory.rmdir()  # only when empty
        except OSError:
            break


class NodeTimingHook:
    """Seconds per node and per dataset save: logged, and kept with the MLflow run as its artifact
    timings.json (benchmarks/pipeline_profile.py reads it). Of the timings, only the start-up
    (imports, the session, the catalog, the hooks) is a metric of the run, run.startup_seconds,
    beside reporting's run.seconds."""

    def __init__(self) -> None:
        self.node_seconds: dict[str, float] = {}
        self.save_seconds: dict[str, float] = {}
        self.startup_seconds: float | None = None
        self._started: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self.node_seconds.clear()
        self.save_seconds.clear()
        self.startup_seconds = None

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        if not self.node_seconds and not self._started:
            self.startup_seconds = process_age()
            if self.startup_seconds is not None:
                logger.info("first node %.1f s after the process started", self.startup_seconds)
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
        mlflow = sys.modules.get("mlflow")  # None: this run is not tracked
        run = None if mlflow is None else mlflow.active_run()
        if run is None:
            return
        from autoencoder_pipelines.tracking.store import waiting_for_store

        def log_timings() -> None:
            mlflow.log_dict({"startup_seconds": self.startup_seconds, "nodes": self.node_seconds,
                             "saves": self.save_seconds}, "timings.json")
            if self.startup_seconds is not None:  # by the client: the fluent API would give it to the logged model too
                mlflow.MlflowClient().log_metric(run.info.run_id, "run.startup_seconds", self.startup_seconds)

        try:  # the timings are worth a wait (a locked store), not the run's end: registration comes after
            waiting_for_store(log_timings, "logging node timings")
        except Exception as error:  # noqa: BLE001
            logger.warning("node timings not logged to MLflow: %s", str(error).strip().splitlines()[0])


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
        runtime = catalog.load("runtime")  # framework.datasets.RuntimeDataset: the run's, resolved above
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
        interface = os.environ.get("NCCL_SOCKET_IFNAME" if backend == "nccl" else "GLOO_SOCKET_IFNAME")
        logger.info(
            "rank %s of %s (%s, %s%s)%s", os.environ["RANK"], torchrun_world_size(), runtime.device, backend,
            f" on {interface}" if interface else "",
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


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
