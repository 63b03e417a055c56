"""Kedro loads the project's commands from `<package>.cli` (framework/cli.py defines them): `cli`
for `kedro ...` in the project, `run` for a packaged project (`python -m autoencoder_pipelines`)."""

from autoencoder_pipelines.framework.cli import cli, run

__all__ = ["cli", "run"]
