"""Dask backend: each pass over the data is a map-reduce over row blocks.

Every block computes with the numpy kernels where it lives (a worker of a
``distributed`` cluster, or a local thread); only small per-unit arrays
travel. The codebook is one graph key per pass (not copied into every
task), the per-block sums are added up by a tree reduction, and per-sample
results (``bmu``, ``distances``) are lazy dask arrays, computed when the user
asks. The data never has to fit on one machine. Whatever scheduler is active
is used (a ``distributed.Client`` if one exists); nothing starts a cluster.
"""

from __future__ import annotations

import numpy as np

from somkit import _kernels
from somkit._backends._base import Backend


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "backend='dask' needs dask: pip install 'somkit[dask]'"
        ) from exc
    return dask, da


def _add(a, b):
    """Sum two partial results (tuples of arrays and stats dicts).

    Per-unit weights are (n_units,) from blocks without holes and
    (n_units, n_features) from blocks with holes; a mixed pair adds up to
    the per-feature form.
    """
    out = []
    for x, y in zip(a, b, strict=True):
        if isinstance(x, dict):
            out.append({k: x[k] + y[k] for k in x})
        elif np.ndim(x) == 1 and np.ndim(y) == 2:
            out.append(x[:, None] + y)
        elif np.ndim(x) == 2 and np.ndim(y) == 1:
            out.append(x + y[:, None])
        else:
            out.append(x + y)
    return tuple(out)


def _tree_sum(dask, parts, fan_in=8):
    """Delayed sum of delayed partial results, ``fan_in`` at a time."""
    while len(parts) > 1:
        parts = [
            dask.delayed(_sum_group)(parts[i : i + fan_in])
            for i in range(0, len(parts), fan_in)
        ]
    return parts[0]


def _sum_group(group):
    total = group[0]
    for p in group[1:]:
        total = _add(total, p)
    return total


def _block_sums(block, weights, W, metric, batch_size, grid, masked):
    return _kernels.batch_sums(
        np.asarray(block),
        W,
        metric,
        weights,
        batch_size=batch_size,
        grid=grid,
        masked=masked,
    )


def _block_stats(block, weights, W, metric, batch_size, grid, adjacency, masked):
    s = _kernels.bmu_stats(
        np.asarray(block),
        W,
        metric,
        sample_weight=weights,
        grid=grid,
        adjacency=adjacency,
        batch_size=batch_size,
        masked=masked,
    )
    return (s,)


def _block_moments(block, weights):
    C = np.asarray(block, dtype=np.float64)
    w = np.ones(len(C)) if weights is None else np.asarray(weights, np.float64)
    Cw = C * w[:, None]
    return (np.array([w.sum()]), Cw.sum(axis=0), Cw.T @ C)


def _block_observed(block, weights):
    """Weighted sums and counts of the observed values of a block with holes."""
    C = np.asarray(block, dtype=np.float64)
    seen = ~np.isnan(C)
    w = np.ones(len(C)) if weights is None else np.asarray(weights, np.float64)
    return (w @ np.where(seen, C, 0.0), w @ seen)


def _block_pairs(block, weights, mean):
    """Centred cross products and pair counts over the observed pairs."""
    C = np.asarray(block, dtype=np.float64)
    seen = ~np.isnan(C)
    w = np.ones(len(C)) if weights is None else np.asarray(weights, np.float64)
    root = np.sqrt(w)[:, None]
    Cc = np.where(seen, C - mean, 0.0) * root
    Mw = seen * root
    return (Cc.T @ Cc, Mw.T @ Mw)


def _block_bmu(block, W, metric, batch_size, second, masked):
    out = _kernels.bmu(
        np.asarray(block),
        W,
        metric,
        second=second,
        batch_size=batch_size,
        masked=masked,
    )
    return np.stack([np.asarray(a, dtype=np.float64) for a in out], axis=1)


def _block_distances(block, W, metric, batch_size):
    return _kernels.distances(np.asarray(block), W, metric, batch_size=batch_size)


