"""Data files for the command line: features, labels and ids from a table.

:func:`somkit._read.read_table` gives named raw columns (CSV/TSV, Parquet,
NPY/NPZ; separators and decimal marks, see there); :func:`load_data` picks
the features for training and :func:`load_for_model` the columns of a
trained model, and both return a :class:`Dataset`:

* feature columns: ``columns`` (default: all), minus ``exclude``, the label
  and id columns and, when no columns are named, columns that look like a
  row index (named ``id``, ``index``, ``Unnamed: 0``, ..., or a first
  column of unique, monotone integers), left out with a note;
* text columns are refused by name unless ``categorical`` is "onehot" (kept
  as text for the model's one-hot step, ``somkit._encode``) or "drop";
  columns of dates get a hint on turning them into numbers;
* holes (empty cells, NA, NaN, ...) stay NaN (None in text) unless
  ``missing="error"`` refuses them by column and row.

Errors are :class:`DataError` (a ``ValueError``) with one readable line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from somkit._read import DataError, read_table

__all__ = [
    "DataError",
    "Dataset",
    "drop_empty_rows",
    "is_square",
    "label_counts",
    "load_data",
    "load_for_model",
    "missing_summary",
    "read_table",
    "summary",
]

#: Names of columns that hold a row index or an id, not a feature.
_INDEX_NAMES = {"", "#", "id", "index", "idx", "row", "rowid", "row_id", "rownames"}
_ID_SUFFIX = re.compile(r"(^|[ _.-])id$")
_DATES = (
    re.compile(
        r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
        r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
    ),
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?$"),
)
#: Share of a text column's values that must look like dates.
_DATE_SHARE = 0.9


@dataclass
class Dataset:
    """Features, optional labels and ids read from one file.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        float64 (holes as NaN); an object array when text columns are kept
        for one-hot encoding (numbers as floats, text as str, holes as NaN
        or None).
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
    text_columns : list of str
        Feature columns holding text (kept for ``--categorical onehot``).
    notes : list of str
        What was guessed or left out on the way, for the user.
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
    text_columns: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    def holes(self):
        """Boolean (n_samples, n_features): which values are missing."""
        if self.X.dtype != object:
            return np.isnan(self.X)
        return _HOLE(self.X).astype(bool)

    def rows(self, keep):
        """A Dataset of the rows ``keep`` (a boolean mask or indices)."""
        import dataclasses

        def pick(a):
            return None if a is None else np.asarray(a)[keep]

        return dataclasses.replace(
            self, X=self.X[keep], labels=pick(self.labels), ids=pick(self.ids)
        )


def _is_hole(v):
    return v is None or (isinstance(v, float) and v != v)


_HOLE = np.frompyfunc(_is_hole, 1, 1)


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
    if table.block is not None:  # a view: keep the column, not the block
        values = values.copy()
    if values.dtype == np.float64 and np.all(np.isfinite(values)):
        if np.all(values == np.round(values)):
            values = values.astype(np.int64)
    return values, table.names[j], j


def _split_spec(columns, option="--columns"):
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [c for c in columns.split(",")]
    columns = [str(c).strip() for c in columns if str(c).strip()]
    if not columns:
        raise DataError(f"{option} is empty; give column names separated by commas.")
    return columns


def _index_like(name, values, first=False):
    """Why column ``name`` looks like a row index or id (None if it does not).

    By its name (``id``, ``index``, ``Unnamed: 0``, ``patient_id``, ...), or,
    for the first column of a file with a header (where pandas and R write
    the row index), by holding unique, monotone integers.
    """
    low = str(name).strip().lower()
    if low in _INDEX_NAMES or low.startswith("unnamed:") or _ID_SUFFIX.search(low):
        return "named like an index"
    if not first or values.dtype != np.float64 or len(values) < 3:
        return None
    if not np.isfinite(values).all() or not np.all(values == np.round(values)):
        return None
    step = np.diff(values)
    if (step > 0).all() or (step < 0).all():
        return "unique, monotone integers"
    return None


def _looks_like_dates(values):
    texts = [v for v in values if v is not None]
    if not texts:
        return False
    hits = sum(1 for v in texts if any(p.match(v) for p in _DATES))
    return hits >= _DATE_SHARE * len(texts)


def _text_example(values):
    """A value of a text column that is not a number (else any value)."""

    def number(v):
        try:
            float(v)
        except ValueError:
            return False
        return True

    texts = [v for v in values if v is not None]
    return next((v for v in texts if not number(v)), texts[0] if texts else "")


