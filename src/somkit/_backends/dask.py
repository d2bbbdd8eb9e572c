"""Dask backend: each batch epoch is a map-reduce over the row blocks of X.

Every block computes the per-unit sums of the batch rule with the numpy
kernels where the block lives (a worker of a ``distributed`` cluster, or a
local thread); only the small (n_units, n_features) partial sums travel and
are added up. The data never has to fit on one machine.
"""

from __future__ import annotations

import numpy as np

from somkit import _kernels


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "backend='dask' needs dask: pip install 'somkit[dask]'"
        ) from exc
    return dask, da


def _block_sums(block, weights, W, metric, batch_size, grid):
    sums, wsum, stats = _kernels.batch_sums(
        block, W, metric, weights, batch_size=batch_size, grid=grid
    )
    return sums, wsum, stats


def _add(parts):
    sums = sum(p[0] for p in parts)
    wsum = sum(p[1] for p in parts)
    stats = {k: sum(p[2][k] for p in parts) for k in ("qe_sum", "te_sum", "weight")}
    return sums, wsum, stats


def _row_blocks(X, sample_weight):
    """Delayed row blocks of X and matching sample-weight blocks (or None)."""
    dask, da = _import_dask()
    X = X.rechunk({1: -1})
    blocks = X.to_delayed().ravel()
    if sample_weight is None:
        return blocks, [None] * len(blocks)
    sw = da.asarray(sample_weight).rechunk((X.chunks[0],))
    return blocks, list(sw.to_delayed().ravel())


class DaskBackend:
    """The kernel interface of :mod:`somkit._kernels` over dask arrays."""

    name = "dask"

    def batch_sums(
        self, X, W, metric, sample_weight=None, *, batch_size=None, grid=None
    ):
        dask, da = _import_dask()
        if not isinstance(X, da.Array):
            return _kernels.batch_sums(
                X, W, metric, sample_weight, batch_size=batch_size, grid=grid
            )
        blocks, weights = _row_blocks(X, sample_weight)
        Wd = dask.delayed(W)
        gd = dask.delayed(grid)
        parts = [
            dask.delayed(_block_sums, pure=True)(b, w, Wd, metric, batch_size, gd)
            for b, w in zip(blocks, weights, strict=True)
        ]
        return dask.delayed(_add)(parts).compute()

    def bmu(self, X, W, metric, *, second=False, batch_size=None):
        dask, da = _import_dask()
        if not isinstance(X, da.Array):
            return _kernels.bmu(X, W, metric, second=second, batch_size=batch_size)
        blocks, _ = _row_blocks(X, None)
        Wd = dask.delayed(W)
        parts = [
            dask.delayed(_kernels.bmu, pure=True)(
                b, Wd, metric, second=second, batch_size=batch_size
            )
            for b in blocks
        ]
        parts = dask.compute(*parts)
        return tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))

    batch_update = staticmethod(_kernels.batch_update)
    minibatch_step = staticmethod(_kernels.minibatch_step)


def make_backend():
    """The dask backend object (dask is imported here, lazily)."""
    _import_dask()
    return DaskBackend()


def moments(X, sample_weight):
    """Weighted mean and population covariance of a dask array (one pass)."""
    dask, da = _import_dask()
    n = X.shape[0]
    sw = (
        da.ones(n, chunks=(X.chunks[0],))
        if sample_weight is None
        else da.asarray(sample_weight).rechunk((X.chunks[0],))
    )
    Xf = X.astype(np.float64)
    total = sw.sum()
    s1 = (Xf * sw[:, None]).sum(axis=0)
    s2 = (Xf * sw[:, None]).T @ Xf
    total, s1, s2 = dask.compute(total, s1, s2)
    mean = s1 / total
    cov = s2 / total - np.outer(mean, mean)
    return mean, cov
