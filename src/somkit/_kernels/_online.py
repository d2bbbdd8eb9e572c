"""The sequential (online) Kohonen rule, compiled with numba.

For each presented sample x with weight s:
``w_j += min(1, lr_t * s) * h(d(j, c), sigma_t) * (x - w_j)`` where c is the
BMU of x. ``lr_t`` and ``sigma_t`` are given per presentation, so schedules
advance per sample.

The arithmetic runs in the codebook's precision (float32 by default). Two
shortcuts leave the result unchanged in practice: the gaussian and the
mexican hat skip units with ``d^2 / sigma^2 > 100`` (float64: a step below
2e-22 of a full one) or ``> 41.6`` (float32: below 2**-30), under the last bit
of any codebook entry of ordinary size, and on
rect grids the gaussian is the product of one-axis factors looked up from a
per-step table, so a step costs ``max(shape)`` exponentials instead of
``n_units``.

Samples with holes (NaN; ``SOM(missing="ignore")``) find their BMU over
their observed features (cosine: the cosine of the observed parts) and move
the units along those features only; their distance for the running QE is
rescaled by ``n_features / n_observed`` as in
:func:`somkit._kernels._numba.masked_distance`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from somkit._kernels._cache import CACHE
from somkit._kernels._numba import (
    COSINE,
    DOT,
    EUCLIDEAN,
    MANHATTAN,
    adjacent,
    grid_dist2,
    keep_two,
    sample_distance,
)
from somkit._kernels._tolerance import gamma_bound
from somkit._neighborhood import TOLERANCE
from somkit._registry import NEIGHBORHOOD_ID

GAUSSIAN = NEIGHBORHOOD_ID["gaussian"]
BUBBLE = NEIGHBORHOOD_ID["bubble"]
CUT_GAUSSIAN = NEIGHBORHOOD_ID["cut_gaussian"]
MEXICAN_HAT = NEIGHBORHOOD_ID["mexican_hat"]
TRIANGLE = NEIGHBORHOOD_ID["triangle"]

#: Units with d^2 / sigma^2 beyond this get no gaussian / mexican-hat step
#: (h < 2e-22) with a float64 codebook ...
Q_MAX = 100.0
#: ... and beyond this with a float32 one (h < 2**-30, a step far below the
#: float32 rounding of the unit's own coordinates).
Q_MAX_FLOAT32 = 2.0 * 30 * math.log(2.0)


@numba.njit(cache=CACHE, inline="always")
def _h(nbh, d, sigma):
    """Neighbourhood ``nbh`` (an id) at grid distance ``d``: the scalar form of
    :func:`somkit._neighborhood.neighborhood` (tested against it)."""
    if sigma <= 0.0:
        return 1.0 if d <= TOLERANCE else 0.0
    if nbh == GAUSSIAN:
        return math.exp(-(d * d) / (2.0 * sigma * sigma))
    if nbh == BUBBLE:
        return 1.0 if d <= sigma + TOLERANCE else 0.0
    if nbh == CUT_GAUSSIAN:
        if d > sigma + TOLERANCE:
            return 0.0
        return math.exp(-(d * d) / (2.0 * sigma * sigma))
    if nbh == MEXICAN_HAT:
        q = (d * d) / (sigma * sigma)
        return (1.0 - q) * math.exp(-0.5 * q)
    if nbh == TRIANGLE:
        return max(0.0, 1.0 - d / sigma)
    return max(0.0, 1.0 - (d * d) / (sigma * sigma))


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _add_row(metric, xk, row, dist):
    """Add feature k's term of the distance to every unit (in order over k)."""
    m = row.shape[0]
    if metric == EUCLIDEAN:
        for j in range(m):
            diff = xk - row[j]
            dist[j] += diff * diff
    elif metric == COSINE or metric == DOT:
        for j in range(m):
            dist[j] -= xk * row[j]
    elif metric == MANHATTAN:
        for j in range(m):
            dist[j] += abs(xk - row[j])
    else:
        for j in range(m):
            dist[j] = max(dist[j], abs(xk - row[j]))


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _add_rows4(metric, x0, x1, x2, x3, r0, r1, r2, r3, dist):
    """Features k..k+3 of the distance to every unit at once.

    One load and store of ``dist`` per four terms instead of per term; the
    four terms are added pairwise, then to the running sum.
    """
    m = dist.shape[0]
    if metric == EUCLIDEAN:
        for j in range(m):
            a = x0 - r0[j]
            b = x1 - r1[j]
            c = x2 - r2[j]
            e = x3 - r3[j]
            dist[j] += (a * a + b * b) + (c * c + e * e)
    elif metric == COSINE or metric == DOT:
        for j in range(m):
            dist[j] -= (x0 * r0[j] + x1 * r1[j]) + (x2 * r2[j] + x3 * r3[j])
    elif metric == MANHATTAN:
        for j in range(m):
            dist[j] += (abs(x0 - r0[j]) + abs(x1 - r1[j])) + (
                abs(x2 - r2[j]) + abs(x3 - r3[j])
            )
    else:
        for j in range(m):
            dist[j] = max(
                dist[j],
                max(
                    max(abs(x0 - r0[j]), abs(x1 - r1[j])),
                    max(abs(x2 - r2[j]), abs(x3 - r3[j])),
                ),
            )


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _distances(metric, x, WT, dist):
    """dist[j] = distance term sum of x to every unit (dist zeroed here)."""
    d = WT.shape[0]
    for j in range(dist.shape[0]):
        dist[j] = 0
    d4 = d - d % 4
    for k in range(0, d4, 4):
        _add_group(metric, x, WT, k, dist)
    for k in range(d4, d):
        _add_row(metric, x[k], WT[k], dist)


