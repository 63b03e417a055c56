"""Figures: matplotlib headless, imported when a figure is drawn, and a placeholder figure."""

from __future__ import annotations

from typing import Any

Figure = Any  # matplotlib.figure.Figure (matplotlib is imported when a figure is drawn)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: CI, cron, servers
    import matplotlib.pyplot as plt

    return plt


def placeholder(title: str, reason: str) -> Figure:
    """Kedro cannot save None: a figure that says why there is nothing to show."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.4, reason, ha="center", va="center")
    return figure
