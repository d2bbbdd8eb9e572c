"""Reading data files into raw named columns: CSV/TSV, Parquet, NPY/NPZ.

:func:`read_table` gives a :class:`_Table`: column names and one 1-D array
per column, float64 for numeric columns (holes as NaN) and object for text
columns (holes as None). ``somkit._data`` then picks features, labels and
ids from it. All-numeric Parquet files and numeric ``.npy``/``.npz`` arrays
are read into one float64 block whose columns are the table's columns, so
that the features can be that block, not a second copy of the file.

Delimited text: ``sep`` and ``decimal`` may be given; otherwise a ``.csv``
whose lines are separated by ``;`` (the European spreadsheet export) is
read so, and numbers written with decimal commas are recognised when the
separator is not a comma; each such guess is recorded as a note.

Errors are :class:`DataError` (a ``ValueError``) with one readable line.
"""

from __future__ import annotations

import csv
import gzip
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Suffixes read as delimited text; the value is the delimiter (None: sniff).
_TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_NPZ_FEATURE_KEYS = ("X", "x", "data", "features")
#: Cell texts read as holes (case-insensitive, stripped).
MISSING_TEXT = {"", "na", "nan", "n/a", "null", "none", "?", "#n/a", "<na>"}
#: ``--sep`` words for characters that are awkward on a command line.
SEPARATORS = {"tab": "\t", "\\t": "\t", "space": " ", "whitespace": " "}
#: Lines looked at to guess the separator and the decimal mark.
SNIFF_LINES = 50
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")


class DataError(ValueError):
    """A data file that cannot be used; the message is one readable line."""


@dataclass
class _Table:
    """Raw columns of a file, in file order."""

    names: list
    columns: list  # 1-D arrays: float64 for numeric columns, object otherwise
    named: bool
    image_shape: tuple | None = None
    # npz only: extra arrays usable as label/id columns, by key
    extras: dict = field(default_factory=dict)
    # what the reader guessed (separator, decimal mark), for the user
    notes: list = field(default_factory=list)
    # numeric files read whole: a C-ordered float64 (n, n_columns) array
    # whose column j is columns[j] (a view), so that it can be the features
    block: np.ndarray | None = None


