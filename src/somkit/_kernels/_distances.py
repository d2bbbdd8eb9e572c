"""Chunking and dense distances between samples and units (numpy)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from somkit._registry import METRICS

#: Elements of the (chunk x n_units) score block; bounds memory per chunk.
BLOCK_ELEMENTS = 1 << 20


def chunk_rows(n_units, batch_size=None):
    """Rows per chunk so that a chunk's score block stays small.

    Examples
    --------
    >>> chunk_rows(400), chunk_rows(400, batch_size=100)
    (2621, 100)
    """
    if batch_size is not None:
        return int(batch_size)
    return int(min(max(BLOCK_ELEMENTS // max(n_units, 1), 256), 65536))


def iter_chunks(n_samples, rows):
    """``(start, stop)`` of consecutive chunks of ``rows`` rows."""
    for start in range(0, n_samples, rows):
        yield start, min(start + rows, n_samples)


def normalize_rows(A):
    """Rows scaled to unit L2 norm (zero rows stay zero).

    Holes (NaN) stay holes; a row with holes is scaled to unit norm over its
    observed entries.

    Examples
    --------
    >>> normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0], [3.0, np.nan]])).tolist()
    [[0.6, 0.8], [0.0, 0.0], [1.0, nan]]
    """
    A = np.asarray(A)
    norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
    holes = np.isnan(norms)
    if holes.any():
        part = A[holes]
        norms[holes] = np.sqrt(np.nansum(part * part, axis=1, dtype=np.float64))
    norms[norms == 0] = 1.0
    return A / norms.astype(A.dtype, copy=False)[:, None]


def as_chunk(X, start, stop, dtype, metric):
    """One chunk of X as a C-contiguous array of ``dtype`` (cosine: unit rows)."""
    C = np.ascontiguousarray(X[start:stop], dtype=dtype)
    if metric == "cosine":
        C = normalize_rows(C)
    return C


def pairwise_distances(A, B, metric, out_dtype=np.float64):
    """Dense distances between rows of ``A`` and ``B`` in a map metric.

    euclidean: plain (not squared) distance; cosine: ``1 - cos``; dot:
    ``-a.b``; manhattan: L1; chebyshev: L-infinity.

    Examples
    --------
    >>> pairwise_distances([[0.0, 0.0]], [[3.0, 4.0]], "euclidean")
    array([[5.]])

    Rows of ``A`` with holes (NaN) are measured over their observed features
    (see :func:`somkit._kernels._numba.masked_distance`):

    >>> pairwise_distances([[np.nan, 0.0]], [[3.0, 4.0]], "euclidean").round(3)
    array([[5.657]])
    """
    A = np.asarray(A, dtype=out_dtype)
    B = np.asarray(B, dtype=out_dtype)
    nan = np.isnan(A)
    if nan.any():
        return _masked_pairwise(A, B, metric, nan)
    if metric == "euclidean":
        shift = B.mean(axis=0) if len(B) else 0.0
        As, Bs = A - shift, B - shift
        d2 = (
            np.einsum("ij,ij->i", As, As)[:, None]
            - 2 * (As @ Bs.T)
            + np.einsum("ij,ij->i", Bs, Bs)[None, :]
        )
        return np.sqrt(np.maximum(d2, 0, out=d2))
    if metric == "cosine":
        return np.maximum(1.0 - normalize_rows(A) @ normalize_rows(B).T, 0.0)
    if metric == "dot":
        return -(A @ B.T)
    if metric in ("manhattan", "chebyshev"):
        # scipy's C loops: no (len(A), len(B), n_features) temporary.
        name = "cityblock" if metric == "manhattan" else "chebyshev"
        return cdist(A, B, metric=name).astype(out_dtype, copy=False)
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")


def _masked_pairwise(A, B, metric, nan):
    """:func:`pairwise_distances` of rows with holes (observed features only).

    The GEMM metrics use the mask in the products (as the BMU search), the
    others the compiled loop.
    """
    from somkit._kernels._numba import masked_pairwise
    from somkit._registry import METRIC_ID

    M = (~nan).astype(A.dtype)
    seen = M.sum(axis=1)
    scale = (A.shape[1] / np.maximum(seen, 1))[:, None]
    if metric == "euclidean":
        shift = B.mean(axis=0) if len(B) else 0.0
        A0 = np.where(nan, 0.0, A - shift)
        Bs = B - shift
        d2 = np.einsum("ij,ij->i", A0, A0)[:, None] - 2 * (A0 @ Bs.T) + M @ (Bs.T**2)
        out = np.sqrt(np.maximum(d2, 0, out=d2) * scale)
    elif metric == "cosine":
        A0 = np.where(nan, 0.0, normalize_rows(A))
        Bn = normalize_rows(B)
        wn = M @ (Bn.T**2)  # squared norms of the units' observed parts
        out = np.maximum(1.0 - (A0 @ Bn.T) / np.sqrt(np.maximum(wn, 1e-300)), 0.0)
        out[wn == 0] = 1.0
    elif metric == "dot":
        out = -(np.where(nan, 0.0, A) @ B.T) * scale
    elif metric in METRIC_ID:
        out = np.empty((len(A), len(B)), dtype=np.float64)
        masked_pairwise(
            np.ascontiguousarray(A),
            np.ascontiguousarray(B),
            METRIC_ID[metric],
            out,
        )
    else:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    out[seen == 0] = np.nan
    return out.astype(A.dtype, copy=False)