@numba.njit(cache=CACHE, nogil=True)
def _distances_masked(metric, x, WT, dist, nrm):
    """:func:`_distances` over the observed (non-NaN) features of x.

    Cosine: ``-x.w / |w_obs|`` (x has unit norm over its observed part).
    Returns the number of observed features.
    """
    d = WT.shape[0]
    m = dist.shape[0]
    for j in range(m):
        dist[j] = 0
        nrm[j] = 0
    seen = 0
    for k in range(d):
        xk = x[k]
        if xk != xk:
            continue
        seen += 1
        _add_row(metric, xk, WT[k], dist)
        if metric == COSINE:
            row = WT[k]
            for j in range(m):
                nrm[j] += row[j] * row[j]
    if metric == COSINE:
        for j in range(m):
            dist[j] = dist[j] / math.sqrt(nrm[j]) if nrm[j] > 0 else 0.0
    return seen


@numba.njit(cache=CACHE, nogil=True)
def _measure(metric, X, t, holes, WT, dist, nrm):
    """Distance terms of sample t to every unit in ``dist`` (over its observed
    features when it has holes); they rank the units, and the shortlisted
    units' distances are recomputed exactly
    (:func:`somkit._kernels._numba.sample_distance`)."""
    if holes[t]:
        _distances_masked(metric, X[t], WT, dist, nrm)
    else:
        _distances(metric, X[t], WT, dist)


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _add_group(metric, x, WT, k, dist):
    """Features k..k+3 of x against rows k..k+3 of the transposed codebook."""
    _add_rows4(
        metric,
        x[k],
        x[k + 1],
        x[k + 2],
        x[k + 3],
        WT[k],
        WT[k + 1],
        WT[k + 2],
        WT[k + 3],
        dist,
    )


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _update_sq4(x0, x1, x2, x3, y0, y1, y2, y3, r0, r1, r2, r3, gs, dist):
    """Rows k..k+3 of the moving units: the step towards x, then the
    next sample y's squared-euclidean terms, in one sweep (the arithmetic of
    :func:`_step_row` and of :func:`_add_rows4`)."""
    for j in range(gs.shape[0]):
        g = gs[j]
        v0 = r0[j]
        v0 += g * (x0 - v0)
        r0[j] = v0
        v1 = r1[j]
        v1 += g * (x1 - v1)
        r1[j] = v1
        v2 = r2[j]
        v2 += g * (x2 - v2)
        r2[j] = v2
        v3 = r3[j]
        v3 += g * (x3 - v3)
        r3[j] = v3
        a = y0 - v0
        b = y1 - v1
        c = y2 - v2
        e = y3 - v3
        dist[j] += (a * a + b * b) + (c * c + e * e)


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _step_row(xk, seg, gs):
    """Feature k of the moving units: ``w_j += g_j (x_k - w_j)``."""
    for j in range(gs.shape[0]):
        seg[j] += gs[j] * (xk - seg[j])


