"""The sequential (online) rule for layered maps, compiled with numba.

The rule of :mod:`somkit._kernels._online` with the BMU found on the combined
distance of a :class:`somkit._layers.LayerMetric`: for each presented row x
of weight s, ``w_j += min(1, lr_t * s) * h(d(j, c), sigma_t) * (x - w_j)``
on every column (layers left out of the search included), then the blocks
of cosine layers of the units that moved are put back at unit norm. A plain
loop over units and columns: no separable-kernel table, no cut-off.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from somkit._kernels._cache import CACHE
from somkit._kernels._layered import combined_distance, prepare_rows
from somkit._kernels._numba import adjacent, grid_dist2
from somkit._kernels._online import _h


@numba.njit(nogil=True, cache=CACHE)
def _argmin2(dist):
    """The two lowest entries' indices (ties -> lowest index)."""
    m = dist.shape[0]
    b1 = np.inf
    b2 = np.inf
    j1 = 0
    j2 = 0
    for j in range(m):
        v = dist[j]
        if v < b1:
            b2 = b1
            j2 = j1
            b1 = v
            j1 = j
        elif v < b2:
            b2 = v
            j2 = j
    return j1, (j2 if m > 1 else j1)


@numba.njit(nogil=True, cache=CACHE)
def _steps(
    X,
    sw,
    W,
    cols,
    offsets,
    ids,
    coef,
    cos_cols,
    cos_offsets,
    pos,
    period,
    periodic,
    nbh,
    rates,
    sigmas,
    te_limit,
):
    n, d = X.shape
    m = W.shape[0]
    dist = np.empty(m)
    qe = 0.0
    te = 0.0
    tot = 0.0
    for t in range(n):
        for j in range(m):
            dist[j] = combined_distance(X, W, t, j, cols, offsets, ids, coef)
        c, c2 = _argmin2(dist)
        w = sw[t]
        qe += w * dist[c]
        tot += w
        if (
            te_limit >= 0.0
            and m > 1
            and not adjacent(pos, period, periodic, c, c2, te_limit)
        ):
            te += w
        rate = min(1.0, rates[t] * w)
        if rate == 0.0:
            continue
        sigma = sigmas[t]
        for j in range(m):
            g = rate * _h(
                nbh, math.sqrt(grid_dist2(pos, period, periodic, j, c)), sigma
            )
            if g == 0.0:
                continue
            for k in range(d):
                W[j, k] += g * (X[t, k] - W[j, k])
            for q in range(cos_offsets.shape[0] - 1):
                nrm = 0.0
                for u in range(cos_offsets[q], cos_offsets[q + 1]):
                    nrm += W[j, cos_cols[u]] * W[j, cos_cols[u]]
                if nrm > 0.0:
                    nrm = math.sqrt(nrm)
                    for u in range(cos_offsets[q], cos_offsets[q + 1]):
                        W[j, cos_cols[u]] /= nrm
    return qe, te, tot


def online_steps(C, sw, W, grid, lm, nbh, rates, sigmas, te_limit=1.0):
    """Present the rows of ``C`` in order; update ``W`` (numpy) in place.

    ``nbh`` is a neighbourhood id; ``rates``/``sigmas`` are per presentation.
    Returns the weighted QE and TE sums (each sample on the codebook it met)
    and the total weight, as :func:`somkit._kernels._online.online_steps`.
    """
    C = prepare_rows(np.ascontiguousarray(C, dtype=W.dtype), lm)
    cos = [lm.index[k] for k, m in enumerate(lm.metrics) if m == "cosine"]
    cos_cols = np.concatenate(cos or [np.zeros(0, np.int64)]).astype(np.int64)
    cos_offsets = np.concatenate([[0], np.cumsum([len(c) for c in cos])]).astype(
        np.int64
    )
    return _steps(
        C,
        np.ascontiguousarray(sw, dtype=np.float64),
        W,
        *lm.flat(),
        cos_cols,
        cos_offsets,
        np.ascontiguousarray(grid.positions, dtype=np.float64),
        np.ascontiguousarray(grid.period, dtype=np.float64),
        bool(grid.periodic),
        int(nbh),
        np.ascontiguousarray(rates, dtype=np.float64),
        np.ascontiguousarray(sigmas, dtype=np.float64),
        float(te_limit),
    )
