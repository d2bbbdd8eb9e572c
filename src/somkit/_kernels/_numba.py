"""Compiled per-row loops of the numpy backend (numba, serial, GIL released).

Metrics arrive as ids of ``somkit._registry.METRIC_ID``: 0 euclidean,
1 cosine, 2 dot, 3 manhattan, 4 chebyshev.

Rows with holes (NaN, ``SOM(missing="ignore")``) are measured over their
observed features only (:func:`masked_distance`); sums then add observed
values only, with a weight per unit and feature.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from somkit._grid import EPS as _GRID_EPS
from somkit._kernels._cache import CACHE
from somkit._registry import METRIC_ID

EUCLIDEAN = METRIC_ID["euclidean"]
COSINE = METRIC_ID["cosine"]
DOT = METRIC_ID["dot"]
MANHATTAN = METRIC_ID["manhattan"]
CHEBYSHEV = METRIC_ID["chebyshev"]


@numba.njit(nogil=True, cache=CACHE)
def top2_scores(S, bias, idx1, idx2):
    """Per row, the two lowest ``S[i, j] + bias[j]`` (ties -> lowest j)."""
    n, m = S.shape
    for i in range(n):
        b1 = np.inf
        b2 = np.inf
        j1 = 0
        j2 = 0
        for j in range(m):
            v = S[i, j] + bias[j]
            # v >= b2 for almost every unit: one comparison on the common path
            if v < b2:
                if v < b1:
                    b2 = b1
                    j2 = j1
                    b1 = v
                    j1 = j
                else:
                    b2 = v
                    j2 = j
        idx1[i] = j1
        idx2[i] = j2 if m > 1 else j1


@numba.njit(nogil=True, cache=CACHE, inline="always", fastmath={"reassoc", "nsz"})
def row_distance(C, W, i, j, metric):
    """Distance of row ``C[i]`` to unit ``W[j]`` in float64.

    The one definition of a sample-unit distance on this backend: euclidean
    (plain), cosine ``max(0, 1 - c.w)`` on unit rows, dot ``-c.w``,
    manhattan, chebyshev. Differences of float32 values are exact in float64.
    """
    d = C.shape[1]
    acc = 0.0
    if metric == EUCLIDEAN:
        for k in range(d):
            t = np.float64(C[i, k]) - np.float64(W[j, k])
            acc += t * t
        return math.sqrt(acc)
    if metric == COSINE or metric == DOT:
        for k in range(d):
            acc += np.float64(C[i, k]) * np.float64(W[j, k])
        return max(0.0, 1.0 - acc) if metric == COSINE else -acc
    if metric == MANHATTAN:
        for k in range(d):
            acc += abs(np.float64(C[i, k]) - np.float64(W[j, k]))
        return acc
    for k in range(d):
        t = abs(np.float64(C[i, k]) - np.float64(W[j, k]))
        if t > acc:
            acc = t
    return acc


@numba.njit(nogil=True, cache=CACHE, inline="always", fastmath={"reassoc", "nsz"})
def masked_distance(C, W, i, j, metric):
    """Distance of row ``C[i]`` to unit ``W[j]`` over the row's observed features.

    NaN entries of ``C[i]`` are holes. Sums of per-feature terms are rescaled
    by ``n_features / n_observed`` (as the SOM Toolbox and R's kohonen do):
    euclidean ``sqrt(d/o * sum (c - w)^2)``, manhattan ``d/o * sum |c - w|``,
    dot ``-d/o * sum c w``; chebyshev is the largest observed ``|c - w|``
    and cosine the cosine of the observed parts, ``1 - c.w / |w_obs|`` (the
    row is normalised over its observed features). NaN if nothing is
    observed. Without holes this is :func:`row_distance`.
    """
    d = C.shape[1]
    acc = 0.0
    nrm = 0.0
    seen = 0
    for k in range(d):
        c = np.float64(C[i, k])
        if c != c:
            continue
        seen += 1
        w = np.float64(W[j, k])
        if metric == EUCLIDEAN:
            acc += (c - w) * (c - w)
        elif metric == COSINE or metric == DOT:
            acc += c * w
            nrm += w * w
        elif metric == MANHATTAN:
            acc += abs(c - w)
        else:
            acc = max(acc, abs(c - w))
    if seen == 0:
        return np.nan
    scale = d / seen
    if metric == EUCLIDEAN:
        return math.sqrt(acc * scale)
    if metric == COSINE:
        return max(0.0, 1.0 - acc / math.sqrt(nrm)) if nrm > 0.0 else 1.0
    if metric == DOT:
        return -acc * scale
    if metric == MANHATTAN:
        return acc * scale
    return acc


@numba.njit(nogil=True, cache=CACHE)
def top2_direct(X, W, metric, idx1, idx2, masked=False):
    """Top-2 BMUs for the non-GEMM metrics (manhattan, chebyshev) by loops.

    ``masked``: rows may hold holes (NaN), measured by :func:`masked_distance`.
    """
    n = X.shape[0]
    m = W.shape[0]
    for i in range(n):
        b1 = np.inf
        b2 = np.inf
        j1 = 0
        j2 = 0
        for j in range(m):
            if masked:
                acc = masked_distance(X, W, i, j, metric)
            else:
                acc = row_distance(X, W, i, j, metric)
            if acc < b1:
                b2 = b1
                j2 = j1
                b1 = acc
                j1 = j
            elif acc < b2:
                b2 = acc
                j2 = j
        idx1[i] = j1
        idx2[i] = j2 if m > 1 else j1


@numba.njit(nogil=True, cache=CACHE)
def pair_distances(C, W, idx, metric, out):
    """``out[i]`` = distance of row i to unit ``idx[i]`` (:func:`row_distance`)."""
    for i in range(C.shape[0]):
        out[i] = row_distance(C, W, i, idx[i], metric)


@numba.njit(nogil=True, cache=CACHE)
def masked_pairwise(C, W, metric, out):
    """``out[i, j]`` = :func:`masked_distance` of row i to unit j."""
    for i in range(C.shape[0]):
        for j in range(W.shape[0]):
            out[i, j] = masked_distance(C, W, i, j, metric)


@numba.njit(nogil=True, cache=CACHE, inline="always")
def grid_dist2(pos, period, periodic, j, j2):
    """Squared grid distance of units j and j2 (wrapped on periodic grids)."""
    d2 = 0.0
    for a in range(pos.shape[1]):
        delta = abs(pos[j, a] - pos[j2, a])
        if periodic:
            delta = min(delta, period[a] - delta)
        d2 += delta * delta
    return d2


@numba.njit(nogil=True, cache=CACHE)
def adjacent(pos, period, periodic, j, j2, limit):
    """Units j and j2 are distinct and at most ``limit`` apart on the grid."""
    g = math.sqrt(grid_dist2(pos, period, periodic, j, j2))
    return g > _GRID_EPS and g <= limit + _GRID_EPS


@numba.njit(nogil=True, cache=CACHE, fastmath={"reassoc", "nsz"})
def finish_rows(
    C,
    W,
    idx1,
    idx2,
    sw,
    metric,
    dist,
    sums,
    wsum,
    pos,
    period,
    periodic,
    te_limit,
    masked=False,
):
    """Per row of a chunk: exact distance to its BMU, unit sums, TE count.

    ``dist[i]`` is the distance of row i to unit ``idx1[i]``
    (:func:`row_distance`; with ``masked``, :func:`masked_distance`). ``C``
    and ``W`` must be C-contiguous: strided views compile to a loop that
    does not vectorise. When ``sums`` has rows, ``sums[j] += sw[i] C[i]``
    and ``wsum[j, 0] += sw[i]`` (float64; ``wsum`` has shape (n_units, 1));
    with ``masked``, only observed values are added and ``wsum`` (n_units,
    n_features) counts the weight per feature. When ``te_limit >= 0``, rows
    whose two best units are farther apart than ``te_limit`` on the grid
    (or coincide) count as topographic errors.

    Returns (weighted distance sum, weighted TE count, total weight).
    """
    n, d = C.shape
    accumulate = sums.shape[0] > 0
    qe = 0.0
    te = 0.0
    tot = 0.0
    for i in range(n):
        j = idx1[i]
        if masked:
            r = masked_distance(C, W, i, j, metric)
        else:
            r = row_distance(C, W, i, j, metric)
        dist[i] = r
        w = sw[i]
        qe += w * r
        tot += w
        if accumulate and w != 0.0 and masked:
            for k in range(d):
                v = C[i, k]
                if v == v:
                    sums[j, k] += w * v
                    wsum[j, k] += w
        elif accumulate and w != 0.0:
            wsum[j, 0] += w
            for k in range(d):
                sums[j, k] += w * C[i, k]
        if te_limit >= 0.0 and not adjacent(
            pos, period, periodic, j, idx2[i], te_limit
        ):
            te += w
    return qe, te, tot


@numba.njit(nogil=True, cache=CACHE)
def accumulate(X, idx, sw, sums, wsum):
    """sums[idx[i]] += sw[i] * X[i]; wsum[idx[i]] += sw[i] (float64)."""
    n, d = X.shape
    for i in range(n):
        j = idx[i]
        w = sw[i]
        if w == 0.0:
            continue
        wsum[j] += w
        for k in range(d):
            sums[j, k] += w * X[i, k]
