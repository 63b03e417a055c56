"""Fixtures shared by the test modules: a throw-away copy of the project with its own MLflow
store, and one tiny trained project per test worker."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

# The test models are tiny: one thread is faster than several and keeps the suite
# predictable on a 2-core CI machine.
torch.set_num_threads(1)
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parents[1]
QUIET_LOGGING = Path(__file__).with_name("logging.yml")  # in-process runs: warnings only


def _quiet_kedro_logging() -> None:
    """Kedro reads KEDRO_LOGGING_CONFIG once, when kedro.framework.project is first imported: set
    per run it came too late, and every in-process run logged ~400 rich INFO lines (~0.8 s). Set
    here, before any test's log capture attaches; subprocess runs keep the project's logging."""
    from kedro.framework.project import configure_logging

    configure_logging(yaml.safe_load(QUIET_LOGGING.read_text()))


_quiet_kedro_logging()
TINY: dict[str, Any] = {
    "runtime": {"device": "cpu", "batch_size": 128, "log_every": 0, "threads": 1},
    "model": {"hidden_sizes": [32, 8]},
    "pretrain": {"epochs": 2},
    "finetune": {"epochs": 3, "patience": None},
    "denoiser": {"epochs": 3},
    "anomaly": {"epochs": 2, "batch_size": 128},
    "reduction": {"epochs": 2, "sweep_code_sizes": [4], "sweep_epochs": 1},
}


def _move_store(database: Path, old_root: Path, new_root: Path) -> None:
    """Point a copied MLflow store's absolute artifact locations at its new folder."""
    if not database.exists():
        return
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [row[1] for row in connection.execute(f"PRAGMA table_info('{table}')")]:
                connection.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (str(old_root), str(new_root), str(old_root)),
                )
    connection.close()


_TEMPLATE: Path | None = None


def _template_store() -> Path:
    """An empty MLflow store made once per test process: creating one runs MLflow's schema
    migrations (3-6 s), so each project starts from a copy. tests/test_concurrency.py
    still makes stores from nothing."""
    global _TEMPLATE
    if _TEMPLATE is None:
        import atexit
        import contextlib
        import tempfile

        from mlflow.tracking import MlflowClient

        root = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        with contextlib.chdir(root):  # the default experiment's artifacts: <root>/mlruns/0
            MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_experiments()
        _TEMPLATE = root
    return _TEMPLATE


def _copy_store(template: Path, root: Path) -> None:
    shutil.copy(template / "mlflow.db", root / "mlflow.db")
    _move_store(root / "mlflow.db", template, root)


class Project:
    """A copy of the project's configuration in `root` (the package itself is installed), with
    `local` as conf/local/parameters.yml and an MLflow store of its own."""

    def __init__(self, root: Path, local: dict[str, Any]) -> None:
        self.root = root
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        root.mkdir(parents=True, exist_ok=True)
        _copy_store(_template_store(), root)
        for name in ("pyproject.toml", ".telemetry"):
            shutil.copy(REPO / name, root / name)
        (root / "src").mkdir(exist_ok=True)  # bootstrap_project wants src/
        shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"), dirs_exist_ok=True)
        (root / "conf" / "local").mkdir(exist_ok=True)
        (root / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(local))
        (root / "data" / "01_raw").mkdir(parents=True, exist_ok=True)

    def copy(self, root: Path) -> "Project":
        """A copy of this project, outputs and MLflow store, that shares nothing with it: the
        store's absolute artifact locations are moved into the copy."""
        shutil.copytree(self.root, root)
        copy = object.__new__(Project)
        copy.root, copy.uri = root, f"sqlite:///{root / 'mlflow.db'}"
        _move_store(root / "mlflow.db", self.root, root)
        return copy

    def run(self, pipeline: str = "denoise", from_nodes: list[str] | None = None, **runtime_params: Any) -> None:
        """`kedro run --pipelines=<pipeline> [--from-nodes=...]` in-process, from inside the project."""
        from kedro.framework import project as kedro_project
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.root)
            patch.setenv("MLFLOW_TRACKING_URI", self.uri)
            # Every test project is the same installed package: Kedro's settings and pipeline
            # registry are configured once per process (Kedro records it in PACKAGE_NAME).
            # bootstrap_project took about 0.25 s a run under pytest (dynaconf's settings loader
            # calls inspect.stack(), which reads the source of every frame of pytest's deep
            # stack), and each call put another <project>/src on sys.path. The session still
            # gets each project's own path.
            if kedro_project.PACKAGE_NAME != "autoencoder_pipelines":
                bootstrap_project(self.root)
            with KedroSession.create(project_path=self.root, runtime_params=runtime_params or None) as session:
                session.run(pipeline_names=[pipeline], from_nodes=from_nodes)

    def call(self, function, *args, **kwargs):
        """`function(...)` from inside the project, with its MLflow store."""
        import mlflow

        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.root)
            patch.setenv("MLFLOW_TRACKING_URI", self.uri)
            mlflow.set_tracking_uri(self.uri)
            return function(*args, **kwargs)

    def kedro(self, *args: str, timeout: int = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """The real command line, in a subprocess."""
        environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_TRACKING_URI": self.uri, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "kedro", *args], cwd=self.root, env=environment,
            capture_output=True, text=True, timeout=timeout,
        )

    def path(self, relative: str) -> Path:
        return self.root / relative

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.path("data/08_reporting/metrics.json").read_text())

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.uri)

    def promote(self, version: int, name: str = "autoencoder-pipelines", alias: str = "champion") -> None:
        """Point the alias at a registered version (what `kedro run --pipelines=promote` does)."""
        self.client().set_registered_model_alias(name, alias, str(version))

    def runs(self, experiment: str = "autoencoder_pipelines") -> list:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.uri)
        found = client.get_experiment_by_name(experiment)
        return [] if found is None else client.search_runs([found.experiment_id])


