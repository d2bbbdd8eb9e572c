"""Data reduction: one real sample per unit of a self-organizing map."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array

from somkit import _kernels
from somkit._grid import _check_shape
from somkit._layers import search_metric
from somkit._rules import default_radius

__all__ = ["reduce"]

#: Final radius of the default schedule: small, so that the units spread over
#: the data like k-means centres and few units are left empty.
FINAL_RADIUS = 0.5
#: Default number of batch epochs.
N_EPOCHS = 20


def reduce(X, grid, random_state=None, *, return_som=False, **som_kwargs):
    """Indices of a small representative subset of X: one real sample per unit.

    Trains a :class:`~somkit.SOM` on X (by default down to a final radius of
    0.5 grid units, so the units spread over the data almost like k-means
    centres) and picks, for each unit, the sample nearest to it among the
    samples it wins. A unit that wins no sample (a gap between clusters)
    takes the nearest sample not picked by another unit. The picks are
    therefore distinct whenever X has at least as many samples as the map has
    units; they follow the density of the data and the map's order, so they
    make a good small set to label by hand.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    grid : int or tuple of 1 to 3 ints
        Number of units (an int gives the most square 2-D grid with exactly
        that many units, e.g. 100 -> (10, 10); a prime gives a chain) or the
        grid shape.
    random_state : int, Generator or None, default=None
        Seed of the map's training.
    return_som : bool, default=False
        Also return the fitted map.
    **som_kwargs
        Other :class:`~somkit.SOM` parameters (``topology``, ``metric``,
        ``radius``, ``n_epochs``, ...). Defaults differ from SOM's: ``radius``
        decays linearly from a quarter of the largest grid side (at least 1)
        to 0.5 and ``n_epochs=20``.

    Returns
    -------
    indices : ndarray of shape (n_units,), int64
        Row of X picked by each unit, in the map's flat unit order.
    som : SOM
        The fitted map (only with ``return_som=True``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> import somkit
    >>> X = load_digits().data
    >>> idx = somkit.reduce(X, 100, random_state=0)
    >>> idx.shape, len(set(idx.tolist()))
    ((100,), 100)
    """
    from somkit._som import SOM

    if "grid" in som_kwargs:
        raise TypeError("reduce() got the grid twice: pass it only as `grid`.")
    shape = _grid_shape(grid)
    X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=1)
    kwargs = {"n_epochs": N_EPOCHS, "radius": default_radius(shape, FINAL_RADIUS)}
    kwargs.update(som_kwargs)
    som = SOM(grid=shape, random_state=random_state, **kwargs).fit(X)
    indices = pick_samples(som, X)
    return (indices, som) if return_som else indices


def pick_samples(som, X):
    """For each unit of a fitted map, the index of one sample of X.

    The sample nearest the unit among those it wins (ties -> lowest index);
    a unit winning none takes the nearest sample not yet picked (greedily,
    closest pairs first), or simply the nearest sample once every sample has
    been picked.

    Returns
    -------
    indices : ndarray of shape (n_units,), int64
    """
    X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=1)
    n = X.shape[0]
    n_units = som.grid_.n_units
    bmu = np.asarray(som.predict(X))
    dist = -np.asarray(som.score_samples(X), dtype=np.float64)
    order = np.lexsort((np.arange(n), dist, bmu))
    first = np.ones(n, dtype=bool)
    first[1:] = bmu[order][1:] != bmu[order][:-1]
    chosen = order[first]
    indices = np.full(n_units, -1, dtype=np.int64)
    indices[bmu[chosen]] = chosen
    empty = np.flatnonzero(indices < 0)
    if len(empty):
        indices[empty] = _fill_empty(som, X, empty, taken=chosen)
    return indices


def _fill_empty(som, X, empty, taken):
    """Greedy nearest untaken sample for each empty unit (closest pairs first)."""
    n = X.shape[0]
    W = som.codebook_[empty]
    # Enough candidates per unit that an untaken one is always among them.
    k = min(n, len(taken) + len(empty))
    cand_d = np.empty((len(empty), 0))
    cand_i = np.empty((len(empty), 0), dtype=np.int64)
    rows = _kernels.chunk_rows(len(empty))
    for start in range(0, n, rows):
        D = _kernels.pairwise_distances(
            np.asarray(X[start : start + rows]), W, search_metric(som)
        ).T
        idx = np.broadcast_to(np.arange(start, start + D.shape[1]), D.shape)
        cand_d = np.concatenate([cand_d, D], axis=1)
        cand_i = np.concatenate([cand_i, idx], axis=1)
        if cand_d.shape[1] > k:
            keep = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
            cand_d = np.take_along_axis(cand_d, keep, axis=1)
            cand_i = np.take_along_axis(cand_i, keep, axis=1)
    used = np.zeros(n, dtype=bool)
    used[taken] = True
    out = np.full(len(empty), -1, dtype=np.int64)
    units = np.repeat(np.arange(len(empty)), cand_d.shape[1])
    samples = cand_i.ravel()
    for p in np.lexsort((samples, units, cand_d.ravel())):
        u, s = units[p], samples[p]
        if out[u] < 0 and not used[s]:
            out[u] = s
            used[s] = True
    # Fewer samples than units: the rest share their nearest sample.
    rest = out < 0
    out[rest] = cand_i[rest, 0]
    return out


def _grid_shape(grid):
    """An int n -> the most square (rows, cols) with rows * cols == n."""
    if isinstance(grid, Integral) and not isinstance(grid, bool):
        n = int(grid)
        if n < 1:
            raise ValueError(f"grid must be a positive number of units, got {grid}.")
        rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
        return (n,) if rows == 1 else (rows, n // rows)
    if isinstance(grid, tuple | list):
        return _check_shape(tuple(grid))
    raise ValueError(
        f"grid must be an int (number of units) or a tuple of ints, got {grid!r}."
    )
