"""grid-types: 10 x 10 rect vs hex maps covering a disc; border shrinkage; outliers.

About 8000 points drawn uniformly in the unit disc. Both grids spread over
the disc, but every unit is a weighted mean of the points near it *and* of
its neighbours' points, so the map shrinks away from the border: its units
cover less than the disc. Points farther from their unit than 99% of the
training data (``SOM.decision_function < 0``) are flagged as outliers; they
are the points in the uncovered rim.
"""

from __future__ import annotations

import math

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import figure

NAME = "grid-types"
TITLE = "Rect vs hex grids on a disc: quantization error and border shrinkage"


def run(
    random_state=0,
    quick=False,
    n_samples=8000,
    grid=(10, 10),
    radius=(5.0, 1.0),
    n_epochs=None,
    **som_kwargs,
):
    """Fit a rect and a hex map on points in a disc, side by side.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the data and of the maps.
    quick : bool, default=False
        Fewer points (3000) and epochs (10).
    n_samples : int, default=8000
        Points in the unit disc (:func:`somkit.datasets.disc`).
    grid : tuple, default=(10, 10)
    radius : default=(5, 1)
        Radius schedule of both maps (linear decay); a larger final radius
        shrinks the map more.
    n_epochs : int, optional
        Batch epochs (default 20, 10 when quick).
    **som_kwargs
        Other :class:`~somkit.SOM` parameters.

    Returns
    -------
    AppResult
        Figure ``grids``; for each topology t in (rect, hex) metrics
        ``qe_t``, ``te_t``, ``coverage_t`` (area of the convex hull of the
        units / area of the disc), ``outliers_t`` (number of points with
        ``decision_function < 0``) and ``outlier_min_radius_t`` (distance
        from the centre of the innermost flagged point; the disc has radius 1).

    Examples
    --------
    >>> from somkit.apps import grid_types
    >>> m = grid_types.run(quick=True).metrics
    >>> 0 < m["coverage_hex"] < 1
    True
    """
    from scipy.spatial import ConvexHull

    from somkit import SOM, plot
    from somkit.datasets import disc

    if quick:
        n_samples = min(n_samples, 3000)
    X = disc(n_samples, random_state=random_state)
    n_epochs = n_epochs or (10 if quick else 20)
    metrics = {}
    fig, axes = figure(11, 5.4, ncols=2)
    theta = np.linspace(0, 2 * np.pi, 361)
    for topology, ax in zip(("rect", "hex"), axes, strict=True):
        kw = {"n_epochs": n_epochs, "random_state": random_state, **som_kwargs}
        som = SOM(grid=grid, topology=topology, radius=radius, **kw).fit(X)
        flagged = som.decision_function(X) < 0
        radius_of = np.hypot(X[:, 0], X[:, 1])
        metrics[f"qe_{topology}"] = som.quantization_error(X)
        metrics[f"te_{topology}"] = som.topographic_error(X)
        metrics[f"coverage_{topology}"] = float(
            ConvexHull(som.codebook_).volume / math.pi
        )
        metrics[f"outliers_{topology}"] = int(flagged.sum())
        metrics[f"outlier_min_radius_{topology}"] = (
            float(radius_of[flagged].min()) if flagged.any() else float("nan")
        )
        plot.grid_in_data(som, X, ax=ax, point_kw={"s": 2, "alpha": 0.4})
        ax.plot(np.cos(theta), np.sin(theta), color="0.3", lw=1, label="disc border")
        ax.scatter(
            *X[flagged].T,
            s=14,
            marker="x",
            color="tab:orange",
            zorder=4,
            label="outliers (decision_function < 0)",
        )
        ax.set_aspect("equal")
        ax.set_title(
            f"{topology} {grid[0]}x{grid[1]}: QE {metrics[f'qe_{topology}']:.3f}, "
            f"covers {metrics[f'coverage_{topology}']:.0%} of the disc"
        )
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(
        handles,
        names,
        loc="outside lower center",
        ncols=len(names),
        fontsize=8,
        markerscale=2,
    )
    text = (
        f"{len(X)} points in the unit disc. Quantization error: rect "
        f"{metrics['qe_rect']:.3f}, hex {metrics['qe_hex']:.3f}; topographic "
        f"error: rect {metrics['te_rect']:.3f}, hex {metrics['te_hex']:.3f}. "
        "Border shrinkage: the convex hull of the units covers "
        f"{metrics['coverage_rect']:.0%} (rect) and {metrics['coverage_hex']:.0%} "
        "(hex) of the disc. The points farther from their unit than 99% of the "
        f"data ({metrics['outliers_hex']} on the hex map) all lie at radius >= "
        f"{metrics['outlier_min_radius_hex']:.2f}: the rim the map does not reach."
    )
    return AppResult(NAME, TITLE, {"grids": fig}, metrics, text)
