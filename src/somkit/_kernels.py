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

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy.spatial.distance import cdist

from somkit._grid import _EPS as _GRID_EPS
from somkit._neighborhood import neighborhood, support

METRICS = ("euclidean", "cosine", "dot", "manhattan", "chebyshev")
# Metrics whose BMU search is a GEMM (similarity or expanded squared distance).
_GEMM_METRICS = ("euclidean", "cosine", "dot")
_METRIC_ID = {"manhattan": 0, "chebyshev": 1}
# Elements of the (chunk x n_units) score block; bounds memory per chunk.
_BLOCK_ELEMENTS = 1 << 20
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
# Every kernel here is serial and releases the GIL. A pass over the data runs
# its chunks on a few Python threads, each with a single-threaded BLAS, so the
# GEMM and the scans never fight two thread pools for the same cores.
_METRIC_NUM = {"euclidean": 0, "cosine": 1, "dot": 2, "manhattan": 3, "chebyshev": 4}


@numba.njit(nogil=True, cache=True)
def _top2_scores(S, bias, idx1, idx2):
    """Per row, the two lowest ``S[i, j] + bias[j]`` (ties -> lowest j)."""
    n, m = S.shape
    for i in range(n):
        b1 = np.inf
        b2 = np.inf
        j1 = 0
        j2 = 0
        for j in range(m):
            v = S[i, j] + bias[j]
            # v >= b2 for almost every unit: one comparison on the common path
            if v < b2:
                if v < b1:
                    b2 = b1
                    j2 = j1
                    b1 = v
                    j1 = j
                else:
                    b2 = v
                    j2 = j
        idx1[i] = j1
        idx2[i] = j2 if m > 1 else j1


@numba.njit(nogil=True, cache=True)
def _top2_direct(X, W, metric_id, idx1, idx2):
    """Top-2 BMUs for manhattan (0) / chebyshev (1) by direct loops."""
    n, d = X.shape
    m = W.shape[0]
    for i in range(n):
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


@numba.njit(nogil=True, cache=True, inline="always")
def grid_dist2(pos, period, periodic, j, j2):
    """Squared grid distance of units j and j2 (wrapped on periodic grids)."""
    d2 = 0.0
    for a in range(pos.shape[1]):
        delta = abs(pos[j, a] - pos[j2, a])
        if periodic:
            delta = min(delta, period[a] - delta)
        d2 += delta * delta
    return d2


@numba.njit(nogil=True, cache=True)
def adjacent(pos, period, periodic, j, j2, limit):
    """Units j and j2 are distinct and at most ``limit`` apart on the grid."""
    g = math.sqrt(grid_dist2(pos, period, periodic, j, j2))
    return g > _GRID_EPS and g <= limit + _GRID_EPS


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
def _finish_rows(
    C,
    W,
    idx1,
    idx2,
    sw,
    metric,
    dist,
    sums,
    wsum,
    pos,
    period,
    periodic,
    te_limit,
):
    """Per row of a chunk: exact distance to its BMU, unit sums, TE count.

    ``dist[i]`` is the distance of row i to unit ``idx1[i]`` in ``metric``,
    in float64 (differences of float32 values are exact there). ``C`` and
    ``W`` must be C-contiguous: strided views compile to a loop that does
    not vectorise. When ``sums`` has
    rows, ``sums[j] += sw[i] C[i]`` and ``wsum[j] += sw[i]`` (float64). When
    ``te_limit >= 0``, rows whose two best units are farther apart than
    ``te_limit`` on the grid (or coincide) count as topographic errors.

    Returns (weighted distance sum, weighted TE count, total weight).
    """
    n, d = C.shape
    accumulate = sums.shape[0] > 0
    qe = 0.0
    te = 0.0
    tot = 0.0
    for i in range(n):
        j = idx1[i]
        acc = 0.0
        if metric == 0:
            for k in range(d):
                t = np.float64(C[i, k]) - np.float64(W[j, k])
                acc += t * t
            r = math.sqrt(acc)
        elif metric == 1 or metric == 2:
            for k in range(d):
                acc += np.float64(C[i, k]) * np.float64(W[j, k])
            r = max(0.0, 1.0 - acc) if metric == 1 else -acc
        elif metric == 3:
            for k in range(d):
                acc += abs(np.float64(C[i, k]) - np.float64(W[j, k]))
            r = acc
        else:
            for k in range(d):
                t = abs(np.float64(C[i, k]) - np.float64(W[j, k]))
                if t > acc:
                    acc = t
            r = acc
        dist[i] = r
        w = sw[i]
        qe += w * r
        tot += w
        if accumulate and w != 0.0:
            wsum[j] += w
            for k in range(d):
                sums[j, k] += w * C[i, k]
        if te_limit >= 0.0 and not adjacent(
            pos, period, periodic, j, idx2[i], te_limit
        ):
            te += w
    return qe, te, tot