def _check_text(table, idx, source, categorical, notes):
    """Apply the text-column policy; return the feature indices kept."""
    text = [j for j in idx if table.columns[j].dtype == object]
    if not text:
        return idx
    dates = [j for j in text if _looks_like_dates(table.columns[j])]
    if categorical == "error":
        plain = [j for j in text if j not in dates]
        parts = []
        if plain:
            parts.append(
                f"text column(s) {_quote([table.names[k] for k in plain])} (e.g. "
                f"{_text_example(table.columns[plain[0]])!r})"
            )
        if dates:
            parts.append(
                f"column(s) {_quote([table.names[k] for k in dates])} hold dates "
                f"(e.g. {_text_example(table.columns[dates[0]])!r}): turn them into "
                "numbers first (e.g. days since a start date, or the day of the "
                "year)"
            )
        raise DataError(
            f"{source}: {'; '.join(parts)}. Encode text columns with --categorical "
            "onehot, leave them out with --categorical drop or --exclude, or name "
            "a class column with --label-column."
        )
    if categorical == "drop":
        notes.append(
            f"text column(s) {_quote([table.names[k] for k in text])} left out "
            "(--categorical drop)"
        )
        return [j for j in idx if j not in text]
    return idx


def _feature_matrix(table, idx, source, missing):
    """The features as float64 (object when text columns are kept).

    A table read into one float64 block (numeric Parquet, ``.npy``) gives
    that block itself when every column is a feature, else one copy of the
    columns picked; numbers are checked column by column, without a
    second matrix.
    """
    n = len(table.columns[0]) if table.columns else 0
    text = any(table.columns[j].dtype == object for j in idx)
    infinite = [
        table.names[j]
        for j in idx
        if table.columns[j].dtype != object and np.isinf(table.columns[j]).any()
    ]
    if infinite:
        raise DataError(f"{source}: infinite values in column(s) {_quote(infinite)}.")
    if table.block is not None:
        whole = idx == list(range(table.block.shape[1]))
        X = table.block if whole else table.block.take(idx, axis=1)
    else:
        X = np.empty((n, len(idx)), dtype=object if text else np.float64)
        for k, j in enumerate(idx):
            X[:, k] = table.columns[j]
    if missing == "error":
        holes = Dataset(X, [], False).holes()
        if holes.any():
            bad_cols = [table.names[idx[k]] for k in np.flatnonzero(holes.any(axis=0))]
            rows = np.flatnonzero(holes.any(axis=1))
            first = ", ".join(str(r + 1) for r in rows[:5])
            raise DataError(
                f"{source}: missing values in column(s) {_quote(bad_cols)} "
                f"({len(rows)} row(s), first data row(s) {first}); train with "
                "--missing ignore (the default) or fill or drop them first."
            )
    return X


def missing_summary(data):
    """``(n_values, n_rows, columns)``: the holes of a Dataset's features.

    Examples
    --------
    >>> d = Dataset(np.array([[1.0, np.nan], [np.nan, np.nan], [1.0, 2.0]]),
    ...             ["a", "b"], True)
    >>> missing_summary(d)
    (3, 2, ['a', 'b'])
    """
    holes = data.holes()
    cols = [data.feature_names[k] for k in np.flatnonzero(holes.any(axis=0))]
    return int(holes.sum()), int(holes.any(axis=1).sum()), cols


def drop_empty_rows(data):
    """``(dataset, count)``: the rows with at least one observed feature."""
    empty = data.holes().all(axis=1)
    if not empty.any():
        return data, 0
    return data.rows(~empty), int(empty.sum())


def load_data(
    path,
    columns=None,
    label_column=None,
    id_column=None,
    *,
    exclude=None,
    sep=None,
    decimal=None,
    categorical="error",
    missing="ignore",
):
    """Read a data file for training.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``), ``.parquet``,
        ``.npy`` or ``.npz``. A text file whose first line is all numbers has
        no header (columns are named ``x0``, ``x1``, ...).
    columns : str, list of str or None
        Feature columns (names, or positions for files without names);
        default: every column except the label and id columns and columns
        that look like a row index (named like one, or a first column of
        unique, monotone integers; left out with a note).
    label_column, id_column : str or None
        Class labels (any values) and row ids, kept apart from the features.
        In an ``.npz`` file they may name separate arrays.
    exclude : str, list of str or None
        Columns never to use as features.
    sep, decimal : str or None
        Field separator and decimal mark of delimited text (see
        :func:`somkit._read.read_table`; None: from the file).
    categorical : {"error", "onehot", "drop"}, default="error"
        Text feature columns: refused by name, kept as text for a one-hot
        step, or left out.
    missing : {"ignore", "error"}, default="ignore"
        Holes: kept as NaN, or refused by column and row.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("id,a,b,kind\\n7,1,2,x\\n9,3,,y\\n")
    >>> d = load_data(path, label_column="kind")
    >>> d.X.tolist(), d.feature_names, d.labels.tolist()
    ([[1.0, 2.0], [3.0, nan]], ['a', 'b'], ['x', 'y'])
    >>> print(d.notes[0])
    column 'id' looks like a row index (named like an index); left out of the
    features (name it in --columns to use it)
    """
    from somkit._registry import CATEGORICAL, MISSING, check_choice

    check_choice("categorical", categorical, CATEGORICAL)
    check_choice("missing", missing, MISSING)
    table = read_table(path, sep=sep, decimal=decimal)
    return _select(
        table,
        str(path),
        _split_spec(columns),
        label_column,
        id_column,
        exclude=_split_spec(exclude, "--exclude"),
        categorical=categorical,
        missing=missing,
        auto_id=columns is None,
    )


