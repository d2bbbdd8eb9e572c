"""Reading data files for the command line: CSV/TSV, Parquet, NPY/NPZ.

Every reader produces named columns; :func:`load_data` then picks the
feature columns (numeric only, refused by name otherwise), an optional label
column (any values) and an optional id column, and returns a
:class:`Dataset` with a float64 feature matrix. :func:`load_for_model` does
the same for data fed to an already trained map: it picks the model's
feature columns by name when both sides have names, else checks the count.

Errors are :class:`DataError` (a ``ValueError``) with one readable line.
"""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Suffixes read as delimited text; the value is the delimiter (None: sniff).
_TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_NPZ_FEATURE_KEYS = ("X", "x", "data", "features")
_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class DataError(ValueError):
    """A data file that cannot be used; the message is one readable line."""


@dataclass
class Dataset:
    """Features, optional labels and ids read from one file.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    feature_names : list of str
        Column names (``x0``, ``x1``, ... when the file has none).
    named : bool
        True when the names come from the file (a header, Parquet or
        structured-array field names).
    labels : ndarray of shape (n_samples,) or None
    label_name : str or None
    ids : ndarray of shape (n_samples,) or None
    id_name : str or None
    image_shape : tuple of int or None
        Trailing shape of an N-D ``.npy`` array flattened into features.
    source : str
    """

    X: np.ndarray
    feature_names: list
    named: bool
    labels: np.ndarray | None = None
    label_name: str | None = None
    ids: np.ndarray | None = None
    id_name: str | None = None
    image_shape: tuple | None = None
    source: str = ""
    dropped: list = field(default_factory=list)

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]


@dataclass
class _Table:
    """Raw columns of a file, in file order."""

    names: list
    columns: list  # 1-D arrays: float64 for numeric columns, object otherwise
    named: bool
    image_shape: tuple | None = None
    # npz only: extra arrays usable as label/id columns, by key
    extras: dict = field(default_factory=dict)