class DaskBackend(Backend):
    """The backend interface over the row blocks of a dask array.

    In-memory input (numpy arrays, memmaps) is wrapped as a dask array of
    one block per ``1 << 20`` elements' worth of rows, so ``backend="dask"``
    always computes through dask; per-sample results then come back as
    numpy arrays (output follows input).
    """

    name = "dask"
    algorithms = ("batch",)
    lazy = True
    supports_missing = True

    def __init__(self):
        self.dask, self.da = _import_dask()

    def _as_dask(self, X):
        da = self.da
        if isinstance(X, da.Array):
            return X.rechunk({1: -1}), True
        X = np.asarray(X) if not hasattr(X, "shape") else X
        rows = max(1, (1 << 22) // max(1, X.shape[1]))
        return da.from_array(X, chunks=(rows, -1)), False

    def _blocks(self, X, sample_weight):
        """Delayed row blocks of X and matching sample-weight blocks (or None)."""
        da = self.da
        blocks = X.to_delayed().ravel()
        if sample_weight is None:
            return blocks, [None] * len(blocks)
        sw = da.asarray(sample_weight).rechunk((X.chunks[0],))
        return blocks, list(sw.to_delayed().ravel())

    def _reduce(self, fn, X, sample_weight, *args):
        dask = self.dask
        Xd, _ = self._as_dask(X)
        blocks, weights = self._blocks(Xd, sample_weight)
        parts = [
            dask.delayed(fn, pure=True)(b, w, *args)
            for b, w in zip(blocks, weights, strict=True)
        ]
        return _tree_sum(dask, parts).compute()

    # --------------------------------------------------- passes over the data
    def bmu(self, X, W, metric, *, second=False, batch_size=None):
        Xd, native = self._as_dask(X)
        k = 3 if second else 2
        res = self.da.map_blocks(
            _block_bmu,
            Xd,
            self.dask.delayed(np.asarray(W)),
            metric,
            batch_size,
            second,
            self.masked,
            chunks=(Xd.chunks[0], (k,)),
            dtype=np.float64,
        )
        idx = res[:, 0].astype(np.int64)
        out = [idx, res[:, 1]]
        if second:
            out.append(res[:, 2].astype(np.int64))
        if not native:
            out = list(self.dask.compute(*out))
        return tuple(out)

    def distances(self, X, W, metric, *, batch_size=None):
        Xd, native = self._as_dask(X)
        out_dtype = np.float32 if Xd.dtype == np.float32 else np.float64
        W = np.asarray(W)
        D = self.da.map_blocks(
            _block_distances,
            Xd,
            self.dask.delayed(W),
            metric,
            batch_size,
            chunks=(Xd.chunks[0], (W.shape[0],)),
            dtype=out_dtype,
        )
        return D if native else D.compute()

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
        dask = self.dask
        (s,) = self._reduce(
            _block_stats,
            X,
            sample_weight,
            dask.delayed(np.asarray(W)),
            metric,
            batch_size,
            dask.delayed(grid),
            adjacency,
            self.masked,
        )
        return s

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
        dask = self.dask
        return self._reduce(
            _block_sums,
            X,
            sample_weight,
            dask.delayed(np.asarray(W)),
            metric,
            batch_size,
            dask.delayed(grid),
            self.masked,
        )

    def rows(self, X, rows):
        """Rows of X as a numpy array: each block gives its own rows.

        Sorted integer indexing is a blockwise selection in dask (no
        shuffle); the (small) result is computed once and passed back in
        the requested order.
        """
        rows = np.asarray(rows)
        srt = np.argsort(rows, kind="stable")
        Xd, _ = self._as_dask(X)
        out = np.empty((len(rows), Xd.shape[1]), dtype=Xd.dtype)
        out[srt] = np.asarray(Xd[rows[srt]].compute())
        return out

    def smooth(self, grid, neighborhood, sigma, values):
        return _kernels.smooth(grid, neighborhood, sigma, values)

    def moments(self, X, sample_weight=None):
        """Weighted mean and population covariance in one pass over the blocks.

        Holes (``masked``): two passes, means over the observed values and
        covariances over the rows where both features are observed (as
        ``somkit._kernels.masked_moments``).
        """
        if self.masked:
            s1, n1 = self._reduce(_block_observed, X, sample_weight)
            mean = np.divide(s1, n1, out=np.zeros_like(s1), where=n1 > 0)
            s2, pairs = self._reduce(_block_pairs, X, sample_weight, mean)
            cov = np.divide(s2, pairs, out=np.zeros_like(s2), where=pairs > 0)
            return mean, cov
        total, s1, s2 = self._reduce(_block_moments, X, sample_weight)
        mean = s1 / total[0]
        cov = s2 / total[0] - np.outer(mean, mean)
        return mean, cov


def make_backend():
    """The dask backend object (dask is imported here, lazily)."""
    return DaskBackend()