def _suffix(path):
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def read_table(path, sep=None, decimal=None):
    """Read ``path`` into raw named columns (see module docstring).

    Parameters
    ----------
    path : str or Path
    sep : str or None
        Field separator of delimited text (``"tab"`` and ``"space"`` accepted);
        None: from the suffix, a ``.csv`` with ``;`` between fields detected.
    decimal : {".", ","} or None
        Decimal mark; None: ``.``, or ``,`` when numbers are written so and
        the separator is not a comma.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "eu.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("a;b\\n1,5;2\\n3;4,25\\n")
    >>> t = read_table(path)
    >>> t.names, t.columns[0].tolist(), t.columns[1].tolist()
    (['a', 'b'], [1.5, 3.0], [2.0, 4.25])
    >>> t.notes[0]
    "read as ';'-separated with decimal commas (override with --sep / --decimal)"
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {str(path)!r}.")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file.")
    suffix = _suffix(path)
    if decimal is not None and decimal not in (".", ","):
        raise DataError(f"--decimal must be '.' or ',', got {decimal!r}.")
    if suffix in _TEXT_SUFFIXES:
        return _read_text(path, _TEXT_SUFFIXES[suffix], _separator(sep), decimal)
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


def _is_number(s, decimal="."):
    try:
        float(s.replace(",", ".") if decimal == "," else s)
    except ValueError:
        return False
    return True


def _separator(sep):
    """The field separator of ``--sep`` (one character), or None."""
    if sep is None:
        return None
    sep = SEPARATORS.get(str(sep).lower(), str(sep))
    if len(sep) != 1:
        raise DataError(
            f"--sep must be one character (or 'tab', 'space'), got {sep!r}."
        )
    return sep


def _sniff(lines, delimiter, sep, decimal, csv_file):
    """The separator and decimal mark of text ``lines``, and what was guessed.

    A ``.csv`` whose header holds more ``;`` than ``,`` and whose lines all
    hold as many ``;`` is ``;``-separated; a file without a given decimal
    mark uses decimal commas when its separator is not a comma and some
    fields look like ``1,5`` while none looks like ``1.5``.
    """
    guessed = []
    if sep is not None:
        delimiter = sep
    elif delimiter is None:
        delimiter = next((d for d in ("\t", ",", ";") if d in lines[0]), " ")
    elif csv_file and lines[0].count(";") > lines[0].count(","):
        counts = {line.count(";") for line in lines}
        if len(counts) == 1:
            delimiter = ";"
            guessed.append("';'-separated")
    if decimal is None:
        decimal = "."
        if delimiter != ",":
            fields = [
                f.strip()
                for line in lines[1:]
                for f in (line.split() if delimiter == " " else line.split(delimiter))
            ]
            commas = any(_DECIMAL_COMMA.match(f) for f in fields)
            if commas and not any(_DECIMAL_POINT.match(f) for f in fields):
                decimal = ","
                guessed.append("with decimal commas")
    note = None
    if guessed:
        note = f"read as {' '.join(guessed)} (override with --sep / --decimal)"
    return delimiter, decimal, note


def _read_text(path, delimiter, sep=None, decimal=None):
    try:
        with _open_text(path) as fh:
            lines = []
            for line in fh:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) >= SNIFF_LINES:
                    break
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as text ({exc}).") from None
    if not lines:
        raise DataError(f"{path}: the file is empty.")
    delimiter, decimal, note = _sniff(
        lines, delimiter, sep, decimal, _suffix(path) == ".csv"
    )
    first = lines[0]
    fields = next(csv.reader([first], delimiter=delimiter, skipinitialspace=True))
    header = not all(_is_number(f, decimal) for f in fields)
    try:
        import pandas as pd
    except ImportError:
        table = _read_text_stdlib(path, delimiter, header, decimal)
    else:
        try:
            frame = pd.read_csv(
                path,
                sep=r"\s+" if delimiter == " " else delimiter,
                header=0 if header else None,
                decimal=decimal,
                na_values=sorted(MISSING_TEXT | {s.upper() for s in MISSING_TEXT}),
                skipinitialspace=True,
                skip_blank_lines=True,
            )
        except (
            pd.errors.ParserError,
            pd.errors.EmptyDataError,
            UnicodeDecodeError,
        ) as e:
            text = str(e).strip()
            msg = text.splitlines()[-1] if text else type(e).__name__
            hint = ""
            if sep is None:
                hint = "; give the field separator with --sep"
            raise DataError(f"{path}: cannot parse as a table ({msg}{hint}).") from None
        if not header:
            frame.columns = [f"x{i}" for i in range(frame.shape[1])]
        table = _from_frame(frame, named=header)
    if note is not None:
        table.notes.append(note)
    return table


def _read_text_stdlib(path, delimiter, header, decimal="."):
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
    columns = [_parse_column([r[j] for r in rows], decimal) for j in range(len(names))]
    return _Table(names, columns, named=header)


def _parse_column(values, decimal="."):
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        v = v.strip()
        if v.lower() in MISSING_TEXT:
            out[i] = np.nan
            continue
        try:
            out[i] = float(v.replace(",", ".") if decimal == "," else v)
        except ValueError:
            return text_column(values)
    return out


def text_column(values):
    """An object column of stripped strings, holes (NaN, None, "NA"...) as None.

    Examples
    --------
    >>> text_column(["a ", "NA", None, float("nan"), 3]).tolist()
    ['a', None, None, None, '3']
    """
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = None
            continue
        if type(v).__name__ in ("NAType", "NaTType"):
            out[i] = None
            continue
        s = str(v).strip()
        out[i] = None if s.lower() in MISSING_TEXT else s
    return out


def _from_frame(frame, named):
    names, columns = [], []
    for name in frame.columns:
        col = frame[name]
        kind = getattr(col.dtype, "kind", "O")
        if kind in "biuf":
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = text_column(col.to_numpy(dtype=object))
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
        table = _read_parquet_numeric(path)
        if table is None:
            table = _from_frame(pd.read_parquet(path), named=True)
    except Exception as exc:  # pyarrow raises its own error types
        raise DataError(f"{path}: cannot read as Parquet ({exc}).") from None
    return table


def _numeric_fields(pf):
    """The Parquet file's column names when all are plain numbers, else None.

    Plain numbers: integers, float32 and float64 (holes allowed), with no
    repeated names; the pandas index columns a file may carry are left
    aside, as :func:`pandas.read_parquet` makes them the index. Other files
    go through pandas, whose conversion defines the columns.
    """
    import pyarrow as pa

    schema = pf.schema_arrow
    meta = schema.pandas_metadata or {}
    index = {c for c in meta.get("index_columns", ()) if isinstance(c, str)}
    renamed = any(
        c.get("field_name") not in index and str(c.get("name")) != c.get("field_name")
        for c in meta.get("columns", ())
    )
    names = [f.name for f in schema if f.name not in index]
    plain = all(
        pa.types.is_integer(f.type)
        or pa.types.is_float32(f.type)
        or pa.types.is_float64(f.type)
        for f in schema
        if f.name not in index
    )
    if renamed or not plain or not names or len(set(names)) != len(names):
        return None
    return names


def _read_parquet_numeric(path):
    """A numeric Parquet file as one float64 block (else None).

    The block is filled one column of one row group at a time, so the
    whole file is never held as Arrow buffers, a pandas frame and float64
    columns at once (Arrow decodes a whole row group when asked for all its
    columns, about twice its size); the values are those pandas gives
    (holes as NaN).
    """
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, pre_buffer=False)
    except Exception:  # pandas.read_parquet says what is wrong, as before
        return None
    with pf:
        names = _numeric_fields(pf)
        if names is None or pf.metadata.num_rows == 0:
            return None
        n = pf.metadata.num_rows
        block = np.empty((n, len(names)), dtype=np.float64)
        start = 0
        for group in range(pf.num_row_groups):
            stop = start + pf.metadata.row_group(group).num_rows
            for j, name in enumerate(names):
                chunk = pf.read_row_group(group, columns=[name], use_threads=False)
                block[start:stop, j] = chunk.column(0).to_numpy()
            start = stop
    if start != n:
        raise ValueError(f"read {start} rows, the file metadata says {n}")
    columns = [block[:, j] for j in range(len(names))]
    return _Table(names, columns, named=True, block=block)


#: What a corrupt or truncated .npy/.npz file raises inside numpy/zipfile.
_UNREADABLE = (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def _load_error(path, exc):
    """The DataError for numpy's refusal ``exc`` to read ``path``."""
    if isinstance(exc, ValueError) and (
        "pickle" in str(exc) or "Object arrays" in str(exc)
    ):
        return DataError(
            f"{path}: holds object arrays (pickled data); save plain numeric "
            "arrays instead."
        )
    return DataError(f"{path}: cannot read ({exc}).")


def _np_load(path):
    try:
        return np.load(path, allow_pickle=False)
    except (*_UNREADABLE, ValueError) as exc:
        raise _load_error(path, exc) from None


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
    if A.dtype.kind in "biuf":  # one float64 block, its columns views of it
        block = np.ascontiguousarray(A, dtype=np.float64)
        columns = [block[:, j] for j in range(A.shape[1])]
        return _Table(names, columns, False, image_shape=image_shape, block=block)
    columns = [_column_of(A[:, j]) for j in range(A.shape[1])]
    return _Table(names, columns, named=False, image_shape=image_shape)


def _column_of(a):
    a = np.asarray(a)
    if a.dtype.kind in "biuf":
        return a.astype(np.float64)
    return text_column(a.astype(object))


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
            arrays = {k: npz[k] for k in npz.files}
    except (*_UNREADABLE, ValueError) as exc:
        raise _load_error(path, exc) from None
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
