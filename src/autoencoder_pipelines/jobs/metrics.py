"""Metrics as the pipelines pass them on: flat dicts whose keys name their phase
(`finetune.test_accuracy`, `anomaly.roc_auc`), one per node that measures, gathered by each
pipeline into one (`collect_metrics`), and by the reporting pipeline into metrics.json."""

from __future__ import annotations

from typing import Any

Metrics = dict[str, Any]


def collect_metrics(*parts: Metrics) -> Metrics:
    """A pipeline's metric parts as one dict (its keys are namespaced already), sorted by key."""
    return dict(sorted((key, value) for part in parts for key, value in part.items()))
