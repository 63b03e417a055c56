"""Kedro loads the project's commands from `<package>.cli` (framework/cli.py defines them)."""

from autoencoder_pipelines.framework.cli import cli

__all__ = ["cli"]
