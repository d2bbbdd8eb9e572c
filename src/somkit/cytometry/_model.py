"""FlowSOM model files: one .npz holding the map's own file, no pickle.

Layout: ``som`` (uint8 bytes of the map written by :meth:`somkit.SOM.save`,
read back with :func:`somkit.load`), ``unit_metaclusters`` (int64),
``cofactors`` (float64, present when a transform was fitted) and ``meta``
(a JSON string: format name and version, markers, parameters, number of
metaclusters). Writing goes through :func:`somkit._atomic.atomic_write`;
reading through the strict reader of somkit model files (known members
only, sizes checked before allocating) and validates every field; the map
inside is read by :func:`somkit.load` with all of its checks.
"""

from __future__ import annotations

import json
import tempfile
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
    from somkit._atomic import atomic_write

    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


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
    arrays, meta = _read_members(path)
    try:
        model = _build(meta, arrays, FlowSOM)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise ValueError(f"{path}: inconsistent FlowSOM model file ({exc}).") from None
    with tempfile.TemporaryDirectory() as tmp:
        som_path = Path(tmp) / "som.npz"
        som_path.write_bytes(arrays["som"].tobytes())
        try:
            model.som_ = load(som_path)
        except ValueError as exc:
            raise ValueError(f"{path}: the map inside is refused ({exc})") from None
    n_units = model.som_.grid_.n_units
    if model.unit_metaclusters_.shape != (n_units,):
        raise ValueError(f"{path}: unit_metaclusters does not match the map.")
    if model.som_.n_features_in_ != model.n_features_in_:
        raise ValueError(f"{path}: the map's features do not match the markers.")
    return model


def _read_members(path):
    """The known members of a FlowSOM file, read by the strict model reader."""
    from somkit._io import MAX_META_BYTES, _Archive

    archive = _Archive(path, "FlowSOM model")
    try:
        known = {"meta.npy", "som.npy", "unit_metaclusters.npy", "cofactors.npy"}
        extra = sorted(set(archive.members) - known)
        if extra:
            archive.fail(f"unexpected member {extra[0]!r}")
        raw = archive.read("meta", limit=MAX_META_BYTES)
        if raw.dtype.kind != "U" or raw.shape != ():
            archive.fail("the metadata is not a text entry")
        try:
            meta = json.loads(str(raw[()]))
        except (ValueError, RecursionError):
            archive.fail("corrupt metadata")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ValueError(f"{path}: not a FlowSOM model file (format is not ours).")
        version = meta.get("format_version")
        if type(version) is not int or version > FORMAT_VERSION:
            raise ValueError(
                f"{path}: FlowSOM model format {version!r} is newer than this "
                f"somkit reads ({FORMAT_VERSION}); upgrade somkit."
            )
        arrays = {
            key: archive.read(key)
            for key in ("som", "unit_metaclusters", "cofactors")
            if f"{key}.npy" in archive.members
        }
    finally:
        archive.close()
    return arrays, meta


def _build(meta, arrays, FlowSOM):
    """A FlowSOM (without its map) from validated metadata and arrays."""
    from somkit._state import check_array, check_int, check_str

    d = check_int(meta["n_features_in"], "n_features_in", 1, 1 << 20)
    markers = meta["markers"]
    if not isinstance(markers, list) or len(markers) != d:
        raise ValueError("markers must be a list of one name per feature")
    params = meta["params"]
    if not isinstance(params, dict):
        raise ValueError("params must be a mapping")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    known = FlowSOM().get_params()
    model = FlowSOM(**{k: v for k, v in params.items() if k in known})
    check_array(arrays, "som", "som", "u", (None,))
    units = check_array(arrays, "unit_metaclusters", "unit_metaclusters", "i", (None,))
    model.n_clusters_ = check_int(meta["n_clusters"], "n_clusters", 1)
    if units.size and (units.min() < 0 or units.max() >= model.n_clusters_):
        raise ValueError("unit_metaclusters out of range")
    model.unit_metaclusters_ = units.astype(np.int64)
    model.markers_ = [
        m if type(m) is int else check_str(m, "marker", limit=10_000) for m in markers
    ]
    model.n_features_in_ = d
    names = meta.get("feature_names_in")
    if names is not None:
        if not isinstance(names, list) or len(names) != d:
            raise ValueError("feature_names_in must list one name per feature")
        names = [check_str(n, "feature name", limit=10_000) for n in names]
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.cofactors_ = check_array(arrays, "cofactors", "cofactors", "f", (d,), False)
    if model.cofactors_ is not None and not np.all(model.cofactors_ > 0):
        raise ValueError("cofactors must be positive")
    return model
