"""BMU search and passes over the data for layered maps (numpy backend).

A layered map searches with a :class:`somkit._layers.LayerMetric`: the
weighted sum of per-layer distances. Per chunk the score block is built from

* one GEMM for every sqeuclidean and cosine layer together: their weighted
  distances are linear in the (shifted, resp. normalised) chunk, so the
  codebook's blocks are scaled by the layer coefficients and stacked into
  one augmented matrix, the bias ``sum_l a_l ||w_l||^2`` riding in the
  product as with the plain euclidean search;
* one GEMM per euclidean layer (square root of its block) and per tanimoto
  layer (``x.w`` with the norms);
* numba loops for manhattan layers.

The scores only shortlist units: the ``RECHECK`` lowest scores of every row
get their combined distances in float64 (:func:`best_two_of`), which pick
the winner, the runner-up (topographic error) and the reported distance,
ties to the lowest unit index. (The plain search bounds the scores'
rounding and rechecks every unit inside the bound; the mix of square roots
and ratios here has no such simple bound, so a fixed shortlist is used.)
A single sqeuclidean layer gives the plain euclidean search's units (same
shift, same augmented product, float64 decisions), so a one-layer map
trains like ``SOM(metric="euclidean")``.

The functions at the end (:func:`bmu`, :func:`batch_sums`, ...) take a metric
name or a ``LayerMetric`` and send names to :mod:`somkit._kernels._search`,
so every caller of the numpy kernels (the numpy and the dask backends)
handles layered maps.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from somkit._kernels import _search
from somkit._kernels._cache import CACHE
from somkit._kernels._distances import chunk_rows, normalize_rows
from somkit._kernels._numba import accumulate, adjacent, keep_two
from somkit._kernels._threads import (
    THREAD_WORK,
    balanced_rows,
    blas_single_thread,
    n_workers,
    run_workers,
)
from somkit._layers import NumpyRows, is_layered
from somkit._registry import LAYER_METRIC_ID

#: Lowest scores per row whose combined distances are recomputed in float64.
RECHECK = 8
SQEUCLIDEAN = LAYER_METRIC_ID["sqeuclidean"]
EUCLIDEAN = LAYER_METRIC_ID["euclidean"]
COSINE = LAYER_METRIC_ID["cosine"]
MANHATTAN = LAYER_METRIC_ID["manhattan"]
TANIMOTO = LAYER_METRIC_ID["tanimoto"]


# ------------------------------------------------------------ numba loops
@numba.njit(nogil=True, cache=CACHE, inline="always")
def layer_distance(C, W, i, j, a, b, cols, metric):
    """Distance (float64) of row ``C[i]`` to unit ``W[j]`` over ``cols[a:b]``."""
    acc = 0.0
    if metric == SQEUCLIDEAN or metric == EUCLIDEAN:
        for t in range(a, b):
            k = cols[t]
            diff = np.float64(C[i, k]) - np.float64(W[j, k])
            acc += diff * diff
        return acc if metric == SQEUCLIDEAN else math.sqrt(acc)
    if metric == MANHATTAN:
        for t in range(a, b):
            k = cols[t]
            acc += abs(np.float64(C[i, k]) - np.float64(W[j, k]))
        return acc
    nx = 0.0
    nw = 0.0
    for t in range(a, b):
        k = cols[t]
        x = np.float64(C[i, k])
        w = np.float64(W[j, k])
        acc += x * w
        nx += x * x
        nw += w * w
    if metric == COSINE:
        if nx > 0.0 and nw > 0.0:
            return max(0.0, 1.0 - acc / math.sqrt(nx * nw))
        return 1.0
    den = nx + nw - acc
    return 1.0 - acc / den if den > 0.0 else 0.0


@numba.njit(nogil=True, cache=CACHE, inline="always")
def combined_distance(C, W, i, j, cols, offsets, ids, coef):
    """``sum_l coef[l] * d_l`` of row ``C[i]`` and unit ``W[j]`` (float64)."""
    tot = 0.0
    for q in range(ids.shape[0]):
        d = layer_distance(C, W, i, j, offsets[q], offsets[q + 1], cols, ids[q])
        tot += coef[q] * d
    return tot


@numba.njit(nogil=True, cache=CACHE)
def best_two_of(C, W, cand, cols, offsets, ids, coef, idx1, idx2, dist):
    """The best two of each row's candidates ``cand[i]`` (increasing ids) by
    float64 combined distance, ties to the lowest id; ``dist`` the best's."""
    for i in range(C.shape[0]):
        d1 = np.inf
        d2 = np.inf
        k1 = cand[i, 0]
        k2 = cand[i, 0]
        for q in range(cand.shape[1]):
            j = cand[i, q]
            e = combined_distance(C, W, i, j, cols, offsets, ids, coef)
            d1, k1, d2, k2 = keep_two(e, j, d1, k1, d2, k2)
        idx1[i] = k1
        idx2[i] = k2 if cand.shape[1] > 1 else k1
        dist[i] = d1


