"""BMU search and the passes over the data of the numpy backend.

The euclidean BMU search is one GEMM per chunk: ``argmin_j ||w_j||^2 - 2 x.w_j``
(``||x||^2`` is constant per row and dropped). Data and codebook are shifted by
the codebook mean first so the expansion does not cancel catastrophically on
uncentred data, and the distance reported for the winner is recomputed exactly
(:func:`somkit._kernels._numba.row_distance`). Ties go to the lowest unit index.

Holes (NaN, ``masked=True``): a chunk with holes is searched over each row's
observed features with the mask in the products. With ``X0`` the shifted
chunk with holes set to 0 and ``M`` its observed mask,
``sum_k M_k (x_k - w_k)^2 = sum_k M_k x_k^2 - 2 X0.w + M.(w^2)``; the first
term is constant per row, so one GEMM of ``[X0 | M]`` against
``[-2 W^T; (W^2)^T]`` ranks the units (the ``n_features / n_observed``
rescaling is per row too and only enters the reported distance, which is
recomputed exactly over the observed features). Cosine ranks by
``X0.w / sqrt(M.(w^2))``, dot by ``-X0.w``, manhattan and chebyshev by the
compiled loop. Chunks without holes take the plain path.
"""

from __future__ import annotations

import math

import numpy as np

from somkit._kernels._distances import chunk_rows, normalize_rows, pairwise_distances
from somkit._kernels._numba import (
    accumulate,
    finish_rows,
    top2_direct,
    top2_exact,
)
from somkit._kernels._threads import (
    THREAD_WORK,
    balanced_rows,
    blas_single_thread,
    cached_buffers,
    n_workers,
    run_workers,
)
from somkit._kernels._tolerance import (
    LAMBDA,
    masked_tolerance,
    score_tolerance,
)
from somkit._registry import GEMM_METRICS, METRIC_ID


