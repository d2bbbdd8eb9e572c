"""Streaming backend: every pass reads the data again, chunk by chunk.

The input is a :class:`ChunkStream`: a callable that returns a fresh
iterator of row chunks each time it is called (a file reader, a generator
function, a database cursor factory). Nothing but one chunk and per-unit
arrays is ever held, so memory is bounded by the chunk, not by the data.
Each chunk is computed with the numpy kernels; the results equal those of
the numpy backend on the concatenated chunks up to the order of float
additions:

* batch passes add each chunk's per-unit sums, then one update (exact
  batch semantics across chunks);
* the moments of the pca init are merged chunk by chunk (Chan's update),
  in the same pass that checks the chunks and counts the rows;
* the minibatch rule visits the chunks in the order the stream gives them,
  the rows of each chunk in the order of a seed drawn from the training
  generator (one per chunk);
* ``init="sample"`` draws by reservoir sampling (one pass);
* per-row results (BMUs, distances) are not kept: call ``predict`` on each
  chunk.
"""

from __future__ import annotations

import numpy as np

from somkit import _kernels
from somkit._backends.numpy import NumpyBackend


class ChunkStream:
    """Re-readable row chunks, checked as they pass.

    Parameters
    ----------
    source : callable
        ``source()`` returns a fresh iterator over chunks. A chunk is an
        array-like of shape (rows, n_features) or a pair ``(X, weights)``.
    check : callable
        ``check(X, first, start)`` returns the chunk as a float32/float64
        array (``first`` is True for the first non-empty chunk of the first
        pass; ``start`` is the stream's row number of its first row).

    Attributes (after :meth:`scan`)
    -------------------------------
    shape : (n_rows, n_features)
    total_weight : float
    moments : (weight, mean, scatter) or None (wide data)
    column_range : (min, max)
    """

    _somkit_stream = True

    def __init__(self, source, check):
        if not callable(source):
            raise TypeError(
                "chunks must be a callable that returns a fresh iterator of "
                f"chunks each time it is called, got {type(source).__name__}; "
                "e.g. `lambda: iter(list_of_arrays)` or somkit.read(path)."
            )
        self.source = source
        self.check = check
        self.shape = None
        self.weighted = False
        self.passes = 0

    def __iter__(self):
        """``(X, weights or None)`` of every non-empty chunk, checked."""
        first = self.shape is None
        rows = 0
        it = self.source()
        if it is None or not hasattr(it, "__next__") and not hasattr(it, "__iter__"):
            raise TypeError("chunks() must return an iterator or an iterable.")
        for item in it:
            X, w = item if isinstance(item, tuple) else (item, None)
            if np.shape(X)[0] == 0 if hasattr(X, "shape") else len(X) == 0:
                continue
            X = self.check(X, first and rows == 0, rows)
            if w is not None:
                w = np.asarray(w, dtype=np.float64).ravel()
                if len(w) != len(X):
                    raise ValueError(
                        f"a chunk has {len(X)} rows but {len(w)} sample weights."
                    )
                if not np.all(np.isfinite(w)) or np.any(w < 0):
                    raise ValueError("sample weights must be finite and >= 0.")
            if (w is not None) != self.weighted and not (first and rows == 0):
                raise ValueError(
                    "give sample weights with every chunk or with none of them."
                )
            if first and rows == 0:
                self.weighted = w is not None
            rows += len(X)
            yield X, w
        self.passes += 1
        if first:
            if rows == 0:
                raise ValueError("chunks() gave no rows.")
        elif rows != self.shape[0]:
            raise ValueError(
                f"chunks() gave {rows} rows on pass {self.passes} but "
                f"{self.shape[0]} on the first; it must return a fresh iterator "
                "over the same data each time it is called."
            )

    def scan(self, moments=True, masked=False):
        """The first pass: check every chunk, count, moments and ranges.

        ``masked`` (holes allowed): means and ranges over the observed
        values; the covariance then needs a second pass (it is centred on
        those means) and is left to the backend's ``moments``.
        """
        from somkit._backends._base import finish_range, range_of
        from somkit._init import WIDE_FEATURES

        acc = rng_lo = rng_hi = None
        total = 0.0
        rows = 0
        d = None
        for X, w in self:
            d = X.shape[1]
            rows += len(X)
            weight = len(X) if w is None else float(w.sum())
            total += weight
            if masked:
                part = _kernels.observed_sums(X, w)
            elif moments and d <= WIDE_FEATURES:
                part = _kernels.chunk_moments(X, w)
                acc = part if acc is None else _kernels.merge_moments(acc, part)
            else:
                part = (weight, X.sum(axis=0, dtype=np.float64) if w is None else w @ X)
            if masked or len(part) == 2:
                acc = part if acc is None else (acc[0] + part[0], acc[1] + part[1])
            lo, hi = range_of(X, masked)
            rng_lo = lo if rng_lo is None else np.fmin(rng_lo, lo)
            rng_hi = hi if rng_hi is None else np.fmax(rng_hi, hi)
        if not total > 0:
            raise ValueError("sample weights must have a positive sum.")
        self.shape = (rows, d)
        self.total_weight = total
        self.moments = None
        if masked:  # acc = (observed sums, observed weights) per column
            s, n = acc
            self.mean = np.divide(s, n, out=np.zeros_like(s), where=n > 0)
        elif len(acc) == 3:
            self.moments = acc
            self.mean = acc[1]
        else:
            self.mean = acc[1] / acc[0]
        self.column_range = finish_range(
            np.asarray(rng_lo, np.float64), np.asarray(rng_hi, np.float64)
        )
        return self