@numba.njit(nogil=True, cache=CACHE)
def add_manhattan(C, W, coef, S):
    """``S[i, j] += coef * sum_k |C[i, k] - W[j, k]|`` (C, W: one layer's block)."""
    n, d = C.shape
    m = W.shape[0]
    for i in range(n):
        for j in range(m):
            acc = 0.0
            for k in range(d):
                acc += abs(np.float64(C[i, k]) - np.float64(W[j, k]))
            S[i, j] += coef * acc


@numba.njit(nogil=True, cache=CACHE)
def te_sum(idx1, idx2, sw, pos, period, periodic, limit):
    """Weighted count of rows whose two best units are not adjacent."""
    te = 0.0
    for i in range(idx1.shape[0]):
        if not adjacent(pos, period, periodic, idx1[i], idx2[i], limit):
            te += sw[i]
    return te


# --------------------------------------------------------- the codebook
def prepare_rows(C, lm):
    """``C`` with the blocks of its cosine layers at unit norm (a copy if so)."""
    if not lm.has_cosine:
        return C
    C = np.array(C)
    for k, metric in enumerate(lm.metrics):
        if metric == "cosine":
            C[:, lm.cols[k]] = normalize_rows(C[:, lm.cols[k]])
    return C


class LayeredCodebook:
    """A codebook prepared for BMU searches with a ``LayerMetric``."""

    def __init__(self, W, lm, dtype):
        self.lm = lm
        self.dtype = np.dtype(dtype)
        W = lm.constrain(NumpyRows, np.asarray(W))
        self.W = np.ascontiguousarray(W, dtype=self.dtype)
        self.n_units = self.W.shape[0]
        self.flat = lm.flat()
        lin = [k for k in lm.active if lm.metrics[k] in ("sqeuclidean", "cosine")]
        self.lin_cols = None
        if lin:
            self._linear(lin)
        self.other = [
            self._nonlinear(k)
            for k in lm.active
            if lm.metrics[k] not in ("sqeuclidean", "cosine")
        ]

    def _block(self, k):
        return self.W[:, self.lm.cols[k]]

    def _linear(self, lin):
        """``[shifted chunk | 1] @ Wt_lin`` = the linear layers' weighted scores."""
        lm = self.lm
        cols = np.concatenate([lm.index[k] for k in lin])
        L = len(cols)
        shift = np.zeros(L, dtype=self.dtype)
        Wt = np.empty((L + 1, self.n_units), dtype=self.dtype)
        bias = np.zeros(self.n_units, dtype=np.float64)
        start = 0
        for k in lin:
            a = lm.coef[k]
            B = self._block(k)
            stop = start + B.shape[1]
            if lm.metrics[k] == "sqeuclidean":
                mu = B.mean(axis=0, dtype=np.float64).astype(self.dtype)
                Bs = B - mu
                shift[start:stop] = mu
                np.multiply(Bs.T, -2 * a if a != 1 else -2, out=Wt[start:stop])
                norms = np.einsum("ij,ij->i", Bs, Bs)
                bias += norms if a == 1 else a * norms.astype(np.float64)
            else:
                Wt[start:stop] = -a * B.T
                bias += a
            start = stop
        Wt[L] = bias
        self.lin_cols = (
            cols if not isinstance(_as_slice(cols), slice) else _as_slice(cols)
        )
        self.lin_shift = shift
        self.Wt_lin = Wt

    def _nonlinear(self, k):
        lm = self.lm
        metric, a, c = lm.metrics[k], lm.coef[k], lm.cols[k]
        B = np.ascontiguousarray(self._block(k))
        if metric == "euclidean":
            mu = B.mean(axis=0, dtype=np.float64).astype(self.dtype)
            Bs = B - mu
            extra = (np.ascontiguousarray(-2 * Bs.T), np.einsum("ij,ij->i", Bs, Bs), mu)
        elif metric == "tanimoto":
            extra = (np.ascontiguousarray(B.T), np.einsum("ij,ij->i", B, B), None)
        else:
            extra = (B, None, None)
        return metric, a, c, extra

    def scores(self, C):
        """The (rows x n_units) score block of a prepared chunk."""
        r = C.shape[0]
        if self.lin_cols is not None:
            L = self.Wt_lin.shape[0] - 1
            P = np.empty((r, L + 1), dtype=self.dtype)
            np.subtract(C[:, self.lin_cols], self.lin_shift, out=P[:, :L])
            P[:, L] = 1
            S = P @ self.Wt_lin
        else:
            S = np.zeros((r, self.n_units), dtype=self.dtype)
        for metric, a, c, (M, norms, mu) in self.other:
            Xc = C[:, c]
            if metric == "manhattan":
                acc = np.zeros((r, self.n_units))
                add_manhattan(np.ascontiguousarray(Xc), M, 1.0, acc)
                S += (a * acc).astype(self.dtype, copy=False)
                continue
            if metric == "euclidean":
                Xs = Xc - mu
                G = Xs @ M
                G += norms
                G += np.einsum("ij,ij->i", Xs, Xs)[:, None]
                np.sqrt(np.maximum(G, 0, out=G), out=G)
            else:
                dot = Xc @ M
                den = np.einsum("ij,ij->i", Xc, Xc)[:, None] + norms - dot
                ok = den > 0
                G = np.where(ok, 1 - dot / np.where(ok, den, 1), 0)
            S += (a * G).astype(self.dtype, copy=False)
        return S


