"""The backend interface: what a backend computes, and what it declares.

A backend owns every computation that touches the data or the codebook
arrays; the training driver (``somkit._train``) writes each update rule once
over these primitives, and the estimator never calls a kernel directly.

Arrays: ``X`` is the user's input in the backend's native form (numpy arrays
and memmaps, torch tensors, dask arrays). The codebook ``W`` and the per-unit
sums live in the backend's array type between :meth:`Backend.asarray` and
:meth:`Backend.to_numpy`; sums are float64. Results of the passes over the
data follow the input: numpy for in-memory input, lazy dask arrays for dask
input (``lazy = True``).
"""

from __future__ import annotations

import numpy as np


def take_rows(X, rows):
    """Rows of X in the given order (sorted reads, so memmaps stay fast)."""
    srt = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), X.shape[1]), dtype=X.dtype)
    out[srt] = X[rows[srt]]
    return out


class Backend:
    """Base class of the numpy, torch and dask backends.

    Subclasses set the class attributes and implement the methods that raise
    ``NotImplementedError`` here. The array helpers default to numpy.

    Attributes
    ----------
    name : str
        "numpy", "torch" or "dask".
    algorithms : tuple of str
        Training rules this backend runs (others are refused by the resolver).
    lazy : bool
        Per-sample results are lazy arrays (dask) rather than numpy arrays.
    device : str or None
        Where the work runs ("cpu", "cuda:0", ...; None for numpy and dask).
    supports_missing : bool
        The passes can measure and sum rows with holes (NaN) over their
        observed features; the resolver refuses ``missing="ignore"`` on a
        backend without it.
    masked : bool
        Set by the resolver for a map with ``missing="ignore"``: every pass
        of this call treats NaN entries as holes (rows without holes take
        the plain path).
    few_passes : bool
        A pass over the data is costly (a cluster map-reduce, a re-read of
        files): the initialisation uses methods with few passes.
    minibatch_by_blocks : bool
        The minibatch rule runs block by block where the data live
        (:meth:`scan_blocks`) instead of on rows gathered by :meth:`take`.
    """

    name = "abstract"
    algorithms = ("batch", "minibatch")
    lazy = False
    device = None
    supports_missing = False
    masked = False
    few_passes = False
    minibatch_by_blocks = False

    def describe(self):
        """A short description, e.g. ``"torch on cuda:0"``."""
        return self.name if self.device is None else f"{self.name} on {self.device}"

    # ------------------------------------------------------- codebook arrays
    def asarray(self, W):
        """The codebook ``W`` (a numpy array) in this backend's array type."""
        return W

    def to_numpy(self, A):
        """A backend array as a numpy array."""
        return np.asarray(A)

    def concat(self, sums, wsum):
        """``[sums | wsum]`` as one float64 (n_units, k) array (wsum 1-D or 2-D)."""
        wsum = wsum[:, None] if wsum.ndim == 1 else wsum
        return np.concatenate([sums, wsum], axis=1)

    def float64(self, A):
        """A float64 copy of ``A``."""
        return np.array(A, dtype=np.float64)

    def numpy_dtype(self, A):
        """The numpy dtype matching a backend array's dtype."""
        return np.dtype(A.dtype)

    def cast(self, A, like):
        """``A`` in the dtype of ``like``."""
        return A.astype(like.dtype, copy=False)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def clip_min(self, A, low):
        return np.maximum(A, low)

    def max(self, A):
        """The largest entry as a Python float."""
        return float(np.max(A)) if np.size(A) else 0.0

    def normalize_rows(self, A):
        from somkit._kernels import normalize_rows

        return normalize_rows(A)

    # --------------------------------------------------- passes over the data
    def bmu(self, X, W, metric, *, second=False, batch_size=None):
        """``(idx, dist[, idx2])``: BMU, distance to it, runner-up per row."""
        raise NotImplementedError

    def distances(self, X, W, metric, *, batch_size=None):
        """Distances of every row to every unit, (n_samples, n_units)."""
        raise NotImplementedError

    def stats(
        self,
        X,
        W,
        metric,
        *,
        sample_weight=None,
        grid=None,
        adjacency="edges",
        batch_size=None,
    ):
        """``{"qe_sum", "te_sum", "weight"}`` of X (floats; no per-row arrays)."""
        raise NotImplementedError

    def batch_sums(
        self,
        X,
        W,
        metric,
        sample_weight=None,
        *,
        batch_size=None,
        grid=None,
        factored=None,
    ):
        """One pass of the batch rule: ``(sums, wsum, stats)``.

        ``sums`` (n_units, n_features) and ``wsum`` (n_units,) are float64
        arrays of this backend (``wsum`` (n_units, n_features) when
        :attr:`masked` and the data have holes: weights per feature);
        ``stats`` as :meth:`stats` (TE on ``grid``'s edges). ``factored``
        (``somkit._kernels.Factored``) is a hint that ``W`` has low rank;
        backends may ignore it.
        """
        raise NotImplementedError

    def take(self, X, rows, dtype, metric):
        """Rows ``rows`` of X as one prepared block (dtype, cosine: unit rows)."""
        raise NotImplementedError

    def rows(self, X, rows):
        """Rows ``rows`` of X in that order, in memory, as this backend's input.

        The training subsample of the default schedule: read once (sorted
        reads, so a memmap is read front to back), then passed to the
        passes over the data like X itself.
        """
        return take_rows(X, np.asarray(rows))

    def minibatch_sums(self, C, W, metric, sample_weight, grid):
        """``(sums, wsum, qe_sum, te_sum)`` of one block from :meth:`take`."""
        raise NotImplementedError

    def smooth(self, grid, neighborhood, sigma, values):
        """Neighbourhood-weighted sums ``H @ values`` over the grid."""
        raise NotImplementedError

    def moments(self, X, sample_weight=None):
        """Weighted mean and population covariance of X (numpy, float64)."""
        raise NotImplementedError

    def mean(self, X, sample_weight=None):
        """Weighted mean of the rows (numpy, float64) and the total weight.

        With :attr:`masked`, each column's mean over its observed values
        (0 for a column never observed).
        """
        n = X.shape[0]
        sw = None if sample_weight is None else np.asarray(sample_weight, float)
        total = float(n) if sw is None else float(sw.sum())
        acc = np.zeros(X.shape[1])
        count = np.zeros(X.shape[1])
        for a, b in _spans(n, X.shape[1]):
            C = np.asarray(X[a:b], dtype=np.float64)
            w = np.ones(b - a) if sw is None else sw[a:b]
            if self.masked:
                seen = ~np.isnan(C)
                acc += w @ np.where(seen, C, 0.0)
                count += w @ seen
            else:
                acc += w @ C
        if self.masked:
            return np.divide(acc, count, out=np.zeros_like(acc), where=count > 0), total
        return acc / total, total

    def cov_product(self, X, sample_weight, mean, V):
        """``cov(X) @ V`` (weighted population covariance, numpy float64).

        One pass over X; the covariance itself (n_features^2) is never
        formed, so wide data stay cheap.
        """
        n = X.shape[0]
        sw = None if sample_weight is None else np.asarray(sample_weight, float)
        total = float(n) if sw is None else float(sw.sum())
        out = np.zeros((X.shape[1], V.shape[1]))
        for a, b in _spans(n, X.shape[1]):
            C = np.asarray(X[a:b], dtype=np.float64) - mean
            if self.masked:  # a hole at its column's mean adds nothing
                C[np.isnan(C)] = 0.0
            P = C @ V
            out += C.T @ (P if sw is None else sw[a:b, None] * P)
        return out / total

    def column_range(self, X):
        """Per-feature minimum and maximum (numpy float64).

        With :attr:`masked`, over the observed values (0, 0 for a column
        never observed).
        """
        lo = np.full(X.shape[1], np.inf)
        hi = np.full(X.shape[1], -np.inf)
        for a, b in _spans(X.shape[0], X.shape[1]):
            part = range_of(np.asarray(X[a:b], dtype=np.float64), self.masked)
            lo, hi = np.fmin(lo, part[0]), np.fmax(hi, part[1])
        return finish_range(lo, hi)

    def sample_rows(self, X, size, rng, sample_weight=None):
        """``size`` rows drawn at random (numpy float64, shape (size, n_features)).

        Without replacement while there are enough rows of positive weight,
        with probability proportional to ``sample_weight`` when given.
        """
        n = X.shape[0]
        p = None if sample_weight is None else np.asarray(sample_weight, float)
        available = n if p is None else np.count_nonzero(p)
        if p is not None:
            p = p / p.sum()
        rows = rng.choice(n, size=size, replace=size > available, p=p)
        W = self._rows(X, rows)
        holes = np.isnan(W) if self.masked else None
        if holes is not None and holes.any():  # holes at their column's mean
            W = np.where(holes, self.mean(X, sample_weight)[0], W)
        return W

    def _rows(self, X, rows):
        return np.asarray(X[rows], dtype=np.float64)

    def labels_and_threshold(self, X, W, metric, sample_weight, q, batch_size=None):
        """BMU of every row (or None) and the ``q`` percentile of their distances.

        The percentile is weighted by ``sample_weight`` (rows of weight 0
        do not count), ``method="inverted_cdf"``.
        """
        idx, dist = self.bmu(X, W, metric, batch_size=batch_size)
        idx, dist = self.to_numpy(idx), np.asarray(self.to_numpy(dist))
        w = sample_weight
        keep = slice(None) if w is None else w > 0
        threshold = np.percentile(
            dist[keep],
            q,
            method="inverted_cdf",
            weights=None if w is None else w[keep],
        )
        return np.asarray(idx), float(threshold)

    def scan_blocks(self, X, sample_weight, W, step, rng, shuffle):
        """Run ``step`` over the blocks of X in turn, each where it lives.

        ``step(numpy_backend, W, block, block_weights, offset, seed)`` returns
        ``(W, (qe_sum, te_sum, weight))``; ``offset`` is the number of rows
        visited before the block in this pass, ``seed`` a seed for the order
        of rows inside the block (None: file order). Returns the last ``W``
        and the summed statistics. Backends with ``minibatch_by_blocks``
        implement it and document their order of blocks.
        """
        raise NotImplementedError(f"the {self.name} backend has no block scan")

    def online_steps(self, C, sw, W, grid, metric, neighborhood, rates, sigmas):
        """The sequential rule over the rows of C (in place on W)."""
        raise NotImplementedError(f"the {self.name} backend has no online rule")

    def training(self):
        """Context held around a whole training run (buffers, thread state)."""
        import contextlib

        return contextlib.nullcontext()


def range_of(C, masked):
    """Per-column minimum and maximum of a chunk (NaN ignored when ``masked``)."""
    if masked:
        return (
            np.nanmin(C, axis=0, initial=np.inf),
            np.nanmax(C, axis=0, initial=-np.inf),
        )
    return C.min(axis=0), C.max(axis=0)


def finish_range(lo, hi):
    """``(lo, hi)`` with a column never observed (lo > hi) set to 0, 0."""
    unseen = lo > hi
    lo[unseen] = hi[unseen] = 0.0
    return lo, hi


def _spans(n, d, elements=1 << 22):
    """``(start, stop)`` row ranges of about ``elements`` values each."""
    step = max(1, elements // max(1, d))
    return [(a, min(a + step, n)) for a in range(0, n, step)]
