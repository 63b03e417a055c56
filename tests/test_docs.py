"""The documentation: every parameter described, the generated reference complete, every
parameter commented in the YAML, README short and starting with the commands CI runs. (The site
itself is built with `mkdocs build --strict` in .ci/run: broken links and anchors fail there.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

REPO = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "scripts" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = _hooks()


def test_every_parameter_has_a_description():
    undescribed = [path for path, field in HOOKS.every_field() if not (field.description or "").strip()]
    assert not undescribed, f"fields without a description (Field(description=...)): {undescribed}"


def test_the_check_finds_a_field_without_a_description():
    class Section(BaseModel):
        described: int = Field(1, description="What it does.")
        bare: int = 2

    found = {path: field.description for path, field, _, _ in HOOKS.fields(Section, "section")}
    assert found == {"section.described": "What it does.", "section.bare": None}


def test_the_reference_lists_every_field_with_its_default():
    page = HOOKS.render()
    fields = list(HOOKS.every_field())
    assert len(fields) > 150
    for path, _ in fields:
        assert f"| `{path}` |" in page, path
    # nested keys show their block's default, not the nested model's own
    assert "| `finetune.input_corruption.kind` | none \\| masking \\| salt_and_pepper \\| gaussian | `gaussian` |" in page
    assert "| `tune.space.learning_rate` | range or list of numbers or null | `0.3..3 log` |" in page
    assert "| `model.sparse.weight` | number | `0.001` |" in page
    assert "| `tracking_uri` | text or null | `null` |" in page  # mlflow.yml's keys sit at the top


def test_the_reference_page_keeps_its_marker():
    page = (REPO / "docs" / HOOKS.PAGE).read_text()
    assert page.count(HOOKS.MARKER) == 1

    class Page:
        class file:
            src_uri = HOOKS.PAGE

    assert HOOKS.MARKER not in HOOKS.on_page_markdown(page, page=Page)
    with pytest.raises(ValueError, match="lost its marker"):
        HOOKS.on_page_markdown("# Parameters\n", page=Page)


def _leaf_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line, key, has a comment) of every parameter: a key with a value, not a block."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines, 1):
        match = re.match(r"^(\s*)([A-Za-z_][\w.]*):(.*)$", line)
        if not match:
            continue
        value = match.group(3).split("#")[0].strip()
        following = next((later for later in lines[number:] if later.strip() and not later.strip().startswith("#")), "")
        if not value and following.startswith(match.group(1) + " "):
            continue  # a block: its keys are the parameters
        found.append((number, match.group(2), "#" in match.group(3)))
    return found


@pytest.mark.parametrize("path", sorted((REPO / "conf" / "base").glob("parameters*.yml")), ids=lambda p: p.name)
def test_every_parameter_in_the_yaml_has_a_comment(path):
    uncommented = [f"{path.name}:{line} {key}" for line, key, comment in _leaf_lines(path.read_text()) if not comment]
    assert not uncommented, f"parameters without a comment on their line: {uncommented}"


def test_the_comment_check_can_fail():
    text = "block:\n  a: 1  # said\n  b: 2\n  nested:\n    c: 3  # said\n"
    assert [(key, comment) for _, key, comment in _leaf_lines(text)] == [("a", True), ("b", False), ("c", True)]


def test_readme_is_short_and_starts_with_the_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines()[0].startswith("./scripts/setup.sh && .venv/bin/kedro run --pipelines=denoise")
    assert first_block.splitlines()[1].startswith("./scripts/setup.sh && .venv/bin/python -m pytest")
    assert "./scripts/setup.sh && .venv/bin/python -m pytest" in (REPO / ".ci" / "run").read_text()


def test_readme_links_to_docs_pages_that_exist():
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    assert [t for t in targets if not (REPO / t).exists()] == []

