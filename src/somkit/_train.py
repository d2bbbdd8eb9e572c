"""Training driver: the epoch loop, the update rules, schedules, callbacks.

The driver knows nothing about validation and imports no backend: it gets
checked arrays, resolved options and a backend object (see
``somkit._backends._base.Backend``) from the estimator, and writes each rule
once over the backend's primitives:

* batch (Kohonen's batch map): one pass for per-unit sums, then
  ``w_j = sum_k h(d(j, k)) S_k / sum_k h(d(j, k)) N_k``;
* minibatch: the same sums per minibatch, then a step of size ``rate``
  towards that minibatch's batch-map target;
* online: the sequential rule, one sample at a time (numpy backend only).

An epoch reads every row, or, when the plan says so (the default schedule,
:func:`somkit._rules.auto_schedule`), the first rows of one random
subsample drawn once per fit (:func:`draw_subsample`).

The driver also keeps work safe: it writes a checkpoint every few epochs
(``plan.checkpoint``), and Ctrl-C (SIGINT) during training finishes the
current epoch, warns and returns the map trained so far; a second Ctrl-C
raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from somkit._schedules import effective_radius

HISTORY_KEYS = (
    "epoch",
    "radius",
    "learning_rate",
    "quantization_error",
    "topographic_error",
    "seconds",
    "rows",
)
#: Rows per call of the online kernel (bounds the presentation-order copy).
ONLINE_BLOCK = 65536
#: Default minibatch size.
MINIBATCH = 256


def empty_history():
    return {k: [] for k in HISTORY_KEYS}


@dataclass
class TrainPlan:
    """Resolved options of one training call."""

    grid: object
    metric: str
    neighborhood: str
    radius: object  # Schedule
    learning_rate: object  # Schedule
    algorithm: str
    total_epochs: int
    batch_size: int | None
    shuffle: bool
    rng: np.random.Generator
    backend: object
    verbose: int = 0
    callbacks: list = field(default_factory=list)
    #: data-unit distance per computed distance (see ``somkit._numeric``)
    distance_scale: float = 1.0
    #: ``checkpoint(W, epochs_done)`` saves the run; called every
    #: ``checkpoint_every`` epochs, when training stops and when interrupted
    checkpoint: object = None
    checkpoint_every: int = 1
    # rows read by each epoch of the plan (by schedule time); None, or an
    # epoch past its end: every row
    rows: tuple | None = None

    def epoch_rows(self, t, n):
        """Rows that epoch ``t`` reads out of ``n``."""
        if self.rows is None or t >= len(self.rows):
            return n
        return min(int(self.rows[t]), n)


class TrainingInterrupted(UserWarning):
    """Training stopped early on Ctrl-C; the map trained so far was kept."""


class _CtrlC:
    """SIGINT handler of a training run: the first press asks to stop after
    the current epoch, the second raises KeyboardInterrupt at once.

    Installed only in the main thread and only over Python's default
    handler (a handler the user set is left alone).
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def draw_subsample(be, X, sample_weight, size, rng):
    """``size`` distinct random rows of X, in random order, in memory.

    Any prefix of the result is a uniform random subsample. The backend reads
    the rows (sorted reads for memmaps, block by block for dask) and keeps
    them in its own array type; sample weights follow their rows.
    """
    idx = rng.choice(X.shape[0], size=int(size), replace=False)
    if sample_weight is None and getattr(X, "weighted", False):
        # a stream of (rows, weights) chunks: both read in the same pass
        return be.rows_and_weights(X, idx)
    sw = None if sample_weight is None else np.asarray(sample_weight)[idx]
    return be.rows(X, idx), sw


# ----------------------------------------------------------------- the rules
def batch_update(be, W, sums, wsum, grid, neighborhood, sigma, metric):
    """Kohonen's batch rule from per-unit sums; units with no weight stay.

    ``w_j = sum_k h(d(j,k)) S_k / sum_k h(d(j,k)) N_k`` where ``S_k``/``N_k``
    are the weighted sums and weights of the samples won by unit k (``N_k``
    may be per feature, shape (n_units, n_features)). Neighbourhoods with
    negative lobes (mexican_hat) can give negative totals; the rule is
    applied as written wherever the total is not (nearly) zero.
    """
    d = W.shape[1]
    sm = be.smooth(grid, neighborhood, sigma, be.concat(sums, wsum))
    num, den = sm[:, :d], sm[:, d:]
    ok = abs(den) > 1e-12 * max(be.max(wsum), 1e-300)
    new = be.where(ok, num / be.where(ok, den, 1.0), be.float64(W))
    return be.cast(_constrain(be, new, metric), W)