def _as_slice(cols):
    cols = np.asarray(cols)
    if len(cols) and np.array_equal(cols, np.arange(cols[0], cols[0] + len(cols))):
        return slice(int(cols[0]), int(cols[0]) + len(cols))
    return cols


# ---------------------------------------------------------------- passes
class _Totals:
    def __init__(self, m, d, sums):
        self.sums = np.zeros((m, d)) if sums else None
        self.wsum = np.zeros(m) if sums else None
        self.qe = self.te = self.weight = 0.0


def layered_scan(
    X,
    cb,
    *,
    rows,
    sample_weight=None,
    sums=False,
    te=None,
    out=None,
    threaded=True,
):
    """One pass over X with a :class:`LayeredCodebook` (as ``_search.scan``).

    Returns the per-thread totals (``sums``, ``wsum``, ``qe``, ``te``,
    ``weight``), added in thread order by the callers.
    """
    n, d = X.shape
    m = cb.n_units
    big = threaded and n * m * max(d, 1) >= THREAD_WORK
    workers = n_workers() if big else 1
    rows = balanced_rows(n, max(1, min(rows, n)), workers)
    n_chunks = -(-n // rows) if n else 0
    workers = max(1, min(workers, n_chunks))
    pos, period, periodic, limit = _search._te_geometry(te, m)
    state = [_Totals(m, d, sums) for _ in range(workers)]
    sw_all = None
    if sample_weight is not None:
        sw_all = np.asarray(sample_weight, dtype=np.float64)

    def work(k, _count):
        s = state[k]
        for c in range(k, n_chunks, workers):
            a = c * rows
            b = min(a + rows, n)
            C = prepare_rows(np.ascontiguousarray(X[a:b], dtype=cb.dtype), cb.lm)
            S = cb.scores(C)
            k = min(RECHECK, m)
            cand = np.argpartition(S, k - 1, axis=1)[:, :k] if k < m else None
            if cand is None:
                cand = np.broadcast_to(np.arange(m), S.shape)
            cand = np.sort(cand, axis=1)
            i1, i2 = np.empty(b - a, np.int64), np.empty(b - a, np.int64)
            dist = np.empty(b - a)
            best_two_of(C, cb.W, cand, *cb.flat, i1, i2, dist)
            sw = np.ones(b - a) if sw_all is None else sw_all[a:b]
            s.qe += float(sw @ dist)
            s.weight += float(sw.sum())
            if limit >= 0:
                s.te += te_sum(i1, i2, sw, pos, period, periodic, limit)
            if sums:
                accumulate(C, i1, sw, s.sums, s.wsum)
            if out is not None:
                out["idx"][a:b] = i1
                out["dist"][a:b] = dist
                if "idx2" in out:
                    out["idx2"][a:b] = i2

    if n_chunks:
        run_workers(n_chunks, work, workers)
    return state


def _stats(state):
    return {
        "qe_sum": sum(s.qe for s in state),
        "te_sum": sum(s.te for s in state),
        "weight": sum(s.weight for s in state),
    }


def _sums(state):
    sums, wsum = state[0].sums.copy(), state[0].wsum.copy()
    for s in state[1:]:
        sums += s.sums
        wsum += s.wsum
    return sums, wsum


# ----------------------------------------- the kernels, names or layers
def bmu(X, W, metric, *, second=False, batch_size=None, dtype=None, masked=False):
    """:func:`somkit._kernels._search.bmu` for a metric name or a LayerMetric.

    ``masked`` (holes) is for metric names only: layered maps refuse holes.
    """
    if not is_layered(metric):
        return _search.bmu(
            X,
            W,
            metric,
            second=second,
            batch_size=batch_size,
            dtype=dtype,
            masked=masked,
        )
    cb = LayeredCodebook(W, metric, W.dtype if dtype is None else dtype)
    n = X.shape[0]
    out = {"idx": np.empty(n, dtype=np.int64), "dist": np.empty(n)}
    if second:
        out["idx2"] = np.empty(n, dtype=np.int64)
    layered_scan(X, cb, rows=chunk_rows(cb.n_units, batch_size), out=out)
    if second:
        return out["idx"], out["dist"], out["idx2"]
    return out["idx"], out["dist"]


def bmu_stats(
    X,
    W,
    metric,
    *,
    sample_weight=None,
    grid=None,
    adjacency="edges",
    batch_size=None,
    dtype=None,
    masked=False,
):
    """:func:`somkit._kernels._search.bmu_stats` for names or a LayerMetric."""
    if not is_layered(metric):
        return _search.bmu_stats(
            X,
            W,
            metric,
            sample_weight=sample_weight,
            grid=grid,
            adjacency=adjacency,
            batch_size=batch_size,
            dtype=dtype,
            masked=masked,
        )
    cb = LayeredCodebook(W, metric, W.dtype if dtype is None else dtype)
    te = None if grid is None else (grid, _search.te_limit(grid, adjacency))
    state = layered_scan(
        X,
        cb,
        rows=chunk_rows(cb.n_units, batch_size),
        sample_weight=sample_weight,
        te=te,
    )
    return _stats(state)


def batch_sums(
    X,
    W,
    metric,
    sample_weight=None,
    *,
    batch_size=None,
    grid=None,
    factored=None,
    masked=False,
):
    """:func:`somkit._kernels._search.batch_sums` for names or a LayerMetric.

    Layered maps ignore ``factored`` (the search is not one product of the
    raw codebook).
    """
    if not is_layered(metric):
        return _search.batch_sums(
            X,
            W,
            metric,
            sample_weight,
            batch_size=batch_size,
            grid=grid,
            factored=factored,
            masked=masked,
        )
    cb = LayeredCodebook(W, metric, W.dtype)
    state = layered_scan(
        X,
        cb,
        rows=chunk_rows(cb.n_units, batch_size),
        sample_weight=sample_weight,
        sums=True,
        te=None if grid is None else (grid, 1.0),
    )
    sums, wsum = _sums(state)
    return sums, wsum, _stats(state)


def minibatch_sums(C, W, metric, sw, grid, masked=False):
    """:func:`somkit._kernels._search.minibatch_sums` for names or a LayerMetric."""
    if not is_layered(metric):
        return _search.minibatch_sums(C, W, metric, sw, grid, masked=masked)
    cb = LayeredCodebook(W, metric, W.dtype)
    state = layered_scan(
        C,
        cb,
        rows=len(C) or 1,
        sample_weight=sw,
        sums=True,
        te=(grid, 1.0),
        threaded=False,
    )
    s = state[0]
    return s.sums, s.wsum, s.qe, s.te


def distances(X, W, metric, *, batch_size=None):
    """:func:`somkit._kernels._search.distances` for names or a LayerMetric."""
    if not is_layered(metric):
        return _search.distances(X, W, metric, batch_size=batch_size)
    out_dtype = np.float32 if X.dtype == np.float32 else np.float64
    n = X.shape[0]
    D = np.empty((n, W.shape[0]), dtype=out_dtype)
    Wp = metric.constrain(NumpyRows, np.asarray(W, dtype=np.float64))
    rows = chunk_rows(W.shape[0], batch_size)
    with blas_single_thread():
        for a in range(0, n, rows):
            C = prepare_rows(np.asarray(X[a : a + rows], dtype=np.float64), metric)
            D[a : a + rows] = metric.pairwise(C, Wp)
    return D


def pairwise_distances(A, B, metric, out_dtype=np.float64):
    """``_distances.pairwise_distances`` for names or a LayerMetric."""
    from somkit._kernels._distances import pairwise_distances as plain

    if not is_layered(metric):
        return plain(A, B, metric, out_dtype)
    A = prepare_rows(np.asarray(A, dtype=np.float64), metric)
    B = metric.constrain(NumpyRows, np.asarray(B, dtype=np.float64))
    return metric.pairwise(A, B).astype(out_dtype, copy=False)


def as_chunk(X, start, stop, dtype, metric):
    """``_distances.as_chunk``; layered: cosine blocks normalised."""
    from somkit._kernels._distances import as_chunk as plain

    if not is_layered(metric):
        return plain(X, start, stop, dtype, metric)
    C = np.ascontiguousarray(X[start:stop], dtype=dtype)
    return prepare_rows(C, metric)


__all__ = [
    "LayeredCodebook",
    "as_chunk",
    "batch_sums",
    "bmu",
    "bmu_stats",
    "distances",
    "layered_scan",
    "minibatch_sums",
    "pairwise_distances",
    "prepare_rows",
    "best_two_of",
]