@pytest.fixture
def make_project(tmp_path):
    """make_project(local_parameters=TINY, name="project") -> a fresh Project."""

    def make(local: dict[str, Any] | None = None, name: str = "project") -> Project:
        return Project(tmp_path / name, TINY if local is None else local)

    return make


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Project:
    """One `denoise` run of the tiny config on the bundled digits, shared by the tests of a
    worker that only read its outputs (copy it before changing anything)."""
    project = Project(tmp_path_factory.mktemp("trained") / "project", TINY)
    project.run()
    return project


@pytest.fixture
def scoring_project(trained_project, tmp_path):
    """A copy of the trained project (outputs, MLflow store, registered version 1) with version 1
    promoted to champion and an empty inbox."""
    project = trained_project.copy(tmp_path / "project")
    project.promote(1)
    project.path("data/01_raw/incoming").mkdir(parents=True)
    return project


@pytest.fixture
def tiny() -> dict[str, Any]:
    return json.loads(json.dumps(TINY))  # a copy the test may change


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# Seconds a module's tests took on 2 cores (pytest --junitxml, 2026-12-04): the two workers take
# modules longest first (--no-loadscope-reorder keeps this order), so that neither is left with
# a 25 s module at the end while the other idles. xdist's own order (most tests first) put the
# one-test Spark module last. A module not listed takes under 4 s and comes after these.
MODULE_SECONDS = {"test_score.py": 52, "test_resume.py": 26, "test_score_spark.py": 25, "test_bad_inputs.py": 24,
                  "test_ddp.py": 24, "test_tracking.py": 24, "test_tools.py": 22, "test_own_data.py": 13,
                  "test_images.py": 13, "test_concurrency.py": 12, "test_registry.py": 12,
                  "test_pipeline_integration.py": 10, "test_monitoring_runs.py": 6, "test_detector.py": 4,
                  "test_cli.py": 4, "test_benchmarks.py": 4}


def pytest_collection_modifyitems(config, items):
    """Modules longest first (MODULE_SECONDS). `cuda` tests need a CUDA GPU: skipped without
    one, or failed when AEP_REQUIRE_CUDA=1 (scripts/gpu_check.sh, where a skip would hide that the
    GPU path did not run)."""
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.name, 0))  # stable: a module's own order is kept
    if torch.cuda.is_available():
        return
    if os.environ.get("AEP_REQUIRE_CUDA") == "1" and any("cuda" in item.keywords for item in items):
        raise pytest.UsageError("AEP_REQUIRE_CUDA=1 but torch sees no CUDA device: the cuda tests cannot run")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (scripts/gpu_check.sh)"))