@numba.njit(cache=CACHE, nogil=True)
def _min_value(v):
    # eight independent running minima: one chain would wait on each compare
    m = v.shape[0]
    if m < 16:
        best = v[0]
        for j in range(1, m):
            best = min(best, v[j])
        return best
    b0, b1, b2, b3 = v[0], v[1], v[2], v[3]
    b4, b5, b6, b7 = v[4], v[5], v[6], v[7]
    m8 = m - m % 8
    for j in range(8, m8, 8):
        b0 = min(b0, v[j])
        b1 = min(b1, v[j + 1])
        b2 = min(b2, v[j + 2])
        b3 = min(b3, v[j + 3])
        b4 = min(b4, v[j + 4])
        b5 = min(b5, v[j + 5])
        b6 = min(b6, v[j + 6])
        b7 = min(b7, v[j + 7])
    best = min(min(min(b0, b1), min(b2, b3)), min(min(b4, b5), min(b6, b7)))
    for j in range(m8, m):
        best = min(best, v[j])
    return best


@numba.njit(cache=CACHE, nogil=True)
def _argmin(v):
    """Index of the smallest entry (the lowest index on ties)."""
    best = _min_value(v)
    for j in range(v.shape[0]):
        if v[j] <= best:
            return j
    return 0


@numba.njit(cache=CACHE, nogil=True)
def _exact_best(X, t, W, dist, limit, metric, holes):
    """The best two units for sample ``X[t]`` by float64 distance
    (:func:`somkit._kernels._numba.sample_distance` to the rows of ``W``, the
    codebook: a view of the transposed one) among those with ``dist[j] <=
    limit`` (ties -> lowest index), and the best's distance."""
    d1 = np.inf
    d2 = np.inf
    k1 = 0
    k2 = 0
    for j in range(dist.shape[0]):
        if dist[j] <= limit:
            e = sample_distance(X, W, t, j, metric, holes)
            d1, k1, d2, k2 = keep_two(e, j, d1, k1, d2, k2)
    return k1, k2, d1


