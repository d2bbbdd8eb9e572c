"""FlowSOM model files: one .npz holding the map's own file, no pickle.

Layout: ``som`` (uint8 bytes of the map written by :meth:`somkit.SOM.save`,
read back with :func:`somkit.load`), ``unit_metaclusters`` (int64),
``cofactors`` (float64, present when a transform was fitted) and ``meta``
(a JSON string: format name and version, markers, parameters, number of
metaclusters). Writing goes to a temporary file renamed over the target.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "somkit-flowsom"
FORMAT_VERSION = 1


def save_flowsom(model, path):
    """Write a fitted :class:`FlowSOM` to ``path`` atomically."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "unit_metaclusters_")
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        som_path = Path(tmp) / "som.npz"
        model.som_.save(som_path)
        som_bytes = np.frombuffer(som_path.read_bytes(), dtype=np.uint8)
    params = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in model.get_params().items()
        if v is None or isinstance(v, bool | int | float | str | tuple | list)
    }
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "markers": list(model.markers_),
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": (
            [str(n) for n in model.feature_names_in_]
            if hasattr(model, "feature_names_in_")
            else None
        ),
        "n_clusters": int(model.n_clusters_),
        "transform": None if model.cofactors_ is None else "arcsinh",
        "params": params,
    }
    arrays = {
        "som": som_bytes,
        "unit_metaclusters": np.asarray(model.unit_metaclusters_, dtype=np.int64),
        "meta": np.asarray(json.dumps(meta)),
    }
    if model.cofactors_ is not None:
        arrays["cofactors"] = np.asarray(model.cofactors_, dtype=np.float64)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp_name, 0o666 & ~mask)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_flowsom(path):
    """Read a model written by :meth:`FlowSOM.save` (or ``somkit cytometry``).

    Raises
    ------
    ValueError
        For a missing, truncated or foreign file, pickled content, or a file
        from a newer format version.

    Examples
    --------
    >>> import os, tempfile
    >>> from somkit.cytometry import FlowSOM, load_flowsom, make_cytometry
    >>> X, _ = make_cytometry(3000, 6, 4, rare=(), n_lineages=4, random_state=0)
    >>> fs = FlowSOM(n_clusters=4, grid=(4, 4), random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> _ = fs.save(path)
    >>> (load_flowsom(path).predict(X) == fs.labels_).all()
    np.True_
    """
    from somkit import load
    from somkit.cytometry._flowsom import FlowSOM

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file not found: {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a FlowSOM model file (not an .npz archive).")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays["meta"][()]))
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable FlowSOM model file ({exc}).") from exc
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path}: not a FlowSOM model file (format {meta.get('format')!r})."
        )
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{path}: FlowSOM model format {meta['format_version']} is newer than this "
            f"somkit reads ({FORMAT_VERSION}); upgrade somkit."
        )
    params = dict(meta["params"])
    for key in ("grid", "learning_rate", "radius"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    model = FlowSOM(**{k: v for k, v in params.items() if k in FlowSOM().get_params()})
    with tempfile.TemporaryDirectory() as tmp:
        som_path = Path(tmp) / "som.npz"
        som_path.write_bytes(arrays["som"].tobytes())
        model.som_ = load(som_path)
    model.unit_metaclusters_ = arrays["unit_metaclusters"]
    model.n_clusters_ = int(meta["n_clusters"])
    model.markers_ = list(meta["markers"])
    model.n_features_in_ = int(meta["n_features_in"])
    if meta.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    model.cofactors_ = arrays.get("cofactors")
    return model
