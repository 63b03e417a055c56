"""Who may import whom (docs/architecture.md): each folder of the package is a layer, and a layer
imports only the layers below it. Imports inside functions count too: they are how torch and
MLflow stay out of start-up, not a way around the rule.

    nn, data            torch models (nn) and tables (data): the bottom, independent of each other
    config              the parameters' pydantic models
    jobs                what the pipelines do, as plain functions (no Kedro, no MLflow)
    tracking            the MLflow extension
    framework           the Kedro glue: hooks, CLI, datasets, locks, Spark, tools
    pipelines           nodes (pure functions) and their wiring
    Kedro's own files   settings, pipeline_registry, cli, __main__, __init__
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "autoencoder_pipelines"
NAME = PACKAGE.name
LAYERS = ["nn|data", "config", "jobs", "tracking", "framework", "pipelines", "kedro"]
KEDRO_FILES = {"__init__", "__main__", "settings", "pipeline_registry", "cli"}


def rank(layer: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if layer in names.split("|"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    top = module.split(".")[1] if "." in module else "__init__"
    return "kedro" if top in KEDRO_FILES else top


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The package's modules `path` imports, at module level or inside a function."""
    found: set[str] = set()
    module = module_name(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES and c != module)
    return found


GRAPH = {module: imports_of(path) for module, path in MODULES.items()}


def test_every_folder_of_the_package_is_a_known_layer():
    layers = {layer_of(module) for module in MODULES}
    known = {name for names in LAYERS for name in names.split("|")}
    assert layers <= known, f"modules outside the layers: {sorted(layers - known)} (add them to a layer, and to docs)"


def upward(module: str, targets: set[str]) -> list[str]:
    own = layer_of(module)
    return sorted(t for t in targets if layer_of(t) != own and rank(layer_of(t)) >= rank(own))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_the_layers_below(module):
    found = upward(module, GRAPH[module])
    assert not found, f"{module} ({layer_of(module)}) imports {found}: a layer imports only the layers below it"


def test_no_module_outside_pipelines_imports_a_node_module_and_no_pipeline_another_pipelines_nodes():
    wrong = []
    for module, targets in GRAPH.items():
        for target in targets:
            if not target.endswith(".nodes") or ".pipelines." not in target:
                continue
            same_pipeline = module.split(".")[:3] == target.split(".")[:3]
            if ".pipelines." not in module or not same_pipeline:
                wrong.append(f"{module} -> {target}")
    assert not wrong, f"shared code belongs in a library layer (jobs), not in another pipeline's nodes: {wrong}"


def test_there_is_no_import_cycle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_nn_is_plain_torch_and_data_has_no_torch_at_import():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        top_level = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top_level |= {(node.module or "").split(".")[0] for node in tree.body
                      if isinstance(node, ast.ImportFrom) and not node.level}
        if layer_of(module) == "nn":
            assert not top_level & {"kedro", "kedro_datasets", "mlflow"}, module
        if layer_of(module) == "data":
            assert "torch" not in top_level, f"{module} imports torch at import time"


def test_the_rule_catches_upward_and_sideways_imports():
    """The rule can fail: jobs importing tracking is upward; nn and data are independent."""
    assert upward(f"{NAME}.jobs.runtime", {f"{NAME}.tracking.hook", f"{NAME}.config"}) == [f"{NAME}.tracking.hook"]
    assert upward(f"{NAME}.nn.trainer", {f"{NAME}.data.frames"}) == [f"{NAME}.data.frames"]
    assert upward(f"{NAME}.pipelines.score.nodes", {f"{NAME}.framework.locks", f"{NAME}.jobs.scoring"}) == []
