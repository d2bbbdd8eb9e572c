"""The sequential (online) Kohonen rule, compiled with numba.

For each presented sample x with weight s:
``w_j += min(1, lr_t * s) * h(d(j, c), sigma_t) * (x - w_j)`` where c is the
BMU of x. ``lr_t`` and ``sigma_t`` are given per presentation, so schedules
advance per sample.
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


@numba.njit(cache=True)
def _find_bmu(x, W, metric):
    m, d = W.shape
    best = np.inf
    c = 0
    for j in range(m):
        acc = 0.0
        if metric == 0:
            for k in range(d):
                t = x[k] - W[j, k]
                acc += t * t
        elif metric == 1 or metric == 2:
            for k in range(d):
                acc -= x[k] * W[j, k]
        elif metric == 3:
            for k in range(d):
                acc += abs(x[k] - W[j, k])
        else:
            for k in range(d):
                t = abs(x[k] - W[j, k])
                if t > acc:
                    acc = t
        if acc < best:
            best = acc
            c = j
    return c


@numba.njit(cache=True)
def online_steps(X, sw, W, pos, period, periodic, metric, kernel, lrs, sigmas):
    """Present the rows of ``X`` in order; update ``W`` in place.

    Parameters
    ----------
    X : (n, d) float array, rows already in presentation order (cosine: unit rows)
    sw : (n,) float64 sample weights
    W : (m, d) float array, updated in place
    pos, period : grid positions (m, ndim) and wrap lengths (ndim,)
    periodic : bool
    metric, kernel : int ids (METRIC_ID, KERNEL_ID)
    lrs, sigmas : (n,) float64 learning rate and radius per presentation
    """
    n, d = X.shape
    m, ndim = pos.shape
    for t in range(n):
        x = X[t]
        c = _find_bmu(x, W, metric)
        sigma = sigmas[t]
        rate = min(1.0, lrs[t] * sw[t])
        if rate == 0.0:
            continue
        for j in range(m):
            d2 = 0.0
            for a in range(ndim):
                delta = abs(pos[j, a] - pos[c, a])
                if periodic:
                    delta = min(delta, period[a] - delta)
                d2 += delta * delta
            h = _h(kernel, math.sqrt(d2), sigma)
            if h == 0.0:
                continue
            g = rate * h
            for k in range(d):
                W[j, k] += g * (x[k] - W[j, k])
            if metric == 1:
                nrm = 0.0
                for k in range(d):
                    nrm += W[j, k] * W[j, k]
                if nrm > 0.0:
                    nrm = math.sqrt(nrm)
                    for k in range(d):
                        W[j, k] /= nrm
