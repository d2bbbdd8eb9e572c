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

from somkit._numeric import choose_scaling
from somkit._random import rng_from_state
from somkit._train import run_epochs

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
        sample_weight = self._check_weight(sample_weight, X)
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
        left = ck["total_epochs"] - ck["epoch"]
        self._train(W, Zb, Xb, run, ck["epoch"], left, history, None)

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
        (10, True)
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

    def _train(self, W, Zb, Xb, run, start, n_epochs, history, factored):
        """Train ``n_epochs`` from epoch ``start``, then set the fitted state."""
        from somkit._checkpoint import fingerprint, write_checkpoint

        sample_weight, backend, rng, saver, X = run
        scaling = getattr(self, "_scaling_", None)
        plan = self._plan(backend, rng)
        if scaling is not None:
            plan.distance_scale = scaling.distance_factor(self.metric)
        if saver is not None:
            data = fingerprint(X, sample_weight)
            plan.checkpoint_every = saver.every
            plan.checkpoint = lambda W, epoch: write_checkpoint(
                saver, self, W, epoch, history, rng, data
            )
        W, done = run_epochs(
            W, Zb, sample_weight, plan, start, n_epochs, history, self, factored
        )
        self.history_ = history
        self.n_iter_ = int(start + done)
        self.fit_backend_ = backend.describe()
        self._set_codebook(W if scaling is None else scaling.backward(W))
        self._finish(Xb, sample_weight, backend)

    def _finish(self, X, sample_weight, backend):
        idx, dist = self._robust(
            X,
            lambda X, W: backend.bmu(
                X, W, self._search_metric(), batch_size=self.batch_size
            ),
            "bmu",
        )
        if backend.lazy:
            idx, dist = backend.dask.compute(idx, dist)
        self.labels_ = np.asarray(idx)
        dist = np.asarray(dist)
        w = None if sample_weight is None else sample_weight
        keep = slice(None) if w is None else w > 0
        self.outlier_threshold_ = float(
            np.percentile(
                dist[keep],
                OUTLIER_QUANTILE,
                method="inverted_cdf",
                weights=None if w is None else w[keep],
            )
        )

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
