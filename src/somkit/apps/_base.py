"""Shared result type of the seed applications."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.figure

from somkit._atomic import save_figure


@dataclass
class AppResult:
    """What one seed application produced.

    Attributes
    ----------
    name : str
        Short name, as used by ``somkit demo NAME``.
    title : str
        One-line human title.
    figures : dict of str -> matplotlib.figure.Figure
        Figures keyed by a file stem (``"umatrix"`` -> ``umatrix.png``).
    metrics : dict of str -> float or str
        Numbers the application reports (purity, QE, ...).
    text : str
        A few sentences explaining what the figures show.
    """

    name: str
    title: str
    figures: dict[str, matplotlib.figure.Figure] = field(default_factory=dict)
    metrics: dict[str, object] = field(default_factory=dict)
    text: str = ""

    def save(self, directory, dpi=100):
        """Write every figure as ``<directory>/<stem>.png``; return the paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for stem, fig in self.figures.items():
            path = directory / f"{stem}.png"
            save_figure(fig, path, dpi=dpi, bbox_inches="tight")
            paths.append(path)
        return paths