@numba.njit(cache=CACHE, nogil=True)
def _steps(
    X,
    sw,
    WT,
    pos,
    period,
    periodic,
    metric,
    nbh,
    rates,
    sigmas,
    lattice,
    q_max,
    te_limit,
    holes,
    rel,
    gd,
    wbound,
    u,
):
    """The online rule on the transposed codebook ``WT`` (n_features, n_units).

    Units are the inner, contiguous axis, so the distance of x to every unit
    and the update of every unit are plain vector loops over groups of four
    features.

    Returns the weighted sums of each sample's distance to its BMU and of its
    topographic errors (two best units further apart than ``te_limit`` on the
    grid; not counted when ``te_limit < 0``), both measured just before the
    sample's step, and the total weight. ``holes[t]``: sample t has NaN
    features (measured and moved over its observed features only).

    The distances to every unit are summed in the codebook's precision and
    only shortlist units: those within the rounding band of the runner-up's
    (lowest when ``te_limit < 0``) get float64 distances, which pick the
    winner (whose step it is), the runner-up and the recorded distance.
    The band is relative for euclidean, manhattan and chebyshev (sums of
    non-negative terms: ``rel`` = (1 + g) / (1 - g)) and absolute for dot
    and cosine (``gd * ||x|| * wbound``, with ``wbound`` an upper bound on
    the unit norms kept up to date through the steps; cosine over observed
    parts ranks by a ratio, within ``(1.5 gd + 3 u) ||x||``).
    """
    n, d = X.shape
    m, ndim = pos.shape
    dist = np.zeros(m, dtype=WT.dtype)
    nrm = np.zeros(m, dtype=WT.dtype)
    g = np.zeros(m, dtype=WT.dtype)
    nbuf = np.zeros(m, dtype=WT.dtype)
    # rect grids: integer coordinates and a per-step table of axis factors
    separable = lattice and nbh == GAUSSIAN
    coords = np.zeros((m, ndim), dtype=np.int64)
    sizes = np.zeros(ndim, dtype=np.int64)
    longest = 1
    if separable:
        for j in range(m):
            for a in range(ndim):
                coords[j, a] = int(round(pos[j, a]))
        for a in range(ndim):
            sizes[a] = int(round(period[a]))
            longest = max(longest, sizes[a])
    table = np.ones(longest + 1)
    lastf = np.ones(longest + 1)
    cutoff = nbh == GAUSSIAN or nbh == MEXICAN_HAT
    h_min = math.exp(-0.5 * q_max)
    # distances of the first sample; later ones are computed row by row while
    # the previous step updates that row (one pass over the codebook per step)
    if n > 0:
        _measure(metric, X, 0, holes, WT, dist, nrm)
    qe = 0.0
    te = 0.0
    tot = 0.0
    relative = metric != COSINE and metric != DOT
    for t in range(n):
        x = X[t]
        c = _argmin(dist)
        # ---- the exact winner and runner-up among the shortlisted units
        low = dist[c]
        if te_limit >= 0.0 and m > 1:
            dc = dist[c]
            dist[c] = np.inf
            low = dist[_argmin(dist)]
            dist[c] = dc
        xnorm = 0.0
        if relative:
            limit = np.float64(low) * rel
        else:
            for k in range(d):
                if x[k] == x[k]:
                    xnorm += np.float64(x[k]) * np.float64(x[k])
            xnorm = math.sqrt(xnorm)
            band = 2.0 * gd * xnorm * wbound
            if metric == COSINE and holes[t]:
                band = 2.0 * (1.5 * gd + 3.0 * u) * xnorm
            limit = np.float64(low) + band
        c, c2, r = _exact_best(X, t, WT.T, dist, limit, metric, holes[t])
        if r != r or r == np.inf:  # nothing observed
            r = sample_distance(X, WT.T, t, c, metric, holes[t])
        # ---- running statistics of the codebook this sample meets
        w = sw[t]
        qe += w * r
        tot += w
        if te_limit >= 0.0 and m > 1:
            if not adjacent(pos, period, periodic, c, c2, te_limit):
                te += w
        sigma = sigmas[t]
        rate = min(1.0, rates[t] * sw[t])
        # ---- step sizes; lo..hi spans the units that move
        use_table = separable and sigma > 0.0
        if use_table:
            inv = 1.0 / (2.0 * sigma * sigma)
            for k in range(longest + 1):
                table[k] = math.exp(-(k * k) * inv)
        lo = m
        hi = -1
        if use_table:
            # h = (product of the leading axes' factors) * (last axis factor):
            # one vector loop per line of units along the last axis
            last = sizes[ndim - 1]
            c_last = coords[c, ndim - 1]
            for cc in range(last):
                delta = abs(cc - c_last)
                if periodic:
                    delta = min(delta, last - delta)
                lastf[cc] = table[delta]
            for o in range(m // last):
                j0 = o * last
                outer = 1.0
                for a in range(ndim - 1):
                    delta = abs(coords[j0, a] - coords[c, a])
                    if periodic:
                        delta = min(delta, sizes[a] - delta)
                    outer *= table[delta]
                gr = g[j0 : j0 + last]
                if outer < h_min:
                    for cc in range(last):
                        gr[cc] = 0
                    continue
                for cc in range(last):
                    h = outer * lastf[cc]
                    gr[cc] = rate * h if h >= h_min else 0.0
                lo = min(lo, j0)
                hi = j0 + last - 1
        elif sigma <= 0.0:
            # winner only (competitive learning)
            g[c] = rate
            lo = c
            hi = c
        else:
            reach2 = q_max * sigma * sigma
            for j in range(m):
                d2 = grid_dist2(pos, period, periodic, j, c)
                if cutoff and sigma > 0.0 and d2 > reach2:
                    h = 0.0
                else:
                    h = _h(nbh, math.sqrt(d2), sigma)
                g[j] = rate * h
                if h != 0.0:
                    lo = min(lo, j)
                    hi = j
        if rate == 0.0:
            lo = m
            hi = -1
        # ---- w_j += g_j (x - w_j) (units with g_j = 0 stay exactly as they
        # are), then the next sample's distance terms while the row is hot.
        # Loops run over 0-based slices: indices provably >= 0 vectorize.
        span = max(hi + 1 - lo, 0)
        top = lo + span
        gs = g[lo:top]
        nxt = t + 1 < n
        # cosine renormalises after the update; holes skip features
        fused = nxt and metric != COSINE and not holes[t] and not holes[t + 1]
        if fused:
            for j in range(m):
                dist[j] = 0
            # groups of four rows: update them, then add their distance terms
            # for the next sample while they are in cache
            d4 = d - d % 4
            x1 = X[t + 1]
            for k in range(0, d4, 4):
                if metric == EUCLIDEAN:
                    # units before, inside and after the moving span
                    r0, r1, r2, r3 = WT[k], WT[k + 1], WT[k + 2], WT[k + 3]
                    y0, y1, y2, y3 = x1[k], x1[k + 1], x1[k + 2], x1[k + 3]
                    _add_rows4(
                        EUCLIDEAN,
                        y0,
                        y1,
                        y2,
                        y3,
                        r0[:lo],
                        r1[:lo],
                        r2[:lo],
                        r3[:lo],
                        dist[:lo],
                    )
                    _update_sq4(
                        x[k],
                        x[k + 1],
                        x[k + 2],
                        x[k + 3],
                        y0,
                        y1,
                        y2,
                        y3,
                        r0[lo:top],
                        r1[lo:top],
                        r2[lo:top],
                        r3[lo:top],
                        gs,
                        dist[lo:top],
                    )
                    _add_rows4(
                        EUCLIDEAN,
                        y0,
                        y1,
                        y2,
                        y3,
                        r0[top:],
                        r1[top:],
                        r2[top:],
                        r3[top:],
                        dist[top:],
                    )
                    continue
                for kk in range(k, k + 4):
                    _step_row(x[kk], WT[kk, lo:top], gs)
                _add_group(metric, x1, WT, k, dist)
            for k in range(d4, d):
                _step_row(x[k], WT[k, lo:top], gs)
                _add_row(metric, x1[k], WT[k], dist)
        else:
            for k in range(d):
                if x[k] == x[k]:  # holes: observed features only
                    _step_row(x[k], WT[k, lo:top], gs)
        if metric == COSINE and span > 0:
            nrm = nbuf[lo:top]
            for j in range(span):
                nrm[j] = 0
            for k in range(d):
                seg = WT[k, lo:top]
                for j in range(span):
                    nrm[j] += seg[j] * seg[j]
            for j in range(span):
                if gs[j] != 0 and nrm[j] > 0:
                    nrm[j] = math.sqrt(nrm[j])
                else:
                    nrm[j] = 1
            for k in range(d):
                seg = WT[k, lo:top]
                for j in range(span):
                    seg[j] /= nrm[j]
        if metric == DOT and span > 0:
            # w + g (x - w) = (1 - g) w + g x: no longer than the longer of
            # the two for 0 <= g <= 1; negative g (mexican hat) stretches
            gmin = 0.0
            for j in range(span):
                gmin = min(gmin, gs[j])
            wbound = max(wbound, xnorm) * (1.0 - 2.0 * gmin) * (1.0 + 1e-6)
        if nxt and not fused:
            _measure(metric, X, t + 1, holes, WT, dist, nrm)
    return qe, te, tot


def online_steps(
    X,
    sw,
    W,
    pos,
    period,
    periodic,
    metric,
    nbh,
    rates,
    sigmas,
    lattice=False,
    te_limit=-1.0,
):
    """Present the rows of ``X`` in order; update ``W`` in place.

    Parameters
    ----------
    X : (n, d) float array, rows already in presentation order (cosine: unit
        rows), best in the dtype of ``W``
    sw : (n,) float64 sample weights
    W : (m, d) float32 or float64 array, updated in place
    pos, period : grid positions (m, ndim) and wrap lengths (ndim,)
    periodic : bool
    metric, nbh : int ids (``somkit._registry.METRIC_ID``, ``NEIGHBORHOOD_ID``)
    rates, sigmas : (n,) float64 learning rate and radius per presentation
    lattice : bool
        The positions are integer coordinates of a rect grid (enables the
        separable gaussian).
    te_limit : float
        Grid distance up to which the two best units count as adjacent for
        the topographic error; negative: no topographic error.

    Returns
    -------
    qe_sum, te_sum, weight : float
        Weighted sums over the presented samples, each measured on the
        codebook just before its own step; the winner (which steps), the
        runner-up and the distance are those of float64 distances (see
        :func:`_steps`).
    """
    WT = np.ascontiguousarray(W.T)
    u = float(np.finfo(W.dtype).eps) / 2
    d = W.shape[1]
    g = gamma_bound(d + 3, u)
    norms = np.sqrt(np.einsum("ij,ij->i", W.astype(np.float64), W.astype(np.float64)))
    wbound = float(np.max(norms, initial=0.0))
    if metric == COSINE:  # rows renormalised after every step
        wbound = max(wbound, 1.0) * (1.0 + (d + 2) * u)
    stats = _steps(
        np.ascontiguousarray(X, dtype=W.dtype),
        np.ascontiguousarray(sw, dtype=np.float64),
        WT,
        np.ascontiguousarray(pos, dtype=np.float64),
        np.ascontiguousarray(period, dtype=np.float64),
        bool(periodic),
        int(metric),
        int(nbh),
        np.ascontiguousarray(rates, dtype=np.float64),
        np.ascontiguousarray(sigmas, dtype=np.float64),
        bool(lattice),
        Q_MAX_FLOAT32 if W.dtype == np.float32 else Q_MAX,
        float(te_limit),
        np.isnan(X).any(axis=1),
        (1.0 + g) / (1.0 - g),
        gamma_bound(d, u),
        wbound,
        u,
    )
    W[...] = WT.T
    return stats