class Factored:
    """A codebook given as ``scale[:, None] * (offset + coords @ comps)``.

    The PCA initialisation has this form with a handful of components, so
    the scores of a GEMM metric cost two thin products (data onto the
    components, then onto the units) instead of one against every unit.

    Examples
    --------
    >>> f = Factored(np.zeros(3), np.array([[-1.0], [1.0]]), np.ones((1, 3)))
    >>> f.dense()
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
        return Factored(self.offset, self.coords, self.comps, scale)


class Codebook:
    """A codebook prepared for repeated BMU searches in one metric.

    Holds the shifted codebook, its transposed ``-2 W`` and squared norms so
    every chunk costs one GEMM plus one pass over the score block.
    """

    def __init__(self, W, metric, factored=None):
        self.metric = metric
        self.metric_id = METRIC_ID[metric]
        self.gemm = metric in GEMM_METRICS
        W = np.ascontiguousarray(W)
        if metric == "cosine":
            W = normalize_rows(W)
        self.W = W
        self.proj = self.coef = None
        coef_aug = None
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
            Ws64 = Ws.astype(np.float64)
            self.Wt_aug[d] = np.einsum("ij,ij->i", Ws64, Ws64)
            self.Wt = self.Wt_aug[:d]  # a contiguous view
            self.bias = self.Wt_aug[d]
        elif self.gemm:
            self.Wt = np.ascontiguousarray(-W.T)
            self.bias = np.zeros(W.shape[0], dtype=W.dtype)
        # Only for distinct units: identical rows (a zero component, rows
        # equal after normalising) must tie exactly, and the factored scores
        # of identical rows may differ in the last bit.
        if factored is not None and self.gemm and len(np.unique(W, axis=0)) == len(W):
            # scores = [Cs @ basis^T, 1] @ [-2 coef^T; ||w||^2] (euclidean) or
            # -[C @ basis^T] @ coef^T: O(k) per unit instead of O(n_features)
            shift = None if self.shift is None else self.shift.astype(np.float64)
            coef, basis = factored.factors(shift)
            if metric == "euclidean":
                exact = coef @ basis
                bias = np.einsum("ij,ij->i", exact, exact)
                coef_aug = np.vstack([-2.0 * coef.T, bias[None]])
            else:
                coef_aug = np.vstack([-coef.T, np.zeros((1, len(coef)))])
            self.proj = np.ascontiguousarray(basis.T, dtype=W.dtype)
            self.coef = np.ascontiguousarray(coef_aug, dtype=W.dtype)
        self.tol = None
        if self.gemm:
            Ws = W.astype(np.float64)
            if self.shift is not None:
                Ws = (W - self.shift).astype(np.float64)
            thin = None
            if self.proj is not None:
                thin = (np.linalg.norm(basis, axis=1), coef_aug)
            self.tol = score_tolerance(Ws, W.dtype, self.shift is not None, thin)

    def masked_weights(self):
        """The right-hand side of the masked products (built once).

        euclidean: ``[-2 Ws^T; (Ws^2)^T]`` (2 d, n_units) for ``[X0s | M]``;
        cosine: ``(W^2)^T`` for the observed norms of the units.
        """
        if getattr(self, "_masked", None) is None:
            if self.metric == "euclidean":
                d = self.W.shape[1]
                Ws = self.W - self.shift
                rhs = np.empty((2 * d, self.n_units), dtype=self.W.dtype)
                rhs[:d] = self.Wt
                np.square(Ws.T, out=rhs[d:])
                self._masked = rhs
            else:
                self._masked = np.ascontiguousarray(np.square(self.W).T)
        return self._masked

    def masked_tol(self):
        """The band of :func:`masked_tolerance` for this codebook (built once)."""
        if getattr(self, "_masked_tol", None) is None:
            Ws = self.W if self.shift is None else self.W - self.shift
            self._masked_tol = masked_tolerance(
                Ws.astype(np.float64), self.W.dtype, self.metric
            )
        return self._masked_tol


_NO_SUMS = np.zeros((0, 1))
_NO_POS = np.zeros((1, 1))
_NO_PERIOD = np.ones(1)


class _Worker:
    """Buffers and running totals of one thread of a pass."""

    def __init__(self, cb, rows, d, dtype, accumulate, masked=False):
        self.rows, self.d, self.dtype = rows, d, dtype
        self._C = None
        self.Cm = None  # [X0 | M] of a chunk with holes (masked searches)
        self.Cs = None
        if cb.shift is not None:
            self.Cs = np.empty((rows, d + 1), dtype=dtype)
            self.Cs[:, d] = 1
        self.S = np.empty((rows, cb.n_units), dtype=dtype) if cb.gemm else None
        self.idx1 = np.empty(rows, dtype=np.int64)
        self.idx2 = np.empty(rows, dtype=np.int64)
        self.P = None  # projections of a chunk for factored codebooks
        self.dist = np.empty(rows)
        self.ones = np.ones(rows)
        m = cb.n_units
        self.sums = np.zeros((m, d)) if accumulate else _NO_SUMS
        self.wsum = np.zeros(m if accumulate else 0)
        # per unit and feature weights of the rows with holes
        self.wsum2 = np.zeros((m, d) if accumulate and masked else (0, 1))
        self.holes = False  # whether a chunk with holes was summed
        self.qe = self.te = self.weight = 0.0

    def unit_weights(self):
        """``wsum`` (n_units,), or (n_units, n_features) once holes were seen."""
        if not self.holes:
            return self.wsum
        return self.wsum2 + self.wsum[:, None]


def _workers_for(cb, rows, d, dtype, accumulate, count, masked=False):
    """``count`` workers' buffers, reused across the passes of a training run."""
    key = (
        rows,
        d,
        cb.n_units,
        np.dtype(dtype).str,
        cb.shift is not None,
        cb.gemm,
        accumulate,
        masked,
    )
    workers, reused = cached_buffers(
        key, count, lambda: _Worker(cb, rows, d, dtype, accumulate, masked)
    )
    if reused:
        for w in workers:
            w.sums.fill(0.0)
            w.wsum.fill(0.0)
            w.wsum2.fill(0.0)
            w.holes = False
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


def _te_geometry(te, m):
    """Grid arrays for the topographic-error count (or placeholders)."""
    if te is None or m < 2:
        return _NO_POS, _NO_PERIOD, False, -1.0
    grid, limit = te
    pos = np.ascontiguousarray(grid.positions, dtype=np.float64)
    period = np.ascontiguousarray(grid.period, dtype=np.float64)
    return pos, period, bool(grid.periodic), float(limit)


def _scores(cb, s, C, Cs, r, dtype):
    """The (r x n_units) score block of a chunk, in the worker's buffer."""
    d = C.shape[1]
    if cb.proj is not None:
        q = cb.proj.shape[1]
        if s.P is None or s.P.shape[1] != q + 1:
            s.P = np.ones((s.rows, q + 1), dtype=dtype)
        np.matmul(Cs, cb.proj, out=s.P[:r, :q])
        return np.matmul(s.P[:r], cb.coef, out=s.S[:r])
    if cb.shift is not None:
        return np.matmul(s.Cs[:r, : d + 1], cb.Wt_aug, out=s.S[:r])
    S = np.matmul(Cs, cb.Wt, out=s.S[:r])
    return np.add(S, cb.bias, out=S)


