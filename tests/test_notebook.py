"""notebooks/example.ipynb runs top to bottom on a tiny trained project."""

import json
import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "example.ipynb"


def test_example_notebook_runs_top_to_bottom(trained_project, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(trained_project.root, root)
    cells = [cell for cell in json.loads(NOTEBOOK.read_text())["cells"] if cell["cell_type"] == "code"]
    assert len(cells) >= 5
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("AEP_PROJECT", str(root))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        for number, cell in enumerate(cells, start=1):
            source = "".join(cell["source"])
            try:
                exec(compile(source, f"{NOTEBOOK.name} cell {number}", "exec"), namespace)
            except Exception as error:  # noqa: BLE001 - name the cell that broke
                pytest.fail(f"cell {number} failed: {type(error).__name__}: {error}\n{source}")
    assert "finetune.test_accuracy" in namespace["metrics"].index
    assert len(namespace["figures"]) >= 8
    assert len(namespace["runs"]) == 1
    assert namespace["runs"]["metrics.test/finetune.test_accuracy"].notna().all()  # the names the runs have
    assert len(namespace["history"]) == 3  # the tiny config's denoiser epochs
