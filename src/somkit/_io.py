"""Model files: ``.npz`` arrays plus one JSON metadata entry, never pickle.

This module knows the file format only; estimators describe themselves as
*steps* (see ``SOM._to_step`` and ``somkit._model``). Layout (format 3):

* ``meta.npy``: a 0-d unicode array holding JSON: format name and version,
  the somkit version, ``steps``, a list of ``{"name", "class", "params",
  "state"}`` (a model is one SOM, or a pipeline of preprocessing steps
  ending in a SOM), and ``arrays``, the dtype, shape and SHA-256 of every
  array member;
* ``s<i>.<key>.npy``: the arrays of step ``i`` (codebook, labels, scaler
  means, array-valued parameters), referenced from the JSON as
  ``{"__array__": key}``; every member is stored uncompressed.

Reading trusts nothing in the file. The archive must start with a zip
header; only known members are read (any other member, a compressed or
encrypted member, or a duplicated name refuses the file); each ``.npy``
header is parsed and its dtype (little-endian numbers or unicode, never
objects), shape and byte count are checked against the member's size and
the metadata's table before a byte of data is allocated; the data is
checked against its SHA-256 before use; metadata nested deeper than
:data:`MAX_DEPTH` levels or larger than :data:`MAX_META_BYTES` is refused.
Every failure is a ValueError naming the file. Formats 1 and 2 (no table,
no checksums; the zip CRC still protects them) are read into the same steps.

Saving writes through :func:`somkit._atomic.atomic_write`, so a failed save
never damages an existing file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "somkit-model"
FORMAT_VERSION = 3
#: Largest metadata member read (bytes of its UTF-32 text).
MAX_META_BYTES = 64 << 20
#: Deepest nesting of lists and dicts accepted in the metadata.
MAX_DEPTH = 32
#: Most steps a model may have.
MAX_STEPS = 16
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
#: What zipfile raises on a damaged archive (header fields it cannot use).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    struct.error,
    KeyError,
    IndexError,
    OverflowError,
    UnicodeDecodeError,
)
#: Array keys of formats 1 and 2 that the JSON does not reference (a
#: supervised map's inner SOM has them under "som.").
_IMPLICIT = re.compile(
    r"(som\.)?(codebook|labels|feature_names_in|scaling_offset|layer_index_\d+)"
)
#: Supervised estimators: their inner SOM's state is ``state["som"]``.
_SUPERVISED = ("SOMClassifier", "SOMRegressor")


# ------------------------------------------------------------ encode, decode
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
    """Inverse of :func:`encode` (``arrays``: the step's arrays by key).

    Raises ValueError for a reference to a missing array or a bad schedule.
    """
    from somkit._state import schedule_from_state

    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            items = value["__tuple__"]
            if not isinstance(items, list):
                raise ValueError("a stored tuple must hold a list")
            return tuple(decode(v, arrays) for v in items)
        if "__schedule__" in value:
            return schedule_from_state(value["__schedule__"], "schedule")
        if "__layer__" in value:
            from somkit._layers import Layer

            d = value["__layer__"]
            if not isinstance(d, dict):
                raise ValueError("a stored layer must be a mapping")
            return Layer.from_dict(d)
        if "__array__" in value:
            key = value["__array__"]
            if not isinstance(key, str) or key not in arrays:
                raise ValueError(f"reference to a missing array {key!r}")
            return arrays[key]
        if "__dropped__" in value:
            return None
        return {k: decode(v, arrays) for k, v in value.items()}
    return value


# ------------------------------------------------------------------- write
def array_entry(arr):
    """The metadata's description of an array member: dtype, shape, SHA-256."""
    arr = np.ascontiguousarray(arr)
    return {
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "sha256": hashlib.sha256(arr.reshape(-1).view(np.uint8)).hexdigest(),
    }


def _storable(value, key):
    arr = np.ascontiguousarray(value)
    if arr.dtype.kind not in "fiuUb":
        raise TypeError(f"cannot store array {key!r} of dtype {arr.dtype}")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def write_model(path, steps, extra=None):
    """Write ``steps`` (dicts from ``_to_step``-like encoders) to ``path``.

    Each step is ``{"name", "class", "params", "state", "arrays"}`` with
    JSON-able params and state and a dict of numpy arrays; ``extra`` adds
    top-level metadata entries (a checkpoint's position).
    """
    from somkit import __version__
    from somkit._atomic import atomic_write

    arrays = {}
    docs = []
    for i, step in enumerate(steps):
        for key, value in step["arrays"].items():
            arrays[f"s{i}.{key}"] = _storable(value, key)
        docs.append({k: step[k] for k in ("name", "class", "params", "state")})
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "somkit_version": __version__,
        "steps": docs,
        "arrays": {key: array_entry(arr) for key, arr in arrays.items()},
        **(extra or {}),
    }
    text = json.dumps(meta, allow_nan=False)
    with atomic_write(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        for key, arr in [("meta", np.array(text)), *arrays.items()]:
            with zf.open(f"{key}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, arr, allow_pickle=False)


# -------------------------------------------------------------------- read
class _Archive:
    """The members of a model file, read one by one under strict limits."""

    def __init__(self, path, what="somkit model"):
        self.path = path
        self.what = what
        if not path.is_file():
            raise ValueError(f"model file not found: {str(path)!r}.")
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head != _ZIP_MAGIC:
            raise ValueError(
                f"{path}: not a readable {what} file (not a zip archive: it "
                f"starts with {head!r}; truncated, corrupt or another format?)."
            )
        self.size = path.stat().st_size
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except _ZIP_ERRORS as exc:
            raise ValueError(
                f"{path}: not a readable {what} file (truncated or corrupt zip: {exc})."
            ) from None
        self.members = {}
        for info in infos:
            if info.filename in self.members:
                self.fail(f"member {info.filename!r} appears twice")
            if info.flag_bits & 0x1:
                self.fail(f"member {info.filename!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                self.fail(
                    f"member {info.filename!r} is compressed (somkit writes "
                    "uncompressed members only)"
                )
            if info.file_size != info.compress_size or info.file_size > self.size:
                self.fail(f"member {info.filename!r} declares a wrong size")
            self.members[info.filename] = info
        self.read_keys = []

    def fail(self, why):
        raise ValueError(f"{self.path}: not a valid {self.what} file ({why}).")

    def close(self):
        self.zf.close()

    def read(self, key, limit=None, expect=None, form=None):
        """Array member ``key`` (``key.npy``), checked before allocating.

        ``limit``: most bytes of data; ``expect``: the metadata's entry
        (dtype, shape, sha256) the member must match; ``form``: the dtype
        kinds and shape (None: any length) that the metadata's values imply.
        """
        info = self.members.get(f"{key}.npy")
        if info is None:
            self.fail(f"member {key!r} is missing")
        try:
            with self.zf.open(info) as fh:
                try:
                    dtype, shape, header = _read_header(fh)
                except ValueError as exc:
                    self.fail(f"member {key!r}: {exc}")
                count = int(np.prod(shape, dtype=object))
                nbytes = count * dtype.itemsize
                if header + nbytes != info.file_size:
                    self.fail(
                        f"member {key!r} declares shape {shape} ({nbytes} bytes) "
                        f"but holds {info.file_size - header}"
                    )
                if limit is not None and nbytes > limit:
                    self.fail(f"member {key!r} is larger than {limit} bytes")
                if expect is not None and (
                    expect.get("dtype") != dtype.str
                    or expect.get("shape") != list(shape)
                ):
                    self.fail(f"member {key!r} does not match its description")
                if form is not None and not _has_form(dtype, shape, *form):
                    self.fail(
                        f"member {key!r} has dtype {dtype.str} and shape {shape}; "
                        f"the metadata implies kind {form[0]!r}, shape {form[1]}"
                    )
                buf = bytearray(nbytes)
                view = memoryview(buf)
                done = 0
                while done < nbytes:
                    part = fh.read(min(nbytes - done, 1 << 20))
                    if not part:
                        self.fail(f"member {key!r} is truncated")
                    view[done : done + len(part)] = part
                    done += len(part)
                if fh.read(1):  # also makes zipfile check the member's CRC
                    self.fail(f"member {key!r} is longer than declared")
        except _ZIP_ERRORS as exc:
            if isinstance(exc, ValueError) and str(self.path) in str(exc):
                raise
            self.fail(f"member {key!r} is corrupt: {exc!r}")
        if expect is not None:
            digest = hashlib.sha256(buf).hexdigest()
            if digest != expect.get("sha256"):
                self.fail(f"checksum mismatch in member {key!r}")
        return np.frombuffer(buf, dtype=dtype).reshape(shape)


def _read_header(fh):
    """``(dtype, shape, header_bytes)`` of a .npy stream, strictly checked."""
    magic = fh.read(8)
    if len(magic) != 8 or magic[:6] != _NPY_MAGIC or magic[6] not in (1, 2, 3):
        raise ValueError("an array member is not a .npy array")
    size_bytes = 2 if magic[6] == 1 else 4
    raw = fh.read(size_bytes)
    length = int.from_bytes(raw, "little")
    if len(raw) != size_bytes or length > 4096:
        raise ValueError("an array header is too long")
    text = fh.read(length)
    try:
        header = _parse_header(text.decode("latin1" if magic[6] < 3 else "utf8"))
    except (
        ValueError,
        SyntaxError,
        TypeError,
        UnicodeDecodeError,
        RecursionError,
        MemoryError,
    ) as exc:
        why = str(exc)[:120] or type(exc).__name__
        raise ValueError(f"an array header is malformed ({why})") from None
    return (*header, 8 + size_bytes + length)


def _parse_header(text):
    """The dict of a .npy header: literal Python, parsed by ``ast``."""
    import ast

    if not text.endswith("\n"):
        raise ValueError("no newline")
    d = ast.literal_eval(text.strip())
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError("unexpected keys")
    if d["fortran_order"] is not False:
        raise ValueError("only C-ordered arrays are read")
    shape = d["shape"]
    if not isinstance(shape, tuple) or len(shape) > 4:
        raise ValueError("bad shape")
    if not all(type(s) is int and 0 <= s < 1 << 48 for s in shape):
        raise ValueError("bad shape")
    descr = d["descr"]
    if not isinstance(descr, str) or len(descr) > 16:
        raise ValueError("bad dtype")
    dtype = np.dtype(descr)
    ok = dtype.kind in "fiu" and dtype.itemsize in (4, 8) or dtype.kind in "Ub"
    ok = ok or dtype.str == "|u1"  # raw bytes (a FlowSOM file's inner map)
    if dtype.hasobject:
        raise ValueError("refusing to load object arrays (pickled data)")
    if not ok or dtype.byteorder == ">" or dtype.fields:
        raise ValueError(f"dtype {descr!r} is not accepted")
    return dtype, shape


def _depth_ok(value):
    """True when ``value`` nests lists and dicts at most MAX_DEPTH deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)
    return True


def _references(value, out):
    """Collect every ``{"__array__": key}`` key below ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("__array__"), str):
                out.add(item["__array__"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def read_meta(path):
    """The JSON metadata of a model file (validated format name and version)."""
    return read_model(path)[0]


def read_model(path):
    """``(meta, steps)`` of a model file; each step has its ``arrays`` dict.

    The steps' JSON is only checked for shape here (lists, dicts, strings);
    ``somkit._model`` validates every value when it builds the model.
    """
    path = Path(path)
    archive = _Archive(path)
    try:
        meta = _meta(archive)
        version = meta["format_version"]
        if version == 1:
            keys = _keys(archive, "", meta)
            forms = _forms(meta)
            arrays = {k: _read_tracked(archive, k, form=forms.get(k)) for k in keys}
            steps = _steps_v1(meta, arrays)
        else:
            steps = _steps(archive, meta, version)
        known = {"meta.npy"} | {f"{k}.npy" for k in archive.read_keys}
        extra = sorted(set(archive.members) - known)
        if extra:
            archive.fail(f"unexpected member {extra[0]!r}")
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path}: inconsistent somkit model file ({exc}).") from None
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ValueError(f"{path}: inconsistent somkit model file ({exc!r}).") from None
    finally:
        archive.close()
    return meta, steps


def _meta(archive):
    path = archive.path
    if "meta.npy" not in archive.members:
        raise ValueError(f"{path}: not a somkit model file (no 'meta' entry).")
    raw = archive.read("meta", limit=MAX_META_BYTES)
    if raw.dtype.kind != "U" or raw.shape != ():
        archive.fail("the metadata is not a text entry")
    try:
        meta = json.loads(str(raw[()]))
    except (ValueError, RecursionError) as exc:
        raise ValueError(
            f"{path}: corrupt metadata in model file ({type(exc).__name__})."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path}: not a somkit model file (format is not {FORMAT_NAME!r})."
        )
    version = meta.get("format_version")
    if type(version) is not int or version < 1:
        archive.fail(f"format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: model format version {version!r} is newer than this somkit "
            f"supports ({FORMAT_VERSION}); upgrade somkit."
        )
    if not _depth_ok(meta):
        archive.fail(f"metadata nested deeper than {MAX_DEPTH} levels")
    return meta


def _has_form(dtype, shape, kinds, dims):
    return dtype.kind in kinds and (
        len(shape) == len(dims)
        and all(d is None or d == s for d, s in zip(dims, shape, strict=True))
    )


def _forms(state):
    """Dtype kinds and shapes of a SOM's arrays implied by its ``state``.

    Lets the reader refuse a member that cannot be the codebook (or the
    names, or the labels) before allocating it.
    """
    if not isinstance(state, dict):
        return {}
    d = state.get("n_features_in")
    d = d if type(d) is int and d > 0 else None
    grid = state.get("grid")
    sides = grid.get("shape") if isinstance(grid, dict) else None
    units = None
    if isinstance(sides, list) and all(type(v) is int and v > 0 for v in sides):
        units = math.prod(sides)
    return {
        "codebook": ("f", (units, d)),
        "labels": ("iu", (None,)),
        "feature_names_in": ("U", (d,)),
        "scaling_offset": ("f", (d,)),
    }


def _step_forms(doc):
    """:func:`_forms` of a step's map (a supervised map's inner SOM too)."""
    if doc["class"] == "SOM":
        return _forms(doc["state"])
    inner = doc["state"].get("som") if doc["class"] in _SUPERVISED else None
    if not isinstance(inner, dict):
        return {}
    return {f"som.{k}": v for k, v in _forms(inner.get("state")).items()}


def _keys(archive, prefix, doc):
    """Array keys of a format-1/2 step: referenced from JSON, or implicit."""
    keys = _references(doc, set())
    for name in archive.members:
        key = name[len(prefix) : -len(".npy")]
        if (
            name.startswith(prefix)
            and name.endswith(".npy")
            and _IMPLICIT.fullmatch(key)
        ):
            keys.add(key)
    return sorted(k for k in keys if f"{prefix}{k}.npy" in archive.members)


def _read_tracked(archive, key, expect=None, form=None):
    archive.read_keys.append(key)
    return archive.read(key, expect=expect, form=form)


def _steps(archive, meta, version):
    docs = meta.get("steps")
    if not isinstance(docs, list) or not 1 <= len(docs) <= MAX_STEPS:
        archive.fail(f"'steps' must be a list of 1 to {MAX_STEPS} steps")
    table = meta.get("arrays") if version >= 3 else None
    if version >= 3 and not isinstance(table, dict):
        archive.fail("no table of arrays")
    steps = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or not all(
            isinstance(doc.get(k), t)
            for k, t in (
                ("name", str),
                ("class", str),
                ("params", dict),
                ("state", dict),
            )
        ):
            archive.fail(f"step {i} is not a name, class, params and state")
        prefix = f"s{i}."
        if table is not None:
            keys = [k[len(prefix) :] for k in table if k.startswith(prefix)]
        else:
            keys = _keys(archive, prefix, doc)
        own = {}
        forms = _step_forms(doc)
        for key in keys:
            expect = None if table is None else table[prefix + key]
            if table is not None and not isinstance(expect, dict):
                archive.fail(f"bad table entry for {prefix + key!r}")
            own[key] = _read_tracked(archive, prefix + key, expect, forms.get(key))
        steps.append({**{k: doc[k] for k in ("name", "class", "params", "state")}})
        steps[-1]["arrays"] = own
    if table is not None and len(table) != len(archive.read_keys):
        archive.fail("the table of arrays names members of no step")
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
    extra = meta.get("extra") or {}
    scaler = extra.get("scaler_") if isinstance(extra, dict) else None
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