@numba.njit(nogil=True, cache=True)
def _winner_sqdist(X, W, idx, out):
    """Exact squared euclidean distance of each row to its unit, in float64."""
    n, d = X.shape
    for i in range(n):
        acc = 0.0
        j = idx[i]
        for k in range(d):
            t = np.float64(X[i, k]) - np.float64(W[j, k])
            acc += t * t
        out[i] = acc


@numba.njit(nogil=True, cache=True)
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


# ------------------------------------------------------------- threading
# Passes smaller than this (rows x units x features) run in the calling thread.
_THREAD_WORK = 1 << 24
_POOL = None
_POOL_LOCK = threading.Lock()
_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"controller": None, "depth": 0, "limiter": None}


def n_workers():
    """Threads a pass over the data uses (``NUMBA_NUM_THREADS``, CPU affinity)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(int(numba.config.NUMBA_NUM_THREADS), cpus))


def _pool(workers):
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(workers, thread_name_prefix="somkit")
        return _POOL


@contextlib.contextmanager
def _blas_single_thread():
    """BLAS limited to one thread while any pass runs threads (re-entrant)."""
    with _BLAS_LOCK:
        if _BLAS_STATE["depth"] == 0:
            ctl = _BLAS_STATE["controller"]
            if ctl is None:
                from threadpoolctl import ThreadpoolController

                ctl = _BLAS_STATE["controller"] = ThreadpoolController()
            _BLAS_STATE["limiter"] = ctl.limit(limits=1, user_api="blas")
        _BLAS_STATE["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["depth"] -= 1
            if _BLAS_STATE["depth"] == 0:
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None


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


class LowRank:
    """A codebook given as ``scale[:, None] * (offset + coords @ comps)``.

    The PCA initialisation has this form with a handful of components, so
    the scores of a GEMM metric cost two thin products (data onto the
    components, then onto the units) instead of one against every unit.

    Examples
    --------
    >>> lr = LowRank(np.zeros(3), np.array([[-1.0], [1.0]]), np.ones((1, 3)))
    >>> lr.dense()
    array([[-1., -1., -1.],
           [ 1.,  1.,  1.]])
    """

    def __init__(self, offset, coords, comps, scale=None):
        self.offset = np.asarray(offset, dtype=np.float64)
        self.coords = np.asarray(coords, dtype=np.float64)
        self.comps = np.asarray(comps, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)

    def factors(self, shift=None):
        """``(coef, basis)`` with ``coef @ basis`` = the codebook minus ``shift``."""
        m = len(self.coords)
        offset = self.offset if shift is None else self.offset - shift
        coef = np.hstack([np.ones((m, 1)), self.coords])
        if self.scale is not None:
            coef *= self.scale[:, None]
        return coef, np.vstack([offset[None], self.comps])

    def dense(self):
        coef, basis = self.factors()
        return coef @ basis

    def unit_rows(self):
        """The same codebook with every row scaled to unit norm."""
        norms = np.linalg.norm(self.dense(), axis=1)
        norms[norms == 0] = 1.0
        scale = 1.0 / norms if self.scale is None else self.scale / norms
        return LowRank(self.offset, self.coords, self.comps, scale)


class Codebook:
    """A codebook prepared for repeated BMU searches in one metric.

    Holds the shifted codebook, its transposed ``-2 W`` and squared norms so
    every chunk costs one GEMM plus one pass over the score block.
    """

    def __init__(self, W, metric, low_rank=None):
        self.metric = metric
        W = np.ascontiguousarray(W)
        if metric == "cosine":
            W = normalize_rows(W)
        self.W = W
        self.lr_proj = self.lr_coef = None
        self.n_units = W.shape[0]
        self.shift = None
        if metric == "euclidean":
            self.shift = W.mean(axis=0, dtype=np.float64).astype(W.dtype)
            Ws = W - self.shift
            # [-2 Ws^T; ||w||^2]: with a column of ones appended to the shifted
            # chunk, one GEMM gives the scores, bias included
            d = W.shape[1]
            self.Wt_aug = np.empty((d + 1, W.shape[0]), dtype=W.dtype)
            np.multiply(Ws.T, -2, out=self.Wt_aug[:d])
            np.einsum("ij,ij->i", Ws, Ws, out=self.Wt_aug[d])
            self.Wt = self.Wt_aug[:d]  # a contiguous view
            self.bias = self.Wt_aug[d]
        elif metric in ("cosine", "dot"):
            self.Wt = np.ascontiguousarray(-W.T)
            self.bias = np.zeros(W.shape[0], dtype=W.dtype)
        # Only for distinct units: identical rows (a zero component, rows
        # equal after normalising) must tie exactly, and the factored scores
        # of identical rows may differ in the last bit.
        if (
            low_rank is not None
            and metric in _GEMM_METRICS
            and len(np.unique(W, axis=0)) == len(W)
        ):
            # scores = [Cs @ basis^T, 1] @ [-2 coef^T; ||w||^2] (euclidean) or
            # -[C @ basis^T] @ coef^T: O(k) per unit instead of O(n_features)
            shift = None if self.shift is None else self.shift.astype(np.float64)
            coef, basis = low_rank.factors(shift)
            if metric == "euclidean":
                exact = coef @ basis
                bias = np.einsum("ij,ij->i", exact, exact)
                lr_coef = np.vstack([-2.0 * coef.T, bias[None]])
            else:
                lr_coef = np.vstack([-coef.T, np.zeros((1, len(coef)))])
            self.lr_proj = np.ascontiguousarray(basis.T, dtype=W.dtype)
            self.lr_coef = np.ascontiguousarray(lr_coef, dtype=W.dtype)

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
        return _pair_distance(C, self.W, idx, self.metric)


_NO_SUMS = np.zeros((0, 1))
_NO_POS = np.zeros((1, 1))
_NO_PERIOD = np.ones(1)


class _Worker:
    """Buffers and running totals of one thread of a pass."""

    def __init__(self, cb, rows, d, dtype, accumulate):
        self.rows, self.d, self.dtype = rows, d, dtype
        self._C = None
        self.Cs = None
        if cb.shift is not None:
            self.Cs = np.empty((rows, d + 1), dtype=dtype)
            self.Cs[:, d] = 1
        gemm = cb.metric in _GEMM_METRICS
        self.S = np.empty((rows, cb.n_units), dtype=dtype) if gemm else None
        self.idx1 = np.empty(rows, dtype=np.int64)
        self.idx2 = np.empty(rows, dtype=np.int64)
        self.P = None  # projections of a chunk for low-rank codebooks
        self.dist = np.empty(rows)
        self.ones = np.ones(rows)
        self.arange = np.arange(rows)
        m = cb.n_units
        self.sums = np.zeros((m, d)) if accumulate else _NO_SUMS
        self.wsum = np.zeros(m if accumulate else 0)
        self.qe = self.te = self.weight = 0.0


_BUFFERS = threading.local()


@contextlib.contextmanager
def reuse_buffers():
    """Keep the chunk buffers of passes from one thread alive for the next pass.

    Used around a training run: fresh multi-megabyte blocks every epoch cost
    page faults that can exceed the work on small data. Cleared on exit.
    """
    outer = getattr(_BUFFERS, "enabled", False)
    _BUFFERS.enabled = True
    try:
        yield
    finally:
        _BUFFERS.enabled = outer
        if not outer:
            _BUFFERS.cache = None


def _workers_for(cb, rows, d, dtype, accumulate, count):
    """``count`` workers' buffers, reused inside :func:`reuse_buffers`."""
    if not getattr(_BUFFERS, "enabled", False):
        return [_Worker(cb, rows, d, dtype, accumulate) for _ in range(count)]
    key = (
        rows,
        d,
        cb.n_units,
        np.dtype(dtype).str,
        cb.shift is not None,
        cb.metric in _GEMM_METRICS,
        accumulate,
    )
    cache = getattr(_BUFFERS, "cache", None)
    if cache is None or cache[0] != key or len(cache[1]) < count:
        cache = (key, [_Worker(cb, rows, d, dtype, accumulate) for _ in range(count)])
        _BUFFERS.cache = cache
    workers = cache[1][:count]
    for w in workers:
        w.sums.fill(0.0)
        w.wsum.fill(0.0)
        w.qe = w.te = w.weight = 0.0
    return workers


