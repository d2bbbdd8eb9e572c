"""arcsinh transform and marker selection."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np

#: Usual cofactors: mass cytometry (CyTOF) and fluorescence flow cytometry.
COFACTORS = {"mass": 5.0, "flow": 150.0}


def arcsinh(X, cofactor=5.0, *, columns=None):
    """``arcsinh(x / cofactor)``, the usual transform of cytometry intensities.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_cells, n_channels)
    cofactor : float, sequence of float or dict, default=5.0
        One cofactor for all transformed channels (5 for mass cytometry, 150
        for flow), one per transformed channel, or a dict channel -> cofactor
        (channels missing from the dict are left untouched).
    columns : list of str or int, default=None
        Channels to transform (names for a DataFrame, indices for an array);
        None transforms all of them (or the dict's keys).

    Returns
    -------
    DataFrame or ndarray
        A new object of the input's kind; float32 input stays float32.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit.cytometry import arcsinh
    >>> arcsinh(np.array([[0.0, 5.0], [-5.0, 150.0]]), cofactor=[5, 150]).round(3)
    array([[ 0.   ,  0.033],
           [-0.881,  0.881]])
    """
    frame = _is_frame(X)
    names = list(X.columns) if frame else None
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (cells x channels), got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"X must be numeric, got dtype {arr.dtype}.")
    if isinstance(cofactor, Mapping) and columns is None:
        columns = list(cofactor)
    idx = column_indices(columns, names, arr.shape[1])
    factors = cofactors_for(cofactor, [names[i] if names else i for i in idx])
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    out = arr.astype(out_dtype, copy=True)
    keep = ~np.isnan(factors)
    sel = np.asarray(idx)[keep]
    out[:, sel] = np.arcsinh(out[:, sel] / factors[keep].astype(out_dtype))
    if frame:
        import pandas as pd

        return pd.DataFrame(out, columns=X.columns, index=X.index)
    return out


def _is_frame(X):
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns")


def column_indices(columns, names, n_columns):
    """Positions of ``columns`` (names need ``names``); all when None."""
    if columns is None:
        return list(range(n_columns))
    if isinstance(columns, str | Integral):
        columns = [columns]
    out = []
    for c in columns:
        if isinstance(c, str):
            if names is None:
                raise ValueError(
                    f"marker {c!r} given by name, but the data have no column names "
                    "(pass a DataFrame or integer positions)."
                )
            if c not in names:
                raise ValueError(
                    f"marker {c!r} is not a channel of the data; channels: "
                    f"{', '.join(map(str, names))}."
                )
            out.append(names.index(c))
        elif isinstance(c, Integral) and not isinstance(c, bool):
            if not -n_columns <= c < n_columns:
                raise ValueError(
                    f"marker position {c} is out of range for {n_columns} channels."
                )
            out.append(int(c) % n_columns)
        else:
            raise TypeError(f"markers must be names or int positions, got {c!r}.")
    if not out:
        raise ValueError("markers must name at least one channel.")
    if len(set(out)) != len(out):
        raise ValueError(f"markers must not repeat a channel, got {list(columns)!r}.")
    return out


def cofactors_for(cofactor, keys):
    """Cofactor of each key as a float array (NaN: leave the channel as is)."""
    if isinstance(cofactor, Mapping):
        unknown = [k for k in cofactor if k not in keys]
        if unknown:
            raise ValueError(
                f"cofactor names channels that are not transformed: {unknown!r}."
            )
        values = [cofactor.get(k, np.nan) for k in keys]
    elif isinstance(cofactor, Real) and not isinstance(cofactor, bool):
        values = [cofactor] * len(keys)
    elif isinstance(cofactor, str) and cofactor in COFACTORS:
        values = [COFACTORS[cofactor]] * len(keys)
    else:
        try:
            values = [float(v) for v in cofactor]
        except (TypeError, ValueError):
            values = None
        if values is None or len(values) != len(keys):
            raise ValueError(
                "cofactor must be a number > 0, 'mass' (5), 'flow' (150), one "
                f"number per channel ({len(keys)}) or a dict channel -> number; "
                f"got {cofactor!r}."
            )
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isnan(arr) & ~(arr > 0)
    if bad.any() or (np.isnan(arr).any() and not isinstance(cofactor, Mapping)):
        raise ValueError(f"every cofactor must be a number > 0, got {cofactor!r}.")
    return arr
