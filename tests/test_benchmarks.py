"""Every benchmark script imports against today's package: a refactor that renames what a
benchmark uses fails here, not on the day someone measures (schedule_and_stopping.py imported
a node that had moved, and its figures could not be measured again)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.py")), ids=lambda path: path.name)
def test_the_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # they import each other's table builders
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # module level only: main() runs under __main__
    assert module.__doc__, f"{script.name}: say what it measures"
