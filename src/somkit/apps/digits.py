"""digits: a 40 x 40 map of the 1797 8 x 8 digit images, one image per unit.

Each unit shows the digit nearest to it among those it won; units that won no
digit stay white. With more units than the data strictly needs, these empty
units are the gaps between the groups of similar digits.
"""

from __future__ import annotations

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import figure, unit_purity

NAME = "digits"
TITLE = "Handwritten digits: one image per unit of a 40 x 40 map"


def run(random_state=0, quick=False, grid=(40, 40), n_epochs=None, **som_kwargs):
    """Fit a map on scikit-learn's 8 x 8 digits and draw one digit per unit.

    Parameters
    ----------
    random_state : int, default=0
    quick : bool, default=False
        Fewer epochs (5 instead of 10).
    grid : tuple, default=(40, 40)
    n_epochs : int, optional
    **som_kwargs
        Other :class:`~somkit.SOM` parameters.

    Returns
    -------
    AppResult
        Figure ``images``; metrics ``purity`` (share of non-empty units whose
        digits share one class), ``purity_2plus`` (over units with at least
        2 digits), ``nonempty_units``, ``empty_units``, ``qe`` and ``te``.

    Examples
    --------
    >>> from somkit.apps import digits
    >>> digits.run(quick=True).metrics["purity"] > 0.9
    True
    """
    from sklearn.datasets import load_digits

    from somkit import SOM, plot

    data = load_digits()
    X, y = data.data, data.target
    n_epochs = n_epochs or (5 if quick else 10)
    kw = {"n_epochs": n_epochs, "random_state": random_state, **som_kwargs}
    som = SOM(grid=grid, **kw).fit(X)
    n_units = som.grid_.n_units
    hits = np.bincount(som.labels_, minlength=n_units)
    metrics = {
        "purity": unit_purity(som.labels_, y, n_units),
        "purity_2plus": unit_purity(som.labels_, y, n_units, min_hits=2),
        "nonempty_units": int((hits > 0).sum()),
        "empty_units": int((hits == 0).sum()),
        "qe": som.quantization_error(X),
        "te": som.topographic_error(X),
    }
    fig, ax = figure(12, 12)
    plot.images(som, X, data.images, ax=ax, cmap="gray", gap_color="white")
    ax.set_title(
        f"{len(X)} digits on a {grid[0]}x{grid[1]} map: the digit nearest each "
        f"unit ({metrics['purity']:.0%} of the non-empty units hold one class)"
    )
    text = (
        f"{metrics['nonempty_units']} of the {n_units} units won at least one "
        f"digit; {metrics['purity']:.1%} of them hold a single class "
        f"({metrics['purity_2plus']:.1%} of those holding two or more). The "
        f"{metrics['empty_units']} empty (white) units separate the groups of "
        "similar digits."
    )
    return AppResult(NAME, TITLE, {"images": fig}, metrics, text)
