"""The report's numbers: quality of the map, per-row results, and warnings.

Every warning names what triggered it and gives advice that changes that
number: :func:`diagnose` returns the advice as parameters too, so the tests
refit with them and check that the warning goes away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Topographic error above this: the map is folded. Measured with the
#: adjacency of :func:`te_adjacency` (8 neighbours on rect grids), the
#: default settings stay far below it on iris, wine and penguins (rect and
#: hex: 0.000-0.039).
TE_LIMIT = 0.1
#: Share of units that win no sample above which the report warns.
EMPTY_LIMIT = 0.5
#: Share of units farther from every sample than the outlier threshold.
FAR_LIMIT = 0.1
#: Rows used for trustworthiness (quadratic in the number of rows).
TRUST_ROWS = 2000


def te_adjacency(grid):
    """``(adjacency, words)`` used for the report's topographic error.

    On rect grids the diagonal units count as neighbours too (8 on a 2-D
    map): a sample between four units often has its two closest units on a
    diagonal, which is no fold. Hex grids have 6 neighbours, chains 2.

    Examples
    --------
    >>> from somkit._grid import Grid
    >>> te_adjacency(Grid((3, 4)))
    ('diagonal', '8 neighbours (edges and diagonals)')
    """
    if grid.ndim == 1:
        return "edges", "2 neighbours (a chain)"
    if grid.topology == "hex":
        return "edges", "6 neighbours (hexagonal cells)"
    if grid.ndim == 2:
        return "diagonal", "8 neighbours (edges and diagonals)"
    return "diagonal", "18 neighbours (faces and edges of the cube)"


def map_statistics(som, X, random_state=0):
    """Quality numbers of ``som`` on (already scaled) ``X``.

    Returns a dict: quantization_error, topographic_error (with
    :func:`te_adjacency`; its words under "adjacency"), trustworthiness
    (None when there are too few rows; computed on at most
    :data:`TRUST_ROWS` rows), trust_rows, hits (per unit), empty_units,
    far_units (units farther from every sample than the map's outlier
    threshold; None for the "dot" metric), n_units, n_samples, and per row
    bmu and distance (to the BMU).
    """
    from somkit import metrics

    X = np.asarray(X)
    n = X.shape[0]
    n_units = som.grid_.n_units
    bmu = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    nearest = np.full(n_units, np.inf)
    step = max(1, min(n, 2**22 // max(n_units, 1)))
    for a in range(0, n, step):
        D = np.asarray(som.transform(X[a : a + step]), dtype=np.float64)
        bmu[a : a + step] = np.argmin(D, axis=1)
        dist[a : a + step] = D[np.arange(len(D)), bmu[a : a + step]]
        np.minimum(nearest, D.min(axis=0), out=nearest)
    hits = np.bincount(bmu, minlength=n_units)
    adjacency, words = te_adjacency(som.grid_)
    te = None
    if n_units > 1:
        te = float(metrics.topographic_error(som, X, adjacency=adjacency))
    trust, trust_rows = None, min(n, TRUST_ROWS)
    if trust_rows > 10:
        rows = np.arange(n)
        if n > TRUST_ROWS:
            rng = np.random.default_rng(random_state)
            rows = np.sort(rng.choice(n, TRUST_ROWS, replace=False))
        trust = float(metrics.trustworthiness(som, X[rows], n_neighbors=5))
    far = None
    threshold = getattr(som, "outlier_threshold_", None)
    if som.metric != "dot" and threshold is not None:
        far = int(np.sum(nearest > threshold))
    return {
        "quantization_error": float(dist.mean()),
        "topographic_error": te,
        "adjacency": words,
        "trustworthiness": trust,
        "trust_rows": trust_rows,
        "hits": hits,
        "empty_units": int(np.sum(hits == 0)),
        "far_units": far,
        "outlier_threshold": threshold,
        "n_units": n_units,
        "n_samples": n,
        "bmu": bmu,
        "distance": dist,
    }


# ----------------------------------------------------------------- warnings
@dataclass
class Finding:
    """One warning: its kind, its text, and the SOM parameters it advises.

    ``params`` are keyword arguments of :class:`somkit.SOM` (``set_params``)
    that the text recommends; empty when the advice is not a parameter.
    """

    kind: str
    text: str
    params: dict = field(default_factory=dict)


def _epochs(som):
    """Epochs the fitted map ran (its planned epochs for an unfitted one)."""
    return int(getattr(som, "n_iter_", 0) or som.n_epochs or 10)


def _radius(som):
    """(start, end) of the radius schedule used, or None."""
    schedule = getattr(som, "_radius_schedule_", None)
    if schedule is None:
        return None
    total = _epochs(som)
    values = schedule([0, max(total - 1, 0)], total)
    return float(values[0]), float(values[1])


def radius_words(som):
    """The radius schedule a fitted map used, in words.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM
    >>> som = SOM((8, 12), n_epochs=2).fit(np.eye(3))
    >>> print(radius_words(som))
    linear from 3 to 1.5 grid units (automatic: a quarter of the longest side
    down to 1.5)
    """
    schedule = getattr(som, "_radius_schedule_", None)
    if schedule is None:
        return "n/a"
    start, end = _radius(som)
    name = type(schedule).__name__
    shape = {
        "LinearDecay": "linear",
        "ExponentialDecay": "exponential",
        "Piecewise": "piecewise linear",
    }
    if start == end:
        text = f"constant {start:g} grid units"
    else:
        text = f"{shape.get(name, name)} from {start:g} to {end:g} grid units"
    rows = [r for r in som.history_.get("rows", []) if r is not None]
    if rows and min(rows) < max(rows):
        text += (
            " (the default schedule: ordering on random subsamples down to 1.5, "
            f"then {rows.count(max(rows))} epochs on every row)"
        )
    elif som.radius is None:
        text += " (automatic: a quarter of the longest side down to 1.5)"
    return text


def _settings(params, som):
    """The advised parameters as command-line options and Python."""
    cli, py = [], []
    for k, v in params.items():
        if k == "radius":
            cli.append(f"--radius {v[0]:g},{v[1]:g}")
        elif k == "n_epochs":
            cli.append(f"--epochs {v}")
        elif k == "grid":
            cli.append(f"--grid {'x'.join(map(str, v))}")
        else:
            cli.append(f"--{k.replace('_', '-')} {v}")
        py.append(f"{k}={v!r}")
    return f"{' '.join(cli)} on the command line, SOM({', '.join(py)}) in Python"


def _fold_advice(som):
    radius = _radius(som)
    reasons, params = [], {}
    if isinstance(som.init, str) and som.init != "pca":
        reasons.append(
            f"the map started from {som.init!r} positions, which are not ordered"
        )
        params["init"] = "pca"
    if radius is not None and radius[1] < 1.0:
        reasons.append(
            f"the radius ends at {radius[1]:g}, so at the end neighbouring units "
            "are no longer pulled together"
        )
        params["radius"] = (max(radius[0], max(som.grid_.shape) / 4.0, 1.0), 1.5)
    if not params and _epochs(som) < 10:
        reasons.append(f"training ran {_epochs(som)} epochs")
        params["n_epochs"] = 10
    if not params and radius is not None:
        reasons.append(f"the radius ends at {radius[1]:g}")
        params["radius"] = (max(radius[0], 2.0 * radius[1]), 2.0 * radius[1])
    if not params:
        return "", {}
    return (
        f" Here {' and '.join(reasons)}: use {_settings(params, som)}.",
        params,
    )


def diagnose(stats, som=None, X=None):
    """The report's warnings as :class:`Finding` objects.

    Parameters
    ----------
    stats : dict
        From :func:`map_statistics`.
    som : fitted SOM, optional
        Its parameters make the advice concrete (the settings to change).
    X : array-like, optional
        The (scaled) data, to size the smaller grid advised for empty units.
    """
    out = []
    te = stats["topographic_error"]
    words = stats.get("adjacency")
    if te is not None and te > TE_LIMIT:
        advice, params = _fold_advice(som) if som is not None else ("", {})
        counted = f" (counting {words} as neighbours)" if words else ""
        out.append(
            Finding(
                "folded",
                f"The map is folded: for {te:.0%} of the samples the two closest "
                f"units are not neighbours on the map{counted}, more than "
                f"{TE_LIMIT:.0%}. Nearby places on the map then do not always mean "
                f"similar data.{advice}",
                params,
            )
        )
    n_units = stats["n_units"]
    empty = stats["empty_units"]
    if n_units > 1 and empty / n_units > EMPTY_LIMIT:
        params, advice = {}, " A smaller grid gives a clearer picture."
        if som is not None and X is not None and som.grid_.ndim == 2:
            from somkit._rules import auto_grid

            grid = tuple(int(s) for s in auto_grid(np.asarray(X, dtype=np.float64)))
            if math.prod(grid) < n_units:
                params = {"grid": grid}
                advice = (
                    f" A grid of {grid[0]}x{grid[1]} (the automatic size for "
                    f"{stats['n_samples']} samples) gives a clearer picture: use "
                    f"{_settings(params, som)}."
                )
        out.append(
            Finding(
                "empty",
                f"Most units are empty: {empty} of {n_units} units "
                f"({empty / n_units:.0%}) are the closest unit of no sample. The "
                f"map is large for this much data.{advice}",
                params,
            )
        )
    far = stats["far_units"]
    if far is not None and n_units > 1 and far / n_units > FAR_LIMIT:
        params, advice = {}, ""
        radius = _radius(som) if som is not None else None
        if radius is not None and radius[1] > 0.5:
            params = {"radius": (max(radius[0], 0.5), 0.5)}
            advice = (
                f" The radius ends at {radius[1]:g}, which keeps units between the "
                "groups; a final radius of 0.5 lets them move into the data: use "
                f"{_settings(params, som)}."
            )
        out.append(
            Finding(
                "far",
                f"{far} of {n_units} units ({far / n_units:.0%}) are far from all "
                "data: every sample is farther from them than 99% of the samples "
                "are from their own unit. They sit in empty space between groups "
                "of data, so those parts of the map stand for no real samples."
                + advice,
                params,
            )
        )
    return out


def fit_warnings(stats, som=None, X=None):
    """Plain-words warnings about a poorly fitting map (list of str).

    See :func:`diagnose` for the arguments.
    """
    return [f.text for f in diagnose(stats, som, X)]


def all_clear(stats):
    """The sentence shown when :func:`diagnose` finds nothing."""
    te = stats["topographic_error"]
    folded = (
        "the map is not folded"
        if te is None
        else f"the map is not folded (topographic error {te:.1%}, counting "
        f"{stats.get('adjacency') or 'adjacent units'} as neighbours)"
    )
    n_units, empty = stats["n_units"], stats["empty_units"]
    return (
        f"No problems found: {folded}; {empty} of {n_units} units "
        f"({empty / max(n_units, 1):.0%}) are empty (at most "
        f"{EMPTY_LIMIT:.0%} is expected: empty units are the gaps between groups); "
        "no large part of the map lies away from the data."
    )
