"""Dask backend: each pass over the data is a map-reduce over row blocks.

Every block computes with the numpy kernels where it lives (a worker of a
``distributed`` cluster, or a local thread); only small per-unit arrays
travel, and the data never has to fit on one machine:

* the codebook (and any other small operand) reaches the workers once per
  pass: with an active ``distributed.Client`` it is scattered to every
  worker and the tasks refer to it; with a local scheduler it is a single
  graph key. It is never copied into every task;
* per-block partial results (per-unit sums, statistics, moments) are added
  up by a tree reduction (``dask.array.reduction``), ``FAN_IN`` at a time,
  on the workers;
* per-sample results (``bmu``, ``distances``) are lazy dask arrays,
  computed when the user asks;
* the minibatch rule runs block by block (:meth:`DaskBackend.scan_blocks`):
  the blocks are visited in a random order drawn from the training
  generator, the rows of each block in a random order drawn from a seed of
  its own, and the codebook travels from block to block, never the data.

Whatever scheduler is active is used (a ``distributed.Client`` if one is
the default); nothing here starts a cluster.
"""

from __future__ import annotations

import functools
import sys
import threading
import uuid

import numpy as np

from somkit import _kernels
from somkit._backends._base import Backend, finish_range, range_of

#: Partial results added per reduction task.
FAN_IN = 8


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "backend='dask' needs dask: pip install 'somkit[dask]'"
        ) from exc
    return dask, da


def active_client():
    """The ``distributed.Client`` that ``compute`` would use now, or None.

    None when distributed was never imported, when no client exists, or
    when another scheduler is configured (``dask.config.set(scheduler=...)``).
    """
    if "distributed" not in sys.modules:
        return None
    import dask.base
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    return client if dask.base.get_scheduler() == client.get else None


def _task_threads():
    """Kernel threads for one task: one where dask runs tasks side by side.

    Dask's own parallelism is over tasks (a distributed worker runs
    ``nthreads`` of them, the local threaded scheduler one per core, and
    distributed's nannies start workers with single-threaded BLAS), so a
    task's kernels use one thread; the synchronous scheduler runs tasks in
    the calling thread, which keeps every core.
    """
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            get_worker()
            return 1
        except ValueError:
            pass
    if threading.current_thread() is threading.main_thread():
        return None
    return 1


class Shared:
    """A small operand that every task of a pass reads (the codebook, the grid).

    With a local scheduler it holds the value: one object for every task.
    On a cluster, for a pass computed at once, the value is pushed to every
    worker once (``Client.run``) and the graph carries only its key; tasks
    read their worker's copy, which is dropped when the pass is done. (A
    scattered future as a task argument would stop dask from fusing a
    block's task with the tasks that make the block, and the scheduler's
    memory manager may drop a replica no task declares.)
    """

    def __init__(self, value=None, key=None):
        self.value = value
        self.key = key

    def __dask_tokenize__(self):
        if self.key is not None:
            return ("somkit-shared", self.key)
        from dask.base import tokenize

        return ("somkit-shared", tokenize(self.value))

    def get(self):
        """The value, inside a task."""
        if self.key is None:
            return self.value
        try:
            return _PUSHED[self.key]
        except KeyError:
            raise RuntimeError(
                "a dask worker lacks the codebook of this pass (it joined the "
                "cluster during the pass); run the call again."
            ) from None


#: Values pushed to this worker process, by key (see :class:`Shared`).
_PUSHED = {}


def _store(key, value):
    _PUSHED[key] = value


def _drop(keys):
    for key in keys:
        _PUSHED.pop(key, None)


def _task(fn):
    """``fn`` run with the kernel threads of :func:`_task_threads`.

    :class:`Shared` arguments are replaced by their values.
    """

    def run(*args):
        args = [a.get() if isinstance(a, Shared) else a for a in args]
        with _kernels.thread_cap(_task_threads()):
            return fn(*args)

    run.__name__ = fn.__name__
    run.__qualname__ = fn.__qualname__
    return run


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


class _Parts(np.ndarray):
    """A 1-element object array holding a partial result (one dask chunk).

    Its ``sizeof`` is what it holds, so the scheduler's placement and the
    workers' transfer counters see the real size (a plain object array
    counts 8 bytes).
    """


def _one(value):
    """``value`` as one chunk of a dask object array."""
    out = np.empty(1, dtype=object).view(_Parts)
    out[0] = value
    return out


