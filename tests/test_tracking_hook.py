from kedro_mlflow.framework.hooks import MlflowHook as KedroMlflowHook
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from autoencoder_pipelines.tracking import MlflowHook


def test_node_parameters_are_batched_and_sent_once(monkeypatch):
    sent_one_by_one = []
    monkeypatch.setattr(KedroMlflowHook, "_log_param", lambda self, name, value: sent_one_by_one.append(name))
    hook = MlflowHook()
    hook._logged_params = {"model.code_size": "24"}  # logged at an earlier node
    hook._pending_params = {}
    hook._log_param("model.code_size", 24)
    hook._log_param("corruption.level", 0.25)
    hook._log_param("notes", "x" * (MAX_PARAM_VAL_LENGTH + 1))
    assert hook._pending_params == {"corruption.level": "0.25"}
    # too long for a parameter: kedro-mlflow's own strategy (fail, tag or truncate) decides
    assert sent_one_by_one == ["notes"]
