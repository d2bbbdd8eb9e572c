"""Checkpoints: a training run saved every few epochs, and resumed exactly.

A checkpoint is a model file (``somkit._io``, same validation on reading)
whose SOM step holds the map *in training*: the codebook in the precision
and units the computation uses, the schedule position (epochs done, of how
many), the history so far, the state of the random stream, and a
fingerprint of the training data (and, for the default schedule, the
random state its subsample was drawn from, so it is drawn again).
:func:`resume` continues the run from there: a run killed (even with
SIGKILL) and resumed ends with the same codebook as an uninterrupted one.
Writes are atomic, so a kill during a save leaves the previous checkpoint
intact.

``somkit.load`` refuses checkpoints (they are not finished models);
``SOM.resume(path, X)`` and ``somkit resume`` read them.
"""

from __future__ import annotations

import hashlib
import os
from numbers import Integral

import numpy as np

#: Rows of the data hashed into a checkpoint's fingerprint (evenly spaced).
FINGERPRINT_ROWS = 4096


class Checkpoint:
    """Where and how often a training run is saved.

    ``prefix`` (the command line's fitted scaler steps) and ``extra`` (its
    data options) are stored too, so ``somkit resume`` rebuilds the model.
    """

    def __init__(self, path, every=1, prefix=(), extra=None):
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"checkpoint must be a file path, got {path!r}.")
        if not isinstance(every, Integral) or isinstance(every, bool) or every < 1:
            raise ValueError(f"checkpoint_every must be an int >= 1, got {every!r}.")
        self.path = path
        self.every = int(every)
        self.prefix = list(prefix)
        self.extra = dict(extra or {})


def as_checkpoint(checkpoint, every):
    """A :class:`Checkpoint` from ``fit``'s arguments, or None."""
    if checkpoint is None:
        if every != 1 and not (isinstance(every, Integral) and every >= 1):
            raise ValueError(f"checkpoint_every must be an int >= 1, got {every!r}.")
        return None
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    return Checkpoint(checkpoint, every)


def fingerprint(X, sample_weight=None):
    """Shape and SHA-256 of evenly spaced rows of X (and all weights)."""
    from somkit._backends import input_kind

    n, d = X.shape
    rows = np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).astype(np.int64))
    sample = X[rows] if n else X[:0]
    if input_kind(sample) == "dask":
        sample = sample.compute()
    digest = hashlib.sha256(np.ascontiguousarray(sample, dtype=np.float64))
    if sample_weight is not None:
        digest.update(np.ascontiguousarray(sample_weight, dtype=np.float64))
    return {"n_samples": int(n), "n_features": int(d), "sha256": digest.hexdigest()}


def write_checkpoint(ck, som, W, position, history, rngs, data):
    """Save the run of ``som`` after ``epoch`` of ``total`` epochs (codebook
    ``W``; ``position = (epoch, total)``). ``rngs = (rng, seed)``: the run's
    random stream and the state the default schedule's subsample was drawn
    from (None without one)."""
    from somkit._io import encode, write_model
    from somkit._model import _scaler_step
    from somkit._random import rng_state

    epoch, total = position
    rng, seed = rngs
    arrays = {"codebook": np.asarray(W)}
    scaling = getattr(som, "_scaling_", None)
    state = {
        "grid": som.grid_.to_dict(),
        "n_features_in": int(som.n_features_in_),
        "n_iter": int(epoch),
        "radius_schedule": som._radius_schedule_.to_dict(),
        "history": {k: list(v) for k, v in history.items()},
        "fit_backend": "numpy",
        "scaling": None,
    }
    if scaling is not None:
        state["scaling"], more = scaling.to_state()
        arrays.update(more)
    if hasattr(som, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(som.feature_names_in_, dtype=str)
    som._layers_to_state(state, arrays)
    params = {
        k: encode(v, arrays, f"param__{k}")
        for k, v in som.get_params(deep=False).items()
    }
    steps = [_scaler_step(name, est) for name, est in ck.prefix]
    steps.append(
        {
            "name": "som",
            "class": "SOM",
            "params": params,
            "state": state,
            "arrays": arrays,
        }
    )
    position = {
        "epoch": int(epoch),
        "total_epochs": int(total),
        "every": ck.every,
        "rng": rng_state(rng),
        "data": data,
        "extra": ck.extra,
        "subsample": seed,
    }
    write_model(ck.path, steps, extra={"checkpoint": position})


def read_checkpoint(path):
    """The validated position of a checkpoint: epoch, total_epochs, every,
    rng, data, extra, subsample (the random state of the default schedule's
    subsample, or None), and the file's ``steps``."""
    from somkit._io import read_model
    from somkit._random import BIT_GENERATORS
    from somkit._state import check_dict, check_int

    meta, steps = read_model(path)
    try:
        ck = check_dict(
            meta.get("checkpoint"),
            "checkpoint",
            ("epoch", "total_epochs", "every", "rng", "data", "extra"),
        )
        total = check_int(ck["total_epochs"], "total_epochs", 1)
        data = check_dict(ck["data"], "data", ("n_samples", "n_features", "sha256"))
        rng = check_dict(ck["rng"], "rng", ("bit_generator",))
        seed = ck.get("subsample")
        for state in (rng,) if seed is None else (rng, seed):
            state = check_dict(state, "rng", ("bit_generator",))
            if state["bit_generator"] not in BIT_GENERATORS:
                raise ValueError("unknown random generator")
        return {
            "epoch": check_int(ck["epoch"], "epoch", 0, total),
            "total_epochs": total,
            "every": check_int(ck["every"], "every", 1),
            "rng": rng,
            "data": data,
            "extra": check_dict(ck["extra"], "extra"),
            "subsample": seed,
            "steps": steps,
        }
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid somkit checkpoint ({exc}).") from None


def resume(cls, path, X, sample_weight=None, run=None):
    """Continue the run saved in ``path`` on X (see :meth:`SOM.resume`)."""
    from somkit._model import build_prefix
    from somkit._state import read_state

    ck = read_checkpoint(path)
    steps = ck["steps"]
    try:
        if steps[-1]["class"] != "SOM":
            raise ValueError("the last step is not a SOM")
        som = cls._from_params(steps[-1])
        som.set_params(**(run or {}))
        state = read_state(steps[-1]["state"], steps[-1]["arrays"], partial=True)
        som._layers_from_state(steps[-1]["state"], steps[-1]["arrays"])
        d = state["n_features_in_"]
        prefix = build_prefix(steps[:-1], d)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{path}: not a valid somkit checkpoint ({exc!r}).") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid somkit checkpoint ({exc}).") from None
    every = Checkpoint(path, ck["every"], prefix=prefix, extra=ck["extra"])
    if prefix:
        from sklearn.pipeline import Pipeline

        head = Pipeline(prefix)
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            # the command line scales its data as float64 (float32 rows
            # scaled as float32 would differ and fail the data check)
            X = X.astype(np.float64, copy=False)
        som._resume(head.transform(X), sample_weight, state, ck, every)
        return Pipeline([*prefix, (steps[-1]["name"], som)])
    som._resume(X, sample_weight, state, ck, every)
    return som
