"""The Airflow DAGs (dags/, written by `kedro airflow create` with scripts/airflow_dag.j2):
their tasks, the nodes each runs and their order, the schedule of conf/base/airflow.yml. The
committed files are read as Python syntax (Airflow is not in the project's environment); where
kedro-airflow is installed, they are also generated afresh and must match, and a DAG of node
groups is checked to keep every MemoryDataset inside one task."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
CONFIG = yaml.safe_load((REPO / "conf/base/airflow.yml").read_text())
CREATE = ["airflow", "create", "--pipelines=score,denoise", "--group-by=memory", "-j", "scripts/airflow_dag.j2"]


def parse_dag(path: Path) -> dict:
    """dag_id, schedule, max_active_runs, retries; tasks (task_id -> node names, None for the
    whole pipeline) in the order written; dependencies (upstream, downstream)."""
    tree = ast.parse(path.read_text())
    dag: dict = {"tasks": {}, "dependencies": []}
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for decorator in function.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            name = getattr(decorator.func, "id", None)
            arguments = {k.arg: k.value for k in decorator.keywords}
            if name == "dag":
                dag["dag_id"] = ast.literal_eval(arguments["dag_id"])
                dag["schedule"] = ast.literal_eval(arguments["schedule"])
                dag["max_active_runs"] = ast.literal_eval(arguments["max_active_runs"])
                retries = next(k.value for k in arguments["default_args"].keywords if k.arg == "retries")
                dag["retries"] = ast.literal_eval(retries)
            elif name == "task":
                (call,) = [n for n in ast.walk(function)
                           if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_run_kedro_node"]
                nodes = {k.arg: ast.literal_eval(k.value) for k in call.keywords}.get("node_names")
                dag["tasks"][ast.literal_eval(arguments["task_id"])] = nodes
    for statement in (n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.RShift)):
        dag["dependencies"].append((ast.literal_eval(statement.left.slice), ast.literal_eval(statement.right.slice)))
    return dag


def _pipeline(name: str):
    from kedro.framework.project import configure_project, pipelines

    configure_project("autoencoder_pipelines")
    return pipelines[name]


def test_the_score_dag_is_one_task_running_the_pipelines_nodes_in_order():
    dag = parse_dag(DAGS / "autoencoder_pipelines_score_dag.py")
    assert dag["dag_id"] == "autoencoder-pipelines-score"
    assert dag["schedule"] == CONFIG["score"]["schedule"] == "*/15 * * * *"
    assert dag["max_active_runs"] == 1 and dag["retries"] == 0
    # its nodes hand the scorer and the model reference over in memory: one task, in Kedro's order
    assert list(dag["tasks"].values()) == [[node.name for node in _pipeline("score").nodes]]
    assert list(dag["tasks"].values())[0] == ["load_scoring_model", "score_partitions", "scoring_metrics",
                                                "monitor_scoring", "fail_on_bad_partitions"]
    assert dag["dependencies"] == []


def test_the_training_dag_runs_the_whole_training_in_one_task():
    dag = parse_dag(DAGS / "autoencoder_pipelines_denoise_dag.py")
    assert dag["dag_id"] == "autoencoder-pipelines-denoise"
    assert dag["schedule"] is None and dag["max_active_runs"] == 1 and dag["retries"] == 0
    assert dag["tasks"] == {"denoise": None}  # _run_kedro_node(): the whole pipeline, one MLflow run


def _kedro_airflow(*args: str, cwd: Path) -> None:
    pytest.importorskip("kedro_airflow", reason="kedro-airflow is installed by hand (docs/scoring.md: Airflow)")
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, "-m", "kedro", *args], cwd=cwd, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_committed_dags_are_what_kedro_airflow_writes(tmp_path):
    _kedro_airflow(*CREATE, "-t", str(tmp_path), cwd=REPO)
    for committed in DAGS.glob("*_dag.py"):
        assert (tmp_path / committed.name).read_text() == committed.read_text(), committed.name


def test_a_dag_of_node_groups_keeps_each_memory_dataset_in_one_task_and_orders_the_groups(tmp_path):
    """The training as node groups (one_task off): every MemoryDataset's producer and consumers
    share a task, and a task runs after every task whose outputs it reads."""
    _kedro_airflow(*CREATE, "-t", str(tmp_path), "--params", "one_task=false", cwd=REPO)
    dag = parse_dag(tmp_path / "autoencoder_pipelines_denoise_dag.py")
    pipeline = _pipeline("denoise")
    task_of = {node: task for task, nodes in dag["tasks"].items() for node in nodes}
    assert sorted(task_of) == sorted(node.name for node in pipeline.nodes)  # every node, once
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import MemoryDataset

    bootstrap_project(REPO)
    with KedroSession.create(project_path=REPO) as session:  # the catalog with its patterns resolved
        catalog = session.load_context().catalog
    in_memory = {name for name in pipeline.datasets() if name not in catalog or isinstance(catalog.get(name), MemoryDataset)}
    in_memory -= {name for name in pipeline.datasets() if name.startswith("params:") or name == "parameters"}
    upstream = {(a, b) for a, b in dag["dependencies"]}
    for node in pipeline.nodes:
        for consumer in pipeline.nodes:
            shared = set(node.outputs) & set(consumer.inputs)
            if not shared:
                continue
            if shared & in_memory:
                assert task_of[node.name] == task_of[consumer.name], (node.name, consumer.name, shared & in_memory)
            elif task_of[node.name] != task_of[consumer.name]:
                assert (task_of[node.name], task_of[consumer.name]) in upstream, (node.name, consumer.name)


def _dag_module(path: Path, monkeypatch, session_error: BaseException) -> tuple[dict, type]:
    """The DAG file executed with a stand-in for Airflow (not in the project's environment) and a
    Kedro session whose run raises `session_error`: its _run_kedro_node, and the stand-in
    AirflowFailException."""
    import types

    fail = type("AirflowFailException", (Exception,), {})
    airflow, sdk, exceptions = (types.ModuleType(name) for name in ("airflow", "airflow.sdk", "airflow.sdk.exceptions"))
    sdk.dag = lambda **kwargs: (lambda function: function)
    sdk.task = lambda **kwargs: (lambda function: (lambda: None))  # the tasks are not run at import
    exceptions.AirflowFailException = fail
    airflow.sdk, sdk.exceptions = sdk, exceptions
    for name, module in (("airflow", airflow), ("airflow.sdk", sdk), ("airflow.sdk.exceptions", exceptions)):
        monkeypatch.setitem(sys.modules, name, module)

    class Session:
        @classmethod
        def create(cls, **kwargs):
            return cls()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def run(self, **kwargs):
            raise session_error

    namespace: dict = {"__name__": "dag_under_test"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    namespace["KedroSession"], namespace["configure_project"] = Session, lambda name: None
    return namespace, fail


@pytest.mark.parametrize("wrapped", [False, True])
def test_the_score_task_fails_without_retry_on_a_monitoring_alert(monkeypatch, wrapped):
    from autoencoder_pipelines.data.errors import MonitoringAlert

    alert = MonitoringAlert("day2.csv (600 rows): 3 of 64 features drifted: pixel_3_3 (PSI 4.1, KS 0.8)")
    error = alert
    if wrapped:  # as a dataset or a runner may wrap it
        try:
            raise RuntimeError("node failed") from alert
        except RuntimeError as outer:
            error = outer
    namespace, fail = _dag_module(DAGS / "autoencoder_pipelines_score_dag.py", monkeypatch, error)
    with pytest.raises(fail, match="monitoring alert: day2.csv .* pixel_3_3") as raised:
        namespace["_run_kedro_node"]()
    assert raised.value.__cause__ is error


def test_other_failures_of_a_task_are_raised_as_they_are(monkeypatch):
    from autoencoder_pipelines.pipelines.score.nodes import ScoringFailedError

    refused = ScoringFailedError("1 of 1 new partition(s) could not be scored", run_status="FAILED")
    for path in DAGS.glob("*_dag.py"):
        namespace, _ = _dag_module(path, monkeypatch, refused)
        with pytest.raises(ScoringFailedError):
            namespace["_run_kedro_node"]()
