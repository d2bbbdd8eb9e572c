"""Array kernels of the numpy backend: BMU search, batch sums, smoothing.

Pure functions on arrays: no validation, no estimator state. Another backend
(``somkit._backends.torch``) provides the same functions on its own arrays.

The euclidean BMU search is one GEMM per chunk: ``argmin_j ||w_j||^2 - 2 x.w_j``
(``||x||^2`` is constant per row and dropped). Data and codebook are shifted by
the codebook mean first so the expansion does not cancel catastrophically on
uncentred data, and the distance reported for the winner is recomputed exactly
as ``||x - w_bmu||``. Ties go to the lowest unit index.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse
from scipy.spatial.distance import cdist

from somkit._neighborhood import neighborhood, support

METRICS = ("euclidean", "cosine", "dot", "manhattan", "chebyshev")
# Metrics whose BMU search is a GEMM (similarity or expanded squared distance).
_GEMM_METRICS = ("euclidean", "cosine", "dot")
_METRIC_ID = {"manhattan": 0, "chebyshev": 1}
# Elements of the (chunk x n_units) score block; bounds memory per chunk.
_BLOCK_ELEMENTS = 1 << 21
# Dense neighbourhood matrices are used up to this many units.
_DENSE_UNITS = 2500


def chunk_rows(n_units, batch_size=None):
    """Rows per chunk so that a chunk's score block stays small."""
    if batch_size is not None:
        return int(batch_size)
    return int(min(max(_BLOCK_ELEMENTS // max(n_units, 1), 256), 65536))


def iter_chunks(n_samples, rows):
    for start in range(0, n_samples, rows):
        yield start, min(start + rows, n_samples)


def normalize_rows(A):
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    A = np.asarray(A)
    norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
    norms[norms == 0] = 1.0
    return A / norms.astype(A.dtype, copy=False)[:, None]


def as_chunk(X, start, stop, dtype, metric):
    """One chunk of X as a C-contiguous array of ``dtype`` (cosine: unit rows)."""
    C = np.ascontiguousarray(X[start:stop], dtype=dtype)
    if metric == "cosine":
        C = normalize_rows(C)
    return C


# ---------------------------------------------------------------- numba parts
@numba.njit(parallel=True, cache=True, fastmath=False)
def _top2_scores(S, bias, idx1, idx2):
    """Per row, the two lowest ``S[i, j] + bias[j]`` (ties -> lowest j)."""
    n, m = S.shape
    for i in numba.prange(n):
        b1 = np.inf
        b2 = np.inf
        j1 = 0
        j2 = 0
        for j in range(m):
            v = S[i, j] + bias[j]
            if v < b1:
                b2 = b1
                j2 = j1
                b1 = v
                j1 = j
            elif v < b2:
                b2 = v
                j2 = j
        idx1[i] = j1
        idx2[i] = j2 if m > 1 else j1


@numba.njit(parallel=True, cache=True)
def _top2_direct(X, W, metric_id, idx1, idx2):
    """Top-2 BMUs for manhattan (0) / chebyshev (1) by direct loops."""
    n, d = X.shape
    m = W.shape[0]
    for i in numba.prange(n):
        b1 = np.inf
        b2 = np.inf
        j1 = 0
        j2 = 0
        for j in range(m):
            acc = 0.0
            for k in range(d):
                t = abs(X[i, k] - W[j, k])
                if metric_id == 0:
                    acc += t
                elif t > acc:
                    acc = t
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


@numba.njit(parallel=True, cache=True)
def _winner_sqdist(X, W, idx, out):
    """Exact squared euclidean distance of each row to its unit, in float64."""
    n, d = X.shape
    for i in numba.prange(n):
        acc = 0.0
        j = idx[i]
        for k in range(d):
            t = np.float64(X[i, k]) - np.float64(W[j, k])
            acc += t * t
        out[i] = acc


@numba.njit(cache=True)
def _accumulate(X, idx, sw, sums, wsum):
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


# ------------------------------------------------------------- BMU search
def _pair_distance(X, W, idx, metric):
    """Distance of each row of X to unit ``idx`` in ``metric`` (float64)."""
    if metric == "euclidean":
        out = np.empty(len(X))
        _winner_sqdist(X, W, idx, out)
        return np.sqrt(out)
    Wi = W[idx].astype(np.float64)
    Xd = X.astype(np.float64)
    if metric == "cosine":
        return np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", Xd, Wi))
    if metric == "dot":
        return -np.einsum("ij,ij->i", Xd, Wi)
    if metric == "manhattan":
        return np.abs(Xd - Wi).sum(axis=1)
    return np.abs(Xd - Wi).max(axis=1)


class Codebook:
    """A codebook prepared for repeated BMU searches in one metric.

    Holds the shifted codebook, its transposed ``-2 W`` and squared norms so
    every chunk costs one GEMM plus one pass over the score block.
    """

    def __init__(self, W, metric):
        self.metric = metric
        W = np.ascontiguousarray(W)
        if metric == "cosine":
            W = normalize_rows(W)
        self.W = W
        self.n_units = W.shape[0]
        if metric == "euclidean":
            self.shift = W.mean(axis=0, dtype=np.float64).astype(W.dtype)
            Ws = W - self.shift
            self.Ws = Ws
            self.Wt = np.ascontiguousarray((-2 * Ws).T)
            self.bias = np.einsum("ij,ij->i", Ws, Ws).astype(W.dtype)
        elif metric in ("cosine", "dot"):
            self.shift = None
            self.Ws = W
            self.Wt = np.ascontiguousarray(-W.T)
            self.bias = np.zeros(W.shape[0], dtype=W.dtype)

    def top2(self, C):
        """(idx1, idx2) of the best and second-best unit for chunk ``C``."""
        n = len(C)
        idx1 = np.empty(n, dtype=np.int64)
        idx2 = np.empty(n, dtype=np.int64)
        if self.metric in _GEMM_METRICS:
            Cs = C - self.shift if self.shift is not None else C
            S = Cs @ self.Wt
            _top2_scores(S, self.bias, idx1, idx2)
        else:
            _top2_direct(C, self.W, _METRIC_ID[self.metric], idx1, idx2)
        return idx1, idx2

    def winner_distance(self, C, idx):
        if self.metric == "euclidean":
            return _pair_distance(C - self.shift, self.Ws, idx, "euclidean")
        return _pair_distance(C, self.W, idx, self.metric)


def bmu(X, W, metric, *, second=False, batch_size=None, dtype=None):
    """Best-matching units of all rows of ``X`` (chunked).

    Returns
    -------
    idx : ndarray of int64, shape (n_samples,)
    dist : ndarray of float64, shape (n_samples,)
        Distance to the BMU in ``metric``.
    idx2 : ndarray of int64, only when ``second=True``
        Second-best unit.
    """
    dtype = W.dtype if dtype is None else dtype
    cb = Codebook(W.astype(dtype, copy=False), metric)
    n = X.shape[0]
    idx = np.empty(n, dtype=np.int64)
    idx2 = np.empty(n, dtype=np.int64) if second else None
    dist = np.empty(n, dtype=np.float64)
    for a, b in iter_chunks(n, chunk_rows(cb.n_units, batch_size)):
        C = as_chunk(X, a, b, dtype, metric)
        i1, i2 = cb.top2(C)
        idx[a:b] = i1
        dist[a:b] = cb.winner_distance(C, i1)
        if second:
            idx2[a:b] = i2
    if second:
        return idx, dist, idx2
    return idx, dist


def pairwise_distances(A, B, metric, out_dtype=np.float64):
    """Dense distances between rows of ``A`` and ``B`` in a map metric.

    euclidean: plain (not squared) distance; cosine: ``1 - cos``; dot:
    ``-a.b``; manhattan: L1; chebyshev: L-infinity.

    Examples
    --------
    >>> pairwise_distances([[0.0, 0.0]], [[3.0, 4.0]], "euclidean")
    array([[5.]])
    """
    A = np.asarray(A, dtype=out_dtype)
    B = np.asarray(B, dtype=out_dtype)
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


# --------------------------------------------------------- batch training
def batch_sums(X, W, metric, sample_weight=None, *, batch_size=None, grid=None):
    """One pass of the batch map: per-unit weighted sums of the samples.

    Returns
    -------
    sums : ndarray (n_units, n_features) float64
        ``sum_i s_i x_i`` over samples whose BMU is each unit.
    wsum : ndarray (n_units,) float64
        ``sum_i s_i`` per unit.
    stats : dict
        ``qe_sum`` (weighted sum of BMU distances), ``te_sum`` (weighted count
        of samples whose two best units are not adjacent on ``grid``) and
        ``weight`` (total sample weight), for the codebook entering the pass.
    """
    dtype = W.dtype
    cb = Codebook(W, metric)
    n, d = X.shape
    m = cb.n_units
    sums = np.zeros((m, d))
    wsum = np.zeros(m)
    qe = te = tot = 0.0
    for a, b in iter_chunks(n, chunk_rows(m, batch_size)):
        C = as_chunk(X, a, b, dtype, metric)
        sw = (
            np.ones(b - a)
            if sample_weight is None
            else np.asarray(sample_weight[a:b], dtype=np.float64)
        )
        i1, i2 = cb.top2(C)
        _accumulate(C, i1, sw, sums, wsum)
        dist = cb.winner_distance(C, i1)
        qe += float(sw @ dist)
        tot += float(sw.sum())
        if grid is not None and m > 1:
            te += float(sw @ ~grid.are_adjacent(i1, i2))
    return sums, wsum, {"qe_sum": qe, "te_sum": te, "weight": tot}


def _separable_gaussian(grid, sums, sigma):
    """Apply the gaussian kernel axis by axis (exact for rect grids)."""
    out = sums.reshape(*grid.shape, -1)
    for axis, size in enumerate(grid.shape):
        c = np.arange(size, dtype=np.float64)
        dk = np.abs(c[:, None] - c[None, :])
        if grid.periodic:
            dk = np.minimum(dk, size - dk)
        hk = neighborhood("gaussian", dk, sigma)
        out = np.moveaxis(np.tensordot(hk, out, axes=([1], [axis])), 0, axis)
    return out.reshape(sums.shape)


def smooth(grid, kernel, sigma, values):
    """Neighbourhood-weighted sums ``H @ values`` with ``H[j, k] = h(d(j, k))``.

    ``values`` is (n_units, k). Never forms a dense n_units^2 matrix on large
    maps: the gaussian on rect grids is applied axis by axis (exact), other
    kernels with a finite support (gaussian on hex cut at 4 sigma) use a
    sparse matrix of the pairs within reach, and unbounded kernels go block
    by block.
    """
    m = grid.n_units
    if sigma <= 0:
        return values.copy()
    if kernel == "gaussian" and grid.topology == "rect":
        return _separable_gaussian(grid, values, sigma)
    if m <= _DENSE_UNITS:
        return neighborhood(kernel, grid.distances(), sigma) @ values
    reach = support(kernel, sigma)
    if np.isfinite(reach):
        i, j, dist = grid.offsets_within(reach)
        h = neighborhood(kernel, dist, sigma)
        H = sparse.csr_matrix((h, (i, j)), shape=(m, m))
        return H @ values
    out = np.empty_like(values, dtype=np.float64)
    block = max(1, 4_000_000 // m)
    for a in range(0, m, block):
        units = np.arange(a, min(a + block, m))
        out[units] = neighborhood(kernel, grid.distances(units), sigma) @ values
    return out


def batch_update(W, sums, wsum, grid, kernel, sigma, metric):
    """Kohonen's batch rule from per-unit sums; empty-neighbourhood units stay.

    ``w_j = sum_k h(d(j,k)) S_k / sum_k h(d(j,k)) N_k`` where ``S_k``/``N_k``
    are the weighted sums and weights of the samples won by unit k.
    """
    both = np.concatenate([sums, wsum[:, None]], axis=1)
    sm = smooth(grid, kernel, sigma, both)
    num, den = sm[:, :-1], sm[:, -1]
    # Kernels with negative lobes (mexican_hat) can give negative totals; the
    # rule is applied as written wherever the total is not (nearly) zero.
    ok = np.abs(den) > 1e-12 * max(float(wsum.max()), 1e-300)
    new = W.astype(np.float64, copy=True)
    new[ok] = num[ok] / den[ok, None]
    if metric == "cosine":
        new = normalize_rows(new)
    return new.astype(W.dtype)


def minibatch_update(W, C, idx, sw, grid, kernel, sigma, lr, metric):
    """One minibatch step towards the batch-map target of the minibatch.

    ``w_j += lr * (num_j - den_j w_j) / max(den_j, 1)`` with ``num_j``,
    ``den_j`` the neighbourhood-weighted sums of the minibatch: units that
    collect less than one sample's weight move like in the online rule,
    busier units move at most ``lr`` of the way to their batch target.
    """
    m, d = W.shape
    sums = np.zeros((m, d))
    wsum = np.zeros(m)
    _accumulate(C, idx, sw, sums, wsum)
    both = smooth(grid, kernel, sigma, np.concatenate([sums, wsum[:, None]], axis=1))
    num, den = both[:, :-1], both[:, -1]
    Wd = W.astype(np.float64)
    Wd += lr * (num - den[:, None] * Wd) / np.maximum(den, 1.0)[:, None]
    if metric == "cosine":
        Wd = normalize_rows(Wd)
    return Wd.astype(W.dtype)


def minibatch_step(W, C, sw, grid, kernel, sigma, lr, metric):
    """BMUs of one prepared minibatch ``C`` and the update they cause.

    Returns the new codebook and the minibatch's weighted QE and TE sums
    (for the codebook before the step).
    """
    cb = Codebook(W, metric)
    i1, i2 = cb.top2(C)
    qe = float(sw @ cb.winner_distance(C, i1))
    te = float(sw @ ~grid.are_adjacent(i1, i2)) if grid.n_units > 1 else 0.0
    W = minibatch_update(W, C, i1, sw, grid, kernel, sigma, lr, metric)
    return W, qe, te


__all__ = [
    "METRICS",
    "Codebook",
    "batch_sums",
    "batch_update",
    "bmu",
    "chunk_rows",
    "minibatch_step",
    "minibatch_update",
    "pairwise_distances",
    "smooth",
]
