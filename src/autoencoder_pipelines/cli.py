"""The project's command line: Kedro's own `kedro run`, with one change. Kedro splits --params
on every comma, so a list could not be given; here commas inside [...] stay in the value:

    kedro run --params="anomaly.normal_classes=[0,1],runtime.seed=3"
"""

from __future__ import annotations

import copy
from typing import Any

import click
from kedro.framework.cli.project import run as _kedro_run
from omegaconf import OmegaConf


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside [...] or {...}."""
    items, depth, current = [], 0, []
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def split_params(ctx: click.Context, param: Any, value: Any) -> Any:
    """key=value pairs, dotted keys nested, values parsed as YAML-ish by OmegaConf (lists too)."""
    if isinstance(value, dict):
        return value
    dotlist = []
    for item in split_top_level(value or ""):
        key, equals, val = item.partition("=")
        if not equals or not key.strip():
            ctx.fail(f"Invalid format of `--{param.name}`: `{item}` must be key=value (lists as key=[a,b]).")
        dotlist.append(f"{key.strip()}={val}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(dotlist))


run = copy.copy(_kedro_run)
run.params = [copy.copy(option) for option in _kedro_run.params]
for option in run.params:
    if option.name == "params":
        option.callback = split_params


@click.group(name="autoencoder_pipelines")
def cli() -> None:
    """autoencoder-pipelines commands."""


cli.add_command(run, "run")
