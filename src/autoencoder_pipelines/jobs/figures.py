"""Figures: matplotlib headless, imported when a figure is drawn, and the marker of a figure
that does not apply to a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Figure = Any  # matplotlib.figure.Figure (matplotlib is imported when a figure is drawn)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: CI, cron, servers
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class NotApplicable:
    """What a figure node returns when its figure does not apply to the run (Kedro cannot save
    None): the figure datasets (tracking.datasets.ArtifactDataset) neither write nor log it."""

    title: str
    reason: str

    def __str__(self) -> str:
        return f"{self.title.lower()} does not apply: {self.reason}"


def placeholder(title: str, reason: str) -> NotApplicable:
    """The stand-in for the figure `title`, which does not apply to this run for `reason`."""
    return NotApplicable(title, reason)
