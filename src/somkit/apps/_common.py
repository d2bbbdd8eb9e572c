"""Helpers shared by the seed applications (figures, purity)."""

from __future__ import annotations

import numpy as np


def figure(width, height, ncols=1, **kw):
    """A new Figure (not registered with pyplot) and its Axes.

    Figures made this way are freed with their last reference, so running
    many applications never trips pyplot's open-figure warning.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, **kw)
    return fig, axes


def unit_purity(bmu, y, n_units, min_hits=1):
    """Share of units winning ``>= min_hits`` samples whose samples share one class.

    Parameters
    ----------
    bmu : array of shape (n_samples,)
        Unit index of each sample.
    y : array of shape (n_samples,)
        Class of each sample.
    n_units : int
    min_hits : int, default=1
        Units with fewer samples are left out (1: every non-empty unit).

    Returns
    -------
    purity : float
        NaN when no unit has ``min_hits`` samples.
    """
    bmu = np.asarray(bmu)
    _, yi = np.unique(np.asarray(y), return_inverse=True)
    k = int(yi.max()) + 1 if len(yi) else 1
    counts = np.bincount(bmu * k + yi, minlength=n_units * k).reshape(n_units, k)
    hits = counts.sum(axis=1)
    keep = hits >= min_hits
    if not keep.any():
        return float("nan")
    single = (counts > 0).sum(axis=1) == 1
    return float(single[keep].mean())


def consecutive_cv(W):
    """Coefficient of variation (std / mean) of distances between consecutive units."""
    d = np.linalg.norm(np.diff(np.asarray(W, dtype=np.float64), axis=0), axis=1)
    return float(d.std() / d.mean())


def epochs(quick, full, fast):
    """Epoch count: ``fast`` when ``quick``, else ``full``."""
    return fast if quick else full
