"""Weighted mean and covariance of the rows of an array, chunked and threaded."""

from __future__ import annotations

import numpy as np

from somkit._kernels._threads import balanced_rows, n_workers, run_workers


def moments(X, sample_weight=None, *, rows=8192, masked=False):
    """Weighted mean and population covariance of the rows of X, chunked.

    Float32 data are centred and multiplied in float32 chunks of ``rows`` rows
    (one symmetric rank-k product each) and accumulated in float64; float64
    data stay float64. Two passes over X (a memmap is read, never copied).

    Returns
    -------
    mean : ndarray (n_features,) float64
    cov : ndarray (n_features, n_features) float64

    Examples
    --------
    >>> mean, cov = moments(np.array([[0.0, 1.0], [2.0, 1.0]]))
    >>> mean.tolist(), cov.tolist()
    ([1.0, 1.0], [[1.0, 0.0], [0.0, 0.0]])

    ``masked=True``: X may hold holes (NaN); see :func:`masked_moments`.
    """
    if masked:
        return masked_moments(X, sample_weight, rows=rows)
    n, d = X.shape
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    total = float(n) if sw is None else float(sw.sum())
    rows = balanced_rows(n, rows, n_workers())
    n_chunks = -(-n // rows)
    parts = {}

    def mean_part(k, workers):
        acc = np.zeros(d)
        for c in range(k, n_chunks, workers):
            a, b = c * rows, min((c + 1) * rows, n)
            C = np.asarray(X[a:b])
            if sw is None:
                acc += C.sum(axis=0, dtype=np.float64)
            else:
                acc += sw[a:b] @ C.astype(np.float64, copy=False)
        parts[k] = acc

    workers = run_workers(n_chunks, mean_part)
    mean = sum(parts[k] for k in range(workers)) / total
    center = mean.astype(dtype)
    parts.clear()

    def cov_part(k, workers):
        acc = np.zeros((d, d))
        buf = np.empty((rows, d), dtype=dtype)
        for c in range(k, n_chunks, workers):
            a, b = c * rows, min((c + 1) * rows, n)
            C = np.subtract(X[a:b], center, out=buf[: b - a], casting="unsafe")
            if sw is not None:
                C *= np.sqrt(sw[a:b]).astype(dtype)[:, None]
            # C.T @ C on the same buffer: numpy calls a symmetric rank-k update
            acc += C.T @ C
        parts[k] = acc

    workers = run_workers(n_chunks, cov_part)
    cov = sum(parts[k] for k in range(workers)) / total
    return mean, cov


def masked_moments(X, sample_weight=None, *, rows=8192):
    """Mean and covariance of rows with holes (NaN), from the observed values.

    As the SOM Toolbox's linear initialisation: each feature's mean over its
    observed values, and each covariance entry over the rows where both
    features are observed (pairwise-complete; the matrix may then be
    slightly indefinite, and the initialisation clips negative eigenvalues).
    A feature never observed gets mean and variance 0.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [2.0, np.nan], [np.nan, 3.0]])
    >>> mean, cov = masked_moments(X)
    >>> mean.tolist(), cov.tolist()
    ([1.0, 2.0], [[1.0, 1.0], [1.0, 1.0]])
    """
    n, d = X.shape
    sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    rows = balanced_rows(n, rows, n_workers())
    n_chunks = -(-n // rows)
    parts = {}

    def chunk(c):
        a, b = c * rows, min((c + 1) * rows, n)
        C = np.asarray(X[a:b], dtype=np.float64)
        seen = ~np.isnan(C)
        w = np.ones(b - a) if sw is None else sw[a:b]
        return C, seen, w

    def mean_part(k, workers):
        total = np.zeros(d)
        count = np.zeros(d)
        for c in range(k, n_chunks, workers):
            C, seen, w = chunk(c)
            total += w @ np.where(seen, C, 0.0)
            count += w @ seen
        parts[k] = (total, count)

    workers = run_workers(n_chunks, mean_part)
    total = sum(parts[k][0] for k in range(workers))
    count = sum(parts[k][1] for k in range(workers))
    mean = np.divide(total, count, out=np.zeros(d), where=count > 0)
    parts.clear()

    def cov_part(k, workers):
        acc = np.zeros((d, d))
        pairs = np.zeros((d, d))
        for c in range(k, n_chunks, workers):
            C, seen, w = chunk(c)
            root = np.sqrt(w)[:, None]
            Cc = np.where(seen, C - mean, 0.0) * root
            Mw = seen * root
            acc += Cc.T @ Cc
            pairs += Mw.T @ Mw
        parts[k] = (acc, pairs)

    workers = run_workers(n_chunks, cov_part)
    acc = sum(parts[k][0] for k in range(workers))
    pairs = sum(parts[k][1] for k in range(workers))
    cov = np.divide(acc, pairs, out=np.zeros((d, d)), where=pairs > 0)
    return mean, cov
