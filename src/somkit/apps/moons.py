"""moons: a 1 x 20 chain on one moon, radius 0 (clumped) vs radius 2 (even).

With radius 0 each unit only chases its own samples (k-means): the units
clump where the data is dense and consecutive units of the chain can be far
apart. A radius of 2 pulls neighbours along, so the chain follows the moon
with evenly spaced units (and pulls its two ends in from the tips).
"""

from __future__ import annotations

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import consecutive_cv, figure

NAME = "moons"
TITLE = "A 1 x 20 chain on one moon: radius 0 vs radius 2"


def run(
    random_state=0,
    quick=False,
    n_samples=200,
    noise=0.05,
    n_units=20,
    radii=(0.0, 2.0),
    n_epochs=None,
    **som_kwargs,
):
    """Fit a chain of ``n_units`` with each radius in ``radii`` on one moon.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the data and of the maps.
    quick : bool, default=False
        Fewer epochs.
    n_samples, noise
        The moon (:func:`somkit.datasets.one_moon`).
    n_units : int, default=20
        Length of the chain.
    radii : pair of float, default=(0, 2)
        Constant neighbourhood radii compared.
    n_epochs : int, optional
        Batch epochs (default 20, 10 when quick).
    **som_kwargs
        Other :class:`~somkit.SOM` parameters.

    Returns
    -------
    AppResult
        Figure ``chains``; per radius r metrics ``cv_radius{r}`` (coefficient
        of variation, std / mean, of the distances between consecutive units:
        lower = more evenly spread), ``qe_radius{r}`` and
        ``empty_units_radius{r}``.

    Examples
    --------
    >>> from somkit.apps import moons
    >>> m = moons.run(quick=True).metrics
    >>> m["cv_radius2"] < m["cv_radius0"]
    True
    """
    from somkit import SOM, plot
    from somkit.datasets import one_moon

    X = one_moon(n_samples, noise=noise, random_state=random_state)
    n_epochs = n_epochs or (10 if quick else 20)
    metrics = {}
    fig, axes = figure(11, 4.2, ncols=len(radii))
    for r, ax in zip(radii, np.atleast_1d(axes), strict=True):
        kw = {"n_epochs": n_epochs, "random_state": random_state, **som_kwargs}
        som = SOM(grid=n_units, radius=float(r), **kw).fit(X)
        key = f"radius{r:g}"
        hits = np.bincount(som.labels_, minlength=n_units)
        metrics[f"cv_{key}"] = consecutive_cv(som.codebook_)
        metrics[f"qe_{key}"] = som.quantization_error(X)
        metrics[f"empty_units_{key}"] = int((hits == 0).sum())
        plot.grid_in_data(som, X, ax=ax, point_kw={"s": 8})
        ax.set_title(f"radius {r:g}: spacing CV {metrics[f'cv_{key}']:.2f}")
        ax.set_aspect("equal")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    lo, hi = (f"radius{r:g}" for r in radii[:2])
    text = (
        f"A chain of {n_units} units on one moon ({len(X)} points). Radius "
        f"{radii[0]:g}: the spacing between consecutive units varies by "
        f"{metrics[f'cv_{lo}']:.2f} (coefficient of variation); radius "
        f"{radii[1]:g}: by {metrics[f'cv_{hi}']:.2f}, the units are spread evenly "
        "along the moon at the cost of a slightly higher quantization error "
        f"({metrics[f'qe_{hi}']:.3f} vs {metrics[f'qe_{lo}']:.3f})."
    )
    return AppResult(NAME, TITLE, {"chains": fig}, metrics, text)
