"""Model files: ``.npz`` arrays plus one JSON metadata entry, never pickle.

This module knows the file format only; estimators describe themselves as
*steps* (see ``SOM._to_step`` and ``somkit._model``). Layout (format 2):

* ``meta``: a 0-d unicode array holding JSON: format name and version, the
  somkit version, and ``steps``, a list of ``{"name", "class", "params",
  "state"}`` (a model is one SOM, or a pipeline of preprocessing steps
  ending in a SOM);
* ``s<i>.<key>``: the arrays of step ``i`` (codebook, labels, scaler means,
  array-valued parameters), referenced from the JSON as ``{"__array__": key}``.

Saving writes through :func:`somkit._atomic.atomic_write`, so a failed save
never damages an existing file. Loading opens the archive with
``allow_pickle=False``; format-1 files (a single SOM with an optional
``scaler_``) are read into the same steps.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "somkit-model"
FORMAT_VERSION = 2


def encode(value, arrays, key):
    """JSON-able form of a parameter or state value; arrays go to ``arrays``."""
    from somkit._layers import Layer
    from somkit._schedules import Schedule

    if isinstance(value, tuple):
        return {
            "__tuple__": [encode(v, arrays, f"{key}_{i}") for i, v in enumerate(value)]
        }
    if isinstance(value, list):
        return [encode(v, arrays, f"{key}_{i}") for i, v in enumerate(value)]
    if isinstance(value, Schedule):
        return {"__schedule__": value.to_dict()}
    if isinstance(value, Layer):
        return {"__layer__": value.to_dict()}
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: encode(v, arrays, f"{key}__{k}") for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    # Callables, random generators: not storable without pickle.
    return {"__dropped__": type(value).__name__}


def decode(value, arrays):
    """Inverse of :func:`encode` (``arrays``: the step's arrays by key)."""
    from somkit._schedules import schedule_from_dict

    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(decode(v, arrays) for v in value["__tuple__"])
        if "__schedule__" in value:
            return schedule_from_dict(value["__schedule__"])
        if "__layer__" in value:
            from somkit._layers import Layer

            return Layer.from_dict(value["__layer__"])
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__dropped__" in value:
            return None
        return {k: decode(v, arrays) for k, v in value.items()}
    return value


def write_model(path, steps):
    """Write ``steps`` (dicts from ``_to_step``-like encoders) to ``path``.

    Each step is ``{"name", "class", "params", "state", "arrays"}`` with
    JSON-able params and state and a dict of numpy arrays.
    """
    from somkit import __version__
    from somkit._atomic import atomic_write

    arrays = {}
    docs = []
    for i, step in enumerate(steps):
        for key, value in step["arrays"].items():
            arrays[f"s{i}.{key}"] = np.asarray(value)
        docs.append({k: step[k] for k in ("name", "class", "params", "state")})
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "somkit_version": __version__,
        "steps": docs,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def _read_arrays(path):
    if not path.is_file():
        raise ValueError(f"model file not found: {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not a readable somkit model file (not an .npz archive; "
            "truncated or corrupt?)."
        )
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):
            raise ValueError(
                f"{path}: refusing to load object arrays (pickled data); a somkit "
                "model file holds numeric arrays and JSON only."
            ) from None
        raise ValueError(f"{path}: not a readable somkit model file ({exc}).") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise ValueError(
            f"{path}: not a readable somkit model file (truncated or corrupt: {exc})."
        ) from None


def read_meta(path):
    """The JSON metadata of a model file (validated format name and version)."""
    return read_model(path)[0]


def read_model(path):
    """``(meta, steps)`` of a model file; each step has its ``arrays`` dict."""
    path = Path(path)
    arrays = _read_arrays(path)
    if "meta" not in arrays:
        raise ValueError(f"{path}: not a somkit model file (no 'meta' entry).")
    try:
        meta = json.loads(str(arrays["meta"][()]))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: corrupt metadata in model file ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path}: not a somkit model file (format is not {FORMAT_NAME!r})."
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: model format version {version!r} is newer than this somkit "
            f"supports ({FORMAT_VERSION}); upgrade somkit."
        )
    try:
        steps = _steps_v1(meta, arrays) if version == 1 else _steps_v2(meta, arrays)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: inconsistent somkit model file ({exc}).") from None
    return meta, steps


def _steps_v2(meta, arrays):
    steps = []
    for i, doc in enumerate(meta["steps"]):
        prefix = f"s{i}."
        own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        steps.append(
            {
                "name": str(doc["name"]),
                "class": str(doc["class"]),
                "params": doc["params"],
                "state": doc["state"],
                "arrays": own,
            }
        )
    return steps


def _steps_v1(meta, arrays):
    """Format 1: one SOM; the CLI's scaler and column names in ``extra``."""
    own = {k: v for k, v in arrays.items() if k != "meta"}
    state = {
        k: meta[k]
        for k in (
            "grid",
            "n_features_in",
            "n_iter",
            "radius_schedule",
            "outlier_threshold",
            "history",
        )
    }
    som = {
        "name": "som",
        "class": "SOM",
        "params": meta["params"],
        "state": state,
        "arrays": own,
    }
    scaler = meta.get("extra", {}).get("scaler_")
    if scaler is None:
        return [som]
    scaler = decode(scaler, own)
    names = own.pop("feature_names_in", None)
    step = {
        "name": "scale",
        "class": "v1-scaler",
        "params": {},
        "state": {"scaler": scaler, "feature_names_in": names},
        "arrays": {},
    }
    return [step, som]
