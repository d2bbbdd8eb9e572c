"""Reading big data files in row chunks: Parquet, Zarr, HDF5, NPY, CSV.

:func:`read` opens a file and returns a :class:`ChunkReader`: calling it
gives a fresh iterator of float feature chunks (what ``SOM.fit_stream`` and
:func:`somkit.reservoir_sample` take), :meth:`ChunkReader.chunks` gives the
chunks with their labels and ids, and :meth:`ChunkReader.read_block` reads
one block by number (blocks can be read in any order, from threads or on
the workers of a dask cluster: :meth:`ChunkReader.to_dask`).

Only one chunk is held at a time:

* Parquet: record batches of ``chunk_rows`` rows, one row group at a time
  (pyarrow); blocks are row groups;
* Zarr and HDF5: row slices that are whole multiples of the array's own
  chunking; a file with one 2-D array needs no key, otherwise give
  ``key=`` (or ``path::key``);
* NPY: rows read with plain file reads at their offset (no memory map, so
  the pages read do not stay in the process);
* CSV/TSV/TXT (optionally ``.gz``): pandas' chunked parser (no blocks:
  read in order only).

Feature columns are numeric columns picked by name (tables) or position
(arrays); a label and an id column may be named in tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from somkit._read import DataError

__all__ = ["ChunkReader", "read"]

#: Rows per chunk by default: about 32 MB of float64 per chunk.
CHUNK_ELEMENTS = 1 << 22
_TABLES = {".parquet": "parquet", ".pq": "parquet"}
_TEXT = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_ARRAYS = {".zarr": "zarr", ".h5": "hdf5", ".hdf5": "hdf5", ".he5": "hdf5"}


@dataclass
class Chunk:
    """One chunk of rows: features, optional labels and ids, first row number."""

    X: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray | None
    start: int


def _suffix(path):
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def is_streamable(path):
    """Whether :func:`read` can stream this path (by its suffix)."""
    base = str(path).split("::")[0]
    s = _suffix(base)
    return s in _TABLES or s in _TEXT or s in _ARRAYS or s == ".npy"


def read(
    path,
    *,
    columns=None,
    label_column=None,
    id_column=None,
    exclude=None,
    key=None,
    chunk_rows=None,
    sep=None,
    decimal=None,
):
    """Open a data file for reading in row chunks.

    Parameters
    ----------
    path : str or Path
        ``.parquet``, ``.zarr`` (a folder), ``.h5``/``.hdf5``, ``.npy``, or
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``). ``file.h5::name``
        names an array inside an HDF5 file or a Zarr group.
    columns : list of str or None
        Feature columns (names in tables, positions in arrays); default:
        every numeric column except the label, id and excluded ones.
    label_column, id_column : str or None
        Table columns read alongside the features (any values).
    exclude : list of str or None
        Columns left out of the features.
    key : str or None
        The array inside an HDF5 file or a Zarr group.
    chunk_rows : int or None
        Rows per chunk (default: about 4M values per chunk); Zarr and HDF5
        round it to whole array chunks.
    sep, decimal : str or None
        Text files only: the field separator (one character, or "tab",
        "space"; default: from the suffix) and the decimal mark ("." or
        ","). Holes (empty cells, NA, NaN, ?, ...) read as NaN.

    Returns
    -------
    ChunkReader

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(12.0).reshape(6, 2))
    >>> reader = read(path, chunk_rows=4)
    >>> [c.shape for c in reader()], reader.n_rows
    ([(4, 2), (2, 2)], 6)
    """
    path = str(path)
    if key is None and "::" in path:
        path, key = path.split("::", 1)
    if not os.path.exists(path):
        raise DataError(f"data file not found: {path!r}.")
    if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be an int >= 1, got {chunk_rows!r}.")
    suffix = _suffix(path)
    opts = dict(
        columns=None if columns is None else [str(c) for c in columns],
        label_column=label_column,
        id_column=id_column,
        exclude=[str(c) for c in exclude or []],
        chunk_rows=chunk_rows,
    )
    if suffix in _TABLES:
        return _ParquetReader(path, **opts)
    if suffix in _TEXT:
        from somkit._read import _separator

        sep = _separator(sep)
        if decimal not in (None, ".", ","):
            raise DataError(f"decimal must be '.' or ',', got {decimal!r}.")
        return _TextReader(path, _TEXT[suffix], sep=sep, decimal=decimal, **opts)
    if sep is not None or decimal is not None:
        raise DataError(
            f"{path}: sep and decimal apply to text files (.csv, .tsv, .txt), "
            f"not to {suffix or '(no suffix)'!r} files."
        )
    if suffix == ".npy":
        return _NpyReader(path, None, **opts)
    if suffix in _ARRAYS:
        return _ArrayReader(path, _ARRAYS[suffix], key, **opts)
    raise DataError(
        f"{path}: cannot stream {suffix or '(no suffix)'!r} files; use .parquet, "
        ".zarr, .h5/.hdf5, .npy or .csv/.tsv/.txt."
    )


class ChunkReader:
    """A data file read in row chunks (see :func:`read`).

    Attributes
    ----------
    path : str
    feature_names : list of str
    named : bool
        The names come from the file (a table), not ``x0, x1, ...``.
    n_rows : int or None
        Rows in the file (None for text files until read once).
    n_features : int
    label_name, id_name : str or None
    text_columns : list of str
        Non-numeric columns left out of the features (tables, default
        ``columns`` only).
    notes : list of str
        What was guessed while opening the file (a text file's separator).
    """

    named = False
    label_name = None
    id_name = None
    text_columns = ()
    notes = ()

    def __call__(self):
        """A fresh iterator over the feature chunks (what ``fit_stream`` takes)."""
        return (c.X for c in self.chunks())

    def __repr__(self):
        return (
            f"<ChunkReader {self.path!r}: {self.n_rows} rows x "
            f"{self.n_features} features>"
        )

    @property
    def n_features(self):
        return len(self.feature_names)

    # overridden -------------------------------------------------------------
    def blocks(self):
        """Row spans ``(start, stop)`` of the blocks, or None (text files)."""
        return None

    def read_block(self, i):
        """Block ``i`` as a :class:`Chunk`."""
        raise NotImplementedError

    def chunks(self):
        """A fresh iterator of :class:`Chunk`."""
        for i in range(len(self.blocks())):
            yield self.read_block(i)

    # shared -------------------------------------------------------------------
    def _rows_per_chunk(self, granule=1):
        rows = self.chunk_rows or max(1, CHUNK_ELEMENTS // max(1, self._width))
        return max(granule, rows // granule * granule)

    def _spans(self, n, granule=1):
        step = self._rows_per_chunk(granule)
        return [(a, min(a + step, n)) for a in range(0, n, step)]

    def to_dask(self):
        """The features as a dask array whose blocks are read where they compute.

        Each block is read by the task that needs it (on a cluster, the
        file must be reachable from the workers at the same path).
        """
        import dask
        import dask.array as da

        spans = self.blocks()
        if spans is None:
            raise DataError(
                f"{self.path}: text files are read in order only; convert to "
                "Parquet (or NPY) to read blocks on a cluster."
            )
        parts = [
            da.from_delayed(
                dask.delayed(_block_features, pure=True)(self, i),
                shape=(b - a, self.n_features),
                dtype=self.dtype,
            )
            for i, (a, b) in enumerate(spans)
        ]
        return da.concatenate(parts, axis=0)


def _block_features(reader, i):
    return reader.read_block(i).X


def _as_features(columns, path):
    """Feature columns as one 2-D float array (float32 if all are float32)."""
    dtype = np.float32 if all(c.dtype == np.float32 for c in columns) else np.float64
    X = np.empty((len(columns[0]) if columns else 0, len(columns)), dtype=dtype)
    for j, c in enumerate(columns):
        X[:, j] = c
    return X


def _text_left_out(names, numeric, columns, reserved):
    """The non-numeric columns a default choice of features leaves out."""
    if columns is not None:
        return []
    return [n for n in names if not numeric[n] and n not in reserved]


def _pick(names, numeric, columns, label, ident, exclude, path):
    """Feature, label and id column names of a table; errors name the column."""
    for option, name in (("label_column", label), ("id_column", ident)):
        if name is not None and name not in names:
            raise DataError(
                f"{path}: no column {name!r} for {option}; the columns are "
                f"{', '.join(names[:12])}."
            )
    bad = [c for c in (columns or []) + exclude if c not in names]
    if bad:
        raise DataError(
            f"{path}: no column(s) {', '.join(map(repr, bad))}; the columns are "
            f"{', '.join(names[:12])}."
        )
    reserved = {label, ident, *exclude}
    if columns is None:
        picked = [n for n in names if n not in reserved and numeric[n]]
    else:
        picked = [c for c in columns if c not in reserved]
        text = [c for c in picked if not numeric[c]]
        if text:
            raise DataError(
                f"{path}: non-numeric column(s) {', '.join(map(repr, text))} "
                "cannot be streamed as features."
            )
    if not picked:
        raise DataError(f"{path}: no numeric feature columns.")
    return picked


class _ParquetReader(ChunkReader):
    named = True

    def __init__(self, path, *, columns, label_column, id_column, exclude, chunk_rows):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(
                f"{path}: reading Parquet needs pyarrow (pip install pyarrow)."
            ) from None
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own error types
            raise DataError(f"{path}: cannot read as Parquet ({exc}).") from None
        schema = self._file.schema_arrow
        names = list(schema.names)
        numeric = {
            f.name: pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
            for f in schema
        }
        self.path = path
        self.feature_names = _pick(
            names, numeric, columns, label_column, id_column, exclude, path
        )
        self.text_columns = _text_left_out(
            names, numeric, columns, {label_column, id_column, *exclude}
        )
        self.label_name, self.id_name = label_column, id_column
        self.chunk_rows = chunk_rows
        self._width = len(self.feature_names)
        meta = self._file.metadata
        self.n_rows = int(meta.num_rows)
        self._groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        floats32 = all(schema.field(n).type == pa.float32() for n in self.feature_names)
        self.dtype = np.dtype(np.float32 if floats32 else np.float64)

    def _read_columns(self):
        extra = [c for c in (self.label_name, self.id_name) if c is not None]
        return self.feature_names + [c for c in extra if c not in self.feature_names]

    def _chunk(self, batch, start):
        cols = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}

        def values(name, numeric):
            out = cols[name].to_numpy(zero_copy_only=False)
            return out.astype(self.dtype, copy=False) if numeric else out

        X = _as_features([values(n, True) for n in self.feature_names], self.path)
        labels = None if self.label_name is None else values(self.label_name, False)
        ids = None if self.id_name is None else values(self.id_name, False)
        return Chunk(X, labels, ids, start)

    def blocks(self):
        starts = np.concatenate([[0], np.cumsum(self._groups)]).astype(int)
        return [(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]

    def read_block(self, i):
        table = self._file.read_row_group(i, columns=self._read_columns())
        return self._chunk(table, self.blocks()[i][0])

    def chunks(self):
        import pyarrow.parquet as pq

        # one handle per pass (thread-safe); without pre-buffering, which
        # keeps the buffers of every row group read so far
        f = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
        start = 0
        for batch in f.iter_batches(
            batch_size=self._rows_per_chunk(), columns=self._read_columns()
        ):
            yield self._chunk(batch, start)
            start += batch.num_rows

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_file")
        return state

    def __setstate__(self, state):
        import pyarrow.parquet as pq

        self.__dict__.update(state)
        self._file = pq.ParquetFile(self.path)


class _TextReader(ChunkReader):
    named = True

    def __init__(
        self,
        path,
        delimiter,
        *,
        sep=None,
        decimal=None,
        columns,
        label_column,
        id_column,
        exclude,
        chunk_rows,
    ):
        try:
            import pandas as pd
        except ImportError:
            raise DataError(
                f"{path}: streaming text files needs pandas (pip install pandas)."
            ) from None
        self.path = path
        self.chunk_rows = chunk_rows
        self._sniff(delimiter, sep, decimal)
        head = self._read(pd, nrows=1000)
        self._sep = self._sep_guess
        numeric = {c: head[c].dtype.kind in "biuf" for c in head.columns}
        names = [str(c) for c in head.columns]
        self.named = self._header
        self.feature_names = _pick(
            names, numeric, columns, label_column, id_column, exclude, path
        )
        self.text_columns = _text_left_out(
            names, numeric, columns, {label_column, id_column, *exclude}
        )
        self.label_name, self.id_name = label_column, id_column
        self._width = len(self.feature_names)
        self.n_rows = None
        self.dtype = np.dtype(np.float64)

    def _sniff(self, delimiter, sep, decimal):
        """Separator, decimal mark and header as the whole-file reader finds them."""
        from somkit._read import SNIFF_LINES, _open_text, _sniff

        lines = []
        with _open_text(Path(self.path)) as fh:
            for line in fh:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) >= SNIFF_LINES:
                    break
        if not lines:
            raise DataError(f"{self.path}: the file is empty.")
        self._sep_guess, self._decimal, note = _sniff(
            lines, delimiter, sep, decimal, _suffix(self.path) == ".csv"
        )
        self.notes = [note] if note else []
        fields = lines[0].split(None if self._sep_guess == " " else self._sep_guess)
        self._header = not all(
            _is_number(f.strip().replace(",", ".") if self._decimal == "," else f)
            for f in fields
            if f.strip()
        )

    def _read(self, pd, **kw):
        from somkit._read import MISSING_TEXT

        frame = pd.read_csv(
            self.path,
            sep=r"\s+" if self._sep_guess == " " else self._sep_guess,
            header=0 if self._header else None,
            decimal=self._decimal,
            na_values=sorted(MISSING_TEXT | {s.upper() for s in MISSING_TEXT}),
            skipinitialspace=True,
            **kw,
        )
        if not self._header and not isinstance(frame, pd.io.parsers.TextFileReader):
            frame.columns = [f"x{i}" for i in range(frame.shape[1])]
        return frame

    def chunks(self):
        import pandas as pd

        start = 0
        with self._read(pd, chunksize=self._rows_per_chunk()) as parts:
            for frame in parts:
                if not self._header:
                    frame.columns = [f"x{i}" for i in range(frame.shape[1])]
                try:
                    X = frame[self.feature_names].to_numpy(dtype=np.float64)
                except ValueError as exc:
                    raise DataError(
                        f"{self.path}: non-numeric values in the feature columns "
                        f"near data row {start + 1} ({exc})."
                    ) from None
                labels = (
                    None
                    if self.label_name is None
                    else frame[self.label_name].to_numpy(dtype=object)
                )
                ids = (
                    None
                    if self.id_name is None
                    else frame[self.id_name].to_numpy(dtype=object)
                )
                yield Chunk(X, labels, ids, start)
                start += len(frame)
        self.n_rows = start


def _is_number(s):
    try:
        float(s)
    except ValueError:
        return False
    return True


class _ArrayReader(ChunkReader):
    """2-D arrays: Zarr, HDF5 and NPY; features picked by position."""

    def __init__(
        self, path, kind, key, *, columns, label_column, id_column, exclude, chunk_rows
    ):
        if label_column is not None or id_column is not None:
            raise DataError(
                f"{path}: an array file has no named columns for --label-column "
                "or --id-column; use a table (Parquet, CSV)."
            )
        self.path, self.kind, self.key = path, kind, key
        self.chunk_rows = chunk_rows
        arr, handle = self._open()
        shape, dtype = tuple(arr.shape), np.dtype(arr.dtype)
        chunks = getattr(arr, "chunks", None)
        if handle is not None:
            handle.close()
        if len(shape) != 2 or dtype.kind not in "biuf":
            raise DataError(
                f"{path}: needs a 2-D numeric array, got shape {shape} of {dtype}."
            )
        self.n_rows, width = (int(s) for s in shape)
        names = [f"x{i}" for i in range(width)]
        picked = _pick(
            names,
            dict.fromkeys(names, True),
            _positions(columns, width, path),
            None,
            None,
            _positions(exclude, width, path) or [],
            path,
        )
        self._cols = [names.index(c) for c in picked]
        self.feature_names = picked
        self._width = width
        self.dtype = np.dtype(np.float32 if dtype == np.float32 else np.float64)
        self._granule = int(chunks[0]) if chunks else 1

    def _open(self):
        """``(array, file handle or None)``; the caller closes the handle."""
        handle = None
        if self.kind == "zarr":
            import zarr

            obj = zarr.open(self.path, mode="r")
        else:
            import h5py

            obj = handle = h5py.File(self.path, "r")
        try:
            return self._find(obj), handle
        except BaseException:
            if handle is not None:
                handle.close()
            raise

    def _find(self, obj):
        if self.key is not None:
            try:
                return obj[self.key]
            except KeyError:
                raise DataError(f"{self.path}: no array {self.key!r}.") from None
        if hasattr(obj, "shape"):
            return obj
        found = _arrays_in(obj)
        if len(found) != 1:
            raise DataError(
                f"{self.path}: holds {len(found)} arrays ({', '.join(found[:8])}); "
                "name one with key= or PATH::NAME."
            )
        return obj[found[0]]

    def blocks(self):
        return self._spans(self.n_rows, self._granule)

    def read_block(self, i):
        a, b = self.blocks()[i]
        arr, handle = self._open()
        try:
            return Chunk(self._features(np.asarray(arr[a:b])), None, None, a)
        finally:
            if handle is not None:
                handle.close()

    def chunks(self):
        arr, handle = self._open()
        try:
            for a, b in self.blocks():
                yield Chunk(self._features(np.asarray(arr[a:b])), None, None, a)
        finally:
            if handle is not None:
                handle.close()

    def _features(self, A):
        if len(self._cols) != A.shape[1]:
            A = A[:, self._cols]
        return A.astype(self.dtype, copy=False)


def _arrays_in(group):
    out = []

    def visit(name, obj):
        if hasattr(obj, "shape") and len(obj.shape) == 2:
            out.append(name)

    if hasattr(group, "visititems"):  # h5py
        group.visititems(visit)
    else:  # zarr
        for name, arr in group.arrays():
            visit(name, arr)
    return out


def _positions(columns, width, path):
    """Array column positions (ints or ``x<i>`` names) as ``x<i>`` names."""
    if columns is None:
        return None
    out = []
    for c in columns:
        c = str(c)
        i = c[1:] if c.startswith("x") else c
        if not i.lstrip("-").isdigit() or not -width <= int(i) < width:
            raise DataError(
                f"{path}: column {c!r} is not a position of the array's {width} "
                "columns."
            )
        out.append(f"x{int(i) % width}")
    return out


class _NpyReader(_ArrayReader):
    """``.npy`` rows read at their file offset (no memory map)."""

    def __init__(self, path, key, **opts):
        super().__init__(path, "npy", None, **opts)

    def _open(self):
        with open(self.path, "rb") as fh:
            fmt = np.lib.format
            try:
                version = fmt.read_magic(fh)
                header = {
                    (1, 0): fmt.read_array_header_1_0,
                    (2, 0): fmt.read_array_header_2_0,
                }.get(version)
                if header is None:
                    raise ValueError(f"format version {version}")
                shape, fortran, dtype = header(fh)
            except ValueError as exc:
                raise DataError(f"{self.path}: not a .npy file ({exc}).") from None
            self._offset = fh.tell()
        if fortran or dtype.hasobject or dtype.names:
            raise DataError(
                f"{self.path}: streams only C-ordered plain numeric arrays; "
                "read it with numpy and save it again."
            )
        self._dtype = dtype
        return _Shape(shape, dtype), None

    def blocks(self):
        return self._spans(self.n_rows)

    def _read(self, a, b):
        d = self._width
        A = np.fromfile(
            self.path,
            dtype=self._dtype,
            count=(b - a) * d,
            offset=self._offset + a * d * self._dtype.itemsize,
        )
        return self._features(A.reshape(b - a, d))

    def read_block(self, i):
        a, b = self.blocks()[i]
        return Chunk(self._read(a, b), None, None, a)

    def chunks(self):
        for a, b in self.blocks():
            yield Chunk(self._read(a, b), None, None, a)


@dataclass
class _Shape:
    shape: tuple
    dtype: np.dtype
    chunks: tuple | None = None