def _select(
    table,
    source,
    columns,
    label_column,
    id_column,
    *,
    exclude=None,
    categorical="error",
    missing="ignore",
    auto_id=False,
):
    if not table.names:
        raise DataError(f"{source}: the file has no columns.")
    n = len(table.columns[0])
    if n == 0:
        raise DataError(f"{source}: the file has no data rows.")
    notes = list(table.notes)
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
    if exclude is not None:
        out = {_resolve(table, c, "--exclude", source) for c in exclude}
        idx = [j for j in idx if j not in out]
    if auto_id:
        for j in list(idx):
            first = j == 0 and table.named  # an index written with a header
            why = _index_like(table.names[j], table.columns[j], first=first)
            if why is not None:
                idx.remove(j)
                notes.append(
                    f"column {table.names[j]!r} looks like a row index ({why}); "
                    "left out of the features (name it in --columns to use it)"
                )
    idx = _check_text(table, idx, source, categorical, notes)
    if not idx:
        raise DataError(f"{source}: no feature columns left.")
    X = _feature_matrix(table, idx, source, missing)
    whole = columns is None and exclude is None and len(idx) == len(table.names)
    return Dataset(
        X=X,
        feature_names=[table.names[j] for j in idx],
        named=table.named,
        labels=labels,
        label_name=label_name,
        ids=ids,
        id_name=id_name,
        image_shape=table.image_shape if whole else None,
        source=source,
        text_columns=[table.names[j] for j in idx if table.columns[j].dtype == object],
        notes=notes,
    )


def load_for_model(
    path,
    model,
    label_column=None,
    id_column=None,
    *,
    columns=None,
    exclude=None,
    sep=None,
    decimal=None,
):
    """Read a data file for a trained model: its feature columns, in its order.

    When the file and the model both have column names, the model's columns
    are picked by name (other columns are ignored; ``columns`` may only
    repeat them and ``exclude`` may not name them); otherwise the selected
    columns (``columns`` minus ``exclude``, the label and id columns) are
    the features and their number must match the model's. Text columns are
    read when the model one-hot encodes them; holes are kept (the model
    decides whether it takes them).
    """
    from somkit._encode import encodes_text

    table = read_table(path, sep=sep, decimal=decimal)
    source = str(path)
    columns = _split_spec(columns)
    exclude = _split_spec(exclude, "--exclude")
    categorical = "onehot" if encodes_text(model) else "error"
    names = getattr(model, "feature_names_in_", None)
    n_expected = int(model.n_features_in_)
    if table.named and names is not None:
        names = [str(s) for s in names]
        lacking = [s for s in names if s not in table.names]
        if lacking:
            raise DataError(
                f"{source}: lacks the model's feature column(s) {_quote(lacking)}."
            )
        if columns is not None and sorted(columns) != sorted(names):
            raise DataError(
                f"{source}: the model's columns {_quote(names)} are picked by name; "
                "--columns cannot choose others."
            )
        needed = [c for c in exclude or () if c in names]
        if needed:
            raise DataError(
                f"{source}: --exclude names the model's feature column(s) "
                f"{_quote(needed)}."
            )
        return _select(
            table, source, names, label_column, id_column, categorical=categorical
        )
    data = _select(
        table,
        source,
        columns,
        label_column,
        id_column,
        exclude=exclude,
        categorical=categorical,
    )
    if data.n_features != n_expected:
        raise DataError(
            f"{source}: has {data.n_features} feature column(s) but the model was "
            f"trained on {n_expected}."
        )
    return data


def summary(data, limit=50):
    """Per-feature statistics rows (name, min, mean, std, max) of a Dataset.

    Holes are left out of the statistics and counted in the name; text
    columns give their number of distinct values instead.
    """
    rows = []
    for j, name in enumerate(data.feature_names[:limit]):
        col = data.X[:, j]
        if name in data.text_columns:
            values = {v for v in col if not _is_hole(v)}
            rows.append((f"{name} (text, {len(values)} values)", *[None] * 4))
            continue
        col = col.astype(np.float64)
        seen = col[~np.isnan(col)]
        gaps = len(col) - len(seen)
        label = f"{name} ({gaps} missing)" if gaps else name
        if not len(seen):
            rows.append((label, *[None] * 4))
            continue
        rows.append(
            (
                label,
                float(seen.min()),
                float(seen.mean()),
                float(seen.std()),
                float(seen.max()),
            )
        )
    return rows


def label_counts(labels):
    """(label, count) pairs in class order; a missing label counts as "missing".

    Examples
    --------
    >>> label_counts(["b", "a", None, "b"])
    [('a', 1), ('b', 2), ('missing', 1)]
    """
    from somkit._labels import encode_labels

    classes, codes = encode_labels(labels)
    counts = np.bincount(codes, minlength=len(classes))
    return [(str(c), int(k)) for c, k in zip(classes, counts, strict=True)]


def is_square(n):
    r = math.isqrt(n)
    return r * r == n
