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
        return np.asarray(X[a:b], dtype=np.float64), None if sw is None else sw[a:b]

    def mean_part(k, workers):
        total = np.zeros(d)
        count = np.zeros(d)
        for c in range(k, n_chunks, workers):
            s, n = observed_sums(*chunk(c))
            total += s
            count += n
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
            s, p = pair_sums(*chunk(c), mean)
            acc += s
            pairs += p
        parts[k] = (acc, pairs)

    workers = run_workers(n_chunks, cov_part)
    acc = sum(parts[k][0] for k in range(workers))
    pairs = sum(parts[k][1] for k in range(workers))
    cov = np.divide(acc, pairs, out=np.zeros((d, d)), where=pairs > 0)
    return mean, cov


def chunk_moments(C, sample_weight=None):
    """``(weight, mean, scatter)`` of one chunk, to merge with :func:`merge_moments`.

    ``scatter`` is the weighted sum of centred outer products (``weight * cov``).
    """
    mean, cov = moments(C, sample_weight)
    w = float(len(C)) if sample_weight is None else float(np.sum(sample_weight))
    return w, mean, cov * w


def merge_moments(a, b):
    """Two ``(weight, mean, scatter)`` triples as one (Chan et al.'s update).

    Exact in real arithmetic and stable in floating point: the scatter of
    the union is the two scatters plus the spread of the two means, never a
    difference of raw second moments.

    Examples
    --------
    >>> X = np.array([[0.0], [2.0], [4.0], [10.0]])
    >>> w, mean, s = merge_moments(chunk_moments(X[:1]), chunk_moments(X[1:]))
    >>> w, mean.tolist(), (s / w).tolist()
    (4.0, [4.0], [[14.0]])
    """
    wa, ma, sa = a
    wb, mb, sb = b
    w = wa + wb
    if wa == 0 or wb == 0:
        return (w, ma if wb == 0 else mb, sa + sb)
    delta = mb - ma
    mean = ma + delta * (wb / w)
    return w, mean, sa + sb + np.outer(delta, delta) * (wa * wb / w)


def observed_sums(C, w=None):
    """Weighted sums and counts of the observed (non-NaN) values per column.

    The pieces of :func:`masked_moments`'s means, to add over chunks.

    Examples
    --------
    >>> s, n = observed_sums(np.array([[1.0, np.nan], [3.0, 4.0]]))
    >>> s.tolist(), n.tolist()
    ([4.0, 4.0], [2.0, 1.0])
    """
    C = np.asarray(C, dtype=np.float64)
    seen = ~np.isnan(C)
    w = np.ones(len(C)) if w is None else np.asarray(w, dtype=np.float64)
    return w @ np.where(seen, C, 0.0), w @ seen


def pair_sums(C, w, mean):
    """Centred cross products and weights of the pairs observed together.

    The pieces of :func:`masked_moments`'s covariance (given the means), to
    add over chunks: covariance = products / pair weights.
    """
    C = np.asarray(C, dtype=np.float64)
    seen = ~np.isnan(C)
    w = np.ones(len(C)) if w is None else np.asarray(w, dtype=np.float64)
    root = np.sqrt(w)[:, None]
    Cc = np.where(seen, C - mean, 0.0) * root
    Mw = seen * root
    return Cc.T @ Cc, Mw.T @ Mw
