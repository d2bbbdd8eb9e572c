"""The fitted state of a SOM as JSON values and arrays, checked field by field.

:meth:`SOM._get_state` / :meth:`SOM._set_state` delegate here. Everything
read back from a file is validated before it is used: types, ranges, names
from the registry, a finite float codebook of the declared shape, labels
within the grid, a grid of at most :data:`MAX_UNITS` units. Any violation is
a ValueError naming the field (the model-file reader adds the path).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from somkit._grid import Grid
from somkit._registry import TOPOLOGIES

#: Largest grid a model file may describe (a 2048 x 2048 map).
MAX_UNITS = 1 << 22
#: Largest number of features a model file may describe.
MAX_FEATURES = 1 << 24


# ------------------------------------------------------------ field checks
def check_int(value, name, low=0, high=None):
    """``value`` as an int in ``[low, high]``, else ValueError."""
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        top = "" if high is None else f", at most {high}"
        raise ValueError(f"{name} must be at least {low}{top}, got {value}")
    return int(value)


def check_float(value, name, low=None):
    """``value`` as a finite float (``>= low``), else ValueError."""
    if not isinstance(value, Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low):
        bound = "" if low is None else f" and >= {low}"
        raise ValueError(f"{name} must be finite{bound}, got {value}")
    return value


def check_str(value, name, allowed=None, limit=200):
    """``value`` as a str (one of ``allowed``), else ValueError."""
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a short string, got {type(value).__name__}")
    if allowed is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return value


def check_dict(value, name, keys=None):
    """``value`` as a dict (holding ``keys``), else ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping, got {type(value).__name__}")
    missing = [k for k in keys or () if k not in value]
    if missing:
        raise ValueError(f"{name} lacks {', '.join(missing)}")
    return value


