"""Training driver: the epoch loop, schedules, statistics, callbacks, progress.

The driver knows nothing about validation; it receives checked arrays and
resolved options from the estimator and calls the array kernels of a backend
(``somkit._kernels`` or a module with the same functions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from somkit import _kernels
from somkit._online import KERNEL_ID, METRIC_ID, online_steps

HISTORY_KEYS = (
    "epoch",
    "radius",
    "learning_rate",
    "quantization_error",
    "topographic_error",
    "seconds",
)


def empty_history():
    return {k: [] for k in HISTORY_KEYS}


@dataclass
class TrainPlan:
    """Resolved options of one training call."""

    grid: object
    metric: str
    kernel: str
    radius: object  # Schedule
    learning_rate: object  # Schedule
    algorithm: str
    total_epochs: int
    batch_size: int | None
    shuffle: bool
    rng: np.random.Generator
    backend: object = _kernels
    verbose: int = 0
    callbacks: list = field(default_factory=list)


def run_epochs(
    W,
    X,
    sample_weight,
    plan,
    start_epoch,
    n_epochs,
    history,
    som=None,
    low_rank=None,
):
    """Train ``W`` for ``n_epochs`` epochs starting at schedule time ``start_epoch``.

    Returns the new codebook and the number of epochs run (callbacks may stop
    training early). Appends one row per epoch to ``history``. ``low_rank``
    (a factored form of the entering ``W``, see ``_kernels.LowRank``) speeds
    up the first batch pass.
    """
    bar = None
    if plan.verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_epochs, desc="somkit", unit="epoch", leave=True)
    done = 0
    # One BLAS thread: the big passes thread their chunks themselves, and a
    # multi-threaded BLAS only loses time on the small per-epoch products.
    blas = _kernels._blas_single_thread()
    blas.__enter__()
    buffers = _kernels.reuse_buffers()
    buffers.__enter__()
    try:
        for i in range(n_epochs):
            t = start_epoch + i
            sigma = plan.radius(t, plan.total_epochs)
            lr = plan.learning_rate(t, plan.total_epochs)
            tic = time.perf_counter()
            if plan.algorithm == "batch":
                W, stats = _batch_epoch(
                    W, X, sample_weight, plan, sigma, low_rank if i == 0 else None
                )
            elif plan.algorithm == "online":
                W, stats = _online_epoch(W, X, sample_weight, plan, t)
            else:
                W, stats = _minibatch_epoch(W, X, sample_weight, plan, t)
            seconds = time.perf_counter() - tic
            weight = max(stats["weight"], 1e-300)
            logs = {
                "epoch": t + 1,
                "radius": float(sigma),
                "learning_rate": float(lr) if plan.algorithm != "batch" else None,
                "quantization_error": stats["qe_sum"] / weight,
                "topographic_error": stats["te_sum"] / weight,
                "seconds": seconds,
            }
            for k in HISTORY_KEYS:
                history[k].append(logs[k])
            done += 1
            if bar is not None:
                bar.set_postfix(
                    qe=f"{logs['quantization_error']:.4g}", radius=f"{sigma:.3g}"
                )
                bar.update(1)
            stop = False
            for cb in plan.callbacks:
                if cb(som, t + 1, dict(logs)) is False:
                    stop = True
            if stop:
                break
    finally:
        buffers.__exit__(None, None, None)
        blas.__exit__(None, None, None)
        if bar is not None:
            bar.close()
    return W, done


def _batch_epoch(W, X, sample_weight, plan, sigma, low_rank=None):
    be = plan.backend
    kw = {} if low_rank is None else {"low_rank": low_rank}
    sums, wsum, stats = be.batch_sums(
        X,
        W,
        plan.metric,
        sample_weight,
        batch_size=plan.batch_size,
        grid=plan.grid,
        **kw,
    )
    W = be.batch_update(W, sums, wsum, plan.grid, plan.kernel, sigma, plan.metric)
    return W, stats


def _order(n, plan):
    return plan.rng.permutation(n) if plan.shuffle else np.arange(n)


def _take(X, rows):
    """Rows of X in the given order (sorted reads, so memmaps stay fast)."""
    srt = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), X.shape[1]), dtype=X.dtype)
    out[srt] = X[rows[srt]]
    return out


def _online_epoch(W, X, sample_weight, plan, t):
    """One epoch of the sequential rule.

    Its QE and TE are running statistics, as for the minibatch rule: each
    sample's distance to its BMU (and whether its two best units touch) on
    the codebook it meets just before its own step, so no extra pass.
    """
    n = X.shape[0]
    order = _order(n, plan)
    grid = plan.grid
    # The rule runs in the codebook's precision (float32 by default).
    Wd = np.array(W, dtype=W.dtype, order="C")
    sw_all = (
        None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    )
    qe = te = tot = 0.0
    step = 65536
    for a in range(0, n, step):
        rows = order[a : a + step]
        C = _kernels.as_chunk(_take(X, rows), 0, len(rows), W.dtype, plan.metric)
        ts = t + (a + np.arange(len(rows))) / n
        sw = np.ones(len(rows)) if sw_all is None else sw_all[rows]
        q, e, w = online_steps(
            C,
            sw,
            Wd,
            grid.positions,
            grid.period,
            grid.periodic,
            METRIC_ID[plan.metric],
            KERNEL_ID[plan.kernel],
            np.asarray(plan.learning_rate(ts, plan.total_epochs), dtype=np.float64),
            np.asarray(plan.radius(ts, plan.total_epochs), dtype=np.float64),
            lattice=grid.topology == "rect",
            te_limit=1.0,
        )
        qe += q
        te += e
        tot += w
    return Wd, {"qe_sum": qe, "te_sum": te, "weight": tot}


def _minibatch_epoch(W, X, sample_weight, plan, t):
    n = X.shape[0]
    order = _order(n, plan)
    bs = plan.batch_size or 256
    grid = plan.grid
    qe = te = tot = 0.0
    for a in range(0, n, bs):
        rows = order[a : a + bs]
        C = _kernels.as_chunk(_take(X, rows), 0, len(rows), W.dtype, plan.metric)
        sw = (
            np.ones(len(rows))
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)[rows]
        )
        tt = t + a / n
        sigma = plan.radius(tt, plan.total_epochs)
        lr = plan.learning_rate(tt, plan.total_epochs)
        W, q, e = plan.backend.minibatch_step(
            W, C, sw, grid, plan.kernel, sigma, lr, plan.metric
        )
        qe += q
        te += e
        tot += float(sw.sum())
    return W, {"qe_sum": qe, "te_sum": te, "weight": tot}