def minibatch_update(be, W, sums, wsum, grid, neighborhood, sigma, rate, metric):
    """One minibatch step towards the batch-map target of the minibatch.

    ``w_j += rate * (num_j - den_j w_j) / max(den_j, 1)`` with ``num_j``,
    ``den_j`` the neighbourhood-weighted sums of the minibatch: units that
    collect less than one sample's weight move like in the online rule,
    busier units move at most ``rate`` of the way to their batch target.
    """
    d = W.shape[1]
    sm = be.smooth(grid, neighborhood, sigma, be.concat(sums, wsum))
    num, den = sm[:, :d], sm[:, d:]
    Wd = be.float64(W)
    Wd = Wd + rate * (num - den * Wd) / be.clip_min(den, 1.0)
    return be.cast(_constrain(be, Wd, metric), W)


def _constrain(be, W, metric):
    """Unit rows for cosine; unit blocks for the cosine layers of a layered map."""
    if metric == "cosine":
        return be.normalize_rows(W)
    constrain = getattr(metric, "constrain", None)
    return W if constrain is None else constrain(be, W)


# ---------------------------------------------------------------- the loop
def run_epochs(
    W,
    X,
    sample_weight,
    plan,
    start_epoch,
    n_epochs,
    history,
    som=None,
    factored=None,
    subsample=None,
):
    """Train ``W`` for ``n_epochs`` epochs starting at schedule time ``start_epoch``.

    Returns the new codebook (numpy) and the number of epochs run (callbacks
    may stop training early). Appends one row per epoch to ``history``.
    ``factored`` (a factored form of the entering ``W``, see
    ``somkit._kernels.Factored``) speeds up the first batch pass.
    ``subsample`` (from :func:`draw_subsample`) holds the rows of the epochs
    that ``plan.rows`` does not give every row.
    """
    be = plan.backend
    bar = None
    if plan.verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_epochs, desc="somkit", unit="epoch", leave=True)
    done = 0
    n = X.shape[0]
    for k in HISTORY_KEYS:  # histories from files written before a key existed
        history.setdefault(k, [None] * len(history["epoch"]))
    Wb = be.asarray(np.array(W, order="C"))
    try:
        with be.training(), _CtrlC() as ctrl_c:
            for i in range(n_epochs):
                t = start_epoch + i
                sigma = effective_radius(plan.radius(t, plan.total_epochs))
                rate = plan.learning_rate(t, plan.total_epochs)
                tic = time.perf_counter()
                rows = plan.epoch_rows(t, n)
                Xe, swe = X, sample_weight
                if rows < n:
                    Xe = subsample[0][:rows]
                    swe = None if subsample[1] is None else subsample[1][:rows]
                if plan.algorithm == "batch":
                    Wb, stats = _batch_epoch(
                        be, Wb, Xe, swe, plan, sigma, factored, i == 0
                    )
                elif plan.algorithm == "online":
                    Wb, stats = _online_epoch(be, Wb, Xe, swe, plan, t)
                else:
                    Wb, stats = _minibatch_epoch(be, Wb, Xe, swe, plan, t)
                logs = _logs(plan, t, sigma, rate, stats, time.perf_counter() - tic)
                logs["rows"] = rows
                logs["n_epochs"] = plan.total_epochs
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
                stop = stop or ctrl_c.requested
                last = stop or i == n_epochs - 1
                if plan.checkpoint is not None and (
                    last or (t + 1) % plan.checkpoint_every == 0
                ):
                    plan.checkpoint(be.to_numpy(Wb), t + 1)
                if ctrl_c.requested:
                    warnings.warn(
                        f"interrupted after {t + 1} of {plan.total_epochs} epochs "
                        "(Ctrl-C): the map trained so far is kept (n_iter_ says "
                        "how far); press Ctrl-C twice to abort at once.",
                        TrainingInterrupted,
                        stacklevel=3,
                    )
                if stop:
                    break
    finally:
        if bar is not None:
            bar.close()
    return be.to_numpy(Wb), done


def _logs(plan, t, sigma, rate, stats, seconds):
    weight = max(float(stats["weight"]), 1e-300)
    return {
        "epoch": t + 1,
        "radius": float(sigma),
        "learning_rate": float(rate) if plan.algorithm != "batch" else None,
        "quantization_error": float(stats["qe_sum"]) / weight * plan.distance_scale,
        "topographic_error": float(stats["te_sum"]) / weight,
        "seconds": seconds,
    }


def _batch_epoch(be, W, X, sample_weight, plan, sigma, factored, first):
    sums, wsum, stats = be.batch_sums(
        X,
        W,
        plan.metric,
        sample_weight,
        batch_size=plan.batch_size,
        grid=plan.grid,
        factored=factored if first else None,
    )
    W = batch_update(
        be, W, sums, wsum, plan.grid, plan.neighborhood, sigma, plan.metric
    )
    return W, stats


