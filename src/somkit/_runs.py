"""Training runs of the SOM estimator: atomic refits, scaling, checkpoints.

:class:`RunsMixin` holds the orchestration that every training entry point
shares (``fit``, ``partial_fit``, ``SOM.resume``): the run is atomic (on any
exception the estimator is put back as it was), the data is put on the
scale the computation runs on (:mod:`somkit._numeric`), the driver
(:func:`somkit._train.run_epochs`) runs the epochs with checkpoints, and
inference answers in float64 when the codebook's precision overflows.
"""

from __future__ import annotations

import contextlib

import numpy as np

from somkit._missing import check_weight
from somkit._numeric import choose_scaling
from somkit._random import rng_from_state, rng_state
from somkit._rules import fit_schedule
from somkit._train import draw_subsample, run_epochs

#: Share of training samples closer to their unit than the outlier threshold.
OUTLIER_QUANTILE = 99.0


class RunsMixin:
    """Training runs of :class:`somkit.SOM`: :meth:`resume` and the helpers."""

    def _resume(self, X, sample_weight, state, ck, saver):
        """Continue from a checkpoint's ``state`` (see ``somkit._checkpoint``)."""
        from somkit._checkpoint import fingerprint

        dtype = self._check_params()
        backend = self._backend_for(X, self.algorithm)
        X, Xb = self._validate_X(X, reset=True, backend=backend)
        sample_weight = check_weight(sample_weight, X.shape[0])
        if fingerprint(X, sample_weight) != ck["data"]:
            raise ValueError(
                "X is not the data this checkpoint was trained on (different "
                "shape, values or sample weights)."
            )
        W = state.pop("codebook_")
        if W.dtype != dtype:
            raise ValueError("checkpoint codebook does not match dtype")
        for name, value in state.items():
            setattr(self, name, value)
        Z, Zb = self._scaled(X, Xb, dtype)
        run = (sample_weight, backend, rng_from_state(ck["rng"]), saver, X)
        history = state["history_"]
        n, start, total = X.shape[0], ck["epoch"], ck["total_epochs"]
        _, epochs, rows = fit_schedule(self.grid_.shape, n, self.get_params())
        if epochs != total:
            raise ValueError(
                f"the checkpoint plans {total} epochs, its parameters {epochs}."
            )
        sub, seed = None, ck["subsample"]
        if seed is not None and any(r < n for r in (rows or ())[start:]):
            sub, _ = self._subsample(
                backend, Zb, sample_weight, rows, rng_from_state(seed)
            )
        span = (start, total - start, total, rows)
        self._train(W, Zb, Xb, run, span, history, None, (sub, seed))

    def _subsample(self, backend, Xb, sample_weight, rows, rng):
        """``(subsample, seed)``: the rows of the default schedule's ordering
        epochs (:func:`somkit._train.draw_subsample`; None when every epoch
        reads every row) and the state of ``rng`` they were drawn from (a
        checkpoint keeps it to draw them again)."""
        n = Xb.shape[0]
        if rows is None or min(rows) >= n:
            return None, None
        seed = rng_state(rng)
        size = max(r for r in rows if r < n)
        return draw_subsample(backend, Xb, sample_weight, size, rng), seed

    @classmethod
    def resume(cls, path, X, sample_weight=None, *, verbose=None, callbacks=None):
        """Continue the training run saved by ``fit(X, checkpoint=path)``.

        X (and ``sample_weight``) must be the data of the run; the result is
        the map an uninterrupted run would have given, and checkpoints keep
        going to ``path``. ``verbose`` and ``callbacks`` (not stored in the
        file) apply to the rest of the run. A checkpoint of the command line
        (``somkit fit --checkpoint``) holds its scaler: the result is then a
        Pipeline, as :func:`somkit.load` gives.

        Examples
        --------
        >>> import os, tempfile
        >>> from sklearn.datasets import load_iris
        >>> from somkit import SOM
        >>> X = load_iris().data
        >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
        >>> stop = lambda som, epoch, logs: epoch < 4  # as if killed at epoch 4
        >>> _ = SOM((4, 4), random_state=0, callbacks=[stop]).fit(X, checkpoint=path)
        >>> done = SOM.resume(path, X)
        >>> done.n_iter_, bool((done.codebook_ == SOM((4, 4), random_state=0)
        ...     .fit(X).codebook_).all())
        (22, True)
        """
        from somkit._checkpoint import resume

        run = {"verbose": verbose or 0, "callbacks": callbacks}
        return resume(cls, path, X, sample_weight, run)

    @contextlib.contextmanager
    def _atomic(self):
        """On any exception, put every attribute back as before the call."""
        saved = dict(vars(self))
        try:
            yield
        except BaseException:
            vars(self).clear()
            vars(self).update(saved)
            raise

    def _scaled(self, X, Xb, dtype):
        """X and its backend form on the scale the computation runs on."""
        scaling = getattr(self, "_scaling_", None)
        if scaling is None:
            return X, Xb
        Z = scaling.forward(X, dtype)
        return Z, (Z if Xb is X else scaling.forward(Xb, dtype))

    def _train(self, W, Zb, Xb, run, span, history, factored, sub=(None, None)):
        """Train, then set the fitted state.

        ``span = (start, n_epochs, total, rows)``: ``n_epochs`` epochs from
        epoch ``start`` of a ``total``-epoch plan whose epochs read ``rows``
        rows (None: all); ``sub``: :meth:`_subsample`'s result.
        """
        from somkit._checkpoint import fingerprint, write_checkpoint

        sample_weight, backend, rng, saver, X = run
        start, n_epochs, total, rows = span
        scaling = getattr(self, "_scaling_", None)
        plan = self._plan(backend, rng, total, rows)
        if scaling is not None:
            plan.distance_scale = scaling.distance_factor(self.metric)
        if saver is not None:
            data = fingerprint(X, sample_weight)
            plan.checkpoint_every = saver.every
            plan.checkpoint = lambda W, epoch: write_checkpoint(
                saver, self, W, (epoch, total), history, (rng, sub[1]), data
            )
        W, done = run_epochs(
            W, Zb, sample_weight, plan, start, n_epochs, history, self, factored, sub[0]
        )
        self.history_ = history
        self.n_iter_ = int(start + done)
        self.fit_backend_ = backend.describe()
        self._set_codebook(W if scaling is None else scaling.backward(W))
        self._finish(Xb, sample_weight, backend)
        # passes over every row: the epochs that read them all, and labels_
        read = history["rows"][len(history["rows"]) - done :]
        self.n_full_passes_ = read.count(Xb.shape[0]) + 1

    def _finish(self, X, sample_weight, backend):
        """``labels_`` and ``outlier_threshold_`` in one pass over X.

        The backend computes them where the data live (dask: labels
        gathered, the percentile from merged distance tails; a stream: no
        labels, which would grow with the data).
        """
        labels, threshold = self._robust(
            X,
            lambda X, W: backend.labels_and_threshold(
                X,
                W,
                self._search_metric(),
                sample_weight,
                OUTLIER_QUANTILE,
                self.batch_size,
            ),
            "bmu",
        )
        if labels is not None:
            self.labels_ = np.asarray(labels)
        self.outlier_threshold_ = float(threshold)

    def _choose_scaling(self, X, dtype):
        """The data scale of this fit (:mod:`somkit._numeric`).

        Layered maps (``layers=``) normalise each layer themselves and their
        tanimoto and cosine layers depend on the origin: they compute on
        the data as given.
        """
        if getattr(self, "layers", None) is not None:
            return None
        return choose_scaling(X, dtype, self.metric)

    def _map_space(self, X):
        """``(X, W, factor)``: data and codebook as the map computes on them.

        For a map trained on rescaled data (see :mod:`somkit._numeric`) both
        are rescaled (in float64) and ``factor`` converts a computed
        distance back to the data's units; otherwise they are as given.
        """
        scaling = getattr(self, "_scaling_", None)
        if scaling is None:
            return X, self.codebook_, 1.0
        return (
            scaling.forward(X, np.float64),
            scaling.codebook(self.codebook_, np.float64),
            scaling.distance_factor(self.metric),
        )

    def _robust(self, X, compute, kind):
        """``compute(X, W)`` in the map's space, in float64 if float32 overflowed.

        A float32 map meeting values float32 cannot square (say 1e39) answers
        in float64; squared distances beyond float64 raise ValueError.
        ``kind`` ("bmu", "distances" or "stats") says which outputs are
        distances, to express them in the data's units.
        """
        single = getattr(X, "dtype", None) == np.float32
        X, W, factor = self._map_space(X)
        with np.errstate(over="ignore", invalid="ignore"):
            out = compute(X, W)
            if not _finite(out) and W.dtype != np.float64:
                out = compute(X, W.astype(np.float64))
        if not _finite(out):
            raise ValueError(
                "X holds values whose squared distances to the map's units "
                "overflow float64; somkit computes on data whose squared "
                "distances fit in float64 (rescale X)."
            )
        if factor == 1.0:
            return out
        if kind == "distances":
            out = out * factor
            return out.astype(np.float32) if single else out
        if kind == "stats":
            return {**out, "qe_sum": out["qe_sum"] * factor}
        return (out[0], out[1] * factor, *out[2:])


def _finite(out):
    """Whether the float results of a backend call are finite (lazy: yes)."""
    from somkit._backends import input_kind

    parts = out.values() if isinstance(out, dict) else out
    parts = parts if isinstance(out, tuple | dict) else [out]
    for part in parts:
        if input_kind(part) == "dask":
            return True
        if hasattr(part, "detach"):  # a torch tensor
            part = part.detach().cpu().numpy()
        part = np.asarray(part)
        if part.dtype.kind == "f" and not np.all(np.isfinite(part)):
            return False
    return True
