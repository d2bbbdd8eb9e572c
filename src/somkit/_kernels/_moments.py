"""Weighted mean and covariance of the rows of an array, chunked and threaded."""

from __future__ import annotations

import numpy as np

from somkit._kernels._threads import balanced_rows, n_workers, run_workers


def moments(X, sample_weight=None, *, rows=8192):
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
    """
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