def check_array(arrays, key, name, kind, shape, required=True):
    """The array ``key``: dtype kind in ``kind`` ("f", "i", "U"), ``shape``.

    ``shape`` entries of None match any length. Float arrays must be finite.
    """
    if key not in arrays:
        if required:
            raise ValueError(f"{name} is missing")
        return None
    A = arrays[key]
    if not isinstance(A, np.ndarray) or A.dtype.kind not in kind:
        dtype = getattr(A, "dtype", type(A).__name__)
        raise ValueError(f"{name} has dtype {dtype}; expected kind {kind!r}")
    if A.dtype.kind == "f" and A.dtype.itemsize not in (4, 8):
        raise ValueError(f"{name} must be float32 or float64, got {A.dtype}")
    if A.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, A.shape, strict=True)
    ):
        raise ValueError(f"{name} has shape {A.shape}, expected {tuple(shape)}")
    if A.dtype.kind == "f" and not np.all(np.isfinite(A)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return A


# ------------------------------------------------------------ the parts
def grid_from_state(value, n_units=None):
    """A :class:`Grid` from its dict, at most MAX_UNITS units (``n_units``)."""
    d = check_dict(value, "grid", ("shape", "topology", "periodic"))
    shape = d["shape"]
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3:
        raise ValueError("grid shape must be a list of 1 to 3 sides")
    sides = [check_int(s, "grid side", 1, MAX_UNITS) for s in shape]
    units = math.prod(sides)
    if units > MAX_UNITS:
        raise ValueError(f"grid of {units} units is larger than {MAX_UNITS}")
    if n_units is not None and units != n_units:
        raise ValueError(f"grid of {units} units but a codebook of {n_units} rows")
    if not isinstance(d["periodic"], bool):
        raise ValueError("grid periodic must be true or false")
    topology = check_str(d["topology"], "grid topology", TOPOLOGIES)
    return Grid(tuple(sides), topology, d["periodic"])


def schedule_from_state(value, name):
    """A Schedule from its dict: a known kind with exactly its fields."""
    from somkit._schedules import SCHEDULES

    d = check_dict(value, name, ("kind",))
    cls = SCHEDULES.get(d["kind"]) if isinstance(d["kind"], str) else None
    if cls is None:
        raise ValueError(f"{name} has unknown kind {d['kind']!r}")
    fields = {k: v for k, v in d.items() if k != "kind"}
    if set(fields) != set(cls._fields):
        raise ValueError(f"{name} ({cls.__name__}) needs fields {cls._fields}")

    def number_or_list(v, key):  # Piecewise: lists of (at most 1024) numbers
        if isinstance(v, list) and len(v) <= 1024:
            return [check_float(x, key) for x in v]
        return check_float(v, key)

    sched = cls(**{k: number_or_list(v, f"{name}.{k}") for k, v in fields.items()})
    sched._check(name)
    return sched


def history_from_state(value):
    """The per-epoch history: known keys, equal lengths, numbers or null.

    "rows" (rows read per epoch) may be absent (files written before it).
    """
    from somkit._train import HISTORY_KEYS

    d = check_dict(value, "history", [k for k in HISTORY_KEYS if k != "rows"])
    rows = None
    out = {}
    for key in HISTORY_KEYS:
        column = d.get(key)
        if column is None and key == "rows" and isinstance(d["epoch"], list):
            column = [None] * len(d["epoch"])
        if not isinstance(column, list):
            raise ValueError(f"history {key} must be a list")
        if rows is None:
            rows = len(column)
        if len(column) != rows:
            raise ValueError("history columns have different lengths")
        out[key] = [
            None if v is None else check_float(v, f"history {key}") for v in column
        ]
        if key in ("epoch", "rows"):
            out[key] = [None if v is None else int(v) for v in out[key]]
    return out


def _som_param(key, value):
    """One decoded SOM parameter from a file, as a plain checked value."""
    from somkit._schedules import Schedule

    if key == "grid":
        if isinstance(value, tuple | list):
            if not 1 <= len(value) <= 3:
                raise ValueError("grid must have 1 to 3 sides")
            return tuple(check_int(v, "grid side", 1, MAX_UNITS) for v in value)
        return value if value == "auto" else check_int(value, "grid", 1, MAX_UNITS)
    if key in ("radius", "learning_rate"):
        if isinstance(value, tuple) and len(value) == 2:
            return tuple(check_float(v, key) for v in value)
        if value is None or isinstance(value, Schedule):
            return value
        return check_float(value, key)
    if key == "init" and not isinstance(value, str):
        if not isinstance(value, np.ndarray) or value.ndim != 2:
            raise ValueError("init must be a name or a 2-D array")
        return check_array({"init": value}, "init", "init", "f", (None, None))
    if key == "callbacks":
        return None  # never stored
    if key == "layers":
        return _layers_param(value)
    if key in ("periodic", "shuffle"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if value is None and key in ("random_state", "batch_size", "device", "n_epochs"):
        return None
    if key in ("random_state", "n_epochs", "verbose", "batch_size"):
        return check_int(value, key, 1 if key in ("n_epochs", "batch_size") else 0)
    return check_str(value, key)


def _layers_param(value):
    """The ``layers`` parameter from a file: None or a list of Layer."""
    from somkit._layers import Layer, _check_layer

    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= 1024:
        raise ValueError("layers must be a list of layers")
    for k, layer in enumerate(value):
        if not isinstance(layer, Layer):
            raise ValueError("layers must hold layers")
        _check_layer(layer, k)
    return value


def check_som_params(params, names):
    """Decoded SOM parameters from a file: known names, plain values.

    Unknown names are ignored (never set); the estimator's own checks
    (``SOM._check_params``) run afterwards.
    """
    return {k: _som_param(k, v) for k, v in params.items() if k in names}


def get_state(som):
    """``(meta, arrays)``: the fitted state of ``som`` (see SOM._get_state)."""
    meta = {
        "grid": som.grid_.to_dict(),
        "n_features_in": int(som.n_features_in_),
        "n_iter": int(som.n_iter_),
        "radius_schedule": som._radius_schedule_.to_dict(),
        "outlier_threshold": float(som.outlier_threshold_),
        "history": {k: [_plain(v) for v in col] for k, col in som.history_.items()},
        "fit_backend": str(getattr(som, "fit_backend_", "numpy")),
        "scaling": None,
        "n_full_passes": getattr(som, "n_full_passes_", None),
    }
    arrays = {"codebook": np.asarray(som.codebook_)}
    if hasattr(som, "labels_"):  # not after fit_stream (it would grow with the data)
        arrays["labels"] = np.asarray(som.labels_, dtype=np.int64)
    scaling = getattr(som, "_scaling_", None)
    if scaling is not None:
        meta["scaling"], more = scaling.to_state()
        arrays.update(more)
    if hasattr(som, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(som.feature_names_in_, dtype=str)
    return meta, arrays


def _plain(value):
    """A history entry as JSON: a finite number, else null."""
    if value is None or isinstance(value, bool):
        return value
    value = float(value) if not isinstance(value, int) else value
    return value if math.isfinite(value) else None


def read_state(meta, arrays, partial=False):
    """Validated fitted attributes from ``(meta, arrays)`` as a dict.

    ``partial`` (a checkpoint): no labels and no outlier threshold yet.
    """
    from somkit._numeric import Scaling

    meta = check_dict(
        meta, "state", ("grid", "n_features_in", "n_iter", "radius_schedule")
    )
    d = check_int(meta["n_features_in"], "n_features_in", 1, MAX_FEATURES)
    W = check_array(arrays, "codebook", "codebook", "f", (None, d))
    out = {
        "grid_": grid_from_state(meta["grid"], W.shape[0]),
        "codebook_": W,
        "n_features_in_": d,
        "n_iter_": check_int(meta["n_iter"], "n_iter", 0, 1 << 40),
        "_radius_schedule_": schedule_from_state(
            meta["radius_schedule"], "radius_schedule"
        ),
        "fit_backend_": check_str(meta.get("fit_backend", "numpy"), "fit_backend"),
        "_scaling_": None,
    }
    out["history_"] = history_from_state(meta.get("history"))
    if meta.get("n_full_passes") is not None:
        out["n_full_passes_"] = check_int(meta["n_full_passes"], "n_full_passes", 1)
    names = check_array(arrays, "feature_names_in", "feature names", "U", (d,), False)
    if names is not None:
        out["feature_names_in_"] = names.astype(object)
    scaling = meta.get("scaling")
    if scaling is not None:
        s = check_dict(scaling, "scaling", ("scale", "centred"))
        scale = check_float(s["scale"], "scaling scale")
        if not scale > 0 or math.frexp(scale)[0] != 0.5:
            raise ValueError("scaling scale must be a positive power of two")
        offset = None
        if s["centred"] is True:
            offset = check_array(arrays, "scaling_offset", "scaling offset", "f", (d,))
        elif s["centred"] is not False:
            raise ValueError("scaling centred must be true or false")
        unit_rows = s.get("unit_rows", False)
        if not isinstance(unit_rows, bool):
            raise ValueError("scaling unit_rows must be true or false")
        out["_scaling_"] = Scaling(offset, scale, unit_rows)
    if partial:
        return out
    labels = check_array(arrays, "labels", "labels", "i", (None,), False)
    if labels is not None:  # absent for a map trained by fit_stream
        if labels.size and (labels.min() < 0 or labels.max() >= W.shape[0]):
            raise ValueError("labels refer to units outside the grid")
        out["labels_"] = labels.astype(np.int64, copy=False)
    out["outlier_threshold_"] = check_float(
        meta.get("outlier_threshold"), "outlier_threshold", 0.0
    )
    return out