# --------------------------------------------------------------------- read
def _suffix(path):
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def read_table(path):
    """Read ``path`` into raw named columns (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {str(path)!r}.")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file.")
    suffix = _suffix(path)
    if suffix in _TEXT_SUFFIXES:
        return _read_text(path, _TEXT_SUFFIXES[suffix])
    if suffix in _PARQUET_SUFFIXES:
        return _read_parquet(path)
    if suffix == ".npy":
        return _read_npy(path)
    if suffix == ".npz":
        return _read_npz(path)
    raise DataError(
        f"{path}: unknown data format {suffix or '(no suffix)'!r}; use .csv, .tsv, "
        ".txt, .parquet, .npy or .npz."
    )


def _open_text(path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def _is_number(s):
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_text(path, delimiter):
    try:
        with _open_text(path) as fh:
            first = fh.readline()
            while first and not first.strip():
                first = fh.readline()
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as text ({exc}).") from None
    if not first.strip():
        raise DataError(f"{path}: the file is empty.")
    if delimiter is None:
        delimiter = next((d for d in ("\t", ",", ";") if d in first), " ")
    fields = next(csv.reader([first], delimiter=delimiter, skipinitialspace=True))
    header = not all(_is_number(f) for f in fields)
    try:
        import pandas as pd
    except ImportError:
        return _read_text_stdlib(path, delimiter, header)
    try:
        frame = pd.read_csv(
            path,
            sep=r"\s+" if delimiter == " " else delimiter,
            header=0 if header else None,
            skipinitialspace=True,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise DataError(f"{path}: cannot parse as a table ({msg}).") from None
    if not header:
        frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    return _from_frame(frame, named=header)


def _read_text_stdlib(path, delimiter, header):
    with _open_text(path) as fh:
        if delimiter == " ":
            rows = [line.split() for line in fh if line.strip()]
        else:
            reader = csv.reader(fh, delimiter=delimiter, skipinitialspace=True)
            rows = [r for r in reader if any(f.strip() for f in r)]
    if header:
        names, rows = [f.strip() for f in rows[0]], rows[1:]
    else:
        names = [f"x{i}" for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise DataError(
                f"{path}: cannot parse as a table (line {i + 1 + header} has "
                f"{len(row)} fields, expected {len(names)})."
            )
    columns = [_parse_column([r[j] for r in rows]) for j in range(len(names))]
    return _Table(names, columns, named=header)


def _parse_column(values):
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        v = v.strip()
        if v.lower() in _MISSING:
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except ValueError:
            return np.array(values, dtype=object)
    return out


def _from_frame(frame, named):
    names, columns = [], []
    for name in frame.columns:
        col = frame[name]
        kind = getattr(col.dtype, "kind", "O")
        if kind in "biuf":
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = col.to_numpy(dtype=object)
        names.append(str(name))
        columns.append(values)
    return _Table(names, columns, named=named)


def _read_parquet(path):
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pandas and pyarrow "
            "(pip install pandas pyarrow)."
        ) from None
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own error types
        raise DataError(f"{path}: cannot read as Parquet ({exc}).") from None
    return _from_frame(frame, named=True)


def _np_load(path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(
                f"{path}: holds object arrays (pickled data); save plain numeric "
                "arrays instead."
            ) from None
        raise DataError(f"{path}: cannot read ({exc}).") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}).") from None


def _array_table(path, A, what):
    if A.dtype.names:  # structured array: one column per field
        names = list(A.dtype.names)
        columns = [_column_of(A[n]) for n in names]
        return _Table(names, columns, named=True)
    image_shape = None
    if A.ndim == 0:
        raise DataError(f"{path}: {what} is a scalar, not a data table.")
    if A.ndim == 1:
        A = A[:, None]
    elif A.ndim > 2:
        image_shape = tuple(int(s) for s in A.shape[1:])
        A = A.reshape(A.shape[0], -1)
    names = [f"x{i}" for i in range(A.shape[1])]
    columns = [_column_of(A[:, j]) for j in range(A.shape[1])]
    return _Table(names, columns, named=False, image_shape=image_shape)


def _column_of(a):
    a = np.asarray(a)
    if a.dtype.kind in "biuf":
        return a.astype(np.float64)
    return a.astype(object)


def _read_npy(path):
    A = _np_load(path)
    if not isinstance(A, np.ndarray):
        raise DataError(f"{path}: not a .npy array file.")
    return _array_table(path, A, "the array")


def _read_npz(path):
    npz = _np_load(path)
    if isinstance(npz, np.ndarray):
        raise DataError(f"{path}: not an .npz archive.")
    try:
        with npz:
            try:
                arrays = {k: npz[k] for k in npz.files}
            except ValueError as exc:
                if "pickle" in str(exc) or "Object arrays" in str(exc):
                    raise DataError(
                        f"{path}: holds object arrays (pickled data); save plain "
                        "numeric arrays instead."
                    ) from None
                raise
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot read ({exc}).") from None
    if not arrays:
        raise DataError(f"{path}: the archive holds no arrays.")
    key = next((k for k in _NPZ_FEATURE_KEYS if k in arrays), None)
    if key is None:
        if len(arrays) != 1:
            raise DataError(
                f"{path}: cannot tell which array holds the features; name it one "
                f"of {list(_NPZ_FEATURE_KEYS)} (found {sorted(arrays)})."
            )
        key = next(iter(arrays))
    table = _array_table(path, arrays.pop(key), f"array {key!r}")
    table.extras = arrays
    return table


# ------------------------------------------------------------------- select
def _quote(names, limit=8):
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


def _resolve(table, spec, option, source):
    """Index of column ``spec`` (a name, or an integer position)."""
    spec = str(spec).strip()
    if spec in table.names:
        return table.names.index(spec)
    if spec.lstrip("-").isdigit():
        i = int(spec)
        if -len(table.names) <= i < len(table.names):
            return i % len(table.names)
    raise DataError(
        f"{source}: no column {spec!r} for {option}; the columns are "
        f"{_quote(table.names)}."
    )


def _extra_column(table, spec, option, source, n):
    """A label/id column: a table column, or (npz) a separate array."""
    if spec in table.extras:
        values = np.asarray(table.extras[spec])
        if values.ndim != 1 or len(values) != n:
            raise DataError(
                f"{source}: array {spec!r} for {option} must be 1-D with one entry "
                f"per sample ({n}), got shape {values.shape}."
            )
        return values, str(spec), None
    j = _resolve(table, spec, option, source)
    values = table.columns[j]
    if values.dtype == np.float64 and np.all(np.isfinite(values)):
        if np.all(values == np.round(values)):
            values = values.astype(np.int64)
    return values, table.names[j], j


def _split_spec(columns):
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [c for c in columns.split(",")]
    columns = [str(c).strip() for c in columns if str(c).strip()]
    if not columns:
        raise DataError("--columns is empty; give column names separated by commas.")
    return columns


def _numeric_matrix(table, idx, source):
    bad = [table.names[j] for j in idx if table.columns[j].dtype != np.float64]
    if bad:
        raise DataError(
            f"{source}: non-numeric column(s) {_quote(bad)}; pick numeric features "
            "with --columns, or name a class column with --label-column."
        )
    n = len(table.columns[0]) if table.columns else 0
    X = np.empty((n, len(idx)), dtype=np.float64)
    for k, j in enumerate(idx):
        X[:, k] = table.columns[j]
    finite = np.isfinite(X)
    if not finite.all():
        bad_cols = [table.names[idx[k]] for k in np.flatnonzero(~finite.all(axis=0))]
        rows = np.flatnonzero(~finite.all(axis=1))
        first = ", ".join(str(r + 1) for r in rows[:5])
        raise DataError(
            f"{source}: missing or non-finite values in column(s) {_quote(bad_cols)} "
            f"({len(rows)} row(s), first data row(s) {first}); fill or drop them "
            "first."
        )
    return X


def load_data(path, columns=None, label_column=None, id_column=None):
    """Read a data file for training.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.parquet``,
        ``.npy`` or ``.npz``. A text file whose first line is all numbers has
        no header (columns are named ``x0``, ``x1``, ...).
    columns : str, list of str or None
        Feature columns (names, or positions for files without names);
        default: every column except the label and id columns.
    label_column, id_column : str or None
        Class labels (any values) and row ids, kept apart from the features.
        In an ``.npz`` file they may name separate arrays.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("a,b,kind\\n1,2,x\\n3,4,y\\n")
    >>> d = load_data(path, label_column="kind")
    >>> d.X.tolist(), d.feature_names, d.labels.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], ['a', 'b'], ['x', 'y'])
    """
    table = read_table(path)
    source = str(path)
    return _select(table, source, _split_spec(columns), label_column, id_column)


def _select(table, source, columns, label_column, id_column):
    if not table.names:
        raise DataError(f"{source}: the file has no columns.")
    n = len(table.columns[0])
    if n == 0:
        raise DataError(f"{source}: the file has no data rows.")
    labels = ids = None
    label_name = id_name = None
    reserved = set()
    if label_column is not None:
        labels, label_name, j = _extra_column(
            table, label_column, "--label-column", source, n
        )
        reserved.add(j)
    if id_column is not None:
        ids, id_name, j = _extra_column(table, id_column, "--id-column", source, n)
        reserved.add(j)
    if columns is not None:
        idx = [_resolve(table, c, "--columns", source) for c in columns]
        clash = [table.names[j] for j in idx if j in reserved]
        if clash:
            raise DataError(
                f"{source}: column(s) {_quote(clash)} cannot be both a feature and "
                "the label or id column."
            )
        if len(set(idx)) != len(idx):
            raise DataError(f"{source}: --columns names a column twice.")
    else:
        idx = [j for j in range(len(table.names)) if j not in reserved]
    if not idx:
        raise DataError(f"{source}: no feature columns left.")
    X = _numeric_matrix(table, idx, source)
    image_shape = table.image_shape if columns is None else None
    return Dataset(
        X=X,
        feature_names=[table.names[j] for j in idx],
        named=table.named,
        labels=labels,
        label_name=label_name,
        ids=ids,
        id_name=id_name,
        image_shape=image_shape,
        source=source,
    )


def load_for_model(path, som, label_column=None, id_column=None):
    """Read a data file for a trained map: its feature columns, in its order.

    When the file and the model both have column names, the model's columns
    are picked by name (other columns are ignored); otherwise every column
    but the label and id columns is a feature and their number must match
    the model's.
    """
    table = read_table(path)
    source = str(path)
    names = getattr(som, "feature_names_in_", None)
    n_expected = int(som.n_features_in_)
    if table.named and names is not None:
        names = [str(s) for s in names]
        missing = [s for s in names if s not in table.names]
        if missing:
            raise DataError(
                f"{source}: lacks the model's feature column(s) {_quote(missing)}."
            )
        return _select(table, source, names, label_column, id_column)
    data = _select(table, source, None, label_column, id_column)
    if data.n_features != n_expected:
        raise DataError(
            f"{source}: has {data.n_features} feature column(s) but the model was "
            f"trained on {n_expected}."
        )
    return data


def summary(data, limit=50):
    """Per-feature statistics rows (name, min, mean, std, max) of a Dataset."""
    X = data.X
    rows = []
    for j, name in enumerate(data.feature_names[:limit]):
        col = X[:, j]
        rows.append(
            (
                name,
                float(col.min()),
                float(col.mean()),
                float(col.std()),
                float(col.max()),
            )
        )
    return rows


def label_counts(labels):
    """Sorted (label, count) pairs."""
    values, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    return [(str(v), int(c)) for v, c in zip(values, counts, strict=True)]


def is_square(n):
    r = math.isqrt(n)
    return r * r == n