def _register_sizes():
    try:
        from dask.sizeof import sizeof
    except ImportError:  # pragma: no cover - depends on the extra
        return

    @sizeof.register(_Parts)
    def _parts_size(x):
        return int(sum(sizeof(v) for v in x.ravel()))

    @sizeof.register(_kernels.Tail)
    def _tail_size(t):
        return int(t.values.nbytes + t.weights.nbytes)


_register_sizes()


def _leaf(x, axis, keepdims):
    return x


def _combine_chunks(combine, x, axis, keepdims):
    """``combine`` over the partial results in the chunks of a reduction."""
    items = []
    for part in x if isinstance(x, list) else [x]:
        items.extend(part.ravel() if isinstance(part, np.ndarray) else [part])
    total = items[0]
    for item in items[1:]:
        total = combine(total, item)
    return _one(total)


def _merge_moments(a, b):
    return _kernels.merge_moments(a, b)


def _merge_range(a, b):
    return np.fmin(a[0], b[0]), np.fmax(a[1], b[1])


def _merge_tail(a, b):
    return a.merge(b)


# --------------------------------------------------------------- block tasks
def _weights(block, weights):
    return None if weights is None else np.asarray(weights, dtype=np.float64)


@_task
def _block_sums(block, weights, W, metric, batch_size, grid, masked):
    return _kernels.batch_sums(
        np.asarray(block),
        W,
        metric,
        _weights(block, weights),
        batch_size=batch_size,
        grid=grid,
        masked=masked,
    )


@_task
def _block_stats(block, weights, W, metric, batch_size, grid, adjacency, masked):
    s = _kernels.bmu_stats(
        np.asarray(block),
        W,
        metric,
        sample_weight=_weights(block, weights),
        grid=grid,
        adjacency=adjacency,
        batch_size=batch_size,
        masked=masked,
    )
    return (s,)


@_task
def _block_moments(block, weights):
    return _kernels.chunk_moments(np.asarray(block), _weights(block, weights))


@_task
def _block_mean(block, weights):
    C = np.asarray(block, dtype=np.float64)
    w = _weights(block, weights)
    return (C.sum(axis=0) if w is None else w @ C,)


@_task
def _block_observed(block, weights):
    """Weighted sums and counts of the observed values of a block with holes."""
    return _kernels.observed_sums(block, _weights(block, weights))


@_task
def _block_pairs(block, weights, mean):
    """Centred cross products and pair counts over the observed pairs."""
    return _kernels.pair_sums(block, _weights(block, weights), mean)


@_task
def _block_cov_product(block, weights, mean, V, masked):
    C = np.asarray(block, dtype=np.float64) - mean
    if masked:  # a hole at its column's mean adds nothing
        C[np.isnan(C)] = 0.0
    P = C @ V
    w = _weights(block, weights)
    return (C.T @ (P if w is None else w[:, None] * P),)


@_task
def _block_range(block, weights, masked):
    return range_of(np.asarray(block, dtype=np.float64), masked)


@_task
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


@_task
def _block_distances(block, W, metric, batch_size):
    return _kernels.distances(np.asarray(block), W, metric, batch_size=batch_size)


@_task
def _block_labels(block, weights, W, metric, batch_size, q, total, masked):
    idx, dist = _kernels.bmu(
        np.asarray(block), W, metric, batch_size=batch_size, masked=masked
    )
    tail = _kernels.Tail(q, total)
    tail.add(dist, _weights(block, weights))
    return np.asarray(idx, dtype=np.int64), tail


@_task
def _block_scan(carry, block, weights, step, offset, seed, masked):
    from somkit._backends.numpy import NumpyBackend

    backend = NumpyBackend()
    backend.masked = masked
    W, acc = carry
    C = np.asarray(block)
    if C.dtype not in (np.float32, np.float64):
        C = C.astype(np.float64)
    W, stats = step(backend, W, C, _weights(block, weights), offset, seed)
    return W, tuple(a + s for a, s in zip(acc, stats, strict=True))


def _on_block(fn, weighted, block, *rest):
    """``fn(block, weights, *args)`` inside a blockwise task (one object chunk)."""
    weights, args = (rest[0], rest[1:]) if weighted else (None, rest)
    return _one(fn(block, weights, *args))


def _labels_of(parts):
    return parts[0][0]


def _tail_of(parts):
    return _one(parts[0][1])


