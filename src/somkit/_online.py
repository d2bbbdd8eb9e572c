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
"""

from __future__ import annotations

import math

import numba
import numpy as np

KERNEL_ID = {
    "gaussian": 0,
    "bubble": 1,
    "cut_gaussian": 2,
    "mexican_hat": 3,
    "triangle": 4,
    "epanechnikov": 5,
}
METRIC_ID = {"euclidean": 0, "cosine": 1, "dot": 2, "manhattan": 3, "chebyshev": 4}

#: Units with d^2 / sigma^2 beyond this get no gaussian / mexican-hat step
#: (h < 2e-22) with a float64 codebook ...
Q_MAX = 100.0
#: ... and beyond this with a float32 one (h < 2**-30, a step far below the
#: float32 rounding of the unit's own coordinates).
Q_MAX_FLOAT32 = 2.0 * 30 * math.log(2.0)


@numba.njit(cache=True, inline="always")
def _h(kernel, d, sigma):
    if sigma <= 0.0:
        return 1.0 if d <= 1e-9 else 0.0
    if kernel == 0:
        return math.exp(-(d * d) / (2.0 * sigma * sigma))
    if kernel == 1:
        return 1.0 if d <= sigma + 1e-9 else 0.0
    if kernel == 2:
        return math.exp(-(d * d) / (2.0 * sigma * sigma)) if d <= sigma + 1e-9 else 0.0
    if kernel == 3:
        q = (d * d) / (sigma * sigma)
        return (1.0 - q) * math.exp(-0.5 * q)
    if kernel == 4:
        return max(0.0, 1.0 - d / sigma)
    return max(0.0, 1.0 - (d * d) / (sigma * sigma))


@numba.njit(cache=True, nogil=True, inline="always")
def _add_row(metric, xk, row, dist):
    """Add feature k's term of the distance to every unit (in order over k)."""
    m = row.shape[0]
    if metric == 0:
        for j in range(m):
            diff = xk - row[j]
            dist[j] += diff * diff
    elif metric == 1 or metric == 2:
        for j in range(m):
            dist[j] -= xk * row[j]
    elif metric == 3:
        for j in range(m):
            dist[j] += abs(xk - row[j])
    else:
        for j in range(m):
            dist[j] = max(dist[j], abs(xk - row[j]))


@numba.njit(cache=True, nogil=True)
def _steps(
    X, sw, WT, pos, period, periodic, metric, kernel, lrs, sigmas, lattice, q_max
):
    """The online rule on the transposed codebook ``WT`` (n_features, n_units).

    Units are the inner, contiguous axis, so the distance of x to every unit
    and the update of every unit are plain vector loops (each unit's sum still
    runs over the features in order, as in the textbook loop).
    """
    n, d = X.shape
    m, ndim = pos.shape
    dist = np.zeros(m, dtype=WT.dtype)
    g = np.zeros(m, dtype=WT.dtype)
    nbuf = np.zeros(m, dtype=WT.dtype)
    # rect grids: integer coordinates and a per-step table of axis factors
    separable = lattice and kernel == 0
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
    cutoff = kernel == 0 or kernel == 3
    h_min = math.exp(-0.5 * q_max)
    # distances of the first sample; later ones are computed row by row while
    # the previous step updates that row (one pass over the codebook per step)
    for j in range(m):
        dist[j] = 0
    if n > 0:
        for k in range(d):
            _add_row(metric, X[0, k], WT[k], dist)
    for t in range(n):
        x = X[t]
        c = 0
        best = dist[0]
        for j in range(1, m):
            if dist[j] < best:
                best = dist[j]
                c = j
        sigma = sigmas[t]
        rate = min(1.0, lrs[t] * sw[t])
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
        else:
            reach2 = q_max * sigma * sigma
            for j in range(m):
                d2 = 0.0
                for a in range(ndim):
                    delta = abs(pos[j, a] - pos[c, a])
                    if periodic:
                        delta = min(delta, period[a] - delta)
                    d2 += delta * delta
                if cutoff and sigma > 0.0 and d2 > reach2:
                    h = 0.0
                else:
                    h = _h(kernel, math.sqrt(d2), sigma)
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
        gs = g[lo : hi + 1]
        span = max(hi + 1 - lo, 0)
        nxt = t + 1 < n
        fused = nxt and metric != 1  # cosine renormalises after the update
        if nxt:
            for j in range(m):
                dist[j] = 0
        for k in range(d):
            xk = x[k]
            row = WT[k]
            seg = row[lo : hi + 1]
            for j in range(span):
                seg[j] += gs[j] * (xk - seg[j])
            if fused:
                _add_row(metric, X[t + 1, k], row, dist)
        if metric == 1 and span > 0:
            nrm = nbuf[lo : hi + 1]
            for j in range(span):
                nrm[j] = 0
            for k in range(d):
                seg = WT[k, lo : hi + 1]
                for j in range(span):
                    nrm[j] += seg[j] * seg[j]
            for j in range(span):
                if gs[j] != 0 and nrm[j] > 0:
                    nrm[j] = math.sqrt(nrm[j])
                else:
                    nrm[j] = 1
            for k in range(d):
                seg = WT[k, lo : hi + 1]
                for j in range(span):
                    seg[j] /= nrm[j]
        if nxt and not fused:
            for k in range(d):
                _add_row(metric, X[t + 1, k], WT[k], dist)


def online_steps(
    X, sw, W, pos, period, periodic, metric, kernel, lrs, sigmas, lattice=False
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
    metric, kernel : int ids (METRIC_ID, KERNEL_ID)
    lrs, sigmas : (n,) float64 learning rate and radius per presentation
    lattice : bool
        The positions are integer coordinates of a rect grid (enables the
        separable gaussian).
    """
    WT = np.ascontiguousarray(W.T)
    _steps(
        np.ascontiguousarray(X, dtype=W.dtype),
        np.ascontiguousarray(sw, dtype=np.float64),
        WT,
        np.ascontiguousarray(pos, dtype=np.float64),
        np.ascontiguousarray(period, dtype=np.float64),
        bool(periodic),
        int(metric),
        int(kernel),
        np.ascontiguousarray(lrs, dtype=np.float64),
        np.ascontiguousarray(sigmas, dtype=np.float64),
        bool(lattice),
        Q_MAX_FLOAT32 if W.dtype == np.float32 else Q_MAX,
    )
    W[...] = WT.T