def _rows(X, a, b, dtype, worker):
    """``X[a:b]`` as a C-contiguous ``dtype`` array (a view when possible)."""
    part = X[a:b]
    if isinstance(part, np.ndarray) and part.dtype == dtype and part.flags.c_contiguous:
        return np.asarray(part)
    if worker._C is None:
        worker._C = np.empty((worker.rows, worker.d), dtype=worker.dtype)
    out = worker._C[: b - a]
    out[...] = part
    return out


def _balanced_rows(n, rows, workers):
    """At most ``rows`` rows per chunk, a whole number of equal chunks per thread.

    Keeps every thread busy to the end of a pass (3 chunks on 2 threads
    would leave one thread idle for a third of it).
    """
    if workers <= 1 or n <= 0:
        return rows
    per_thread = -(-n // (workers * rows))
    return max(1, -(-n // (workers * per_thread)))


def _scan(
    X, cb, dtype, *, rows, sample_weight=None, accumulate=False, te=None, out=None
):
    """One pass over X with codebook ``cb``: BMUs, distances, sums, TE.

    Chunks of ``rows`` rows are shared out, in a fixed pattern, among up to
    :func:`n_workers` threads; each thread keeps its own float64 totals,
    added in thread order at the end (results do not depend on timing).

    Parameters
    ----------
    te : (Grid, limit) or None
        Count topographic errors with this adjacency limit.
    out : dict or None
        Arrays of length n_samples to fill: "idx", "dist", "idx2".

    Returns
    -------
    workers : list of _Worker (their ``sums``, ``wsum``, ``qe``, ``te``,
        ``weight``).
    """
    n, d = X.shape
    m = cb.n_units
    metric = _METRIC_NUM[cb.metric]
    workers = n_workers() if n * m * max(d, 1) >= _THREAD_WORK else 1
    rows = _balanced_rows(n, max(1, min(rows, n)), workers)
    n_chunks = -(-n // rows) if n else 0
    workers = max(1, min(workers, n_chunks))
    if te is not None and m > 1:
        grid, limit = te
        pos, period, periodic = grid.positions, grid.period, bool(grid.periodic)
        pos = np.ascontiguousarray(pos, dtype=np.float64)
        period = np.ascontiguousarray(period, dtype=np.float64)
    else:
        pos, period, periodic, limit = _NO_POS, _NO_PERIOD, False, -1.0
    gemm = cb.metric in _GEMM_METRICS
    second = limit >= 0 or (out is not None and "idx2" in out)
    state = _workers_for(cb, rows, d, dtype, accumulate, workers)
    sw_all = (
        None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    )

    def work(k):
        s = state[k]
        for c in range(k, n_chunks, workers):
            a = c * rows
            b = min(a + rows, n)
            r = b - a
            C = _rows(X, a, b, dtype, s)
            if cb.metric == "cosine":
                C = normalize_rows(C)
            if out is not None:
                i1 = out["idx"][a:b]
                dist = out["dist"][a:b]
                i2 = out["idx2"][a:b] if "idx2" in out else s.idx2[:r]
            else:
                i1, i2, dist = s.idx1[:r], s.idx2[:r], s.dist[:r]
            Cs = C
            if cb.shift is not None:
                np.subtract(C, cb.shift, out=s.Cs[:r, :d])
                Cs = s.Cs[:r, :d]
            if gemm:
                # scores in place, then numpy's SIMD argmin (first = lowest
                # index on ties); the winner masked for the runner-up
                if cb.lr_proj is not None:
                    q = cb.lr_proj.shape[1]
                    if s.P is None or s.P.shape[1] != q + 1:
                        s.P = np.ones((s.rows, q + 1), dtype=dtype)
                    np.matmul(Cs, cb.lr_proj, out=s.P[:r, :q])
                    S = np.matmul(s.P[:r], cb.lr_coef, out=s.S[:r])
                elif cb.shift is not None:
                    S = np.matmul(s.Cs[:r], cb.Wt_aug, out=s.S[:r])
                else:
                    S = np.matmul(Cs, cb.Wt, out=s.S[:r])
                    np.add(S, cb.bias, out=S)
                np.argmin(S, axis=1, out=i1)
                if second:
                    S[s.arange[:r], i1] = np.inf
                    np.argmin(S, axis=1, out=i2)
                else:
                    i2[...] = i1
            else:
                _top2_direct(C, cb.W, _METRIC_ID[cb.metric], i1, i2)
            sw = s.ones[:r] if sw_all is None else sw_all[a:b]
            q, t, w = _finish_rows(
                C,
                cb.W,
                i1,
                i2,
                sw,
                metric,
                dist,
                s.sums,
                s.wsum,
                pos,
                period,
                periodic,
                limit,
            )
            s.qe += q
            s.te += t
            s.weight += w

    with _blas_single_thread():
        if workers == 1:
            work(0)
            return state
        pool = _pool(workers - 1)
        futures = [pool.submit(work, k) for k in range(1, workers)]
        try:
            work(0)
        finally:
            for f in futures:
                f.result()
    return state


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
    dtype = np.dtype(W.dtype if dtype is None else dtype)
    cb = Codebook(W.astype(dtype, copy=False), metric)
    n = X.shape[0]
    out = {"idx": np.empty(n, dtype=np.int64), "dist": np.empty(n, dtype=np.float64)}
    if second:
        out["idx2"] = np.empty(n, dtype=np.int64)
    _scan(X, cb, dtype, rows=chunk_rows(cb.n_units, batch_size), out=out)
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
):
    """Quantization and topographic error sums of X, without per-sample arrays.

    Memory stays at a few chunk-sized blocks whatever the number of rows.

    Returns
    -------
    stats : dict
        ``qe_sum`` (weighted sum of BMU distances), ``te_sum`` (weighted count
        of rows whose two best units are not adjacent on ``grid`` under
        ``adjacency``; 0 without a grid) and ``weight`` (total weight).
    """
    dtype = np.dtype(W.dtype if dtype is None else dtype)
    cb = Codebook(W.astype(dtype, copy=False), metric)
    te = None
    if grid is not None:
        limit = 1.0
        if adjacency == "diagonal" and grid.topology == "rect" and grid.ndim >= 2:
            limit = math.sqrt(2)
        te = (grid, limit)
    state = _scan(
        X,
        cb,
        dtype,
        rows=chunk_rows(cb.n_units, batch_size),
        sample_weight=sample_weight,
        te=te,
    )
    return {
        "qe_sum": sum(s.qe for s in state),
        "te_sum": sum(s.te for s in state),
        "weight": sum(s.weight for s in state),
    }


def _run_workers(n_chunks, work):
    """Call ``work(k, workers)`` for each of up to :func:`n_workers` threads."""
    workers = max(1, min(n_workers(), n_chunks))
    with _blas_single_thread():
        if workers == 1:
            work(0, 1)
            return 1
        pool = _pool(workers - 1)
        futures = [pool.submit(work, k, workers) for k in range(1, workers)]
        try:
            work(0, workers)
        finally:
            for f in futures:
                f.result()
    return workers


def moments(X, sample_weight=None, *, rows=8192):
    """Weighted mean and population covariance of the rows of X, chunked.

    Float32 data are centred and multiplied in float32 chunks of ``rows`` rows
    (one symmetric rank-k product each) and accumulated in float64; float64
    data stay float64. Two passes over X (a memmap is read, never copied).

    Returns
    -------
    mean : ndarray (n_features,) float64
    cov : ndarray (n_features, n_features) float64
    """
    n, d = X.shape
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    total = float(n) if sw is None else float(sw.sum())
    rows = _balanced_rows(n, rows, n_workers())
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

    workers = _run_workers(n_chunks, mean_part)
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

    workers = _run_workers(n_chunks, cov_part)
    cov = sum(parts[k] for k in range(workers)) / total
    return mean, cov


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
def batch_sums(
    X, W, metric, sample_weight=None, *, batch_size=None, grid=None, low_rank=None
):
    """One pass of the batch map: per-unit weighted sums of the samples.

    ``low_rank`` (a :class:`LowRank` equal to ``W``, e.g. the PCA init) makes
    the BMU search of a GEMM metric cost O(k) per unit instead of
    O(n_features); the winners' distances and the sums still use ``W``.

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
    cb = Codebook(W, metric, low_rank)
    state = _scan(
        X,
        cb,
        W.dtype,
        rows=chunk_rows(cb.n_units, batch_size),
        sample_weight=sample_weight,
        accumulate=True,
        te=None if grid is None else (grid, 1.0),
    )
    # copies: the workers' buffers may be reused by the next pass
    sums, wsum = state[0].sums.copy(), state[0].wsum.copy()
    for s in state[1:]:
        sums += s.sums
        wsum += s.wsum
    stats = {
        "qe_sum": sum(s.qe for s in state),
        "te_sum": sum(s.te for s in state),
        "weight": sum(s.weight for s in state),
    }
    return sums, wsum, stats


def _separable_gaussian(grid, sums, sigma):
    """Apply the gaussian kernel axis by axis (exact for rect grids).

    Each axis is one matrix product on a view of the values (no transposed
    copies): ``(size x size) @ (size x rest)`` batched over the leading axes.
    """
    shape = tuple(grid.shape)
    out = np.ascontiguousarray(sums, dtype=np.float64)
    k = out.shape[1]
    for axis, size in enumerate(shape):
        c = np.arange(size, dtype=np.float64)
        dk = np.abs(c[:, None] - c[None, :])
        if grid.periodic:
            dk = np.minimum(dk, size - dk)
        hk = neighborhood("gaussian", dk, sigma)
        lead = math.prod(shape[:axis])
        rest = math.prod(shape[axis + 1 :]) * k
        out = np.matmul(hk, out.reshape(lead, size, rest)).reshape(sums.shape)
    return out


def _extent(size, reach):
    """Largest index offset along one grid axis that the kernel can reach."""
    if not np.isfinite(reach):
        return size - 1
    # hex rows are sqrt(3)/2 apart: index offsets reach 2/sqrt(3) further
    return min(size - 1, int(reach * 1.155) + 2)


def _kernel_image(grid, kernel, sigma, reach, fshape, parity=None):
    """The kernel as an image over offsets (wrapped into an FFT of ``fshape``).

    ``image[o] = h(d(o))`` for every offset o within the grid's extent (and
    within ``reach``), stored at index ``o mod fshape``; for a hex grid the
    offsets start from rows of the given ``parity``.
    """
    axes = []
    for size in grid.shape:
        if grid.periodic:
            axes.append(np.arange(size))
        else:
            e = _extent(size, reach)
            axes.append(np.arange(-e, e + 1))
    mesh = np.meshgrid(*axes, indexing="ij")
    if grid.topology == "hex":
        dr, dc = mesh
        dy = dr * (math.sqrt(3) / 2)
        dx = dc + 0.5 * (((parity + dr) % 2) - parity)
        delta = [np.abs(dy), np.abs(dx)]
    else:
        delta = [np.abs(o).astype(np.float64) for o in mesh]
    if grid.periodic:
        delta = [np.minimum(t, p - t) for t, p in zip(delta, grid.period, strict=True)]
    dist = np.sqrt(sum(t * t for t in delta))
    h = neighborhood(kernel, dist, sigma)
    if np.isfinite(reach):
        h[dist > reach + 1e-9] = 0.0
    image = np.zeros(fshape)
    # distinct offsets land on distinct indices (fshape >= extent + size)
    image[tuple(np.mod(o, n) for o, n in zip(mesh, fshape, strict=True))] = h
    return image


def _fft_smooth(grid, kernel, sigma, values):
    """``H @ values`` as a convolution over the grid (rect or hex), by FFT.

    Exact up to FFT rounding (~1e-15 of the largest term); outputs whose reach
    holds no non-zero input row are exactly zero, as in the dense product.
    Hex grids are translation invariant per source-row parity, so they take
    one kernel image per parity. Memory: O(n_units x k), never n_units^2.
    """
    from scipy import fft

    shape = grid.shape
    nd = len(shape)
    k = values.shape[1]
    reach = support(kernel, sigma)
    if grid.periodic:
        fshape = tuple(shape)
    else:
        fshape = tuple(
            fft.next_fast_len(size + _extent(size, reach), real=True) for size in shape
        )
    axes = tuple(range(nd))
    V = values.reshape(*shape, k)
    nonzero = np.any(values != 0, axis=1).reshape(shape).astype(np.float64)
    parities = (0, 1) if grid.topology == "hex" else (None,)
    acc = None
    cnt = None
    for p in parities:
        if p is None:
            Vp, Ip = V, nonzero
        else:
            rows = (np.arange(shape[0]) % 2 == p)[:, None]
            Vp = V * rows[..., None]
            Ip = nonzero * rows
        img = _kernel_image(grid, kernel, sigma, reach, fshape, parity=p)
        Kf = fft.rfftn(img, s=fshape, axes=axes)
        term = fft.rfftn(Vp, s=fshape, axes=axes) * Kf[..., None]
        mask = fft.rfftn((img != 0).astype(np.float64), s=fshape, axes=axes)
        hits = fft.rfftn(Ip, s=fshape, axes=axes) * mask
        acc = term if acc is None else acc + term
        cnt = hits if cnt is None else cnt + hits
    out = fft.irfftn(acc, s=fshape, axes=axes)
    counts = fft.irfftn(cnt, s=fshape, axes=axes)
    crop = tuple(slice(0, size) for size in shape)
    out = np.ascontiguousarray(out[crop]).reshape(values.shape)
    empty = counts[crop].reshape(-1) < 0.5
    out[empty] = 0.0
    return out


def smooth(grid, kernel, sigma, values):
    """Neighbourhood-weighted sums ``H @ values`` with ``H[j, k] = h(d(j, k))``.

    ``values`` is (n_units, k). Never forms a dense n_units^2 matrix on large
    maps (more than 2,500 units): the gaussian on rect grids is applied axis
    by axis (exact); every other kernel and the hex gaussian (cut at 4
    sigma, :data:`somkit._neighborhood.GAUSSIAN_CUTOFF`) is a convolution over
    the grid computed by FFT (per row parity on hex grids).
    """
    m = grid.n_units
    if sigma <= 0:
        return values.copy()
    if kernel == "gaussian" and grid.topology == "rect":
        return _separable_gaussian(grid, values, sigma)
    if m <= _DENSE_UNITS:
        return neighborhood(kernel, grid.distances(), sigma) @ values
    return _fft_smooth(grid, kernel, sigma, np.asarray(values, dtype=np.float64))


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
    "LowRank",
    "batch_sums",
    "batch_update",
    "bmu",
    "bmu_stats",
    "moments",
    "chunk_rows",
    "minibatch_step",
    "minibatch_update",
    "pairwise_distances",
    "smooth",
]