def _order(n, plan):
    return plan.rng.permutation(n) if plan.shuffle else np.arange(n)


def _online_epoch(be, W, X, sample_weight, plan, t):
    """One epoch of the sequential rule (in place on the numpy codebook ``W``).

    Its QE and TE are running statistics, as for the minibatch rule: each
    sample's distance to its BMU (and whether its two best units touch) on
    the codebook it meets just before its own step, so no extra pass.
    """
    n = X.shape[0]
    order = _order(n, plan)
    sw_all = (
        None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    )
    qe = te = tot = 0.0
    for a in range(0, n, ONLINE_BLOCK):
        rows = order[a : a + ONLINE_BLOCK]
        C = be.take(X, rows, W.dtype, plan.metric)
        ts = t + (a + np.arange(len(rows))) / n
        sw = np.ones(len(rows)) if sw_all is None else sw_all[rows]
        sigmas = effective_radius(plan.radius(ts, plan.total_epochs))
        q, e, w = be.online_steps(
            C,
            sw,
            W,
            plan.grid,
            plan.metric,
            plan.neighborhood,
            np.asarray(plan.learning_rate(ts, plan.total_epochs), dtype=np.float64),
            sigmas,
        )
        qe += q
        te += e
        tot += w
    return W, {"qe_sum": qe, "te_sum": te, "weight": tot}


@dataclass(frozen=True)
class MinibatchStep:
    """The minibatch rule over the rows of one block, as a picklable object.

    Sent to where a block lives (a dask worker, the reader of a stream) by
    backends with ``minibatch_by_blocks``: ``step(be, W, C, sw, offset,
    seed)`` runs the minibatches of block ``C`` (rows in the order of
    ``default_rng(seed).permutation``, or stored order when ``seed`` is
    None) with schedules advanced as if the block's rows came ``offset``
    rows into an epoch of ``n`` rows starting at time ``t``.
    """

    grid: object
    metric: str
    neighborhood: str
    radius: object
    learning_rate: object
    total_epochs: int
    batch_size: int | None
    t: float
    n: int

    def __call__(self, be, W, C, sw, offset, seed):
        m = C.shape[0]
        order = (
            np.arange(m) if seed is None else np.random.default_rng(seed).permutation(m)
        )
        return _minibatch_rows(be, W, C, sw, order, self, self.t, self.n, offset)


def _minibatch_epoch(be, W, X, sample_weight, plan, t):
    n = X.shape[0]
    if be.minibatch_by_blocks:
        step = MinibatchStep(
            plan.grid,
            plan.metric,
            plan.neighborhood,
            plan.radius,
            plan.learning_rate,
            plan.total_epochs,
            plan.batch_size,
            t,
            n,
        )
        W, stats = be.scan_blocks(
            X, sample_weight, be.to_numpy(W), step, plan.rng, plan.shuffle
        )
        return be.asarray(W), stats
    sw_all = (
        None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    )
    W, (qe, te, tot) = _minibatch_rows(be, W, X, sw_all, _order(n, plan), plan, t, n, 0)
    return W, {"qe_sum": qe, "te_sum": te, "weight": tot}


def _minibatch_rows(be, W, X, sw_all, order, rule, t, n, offset):
    """Minibatch steps over the rows ``order`` of X, ``offset`` rows into an epoch.

    ``rule`` holds the grid, metric, neighbourhood, schedules and batch size
    (a :class:`TrainPlan` or a :class:`MinibatchStep`). Returns the new
    codebook and the running ``(qe_sum, te_sum, weight)``.
    """
    bs = rule.batch_size or MINIBATCH
    dtype = be.numpy_dtype(W)
    qe = te = 0.0
    tot = 0.0
    for a in range(0, len(order), bs):
        rows = order[a : a + bs]
        C = be.take(X, rows, dtype, rule.metric)
        sw = np.ones(len(rows)) if sw_all is None else sw_all[rows]
        tt = t + (offset + a) / n
        sigma = effective_radius(rule.radius(tt, rule.total_epochs))
        rate = rule.learning_rate(tt, rule.total_epochs)
        sums, wsum, q, e = be.minibatch_sums(C, W, rule.metric, sw, rule.grid)
        W = minibatch_update(
            be, W, sums, wsum, rule.grid, rule.neighborhood, sigma, rate, rule.metric
        )
        # device scalars stay on the device until the end of the epoch
        qe = qe + q
        te = te + e
        tot += float(sw.sum())
    return W, (qe, te, tot)
