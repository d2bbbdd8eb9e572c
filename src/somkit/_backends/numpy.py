"""The numpy backend: chunked GEMM BMU search, numba loops, threads.

The default for in-memory data (arrays, frames, memmaps). Every method is a
thin call into :mod:`somkit._kernels`; it is the only backend that runs the
sequential (online) rule.
"""

from __future__ import annotations

import contextlib

from somkit import _kernels
from somkit._backends._base import Backend, take_rows
from somkit._registry import METRIC_ID, NEIGHBORHOOD_ID

__all__ = ["NumpyBackend", "take_rows"]


class NumpyBackend(Backend):
    """numpy + numba kernels on the CPU (see :mod:`somkit._kernels`)."""

    name = "numpy"
    algorithms = ("batch", "online", "minibatch")
    supports_missing = True

    def bmu(self, X, W, metric, *, second=False, batch_size=None):
        return _kernels.bmu(
            X, W, metric, second=second, batch_size=batch_size, masked=self.masked
        )

    def distances(self, X, W, metric, *, batch_size=None):
        return _kernels.distances(X, W, metric, batch_size=batch_size)

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
        return _kernels.bmu_stats(
            X,
            W,
            metric,
            sample_weight=sample_weight,
            grid=grid,
            adjacency=adjacency,
            batch_size=batch_size,
            masked=self.masked,
        )

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
        return _kernels.batch_sums(
            X,
            W,
            metric,
            sample_weight,
            batch_size=batch_size,
            grid=grid,
            factored=factored,
            masked=self.masked,
        )

    def take(self, X, rows, dtype, metric):
        return _kernels.as_chunk(take_rows(X, rows), 0, len(rows), dtype, metric)

    def minibatch_sums(self, C, W, metric, sample_weight, grid):
        return _kernels.minibatch_sums(
            C, W, metric, sample_weight, grid, masked=self.masked
        )

    def smooth(self, grid, neighborhood, sigma, values):
        return _kernels.smooth(grid, neighborhood, sigma, values)

    def moments(self, X, sample_weight=None):
        return _kernels.moments(X, sample_weight, masked=self.masked)

    def online_steps(self, C, sw, W, grid, metric, neighborhood, rates, sigmas):
        from somkit._kernels._online import online_steps
        from somkit._layers import is_layered

        if is_layered(metric):
            from somkit._kernels._layered_online import online_steps as layered

            nbh = NEIGHBORHOOD_ID[neighborhood]
            return layered(C, sw, W, grid, metric, nbh, rates, sigmas)

        return online_steps(
            C,
            sw,
            W,
            grid.positions,
            grid.period,
            grid.periodic,
            METRIC_ID[metric],
            NEIGHBORHOOD_ID[neighborhood],
            rates,
            sigmas,
            lattice=grid.topology == "rect",
            te_limit=1.0,
        )

    @contextlib.contextmanager
    def training(self):
        # One BLAS thread: the big passes thread their chunks themselves, and
        # a multi-threaded BLAS only loses time on the small per-epoch
        # products; chunk buffers are kept from one epoch to the next.
        with _kernels.blas_single_thread(), _kernels.reuse_buffers():
            yield
