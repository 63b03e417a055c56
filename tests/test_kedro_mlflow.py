"""A kedro-mlflow user's mlflow.yml: refused before any node in one block that names each of its keys
and what stands for it here (docs/kedro-mlflow.md); this project's own keys still load."""

from __future__ import annotations

import pytest
import yaml

from autoencoder_pipelines.config import KEDRO_MLFLOW_KEYS, TrackingConfig
from autoencoder_pipelines.data.errors import ConfigError

# What `kedro mlflow init` writes (kedro-mlflow 2.0.3's template, comments left out).
KEDRO_MLFLOW_YML = """
server:
  mlflow_tracking_uri: null
  mlflow_registry_uri: null
  credentials: null
  request_header_provider:
    type: null
    pass_context: False
    init_kwargs: {}
tracking:
  disable_tracking:
    disable_autologging: True
    pipelines: []
  experiment:
    name: autoencoder_pipelines
    create_experiment_kwargs:
      artifact_location: null
      tags: null
    restore_if_deleted: True
  run:
    id: null
    name: null
    nested: True
  params:
    dict_params:
      flatten: False
      recursive: True
      sep: "."
    long_params_strategy: fail
ui:
  port: "5000"
  host: "127.0.0.1"
"""


def test_the_project_keys_load():
    config = TrackingConfig.from_conf({"tracking_uri": "sqlite:///x.db", "experiment": "e", "disable_for_pipelines": []})
    assert (config.tracking_uri, config.experiment, config.disable_for_pipelines) == ("sqlite:///x.db", "e", [])
    assert TrackingConfig.from_conf(None) == TrackingConfig()


def test_a_kedro_mlflow_file_is_refused_naming_each_key_and_its_equivalent():
    with pytest.raises(ConfigError) as refused:
        TrackingConfig.from_conf(yaml.safe_load(KEDRO_MLFLOW_YML))
    message = refused.value.message
    lines = message.splitlines()
    assert lines[0].startswith("mlflow.yml is kedro-mlflow's format")
    assert lines[-1].startswith("Expected: tracking_uri, experiment, disable_for_pipelines")
    mapped = {line.split("->")[0].strip(): line.split("->")[1].strip() for line in lines[1:-1]}
    assert mapped == KEDRO_MLFLOW_KEYS  # every key of the template, each with what stands for it
    assert mapped["server.mlflow_tracking_uri"].startswith("tracking_uri")
    assert mapped["tracking.experiment.name"] == "experiment"
    assert mapped["tracking.disable_tracking.pipelines"] == "disable_for_pipelines"


def test_only_the_keys_given_are_named_and_a_block_of_unknown_keys_too():
    with pytest.raises(ConfigError) as refused:
        TrackingConfig.from_conf({"experiment": "e", "tracking": {"experiment": {"name": "x"}}, "ui": {"colour": "red"}})
    lines = refused.value.message.splitlines()[1:-1]
    assert [line.split("->")[0].strip() for line in lines] == ["tracking.experiment.name", "ui.*"]
    assert lines[1].split("->")[1].strip() == "none"


def test_any_other_unknown_key_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"^Invalid parameters: mlflow\.experiment_name: unknown key \(did you mean 'exp"):
        TrackingConfig.from_conf({"experiment_name": "typo"})


def test_kedro_run_with_a_kedro_mlflow_file_prints_the_block_and_opens_no_run(make_project):
    project = make_project()
    project.path("conf/local/mlflow.yml").write_text(KEDRO_MLFLOW_YML)
    result = project.kedro("run", "--pipelines=data_processing")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "mlflow.yml is kedro-mlflow's format" in output
    assert "server.mlflow_tracking_uri" in output and "-> tracking_uri" in output
    assert "Traceback" not in output
    assert not project.path("data/02_intermediate/validated_data.parquet").exists()
    assert project.runs() == []
