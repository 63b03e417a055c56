"""notebooks/example.ipynb runs top to bottom on a tiny trained project."""

import json
from pathlib import Path

import pytest

from tests.test_pipeline_integration import TINY, make_project, run_pipeline

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "example.ipynb"


def test_example_notebook_runs_top_to_bottom(tmp_path):
    root = make_project(tmp_path, {**TINY, "reduction": {**TINY["reduction"], "sweep_code_sizes": []}})
    uri = run_pipeline(root)
    cells = [cell for cell in json.loads(NOTEBOOK.read_text())["cells"] if cell["cell_type"] == "code"]
    assert len(cells) >= 5
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("AEP_PROJECT", str(root))
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        for number, cell in enumerate(cells, start=1):
            source = "".join(cell["source"])
            try:
                exec(compile(source, f"{NOTEBOOK.name} cell {number}", "exec"), namespace)
            except Exception as error:  # name the cell that broke
                pytest.fail(f"cell {number} failed: {type(error).__name__}: {error}\n{source}")
    assert "finetune.test_accuracy" in namespace["metrics"].index
    assert len(namespace["figures"]) >= 8
    assert len(namespace["runs"]) == 1
    assert len(namespace["history"]) == TINY["denoiser"]["epochs"]
