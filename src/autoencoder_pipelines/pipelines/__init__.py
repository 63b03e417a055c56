"""Project pipelines, one package each (found by kedro's find_pipelines), and the wiring the
training phases share."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from kedro.pipeline import Node, node


def training_node(
    func: Callable[..., Any], outputs: list[str] | str, name: str, params: dict[str, str], **inputs: str
) -> Node:
    """A training phase: the split's training and validation rows, the schema and the resolved
    runtime, the parameter sections `params` ({argument: section}), and `inputs` by argument."""
    given = {"train": "train_set", "val": "val_set", "schema": "data_schema", "runtime": "runtime",
             **{argument: f"params:{section}" for argument, section in params.items()}, **inputs}
    # In the function's own order: Kedro reads the type hints of `params:` inputs by position.
    wiring = {argument: given[argument] for argument in inspect.signature(func).parameters}
    return node(func, wiring, outputs, name=name)