def _add_stats(a, b):
    return {k: a[k] + b[k] for k in a}


def _in_memory(method):
    """``method`` for a stream; NumpyBackend's own for in-memory rows.

    The default schedule's ordering epochs run on a subsample held in
    memory (:meth:`StreamBackend.rows`); every other pass reads the stream.
    """
    import functools

    @functools.wraps(method)
    def run(self, X, *args, **kw):
        if isinstance(X, ChunkStream):
            return method(self, X, *args, **kw)
        return getattr(NumpyBackend, method.__name__)(self, X, *args, **kw)

    return run


class StreamBackend(NumpyBackend):
    """The backend interface over a :class:`ChunkStream` (numpy per chunk)."""

    name = "stream"
    algorithms = ("batch", "minibatch")
    few_passes = True
    minibatch_by_blocks = True

    def describe(self):
        return "stream (numpy per chunk)"

    # --------------------------------------------------- passes over the data
    def _no_rows(self, *args, **kw):
        raise ValueError(
            "a stream of chunks has no per-row results here; call predict, "
            "transform or score_samples on each chunk."
        )

    def bmu(self, X, *args, **kw):
        if isinstance(X, ChunkStream):
            self._no_rows()
        return super().bmu(X, *args, **kw)

    def distances(self, X, *args, **kw):
        if isinstance(X, ChunkStream):
            self._no_rows()
        return super().distances(X, *args, **kw)

    def rows(self, X, rows):
        """Rows ``rows`` of the stream, in that order, in memory (one pass)."""
        if not isinstance(X, ChunkStream):
            return super().rows(X, rows)
        return self.rows_and_weights(X, rows)[0]

    def rows_and_weights(self, X, rows):
        """``(rows, their sample weights or None)`` of the stream, in one pass."""
        rows = np.asarray(rows)
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        out = None
        sw = np.empty(len(rows)) if X.weighted else None
        start = k = 0
        for C, w in X:
            if out is None:
                out = np.empty((len(rows), X.shape[1]), dtype=C.dtype)
            stop = start + len(C)
            j = np.searchsorted(wanted, stop)
            out[order[k:j]] = C[wanted[k:j] - start]
            if sw is not None:
                sw[order[k:j]] = w[wanted[k:j] - start]
            k, start = j, stop
        return out, sw

    @_in_memory
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
        total = None
        for C, w in X:
            s = super().stats(
                C,
                W,
                metric,
                sample_weight=w,
                grid=grid,
                adjacency=adjacency,
                batch_size=batch_size,
            )
            total = s if total is None else _add_stats(total, s)
        return total

    @_in_memory
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
        sums = wsum = stats = None
        for C, w in X:
            s, n, st = super().batch_sums(
                C,
                W,
                metric,
                w,
                batch_size=batch_size,
                grid=grid,
                factored=factored,
            )
            if sums is None:
                sums, wsum, stats = s.copy(), n.copy(), st
                continue
            sums += s
            stats = _add_stats(stats, st)
            # weights per unit (n_units,), or per unit and feature from a
            # chunk with holes (masked): a mixed pair adds up per feature
            if wsum.ndim < n.ndim:
                wsum = wsum[:, None] + n
            else:
                wsum += n if n.ndim == wsum.ndim else n[:, None]
        return sums, wsum, stats

    @_in_memory
    def moments(self, X, sample_weight=None):
        if self.masked:  # pairwise-complete, centred on the observed means
            d = len(X.mean)
            acc, pairs = np.zeros((d, d)), np.zeros((d, d))
            for C, w in X:
                s, p = _kernels.pair_sums(C, w, X.mean)
                acc += s
                pairs += p
            cov = np.divide(acc, pairs, out=np.zeros_like(acc), where=pairs > 0)
            return X.mean, cov
        if X.moments is None:  # pragma: no cover - wide data use cov_product
            raise ValueError("the stream's covariance was not accumulated.")
        total, mean, scatter = X.moments
        return mean, scatter / total

    @_in_memory
    def mean(self, X, sample_weight=None):
        return X.mean, X.total_weight

    @_in_memory
    def cov_product(self, X, sample_weight, mean, V):
        out = np.zeros((len(mean), V.shape[1]))
        for C, w in X:
            out += super().cov_product(C, w, mean, V) * (
                len(C) if w is None else float(w.sum())
            )
        return out / X.total_weight

    @_in_memory
    def column_range(self, X):
        return X.column_range

    @_in_memory
    def sample_rows(self, X, size, rng, sample_weight=None):
        """``size`` rows by reservoir sampling (weighted when the chunks are)."""
        from somkit._sample import Reservoir

        res = Reservoir(size, rng)
        for C, w in X:
            res.add(C, w)
        rows = res.rows()
        if len(rows) < size:  # fewer rows of positive weight than asked
            rows = rows[rng.choice(len(rows), size=size, replace=True)]
        W = np.asarray(rows, dtype=np.float64)
        holes = np.isnan(W) if self.masked else None
        if holes is not None and holes.any():  # holes at their column's mean
            W = np.where(holes, X.mean, W)
        return W

    @_in_memory
    def labels_and_threshold(self, X, W, metric, sample_weight, q, batch_size=None):
        """No labels (they would grow with the stream); the exact percentile."""
        tail = _kernels.Tail(q, X.total_weight)
        for C, w in X:
            _, dist = super().bmu(C, W, metric, batch_size=batch_size)
            tail.add(dist, w)
        return None, tail.result()

    @_in_memory
    def scan_blocks(self, X, sample_weight, W, step, rng, shuffle):
        """The chunks in the stream's order; rows by one seed per chunk."""
        be = NumpyBackend()
        be.masked = self.masked
        offset = 0
        acc = (0.0, 0.0, 0.0)
        for C, w in X:
            seed = int(rng.integers(0, 2**63 - 1)) if shuffle else None
            W, stats = step(be, W, C, w, offset, seed)
            acc = tuple(a + s for a, s in zip(acc, stats, strict=True))
            offset += len(C)
        return W, {"qe_sum": acc[0], "te_sum": acc[1], "weight": acc[2]}


def make_backend():
    return StreamBackend()
