"""Parameters: one source of defaults, and bad values refused before any work, in one line
naming key path, value and rule."""

import glob
import re
from pathlib import Path

import pytest
import yaml

from autoencoder_pipelines.config import (
    SECTIONS,
    ConfigError,
    ModelParams,
    validate_parameters,
)
from autoencoder_pipelines.jobs.autoencoders import check_kind_settings
from autoencoder_pipelines.nn.kinds import get_kind, kind_names

REPO = Path(__file__).resolve().parents[1]


def _base_parameters() -> dict:
    parameters: dict = {}
    for path in sorted(glob.glob(str(REPO / "conf/base/parameters*.yml"))):
        parameters.update(yaml.safe_load(Path(path).read_text()))
    return parameters


def _runtime_params_resolved(value):
    """The YAML's `${runtime_params:<option>, <default>}` as a run without that option sees it."""
    if not isinstance(value, str):
        return value
    value = re.sub(r"\$\{runtime_params:\w+, (\w+)\}", r"\1", value)
    return None if value == "null" else value


def test_the_yaml_shows_exactly_the_pydantic_defaults():
    parameters = _base_parameters()
    assert set(parameters) == set(SECTIONS)
    for key, model in SECTIONS.items():
        shown = {k: _runtime_params_resolved(v) for k, v in parameters[key].items()}
        defaults = model().model_dump()
        if key == "model":
            for kind in kind_names():
                assert shown.pop(kind, {}) == get_kind(kind).Options().model_dump(), f"model.{kind}"
        assert shown == defaults, key


def test_a_kinds_options_are_checked_against_its_own_schema():
    with pytest.raises(ConfigError, match=r"model.sparse.weight: Input should be greater than or equal to 0 \(got -1\)"):
        check_kind_settings(ModelParams(kind="denoising", sparse={"weight": -1}))
    with pytest.raises(ConfigError, match=r"model.vae.betta: unknown key \(did you mean 'beta'\?\)"):
        check_kind_settings(ModelParams(kind="vae", vae={"betta": 2}))
    with pytest.raises(ConfigError, match="sparsity 'kl' needs codes in"):
        check_kind_settings(ModelParams(kind="sparse", sparse={"sparsity": "kl"}))
    assert check_kind_settings(ModelParams(kind="sparse", sparse={"weight": 0.1})).name == "sparse"


def test_config_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, autoencoder_pipelines.config as c; c.validate_parameters({}); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_the_scoring_experiment_is_named_after_the_model_unless_set():
    from autoencoder_pipelines.config import RegistryParams

    assert RegistryParams().experiment == "autoencoder-pipelines-scoring"
    assert RegistryParams(model_name="fraud").experiment == "fraud-scoring"
    assert RegistryParams(scoring_experiment="nightly").experiment == "nightly"


def test_the_parameters_are_read_once_into_their_typed_sections(tmp_path):
    """framework.config_loader: every section is its pydantic model as soon as the parameters
    are read (Kedro's own validation of typed node inputs then passes them through), the run
    options stay as given, and a bad value fails the read naming its key path."""
    from autoencoder_pipelines.config import ModelParams, RegistryParams
    from autoencoder_pipelines.framework.config_loader import TypedConfigLoader

    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "parameters.yml").write_text("model:\n  hidden_sizes: [8, 4]\n")
    loader = TypedConfigLoader(str(conf), base_env="base", default_run_env="local", runtime_params={"data_dir": "elsewhere"})
    parameters = loader["parameters"]
    assert isinstance(parameters["model"], ModelParams) and parameters["model"].hidden_sizes == [8, 4]
    assert isinstance(parameters["registry"], RegistryParams) and parameters["data_dir"] == "elsewhere"
    assert loader["parameters"]["model"] is parameters["model"]  # parsed once
    assert ModelParams.model_validate(parameters["model"]) is parameters["model"]  # what Kedro's validation does
    (conf / "local" / "parameters.yml").write_text("model:\n  hidden_sizes: [8, 0]\n")
    with pytest.raises(ConfigError, match=r"model.hidden_sizes: every hidden size must be >= 1 \(got \[8, 0\]\)"):
        TypedConfigLoader(str(conf), base_env="base", default_run_env="local")["parameters"]


def test_a_mistyped_key_is_named_with_the_key_it_is_closest_to():
    with pytest.raises(ConfigError, match=r"^Invalid parameters: data.label_colum: unknown key \(did you mean 'label_column'"):
        validate_parameters({"data": {"label_colum": "y"}})
    with pytest.raises(ConfigError, match=r"finetune.input_corruption.kindd: unknown key \(did you mean 'kind'\?\)"):
        validate_parameters({"finetune": {"input_corruption": {"kindd": "gaussian"}}})
    with pytest.raises(ConfigError, match=r"model: unknown key 'kindd' \(did you mean 'kind'\?\)"):
        validate_parameters({"model": {"kindd": "sparse"}})
    with pytest.raises(ConfigError, match=r"data.zzzz: unknown key; known: source, path, "):  # nothing close: every key
        validate_parameters({"data": {"zzzz": 1}})


def test_a_feature_column_named_twice_is_refused():
    with pytest.raises(ConfigError, match=r"data.feature_columns names \['a'\] more than once"):
        validate_parameters({"data": {"source": "csv", "path": "x.csv", "feature_columns": ["a", "a", "b"]}})
