"""Class labels of any kind as category codes, with holes as "missing".

Labels read from files may mix types (numbers and text) and have holes
(``None``, ``NaN``, empty text). :func:`encode_labels` turns them into
integer codes and printable names without ever sorting mixed types: numbers
are ordered by value, anything else by its text, and a hole is its own
category named ``"missing"``, listed last.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

MISSING = "missing"


def _is_missing(v):
    if v is None:
        return True
    if isinstance(v, Real) and not isinstance(v, bool | np.bool_):
        return math.isnan(float(v))
    if isinstance(v, str | np.str_):
        return not v.strip()
    return v is np.ma.masked


def _name(v):
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def encode_labels(labels):
    """``(names, codes)``: class names (str) and each sample's code into them.

    Examples
    --------
    >>> names, codes = encode_labels(["b", None, "a", "b", float("nan")])
    >>> names, codes.tolist()
    (['a', 'b', 'missing'], [1, 2, 0, 1, 2])
    >>> encode_labels([10, 2, 2.0, "x"])[0]
    ['2', '10', 'x']
    """
    values = np.asarray(labels, dtype=object).ravel()
    names = [None] * len(values)
    numbers, texts, missing = {}, set(), False
    for i, v in enumerate(values):
        if _is_missing(v):
            missing = True
            continue
        name = _name(v)
        names[i] = name
        if isinstance(v, Real) and not isinstance(v, bool | np.bool_):
            numbers.setdefault(name, float(v))
        else:
            texts.add(name)
    numeric = sorted((n for n in numbers if n not in texts), key=numbers.__getitem__)
    ordered = numeric + sorted(texts)
    if missing and MISSING not in ordered:
        ordered.append(MISSING)
    index = {n: i for i, n in enumerate(ordered)}
    codes = np.fromiter(
        (index[MISSING if n is None else n] for n in names),
        dtype=np.int64,
        count=len(names),
    )
    return ordered, codes


def unit_class_counts(bmu, codes, n_units, n_classes):
    """Counts of each class per unit, shape (n_units, n_classes)."""
    flat = np.asarray(bmu, dtype=np.int64) * n_classes + np.asarray(codes)
    counts = np.bincount(flat, minlength=n_units * n_classes)
    return counts.reshape(n_units, n_classes)


def majority(counts):
    """``(class, purity)`` per unit: its most frequent class (ties -> lowest
    code; -1 for an empty unit) and that class's share of the unit."""
    total = counts.sum(axis=1)
    top = np.argmax(counts, axis=1)
    purity = np.where(total > 0, counts.max(axis=1) / np.maximum(total, 1), 0.0)
    return np.where(total > 0, top, -1), purity
