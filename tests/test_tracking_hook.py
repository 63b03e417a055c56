import os

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from autoencoder_pipelines.tracking import MlflowHook


def test_node_parameters_are_flattened_batched_and_sent_once(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", uri)
    hook = MlflowHook()
    hook.flatten, hook.long_params_strategy = True, "tag"
    hook._logged_params = {}
    sent, log_params = [], mlflow.log_params
    monkeypatch.setattr(mlflow, "log_params", lambda params, **options: (sent.append(dict(params)), log_params(params, **options)))
    experiment_id = MlflowClient(uri).create_experiment("hook")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        hook.run_id = run.info.run_id
        first = {"params:model": {"code_size": 24, "notes": "x" * (MAX_PARAM_VAL_LENGTH + 1)}, "data": object()}
        hook.before_node_run(node=None, catalog=None, inputs=first, is_async=False)
        second = {"params:model": {"code_size": 24}, "params:corruption": {"level": 0.25}}
        hook.before_node_run(node=None, catalog=None, inputs=second, is_async=False)
        assert mlflow.active_run().info.run_id == run.info.run_id
    # one call per node, each with only what is new; the long value went to the parent's
    # strategy (a tag here), not into the batch
    assert sent == [{"model.code_size": "24"}, {"corruption.level": "0.25"}]
    logged = MlflowClient(uri).get_run(run.info.run_id).data
    assert logged.params == {"model.code_size": "24", "corruption.level": "0.25"}
    assert logged.tags["model.notes"].startswith("xxx")
    assert mlflow.active_run() is None  # no duplicate of the run was pushed at the nodes


def test_mlflow_telemetry_is_off_when_the_project_is_loaded():
    import subprocess
    import sys

    code = ("import os; os.environ.pop('MLFLOW_DISABLE_TELEMETRY', None); import autoencoder_pipelines.hooks; "
            "from mlflow.telemetry import get_telemetry_client; print(get_telemetry_client())")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "PYTEST_CURRENT_TEST", "CI")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "None"
