"""Parameters: one source of defaults, and bad values refused before any work, in one line
naming key path, value and rule."""

import glob
from pathlib import Path

import pytest
import yaml

from autoencoder_pipelines.config import SECTIONS, ConfigError, ModelParams, validate_parameters
from autoencoder_pipelines.jobs import check_kind_settings
from autoencoder_pipelines.nn.kinds import get_kind, kind_names

REPO = Path(__file__).resolve().parents[1]


def _base_parameters() -> dict:
    parameters: dict = {}
    for path in sorted(glob.glob(str(REPO / "conf/base/parameters*.yml"))):
        parameters.update(yaml.safe_load(Path(path).read_text()))
    return parameters


def _runtime_params_resolved(value):
    """The YAML's `${runtime_params:data_dir, data}/...` as the default run sees it."""
    return value.replace("${runtime_params:data_dir, data}", "data") if isinstance(value, str) else value


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


def _check(parameters, *fragments):
    with pytest.raises(ConfigError) as error:
        validate_parameters(parameters)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "parameters, fragments",
    [
        ({"model": {"hidden_size": [3]}}, ["model: unknown key 'hidden_size'", "a block of options must be named after a kind"]),
        ({"pretrain": {"epochs": "many"}}, ["pretrain.epochs", "'many'", "valid integer"]),
        ({"corruption": {"kind": "masking", "level": 1.5}}, ["corruption.level", "(got 1.5)", "expected a value in [0, 1]"]),
        ({"model": {"hidden_sizes": []}}, ["model.hidden_sizes", "at least 1 item"]),
        ({"runtime": {"device": "tpu"}}, ["runtime.device", "'tpu'", "auto, cpu, cuda, cuda:N, mps"]),
        ({"corruption": {"kind": "blur"}}, ["corruption.kind", "'blur'", "'masking'"]),
        ({"model": {"kind": "gan"}}, ["model.kind", "'gan'", "contractive, conv, conv1d_vae, denoising"]),
        ({"data": {"source": "csv"}}, ["data.path is required"]),
        ({"model": {"hidden_sizes": [8, 4]}, "pretrain": {"layer_corruption": [{"kind": "masking", "level": 0.1}]}},
         ["pretrain.layer_corruption", "1 entries for 2 layers"]),
        ({"model": {"hidden_loss": "bce"}}, ["hidden_loss 'bce' needs codes in [0, 1]"]),
        ({"corruptoin": {"level": 0.1}}, ["unknown section(s) ['corruptoin']", "corruption"]),
    ],
)
def test_bad_parameters_are_refused_in_one_line(parameters, fragments):
    _check(parameters, *fragments)


def test_a_kinds_options_are_checked_against_its_own_schema():
    with pytest.raises(ConfigError, match=r"model.sparse.weight: Input should be greater than or equal to 0 \(got -1\)"):
        check_kind_settings(ModelParams(kind="denoising", sparse={"weight": -1}))
    with pytest.raises(ConfigError, match="model.vae.betta: Extra inputs are not permitted"):
        check_kind_settings(ModelParams(kind="vae", vae={"betta": 2}))
    with pytest.raises(ConfigError, match="sparsity 'kl' needs codes in"):
        check_kind_settings(ModelParams(kind="sparse", sparse={"sparsity": "kl"}))
    assert check_kind_settings(ModelParams(kind="sparse", sparse={"weight": 0.1})).name == "sparse"


def test_config_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, autoencoder_pipelines.config as c; c.validate_parameters({}); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