def _masked_scores(cb, s, C, nan, r):
    """The score block of a chunk with holes (GEMM metrics; see module doc)."""
    d = C.shape[1]
    if s.Cm is None:
        s.Cm = np.empty((s.rows, 2 * d), dtype=s.dtype)
    X0 = s.Cm[:r, :d]
    M = s.Cm[:r, d:]
    np.logical_not(nan, out=M, casting="unsafe")
    if cb.shift is not None:
        np.subtract(C, cb.shift, out=X0)
    else:
        X0[...] = C
    np.copyto(X0, 0, where=nan)
    if cb.metric == "euclidean":
        return np.matmul(s.Cm[:r], cb.masked_weights(), out=s.S[:r])
    S = np.matmul(X0, cb.Wt, out=s.S[:r])
    if cb.metric == "cosine":
        # -x0.w / |w_obs|: the cosine of the observed parts (x0 has unit norm)
        norms = np.sqrt(M @ cb.masked_weights())
        np.maximum(norms, np.finfo(s.dtype).tiny, out=norms)
        np.divide(S, norms, out=S)
    return S


def scan(
    X,
    cb,
    dtype,
    *,
    rows,
    sample_weight=None,
    accumulate=False,
    te=None,
    out=None,
    threaded=True,
    masked=False,
):
    """One pass over X with codebook ``cb``: BMUs, distances, sums, TE.

    Chunks of ``rows`` rows are shared out, in a fixed pattern, among up to
    :func:`~somkit._kernels._threads.n_workers` threads; each thread keeps its
    own float64 totals, added in thread order at the end (results do not
    depend on timing).

    Parameters
    ----------
    te : (Grid, limit) or None
        Count topographic errors with this adjacency limit.
    out : dict or None
        Arrays of length n_samples to fill: "idx", "dist", "idx2".
    threaded : bool, default=True
        False runs the pass in the calling thread (small minibatches).
    masked : bool, default=False
        X may hold holes (NaN): chunks with holes are searched and summed
        over their observed features (see the module docstring).

    Returns
    -------
    workers : list of _Worker (their ``sums``, ``unit_weights()``, ``qe``,
        ``te``, ``weight``).
    """
    n, d = X.shape
    m = cb.n_units
    big = threaded and n * m * max(d, 1) >= THREAD_WORK
    workers = n_workers() if big else 1
    rows = balanced_rows(n, max(1, min(rows, n)), workers)
    n_chunks = -(-n // rows) if n else 0
    workers = max(1, min(workers, n_chunks))
    pos, period, periodic, limit = _te_geometry(te, m)
    second = limit >= 0 or (out is not None and "idx2" in out)
    state = _workers_for(cb, rows, d, dtype, accumulate, workers, masked)
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
            nan = np.isnan(C) if masked else None
            if nan is not None and not nan.any():
                nan = None
            Cs = C
            if cb.shift is not None and nan is None:
                np.subtract(C, cb.shift, out=s.Cs[:r, :d])
                Cs = s.Cs[:r, :d]
            if cb.gemm:
                # scores in place; they shortlist, float64 distances decide
                if nan is not None:
                    S = _masked_scores(cb, s, C, nan, r)
                    X0 = s.Cm[:r, :d]  # the shifted chunk, holes at 0
                    tol = cb.masked_tol()
                else:
                    S = _scores(cb, s, C, Cs, r, dtype)
                    X0, tol = Cs, cb.tol
                holes = nan is not None
                top2_exact(
                    S, C, X0, cb.W, cb.metric_id, second, tol, i1, i2, dist, holes
                )
            else:
                top2_direct(C, cb.W, cb.metric_id, i1, i2, dist, nan is not None)
            sw = s.ones[:r] if sw_all is None else sw_all[a:b]
            holes = nan is not None
            s.holes |= holes and accumulate
            q, t, w = finish_rows(
                C,
                i1,
                i2,
                sw,
                dist,
                s.sums,
                s.wsum2 if holes else s.wsum[:, None],
                pos,
                period,
                periodic,
                limit,
                holes,
            )
            s.qe += q
            s.te += t
            s.weight += w

    run_workers(n_chunks, lambda k, _count: work(k), workers)
    return state


def _totals(state):
    return {
        "qe_sum": sum(s.qe for s in state),
        "te_sum": sum(s.te for s in state),
        "weight": sum(s.weight for s in state),
    }


def te_limit(grid, adjacency="edges"):
    """Grid distance up to which two units count as adjacent."""
    if adjacency == "diagonal" and grid.topology == "rect" and grid.ndim >= 2:
        return math.sqrt(2)
    return 1.0


def bmu(X, W, metric, *, second=False, batch_size=None, dtype=None, masked=False):
    """Best-matching units of all rows of ``X`` (chunked).

    ``masked``: rows may hold holes (NaN), searched over their observed
    features (see the module docstring).

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
    scan(X, cb, dtype, rows=chunk_rows(cb.n_units, batch_size), out=out, masked=masked)
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
    te = None if grid is None else (grid, te_limit(grid, adjacency))
    state = scan(
        X,
        cb,
        dtype,
        rows=chunk_rows(cb.n_units, batch_size),
        sample_weight=sample_weight,
        te=te,
        masked=masked,
    )
    return _totals(state)


def _unit_sums(state):
    """Per-unit sums and weights added over the workers (fresh arrays)."""
    sums = state[0].sums.copy()
    wsum = np.array(state[0].unit_weights())
    for s in state[1:]:
        sums += s.sums
        other = s.unit_weights()
        if other.ndim > wsum.ndim:
            wsum = wsum[:, None] + other
        else:
            wsum += other if other.ndim == wsum.ndim else other[:, None]
    return sums, wsum


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
    """One pass of the batch map: per-unit weighted sums of the samples.

    ``factored`` (a :class:`Factored` equal to ``W``, e.g. the PCA init) makes
    the BMU search of a GEMM metric cost O(k) per unit instead of
    O(n_features); the winners' distances and the sums still use ``W``.

    Returns
    -------
    sums : ndarray (n_units, n_features) float64
        ``sum_i s_i x_i`` over samples whose BMU is each unit.
    wsum : ndarray (n_units,) float64
        ``sum_i s_i`` per unit; (n_units, n_features) when ``masked`` and X
        has holes: the weight of the observed values per unit and feature
        (holes add nothing to ``sums``).
    stats : dict
        ``qe_sum`` (weighted sum of BMU distances), ``te_sum`` (weighted count
        of samples whose two best units are not adjacent on ``grid``) and
        ``weight`` (total sample weight), for the codebook entering the pass.
    """
    cb = Codebook(W, metric, factored)
    state = scan(
        X,
        cb,
        W.dtype,
        rows=chunk_rows(cb.n_units, batch_size),
        sample_weight=sample_weight,
        accumulate=True,
        te=None if grid is None else (grid, 1.0),
        masked=masked,
    )
    # copies: the workers' buffers may be reused by the next pass
    sums, wsum = _unit_sums(state)
    return sums, wsum, _totals(state)


def minibatch_sums(C, W, metric, sw, grid, masked=False):
    """BMUs of one prepared minibatch ``C`` and its per-unit sums.

    Returns ``(sums, wsum, qe_sum, te_sum)``: the float64 sums of the batch
    rule for this minibatch, and its weighted QE and TE sums for ``W``.
    """
    cb = Codebook(W, metric)
    state = scan(
        C,
        cb,
        W.dtype,
        rows=len(C) or 1,
        sample_weight=sw,
        accumulate=True,
        te=(grid, 1.0),
        threaded=False,
        masked=masked,
    )
    sums, wsum = _unit_sums(state)
    return sums, wsum, state[0].qe, state[0].te


def distances(X, W, metric, *, batch_size=None):
    """Distance of every row of X to every unit, in chunks (``transform``).

    float32 data give float32 distances, anything else float64. Rows with
    holes (NaN) are measured over their observed features.
    """
    out_dtype = np.float32 if X.dtype == np.float32 else np.float64
    n = X.shape[0]
    D = np.empty((n, W.shape[0]), dtype=out_dtype)
    rows = chunk_rows(W.shape[0], batch_size)
    with blas_single_thread():
        for a in range(0, n, rows):
            D[a : a + rows] = pairwise_distances(np.asarray(X[a : a + rows]), W, metric)
    return D


__all__ = [
    "LAMBDA",
    "Codebook",
    "Factored",
    "accumulate",
    "batch_sums",
    "bmu",
    "bmu_stats",
    "distances",
    "masked_tolerance",
    "minibatch_sums",
    "scan",
    "score_tolerance",
]
