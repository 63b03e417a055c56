"""Kedro's config loader, with the parameters parsed once into their typed sections.

`config_loader["parameters"]` returns {section: its pydantic model (config.SECTIONS)} plus the
run options (data_dir, model_uri) as given: every consumer (the nodes' `params:` inputs, which
Kedro's own validation then passes through unchanged, the whole `parameters`, the hooks) gets
the same objects, from one parse per run. A bad parameter fails there, at the first read, in one
line naming its key path (config.ConfigError), before any catalog or MLflow run exists."""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader

from autoencoder_pipelines.config import validate_parameters


class TypedConfigLoader(OmegaConfigLoader):
    _typed: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key != "parameters":
            return super().__getitem__(key)
        if self._typed is None:
            raw = super().__getitem__(key)
            sections = validate_parameters(raw)
            self._typed = {**{k: v for k, v in raw.items() if k not in sections}, **sections}
        return dict(self._typed)
