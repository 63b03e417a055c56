"""Bad parameters fail before any work, in one line naming key path, value and rule."""

import pytest

from autoencoder_pipelines.config import ConfigError, validate_parameters


def _check(parameters, *fragments):
    with pytest.raises(ConfigError) as error:
        validate_parameters(parameters)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_defaults_are_valid():
    parsed = validate_parameters({})
    assert parsed["model"].hidden_sizes == [256, 128, 32]


def test_unknown_key():
    _check({"model": {"hidden_size": [3]}}, "model.hidden_size", "Extra inputs are not permitted")


def test_wrong_type():
    _check({"pretrain": {"epochs": "many"}}, "pretrain.epochs", "'many'", "valid integer")


def test_corruption_level_out_of_range():
    _check({"corruption": {"kind": "masking", "level": 1.5}}, "corruption.level", "(got 1.5)", "expected a value in [0, 1]")


def test_empty_hidden_sizes():
    _check({"model": {"hidden_sizes": []}}, "model.hidden_sizes", "at least 1 item")


def test_unknown_device():
    _check({"runtime": {"device": "tpu"}}, "runtime.device", "'tpu'", "auto, cpu, cuda, cuda:N, mps")


def test_unknown_choice():
    _check({"corruption": {"kind": "blur"}}, "corruption.kind", "'blur'", "'masking'")


def test_source_file_needs_a_path():
    _check({"data": {"source": "csv"}}, "data.path is required")


def test_layer_corruption_must_match_the_layers():
    _check(
        {"model": {"hidden_sizes": [8, 4]}, "pretrain": {"layer_corruption": [{"kind": "masking", "level": 0.1}]}},
        "pretrain.layer_corruption", "1 entries for 2 layers",
    )


def test_unknown_section():
    _check({"corruptoin": {"level": 0.1}}, "unknown section(s) ['corruptoin']", "corruption")
