"""breast-cancer: a 20 x 20 map of 569 tumours (30 features) with class markers.

The U-matrix shows each unit's mean distance to its neighbours: dark ridges
are gaps in the data, light basins are clusters. Markers show which units
won malignant and which won benign tumours: the two classes occupy two
regions of the map, mixed only where the regions meet. The expanded
U-matrix draws a cell between every pair of adjacent units, so the ridges
are seen where they are.
"""

from __future__ import annotations

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import figure, unit_purity

NAME = "breast-cancer"
TITLE = "Breast cancer: U-matrix with class markers, and the expanded U-matrix"


def run(random_state=0, quick=False, grid=(20, 20), n_epochs=None, **som_kwargs):
    """Fit a map on the standardised Wisconsin breast-cancer data.

    Parameters
    ----------
    random_state : int, default=0
    quick : bool, default=False
        Fewer epochs (10 instead of 20).
    grid : tuple, default=(20, 20)
    n_epochs : int, optional
    **som_kwargs
        Other :class:`~somkit.SOM` parameters (e.g. ``topology="hex"``).

    Returns
    -------
    AppResult
        Figures ``umatrix_labels`` and ``umatrix_expanded``; metrics
        ``purity`` (share of non-empty units whose tumours share one class),
        ``purity_2plus`` (the same over units holding at least 2 tumours),
        ``nonempty_units``, ``qe`` and ``te``.

    Examples
    --------
    >>> from somkit.apps import breast_cancer
    >>> breast_cancer.run(quick=True).metrics["purity"] > 0.9
    True
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    from somkit import SOM, plot

    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data)
    y = data.target_names[data.target]
    n_epochs = n_epochs or (10 if quick else 20)
    kw = {"n_epochs": n_epochs, "random_state": random_state, **som_kwargs}
    som = SOM(grid=grid, **kw).fit(X)
    n_units = som.grid_.n_units
    hits = np.bincount(som.labels_, minlength=n_units)
    metrics = {
        "purity": unit_purity(som.labels_, y, n_units),
        "purity_2plus": unit_purity(som.labels_, y, n_units, min_hits=2),
        "nonempty_units": int((hits > 0).sum()),
        "qe": som.quantization_error(X),
        "te": som.topographic_error(X),
    }

    fig1, ax = figure(8, 6.5)
    plot.umatrix(som, ax=ax)
    plot.labels(
        som,
        X,
        y,
        ax=ax,
        background=None,
        markers={"malignant": "X", "benign": "o"},
        colors={"malignant": "tab:red", "benign": "tab:green"},
        size=60,
    )
    ax.set_title(
        f"U-matrix and classes ({metrics['purity']:.0%} of the non-empty units "
        "hold one class)"
    )
    fig2, ax = figure(8, 6.5)
    plot.umatrix(som, expanded=True, ax=ax)
    ax.set_title("Expanded U-matrix (a cell between every pair of adjacent units)")

    text = (
        f"{len(X)} tumours, 30 standardised features, a {grid[0]}x{grid[1]} map. "
        f"{metrics['nonempty_units']} units won at least one tumour; "
        f"{metrics['purity']:.1%} of them hold a single class "
        f"({metrics['purity_2plus']:.1%} of those holding two or more). Benign "
        "and malignant tumours occupy two regions of the map; the few mixed units "
        "lie where the regions meet."
    )
    figures = {"umatrix_labels": fig1, "umatrix_expanded": fig2}
    return AppResult(NAME, TITLE, figures, metrics, text)
