"""Every benchmark script imports against today's package (what it imports inside functions
too), and the three behind issue 29's defaults run at their smallest: a refactor that renames or
reshapes what a benchmark uses fails here, not on the day someone measures
(schedule_and_stopping.py imported a node that had moved; anomaly_candidates.py called
train_detector with arguments it no longer takes)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(script: str, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # they import each other's table builders
    spec = importlib.util.spec_from_file_location(f"benchmark_{Path(script).stem}", BENCHMARKS / script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.py")), ids=lambda path: path.name)
def test_the_benchmark_imports(script, monkeypatch):
    module = _load(script.name, monkeypatch)  # module level only: main() runs under __main__
    assert module.__doc__, f"{script.name}: say what it measures"


@pytest.mark.parametrize("script, args, expected", [
    ("anomaly_baselines.py", ["--seeds", "1", "--tables", "wine_2", "--no-pyod"], "shortfall ROC-AUC: mean"),
    ("anomaly_candidates.py", ["--seeds", "1", "--tables", "wine_2", "--networks", "pca_code"], "pca_code:max_mahalanobis"),
    ("schedule_and_stopping.py", ["--tables", "digits", "--seeds", "42", "--variants", "default", "--random-init",
                                  "--bare-epochs", "1"], "digits   default      pretrained"),
], ids=["anomaly_baselines", "anomaly_candidates", "schedule_and_stopping"])
def test_the_issue_29_benchmarks_run_at_their_smallest(script, args, expected, monkeypatch, capsys):
    """The benchmarks behind the detector's and the fine-tuning's defaults run, not only import."""
    module = _load(script, monkeypatch)
    monkeypatch.setattr(sys, "argv", [script, *args])
    module.main()
    assert expected in capsys.readouterr().out


def _package_imports(script: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from autoencoder_pipelines... import name` in the script,
    those inside functions too (a benchmark imports some only where it needs them)."""
    found = []
    for statement in ast.walk(ast.parse(script.read_text())):
        if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("autoencoder_pipelines"):
            found += [(statement.module, alias.name) for alias in statement.names]
    return found


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.py")), ids=lambda path: path.name)
def test_what_the_benchmark_imports_from_the_package_exists(script):
    def exists(module: str, name: str) -> bool:
        found = importlib.import_module(module)
        return hasattr(found, name) or (hasattr(found, "__path__")  # a package's submodule
                                        and importlib.util.find_spec(f"{module}.{name}") is not None)

    missing = [f"{module}.{name}" for module, name in _package_imports(script) if not exists(module, name)]
    assert not missing, f"{script.name} imports what the package no longer has: {missing}"


def test_the_shortfall_standard_error_is_paired_over_the_seeds(monkeypatch):
    """Two seeds of one table: the gaps to the better baseline (PCA here) are -0.02 and -0.04,
    their standard error 0.01, and the 95% half-width t(0.975, 1) x 0.01 = 0.127."""
    module = _load("anomaly_baselines.py", monkeypatch)
    table = pd.DataFrame({"table": ["t", "t"], "seed": [0, 1], "ae_roc": [0.90, 0.80],
                          "if_roc": [0.70, 0.70], "pca_roc": [0.92, 0.84]})
    means = table.groupby("table").mean(numeric_only=True)
    error, interval = module.standard_errors(table, means)
    assert error["t"] == pytest.approx(0.01) and interval["t"] == pytest.approx(0.127062, abs=1e-5)
