"""U-matrix: distances between the codebook vectors of adjacent units.

Two views of the same numbers:

* ``umatrix(som)`` is grid-shaped: each unit holds the mean (or median, or
  max) of the distances from its codebook vector to those of its adjacent
  units (``som.grid_.edges()``: 4 on rect, 6 on hex, 2 on a chain, 6 in 3-D;
  wrap-around neighbours included on periodic maps).
* ``umatrix(som, expanded=True)`` (1-D and 2-D grids) puts a cell between
  every pair of adjacent units, see :func:`umatrix` for the layout.

Distances use the map's own metric: euclidean (plain, not squared),
cosine (``1 - cos``), manhattan, chebyshev. ``metric="dot"`` is a similarity,
not a distance (``-a.b`` is not zero between equal vectors), so dot-product
maps use the euclidean distance between codebook vectors.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.exceptions import NotFittedError

from somkit._layers import is_layered, search_metric
from somkit._registry import METRICS as _METRICS

_REDUCE = ("mean", "median", "max")
# Rows per block of row-wise distances (bounds the temporary difference array).
_BLOCK_ELEMENTS = 1 << 22


def umatrix(som, expanded=False, reduce="mean"):
    """Distances between adjacent units of a fitted map (the U-matrix).

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
        Any object with ``codebook_``, ``grid_`` (a ``somkit._grid.Grid``) and
        ``metric``.
    expanded : bool, default=False
        False: one value per unit, shaped like the grid (1-D, 2-D or 3-D).
        True: a cell between every pair of adjacent units (1-D and 2-D grids
        only):

        * chain of N units: ``2N - 1`` cells; even cells are units, odd cells
          the distance between the two units on either side;
        * rect (R, C): a ``(2R - 1, 2C - 1)`` array. Cell ``(2r, 2c)`` is unit
          ``(r, c)``; ``(2r, 2c + 1)`` the distance between units ``(r, c)``
          and ``(r, c + 1)``; ``(2r + 1, 2c)`` between ``(r, c)`` and
          ``(r + 1, c)``; ``(2r + 1, 2c + 1)`` the mean of the two diagonal
          distances ``(r, c)-(r + 1, c + 1)`` and ``(r, c + 1)-(r + 1, c)``;
        * hex (R, C): also ``(2R - 1, 2C - 1)``. Even rows are unit rows as on
          rect (unit cells and the edges between row neighbours). Odd row
          ``2r + 1`` holds the ``2C - 1`` edges between unit rows ``r`` and
          ``r + 1``, ordered left to right: cell ``k`` is the edge whose
          midpoint lies at column position ``k / 2 + 0.25``. Every cell sits
          at the midpoint of its edge (or on its unit), so the cells form a
          hexagonal lattice of half the map's spacing with no holes (see
          :func:`expanded_positions`).

        Unit cells hold the non-expanded value of their unit (``reduce`` of
        the distances to its adjacent units, i.e. of its surrounding edge
        cells, plus the wrap-around edges of a periodic map, which have no
        cell of their own).
    reduce : {"mean", "median", "max"}, default="mean"
        How a unit combines the distances to its adjacent units.

    Returns
    -------
    U : ndarray of float64
        Shape ``som.grid_.shape``, or the expanded shape described above.
        A unit without neighbours (a single-unit map) holds NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, umatrix
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> som = SOM((4, 5), n_epochs=3, random_state=0).fit(X)
    >>> umatrix(som).shape
    (4, 5)
    >>> umatrix(som, expanded=True).shape
    (7, 9)
    """
    W, grid, metric = _check_som(som)
    if not isinstance(expanded, bool | np.bool_):
        raise TypeError(f"expanded must be a bool, got {expanded!r}.")
    if not isinstance(reduce, str) or reduce not in _REDUCE:
        raise ValueError(f"reduce must be one of {_REDUCE}, got {reduce!r}.")
    if expanded and grid.ndim > 2:
        raise ValueError(
            "expanded=True needs a 1-D or 2-D grid; got grid shape "
            f"{grid.shape!r} (use expanded=False for 3-D maps)."
        )

    edges = grid.edges()
    d = edge_distances(W, edges[:, 0], edges[:, 1], metric)
    units = _reduce_per_unit(grid.n_units, edges, d, reduce).reshape(grid.shape)
    if not expanded:
        return units

    if grid.ndim == 1:
        n = grid.shape[0]
        out = np.empty(2 * n - 1)
        out[0::2] = units
        i = np.arange(n - 1)
        out[1::2] = edge_distances(W, i, i + 1, metric)
        return out

    R, C = grid.shape
    idx = np.arange(grid.n_units).reshape(R, C)
    out = np.empty((2 * R - 1, 2 * C - 1))
    out[0::2, 0::2] = units
    # Row neighbours (both topologies).
    out[0::2, 1::2] = _dist_grid(W, idx[:, :-1], idx[:, 1:], metric)
    if grid.topology == "rect":
        out[1::2, 0::2] = _dist_grid(W, idx[:-1, :], idx[1:, :], metric)
        out[1::2, 1::2] = 0.5 * (
            _dist_grid(W, idx[:-1, :-1], idx[1:, 1:], metric)
            + _dist_grid(W, idx[:-1, 1:], idx[1:, :-1], metric)
        )
        return out
    # hex: edges between unit rows r and r + 1.
    upper, lower = _hex_between_rows(R, C)
    out[1::2, :] = _dist_grid(W, upper, lower, metric)
    return out


def _hex_between_rows(R, C):
    """Unit indices (upper, lower) of the hex edges between consecutive rows.

    Arrays of shape (R - 1, 2C - 1); column ``k`` is the edge whose midpoint
    lies at column position ``k / 2 + 0.25``. Units of an even row r sit at
    ``c``, of an odd row at ``c + 0.5``, so the midpoint of an edge between
    upper column ``a`` and lower column ``b`` is at ``(a + b + 0.5) / 2``:
    ``a + b = k``. Even k: ``a = b = k / 2``. Odd k: the unit of the even row
    has the larger column.
    """
    r = np.arange(R - 1)[:, None]
    k = np.arange(2 * C - 1)[None, :]
    half_lo, half_hi = k // 2, (k + 1) // 2
    odd_k = (k % 2) == 1
    even_row = (r % 2) == 0
    a = np.where(odd_k & even_row, half_hi, half_lo)
    b = np.where(odd_k & ~even_row, half_hi, half_lo)
    return r * C + a, (r + 1) * C + b


def expanded_positions(grid):
    """Grid-space positions of the cells of ``umatrix(expanded=True)``.

    Returns an array of shape ``expanded_shape + (grid.ndim,)`` with the row
    coordinate first, in the units of ``grid.positions``: unit cells sit on
    their unit, edge cells on the midpoint of their edge, rect diagonal cells
    on the centre of their square. rect: cell ``(i, k)`` at ``(i / 2, k / 2)``.
    hex: cell ``(i, k)`` at ``(i * sqrt(3) / 4, k / 2 + s)`` with ``s`` 0, 0.25,
    0.5, 0.25 for ``i % 4`` 0, 1, 2, 3 (the lattice of half spacing).
    """
    if grid.ndim == 1:
        return (np.arange(2 * grid.shape[0] - 1) / 2.0)[:, None]
    if grid.ndim != 2:
        raise ValueError(
            f"expanded U-matrix cells need a 1-D or 2-D grid, got {grid.shape!r}."
        )
    R, C = grid.shape
    i = np.arange(2 * R - 1)[:, None] * np.ones((1, 2 * C - 1))
    k = np.arange(2 * C - 1)[None, :] * np.ones((2 * R - 1, 1))
    if grid.topology == "rect":
        return np.stack([i / 2.0, k / 2.0], axis=-1)
    shift = np.array([0.0, 0.25, 0.5, 0.25])[i.astype(int) % 4]
    return np.stack([i * (math.sqrt(3) / 4), k / 2.0 + shift], axis=-1)


# ----------------------------------------------------------------- helpers
def _check_som(model):
    from somkit._model import unwrap

    som, _ = unwrap(model)
    if not hasattr(som, "codebook_") or not hasattr(som, "grid_"):
        raise NotFittedError(
            "this SOM is not fitted yet: call fit before computing a U-matrix."
        )
    W = np.asarray(som.codebook_, dtype=np.float64)
    grid = som.grid_
    metric = search_metric(som) if hasattr(som, "metric") else "euclidean"
    if isinstance(metric, str) and metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}.")
    if W.ndim != 2 or W.shape[0] != grid.n_units:
        raise ValueError(
            f"codebook_ has shape {W.shape}, expected ({grid.n_units}, n_features)."
        )
    return W, grid, metric


def edge_distances(W, i, j, metric):
    """Distances between codebook rows ``W[i]`` and ``W[j]``, pair by pair.

    Built in blocks so the temporary stays small on large maps. "dot" maps
    use the euclidean distance (see the module docstring).
    """
    i = np.asarray(i, dtype=np.int64).ravel()
    j = np.asarray(j, dtype=np.int64).ravel()
    W = np.asarray(W, dtype=np.float64)
    if is_layered(metric):
        # a layered map: its combined distance (prediction layers)
        return metric.rowwise(W[i], W[j])
    if metric == "cosine":
        norms = np.linalg.norm(W, axis=1)
        norms[norms == 0] = 1.0
        W = W / norms[:, None]
    out = np.empty(len(i))
    step = max(1, _BLOCK_ELEMENTS // max(W.shape[1], 1))
    for a in range(0, len(i), step):
        A, B = W[i[a : a + step]], W[j[a : a + step]]
        if metric == "cosine":
            out[a : a + step] = np.maximum(1.0 - np.einsum("ij,ij->i", A, B), 0.0)
            continue
        diff = A - B
        if metric in ("euclidean", "dot"):
            out[a : a + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        elif metric == "manhattan":
            out[a : a + step] = np.abs(diff).sum(axis=1)
        else:  # chebyshev
            out[a : a + step] = (
                np.abs(diff).max(axis=1) if diff.shape[1] else np.zeros(len(diff))
            )
    return out


def _dist_grid(W, i, j, metric):
    """:func:`edge_distances` for index arrays of any (equal) shape."""
    i = np.asarray(i)
    return edge_distances(W, i, j, metric).reshape(i.shape)


def _reduce_per_unit(n_units, edges, d, reduce):
    """Per unit, ``reduce`` of the distances on its incident edges."""
    unit = np.concatenate([edges[:, 0], edges[:, 1]])
    dist = np.concatenate([d, d])
    counts = np.bincount(unit, minlength=n_units)
    out = np.full(n_units, np.nan)
    has = counts > 0
    if reduce == "mean":
        sums = np.bincount(unit, weights=dist, minlength=n_units)
        out[has] = sums[has] / counts[has]
        return out
    if reduce == "max":
        np.fmax.at(out, unit, dist)
        return out
    # median: sort by (unit, distance), then take the middle of each group.
    order = np.lexsort((dist, unit))
    dist = dist[order]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo = start + (counts - 1) // 2
    hi = start + counts // 2
    out[has] = 0.5 * (dist[lo[has]] + dist[hi[has]])
    return out
