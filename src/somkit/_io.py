"""Model files: ``.npz`` arrays plus one JSON metadata entry, never pickle.

Layout: ``meta`` (a 0-d unicode array holding JSON: format name and version,
somkit version, parameters, grid, schedule position, history, ...),
``codebook``, ``labels`` and any array-valued parameter or attribute
(``param__init``, ``scaler__mean``, ...). Saving writes a temporary file in the
target folder and renames it over the target, so a failed save never damages
an existing file. Loading opens the archive with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "somkit-model"
FORMAT_VERSION = 1


def _encode(value, arrays, key):
    """JSON-able form of a parameter value; arrays go to ``arrays``."""
    from somkit._schedules import Schedule

    if isinstance(value, tuple):
        return {
            "__tuple__": [_encode(v, arrays, f"{key}_{i}") for i, v in enumerate(value)]
        }
    if isinstance(value, list):
        return [_encode(v, arrays, f"{key}_{i}") for i, v in enumerate(value)]
    if isinstance(value, Schedule):
        return {"__schedule__": value.to_dict()}
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _encode(v, arrays, f"{key}__{k}") for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    # Callables, random generators: not storable without pickle.
    return {"__dropped__": type(value).__name__}


def _decode(value, arrays):
    from somkit._schedules import schedule_from_dict

    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if "__schedule__" in value:
            return schedule_from_dict(value["__schedule__"])
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__dropped__" in value:
            return None
        return {k: _decode(v, arrays) for k, v in value.items()}
    return value


def save(som, path):
    """Write a fitted SOM to ``path`` atomically (see module docstring)."""
    from sklearn.utils.validation import check_is_fitted

    from somkit import __version__

    check_is_fitted(som, "codebook_")
    arrays = {"codebook": np.asarray(som.codebook_), "labels": np.asarray(som.labels_)}
    params = {
        k: _encode(v, arrays, f"param__{k}")
        for k, v in som.get_params(deep=False).items()
    }
    extra = {}
    for attr in ("scaler_", "data_info_"):
        if getattr(som, attr, None) is not None:
            extra[attr] = _encode(getattr(som, attr), arrays, attr.rstrip("_"))
    if hasattr(som, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(som.feature_names_in_, dtype=str)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "somkit_version": __version__,
        "class": type(som).__name__,
        "params": params,
        "grid": som.grid_.to_dict(),
        "n_features_in": int(som.n_features_in_),
        "n_iter": int(som.n_iter_),
        "radius_schedule": som._radius_schedule_.to_dict(),
        "outlier_threshold": float(som.outlier_threshold_),
        "history": som.history_,
        "extra": extra,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp creates 0600 files; give the model the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load(path):
    """Load a SOM saved with :meth:`SOM.save` (no pickle involved).

    Raises
    ------
    ValueError
        For a truncated or foreign file, a file holding object arrays, or a
        model from a newer format version.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM, load
    >>> X = load_iris().data
    >>> som = SOM((4, 4), random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> _ = som.save(path)
    >>> (load(path).predict(X) == som.predict(X)).all()
    np.True_
    """
    from somkit._grid import Grid
    from somkit._schedules import schedule_from_dict
    from somkit._som import SOM

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file not found: {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not a readable somkit model file (not an .npz archive; "
            "truncated or corrupt?)."
        )
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
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
        params = {k: _decode(v, arrays) for k, v in meta["params"].items()}
        som = SOM(**params)
        som.grid_ = Grid.from_dict(meta["grid"])
        W = arrays["codebook"]
        if W.shape != (som.grid_.n_units, int(meta["n_features_in"])):
            raise ValueError("codebook shape does not match the grid")
        som._set_codebook(W)
        som.labels_ = arrays["labels"]
        som.n_features_in_ = int(meta["n_features_in"])
        if "feature_names_in" in arrays:
            som.feature_names_in_ = arrays["feature_names_in"].astype(object)
        som.n_iter_ = int(meta["n_iter"])
        som._radius_schedule_ = schedule_from_dict(meta["radius_schedule"])
        som.outlier_threshold_ = float(meta["outlier_threshold"])
        som.history_ = {k: list(v) for k, v in meta["history"].items()}
        for attr, value in meta.get("extra", {}).items():
            setattr(som, attr, _decode(value, arrays))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: inconsistent somkit model file ({exc}).") from None
    return som
