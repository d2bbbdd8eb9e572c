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


@numba.njit(nogil=True, cache=CACHE, inline="always")
def sample_distance(C, W, i, j, metric, masked):
    """:func:`masked_distance` or :func:`row_distance`."""
    if masked:
        return masked_distance(C, W, i, j, metric)
    return row_distance(C, W, i, j, metric)


@numba.njit(nogil=True, cache=CACHE, inline="always")
def keep_two(e, j, d1, k1, d2, k2):
    """The best two ``(value, index)`` pairs after seeing ``(e, j)``.

    Strict comparisons: seen in increasing ``j``, ties keep the lower index.
    """
    if e < d2:
        if e < d1:
            return e, j, d1, k1
        return d1, k1, e, j
    return d1, k1, d2, k2


#: Lanes of the vectorised passes over a row of scores.
LANES = 16


@numba.njit(nogil=True, cache=CACHE, inline="always", fastmath={"reassoc", "nsz"})
def _norm(A, i):
    """Euclidean norm of row ``A[i]`` in float64."""
    acc = 0.0
    for k in range(A.shape[1]):
        v = np.float64(A[i, k])
        acc += v * v
    return math.sqrt(acc)


@numba.njit(nogil=True, cache=CACHE, fastmath={"nnan", "ninf", "nsz", "reassoc"})
def _block_minima(row, out):
    """``out[k]`` = the lowest value of ``row[k*LANES:(k+1)*LANES]``.

    Written as selects over a fixed number of lanes so that the compiler
    turns each block into vector minima (``row`` must be finite).
    """
    m = row.shape[0]
    full = m // LANES
    for k in range(full):
        j0 = k * LANES
        low = row[j0]
        for q in range(1, LANES):
            v = row[j0 + q]
            low = v if v < low else low
        out[k] = low
    if m > full * LANES:
        low = row[full * LANES]
        for j in range(full * LANES + 1, m):
            v = row[j]
            low = v if v < low else low
        out[full] = low


@numba.njit(nogil=True, cache=CACHE, fastmath={"reassoc", "nsz"})
def top2_exact(S, C, Cs, W, metric, second, tol, idx1, idx2, dist, masked=False):
    """Per row, the best (and second-best) unit by float64 distances.

    ``S`` holds scores that order the units like the distances up to
    rounding (euclidean: ``||w - s||^2 - 2 (x - s).(w - s)`` for a shift
    ``s``; dot and cosine: ``-x.w``), computed from ``Cs`` (``C - s``).
    ``tol`` is ``(b, c)``: twice a bound on the rounding error of a score
    of row i is ``e_i = b r + c`` with ``r = ||Cs[i]||``
    (:func:`somkit._kernels.score_tolerance`). Every unit whose score is
    within ``e_i`` of the second-lowest score (the lowest when ``second`` is False) is a
    candidate; the candidates' distances are recomputed in float64
    (:func:`row_distance`) and the best two win, ties to the lowest index.
    ``dist[i]`` gets the float64 distance to ``idx1[i]``. ``masked``: rows
    may hold holes (NaN), measured by :func:`masked_distance` (the scores
    then rank the units over each row's observed features).

    One vectorised pass per row finds the minimum of every block of
    ``LANES`` scores; the two lowest scores and the candidates come from
    those minima and the few blocks that reach under the limit.
    """
    n, m = S.shape
    b, c = tol
    nb = (m + LANES - 1) // LANES
    bm = np.empty(nb, dtype=S.dtype)
    for i in range(n):
        row = S[i]
        _block_minima(row, bm)
        # the lowest score and its block; the second lowest is another
        # block's minimum or in that block
        kb = 0
        for k in range(1, nb):
            if bm[k] < bm[kb]:
                kb = k
        b1 = bm[kb]
        b2 = np.inf
        for k in range(nb):
            if k != kb and bm[k] < b2:
                b2 = bm[k]
        j1 = -1
        for j in range(kb * LANES, min(kb * LANES + LANES, m)):
            if row[j] == b1 and j1 < 0:
                j1 = j
            elif row[j] < b2:
                b2 = row[j]
        e1 = sample_distance(C, W, i, j1, metric, masked)
        low = b2 if second and m > 1 else b1
        limit = np.float64(low) + (b * _norm(Cs, i) + c)
        # candidates: exact distances, the best two (ties -> lowest index)
        d1 = np.inf
        d2 = np.inf
        k1 = j1
        k2 = j1
        for k in range(nb):
            if bm[k] > limit:
                continue
            for j in range(k * LANES, min(k * LANES + LANES, m)):
                if row[j] <= limit:
                    e = e1 if j == j1 else sample_distance(C, W, i, j, metric, masked)
                    d1, k1, d2, k2 = keep_two(e, j, d1, k1, d2, k2)
        if d1 != d1 or d1 == np.inf:  # nothing observed: distance NaN
            k1 = k2 = j1
            d1 = e1
        idx1[i] = k1
        idx2[i] = k2 if m > 1 and second else k1
        dist[i] = d1


@numba.njit(nogil=True, cache=CACHE, fastmath={"reassoc", "nsz"})
def top2_direct(X, W, metric, idx1, idx2, dist, masked=False):
    """Top-2 BMUs and the BMU distance for the non-GEMM metrics by loops.

    Distances are :func:`row_distance`'s float64 values (``masked``: rows
    may hold holes, measured by :func:`masked_distance`); ties go to the
    lowest index.
    """
    n = X.shape[0]
    m = W.shape[0]
    for i in range(n):
        b1 = np.inf
        b2 = np.inf
        j1 = 0
        j2 = 0
        for j in range(m):
            acc = sample_distance(X, W, i, j, metric, masked)
            b1, j1, b2, j2 = keep_two(acc, j, b1, j1, b2, j2)
        idx1[i] = j1
        idx2[i] = j2 if m > 1 else j1
        dist[i] = b1 if b1 < np.inf else sample_distance(X, W, i, j1, metric, masked)


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
    idx1,
    idx2,
    sw,
    dist,
    sums,
    wsum,
    pos,
    period,
    periodic,
    te_limit,
    masked=False,
):
    """Per row of a chunk: QE, unit sums, TE count.

    ``dist[i]`` is the distance of row i to its BMU ``idx1[i]`` (from
    :func:`top2_exact` or :func:`top2_direct`). ``C`` must be C-contiguous:
    strided views compile to a loop that does not vectorise. When ``sums``
    has rows, ``sums[j] += sw[i] C[i]`` and ``wsum[j, 0] += sw[i]``
    (float64; ``wsum`` has shape (n_units, 1)); with ``masked``, only
    observed values are added and ``wsum`` (n_units, n_features) counts
    the weight per feature. When ``te_limit >= 0``, rows whose two best
    units are farther apart than ``te_limit`` on the grid (or coincide)
    count as topographic errors.

    Returns (weighted distance sum, weighted TE count, total weight).
    """
    n, d = C.shape
    accumulate = sums.shape[0] > 0
    qe = 0.0
    te = 0.0
    tot = 0.0
    for i in range(n):
        j = idx1[i]
        w = sw[i]
        qe += w * dist[i]
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