class DaskBackend(Backend):
    """The backend interface over the row blocks of a dask array.

    In-memory input (numpy arrays, memmaps) is wrapped as a dask array of
    one block per ``1 << 22`` elements' worth of rows, so ``backend="dask"``
    always computes through dask; per-sample results then come back as
    numpy arrays (output follows input).
    """

    name = "dask"
    algorithms = ("batch", "minibatch")
    lazy = True
    supports_missing = True
    few_passes = True
    minibatch_by_blocks = True

    def __init__(self):
        self.dask, self.da = _import_dask()
        self._pushed = []

    def _as_dask(self, X):
        da = self.da
        if isinstance(X, da.Array):
            return X.rechunk({1: -1}), True
        X = np.asarray(X) if not hasattr(X, "shape") else X
        rows = max(1, (1 << 22) // max(1, X.shape[1]))
        return da.from_array(X, chunks=(rows, -1)), False

    def share(self, value, lazy=False):
        """``value`` as one operand for every task of a pass, never a copy per task.

        Local scheduler: a :class:`Shared` holding the value. Active
        ``distributed.Client``: for a pass computed now, a :class:`Shared`
        key whose value was pushed to every worker once (released by
        :meth:`_release` after the pass); for a ``lazy`` result, computed
        whenever the user asks, a future scattered to every worker once,
        which the result's graph keeps alive.
        """
        if value is None:
            return None
        client = active_client()
        if client is None:
            return Shared(value)
        if lazy:
            return client.scatter(value, broadcast=True, hash=False)
        key = f"somkit-shared-{uuid.uuid4().hex}"
        client.run(_store, key, value)
        self._pushed.append(key)
        return Shared(key=key)

    def _release(self):
        """Drop the values pushed for the pass that just ended."""
        keys, self._pushed = self._pushed, []
        client = active_client()
        if keys and client is not None:
            client.run(_drop, keys)

    def _blocks(self, X, sample_weight):
        """Delayed row blocks of X and matching sample-weight blocks (or None)."""
        da = self.da
        blocks = X.to_delayed().ravel()
        if sample_weight is None:
            return blocks, [None] * len(blocks)
        sw = da.asarray(sample_weight).rechunk((X.chunks[0],))
        return blocks, list(sw.to_delayed().ravel())

    def _per_block(self, fn, X, sample_weight, *args):
        """A dask object array: ``fn(block, weights, *args)`` of every row block.

        Built with ``blockwise`` and computed as an array: where dask can,
        the tasks that make a block (reading, generating, a user's own map)
        fuse with ``fn`` into one task; otherwise the scheduler runs ``fn``
        where the block was made. Only the small results travel (a test
        checks that a pass over 5 MB blocks moves none of them).
        """
        da = self.da
        Xd, _ = self._as_dask(X)
        weighted = sample_weight is not None
        arrays = [fn, None, weighted, None, Xd, "ij"]
        if weighted:
            sw = da.asarray(sample_weight).rechunk((Xd.chunks[0],))
            arrays += [sw, "i"]
        return da.blockwise(
            _on_block,
            "i",
            *arrays,
            *[a for arg in args for a in (arg, None)],
            adjust_chunks={"i": 1},
            dtype=object,
            meta=np.empty((0,), dtype=object),
            concatenate=True,
        )

    def _tree(self, parts, combine=_add):
        """The tree reduction (``FAN_IN`` at a time, on the workers) of parts."""
        step = functools.partial(_combine_chunks, combine)
        return self.da.reduction(
            parts,
            _leaf,
            step,
            combine=step,
            dtype=object,
            concatenate=False,
            split_every=FAN_IN,
            meta=np.empty((0,), dtype=object),
        )

    def _reduce(self, fn, X, sample_weight, *args, combine=_add):
        try:
            parts = self._per_block(fn, X, sample_weight, *args)
            return self._tree(parts, combine).compute()[0]
        finally:
            self._release()

    # --------------------------------------------------- passes over the data
    def bmu(self, X, W, metric, *, second=False, batch_size=None):
        Xd, native = self._as_dask(X)
        k = 3 if second else 2
        res = self.da.map_blocks(
            _block_bmu,
            Xd,
            self.share(np.asarray(W), lazy=True),
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
            self.share(W, lazy=True),
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
        (s,) = self._reduce(
            _block_stats,
            X,
            sample_weight,
            self.share(np.asarray(W)),
            metric,
            batch_size,
            self.share(grid),
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
        return self._reduce(
            _block_sums,
            X,
            sample_weight,
            self.share(np.asarray(W)),
            metric,
            batch_size,
            self.share(grid),
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

        Each block gives its weight, mean and centred scatter; the tree
        merges them exactly (:func:`somkit._kernels.merge_moments`).
        Holes (``masked``): two passes, means over the observed values and
        covariances over the rows where both features are observed (as
        ``somkit._kernels.masked_moments``).
        """
        if self.masked:
            s1, n1 = self._reduce(_block_observed, X, sample_weight)
            mean = np.divide(s1, n1, out=np.zeros_like(s1), where=n1 > 0)
            s2, pairs = self._reduce(_block_pairs, X, sample_weight, self.share(mean))
            cov = np.divide(s2, pairs, out=np.zeros_like(s2), where=pairs > 0)
            return mean, cov
        total, mean, scatter = self._reduce(
            _block_moments, X, sample_weight, combine=_merge_moments
        )
        return mean, scatter / total

    def mean(self, X, sample_weight=None):
        total = (
            float(X.shape[0]) if sample_weight is None else float(np.sum(sample_weight))
        )
        if self.masked:
            s, n = self._reduce(_block_observed, X, sample_weight)
            return np.divide(s, n, out=np.zeros_like(s), where=n > 0), total
        (s,) = self._reduce(_block_mean, X, sample_weight)
        return s / total, total

    def cov_product(self, X, sample_weight, mean, V):
        total = (
            float(X.shape[0]) if sample_weight is None else float(np.sum(sample_weight))
        )
        (out,) = self._reduce(
            _block_cov_product,
            X,
            sample_weight,
            self.share(np.asarray(mean, dtype=np.float64)),
            self.share(np.asarray(V, dtype=np.float64)),
            self.masked,
        )
        return out / total

    def column_range(self, X):
        lo, hi = self._reduce(_block_range, X, None, self.masked, combine=_merge_range)
        return finish_range(lo, hi)

    def _rows(self, X, rows):
        """Rows ``rows`` of X: each block gives its own, only they travel."""
        Xd, _ = self._as_dask(X)
        return np.asarray(Xd[np.asarray(rows)].compute(), dtype=np.float64)

    def labels_and_threshold(self, X, W, metric, sample_weight, q, batch_size=None):
        """Labels gathered to the caller; the percentile from merged tails.

        Each block keeps only the largest distances that can still be the
        percentile (:class:`somkit._kernels.Tail`) and the tails merge by a
        tree on the workers: the distances themselves never travel.
        """
        dask = self.dask
        total = (
            float(X.shape[0]) if sample_weight is None else float(np.sum(sample_weight))
        )
        parts = self._per_block(
            _block_labels,
            X,
            sample_weight,
            self.share(np.asarray(W)),
            metric,
            batch_size,
            q,
            total,
            self.masked,
        )
        labels = parts.map_blocks(
            _labels_of, dtype=np.int64, chunks=(self._as_dask(X)[0].chunks[0],)
        )
        tails = parts.map_blocks(_tail_of, dtype=object)
        try:
            labels, tail = dask.compute(labels, self._tree(tails, _merge_tail))
        finally:
            self._release()
        return np.asarray(labels), tail[0].result()

    def scan_blocks(self, X, sample_weight, W, step, rng, shuffle):
        """The blocks in a random order (``rng``), each on its own worker.

        With ``shuffle`` the blocks are visited in ``rng.permutation`` order
        and each block's rows in the order of a seed drawn next from ``rng``
        (one per block, in block-index order); without, blocks and rows in
        their stored order. The chain of tasks carries only the codebook.
        """
        dask = self.dask
        Xd, _ = self._as_dask(X)
        blocks, weights = self._blocks(Xd, sample_weight)
        n_blocks = len(blocks)
        if shuffle:
            order = rng.permutation(n_blocks)
            seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=n_blocks)]
        else:
            order, seeds = range(n_blocks), [None] * n_blocks
        carry = dask.delayed((np.asarray(W), (0.0, 0.0, 0.0)), pure=True)
        step = dask.delayed(step, pure=True)
        offset = 0
        for b in order:
            carry = dask.delayed(_block_scan, pure=True)(
                carry, blocks[b], weights[b], step, offset, seeds[b], self.masked
            )
            offset += Xd.chunks[0][b]
        W, (qe, te, tot) = carry.compute()
        return W, {"qe_sum": qe, "te_sum": te, "weight": tot}


def make_backend():
    """The dask backend object (dask is imported here, lazily)."""
    return DaskBackend()
