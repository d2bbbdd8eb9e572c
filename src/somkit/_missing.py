"""Holes in the data (``SOM(missing="ignore")``), imputation, feature scales.

* :func:`validate_array`, :func:`validate_dask`, :func:`check_weight`: the
  estimator's checks of X and ``sample_weight``;
* :func:`check_holes`: the estimator's check of X for holes: refused
  (naming ``missing="ignore"``) or, with "ignore", rows without any
  observed feature refused by row number;
* :func:`impute`: each hole filled from its sample's BMU prototype (public as
  ``somkit.impute``);
* :func:`scale_warning`: one warning per fit when the feature ranges differ
  by more than :data:`SCALE_RATIO` (distance metrics; cosine and dot maps,
  used on embeddings, and layered maps, whose layers are normalised, are
  left alone).

A hole is a NaN. The BMU of a sample with holes is searched over its
observed features (see ``somkit._kernels._search``).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

__all__ = [
    "check_holes",
    "check_weight",
    "empty_rows",
    "impute",
    "scale_warning",
    "validate_array",
    "validate_dask",
]

#: Feature scales (standard deviations) further apart than this get a warning.
SCALE_RATIO = 100.0
#: Rows looked at for the scale warning (evenly spaced over the data).
SCALE_ROWS = 10000
#: The message for holes in the data of a map with ``missing="error"``.
NAN_MESSAGE = (
    "X contains NaN (missing values); use SOM(missing='ignore') to train and "
    "predict on each sample's observed features, or fill them first (e.g. "
    "sklearn.impute.SimpleImputer)."
)


def empty_rows(X, step=65536):
    """Indices of the rows of X with no observed (non-NaN) value.

    X is a numpy array, a memmap or a dask array (one pass, chunked).

    Examples
    --------
    >>> empty_rows(np.array([[1.0, np.nan], [np.nan, np.nan]])).tolist()
    [1]
    """
    if type(X).__module__.startswith("dask"):
        import dask.array as da

        return np.asarray(da.flatnonzero(da.isnan(X).all(axis=1)).compute())
    found = []
    for a in range(0, X.shape[0], step):
        C = np.asarray(X[a : a + step])
        if C.dtype.kind == "f":
            found.append(a + np.flatnonzero(np.isnan(C).all(axis=1)))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def validate_array(est, X, reset, first_row=0):
    """``validate_data`` of a map's in-memory X under its ``missing`` setting.

    "ignore": NaN allowed (infinities not), rows without any observed value
    refused by :func:`check_holes` (numbered from ``first_row``: X may be
    one chunk of a stream); "error": NaN refused with :data:`NAN_MESSAGE`,
    other problems with scikit-learn's own message.
    """
    from sklearn.utils.validation import validate_data

    def check(finite):
        return validate_data(
            est,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_min_samples=1,
            ensure_all_finite=finite,
        )

    if est.missing == "ignore":
        X = check("allow-nan")
        check_holes(X, est.missing, first_row)
        return X
    try:
        return check(True)
    except ValueError:
        check("allow-nan")  # raises again unless NaN was the only problem
        raise ValueError(NAN_MESSAGE) from None


def validate_dask(est, X, reset):
    """The checks of :func:`validate_array` a lazy (dask) X allows.

    Its shape and feature count (``reset`` sets ``n_features_in_``), then
    :func:`check_holes`; values are checked as the passes read them.
    """
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array; reshape your data."
        )
    if reset:
        est.n_features_in_ = int(X.shape[1])
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    check_holes(X, est.missing)
    return X


def check_weight(sample_weight, n_samples):
    """``sample_weight`` as float64, non-negative with a positive sum (or None)."""
    from sklearn.utils.validation import _check_sample_weight

    if sample_weight is None:
        return None
    sw = _check_sample_weight(
        sample_weight,
        np.empty((n_samples, 0)),
        dtype=np.float64,
        ensure_non_negative=True,
    )
    if not sw.sum() > 0:
        raise ValueError("sample_weight must have a positive sum.")
    return sw


def check_holes(X, missing, first_row=0):
    """Refuse rows of X that the map cannot place (``missing="ignore"``).

    With "ignore", rows with no observed feature raise a ValueError naming
    their row numbers (plus ``first_row``); "error" has refused NaN already (see
    :data:`NAN_MESSAGE`).
    """
    if missing != "ignore" or X.shape[1] == 0:
        return
    rows = empty_rows(X)
    if len(rows):
        shown = ", ".join(str(first_row + int(r)) for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise ValueError(
            f"{len(rows)} sample(s) of X have no observed feature (every value "
            f"is missing): row(s) {shown}{more} (0-based); drop them first."
        )


def scale_warning(X, names=None, *, stacklevel=3):
    """Warn once when the ranges of the features differ by more than 100x.

    A feature's scale is its range (largest minus smallest value) on at most
    :data:`SCALE_ROWS` evenly spaced rows, holes skipped; constant features
    are left out. (The range, not the standard deviation: pixels or counts
    that are rarely non-zero have tiny deviations on the same scale.)
    Returns the ratio of the widest to the narrowest range (None when fewer
    than two features vary).

    Examples
    --------
    >>> import warnings
    >>> X = np.c_[np.arange(10.0), 1000 * np.arange(10.0)]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ratio = scale_warning(X, ["mm", "grams"])
    >>> round(ratio), "'grams'" in str(caught[0].message)
    (1000, True)
    """
    n, d = X.shape
    if d < 2 or n < 2:
        return None
    rows = np.unique(np.linspace(0, n - 1, min(n, SCALE_ROWS)).astype(np.int64))
    S = np.asarray(X[rows], dtype=np.float64)
    holes = np.isnan(S)
    span = np.where(holes, -np.inf, S).max(axis=0) - np.where(holes, np.inf, S).min(
        axis=0
    )
    ok = np.flatnonzero(np.isfinite(span) & (span > 0))
    if len(ok) < 2:
        return None
    wide = ok[np.argmax(span[ok])]
    narrow = ok[np.argmin(span[ok])]
    ratio = float(span[wide] / span[narrow])
    if ratio > SCALE_RATIO:

        def name(j):
            return repr(str(names[j])) if names is not None else f"column {j}"

        warnings.warn(
            f"feature scales differ by {ratio:.0f}x: {name(wide)} spans "
            f"{span[wide]:.3g}, {name(narrow)} {span[narrow]:.3g}; the widest "
            "features decide the map. Standardise them first, e.g. "
            "make_pipeline(StandardScaler(), SOM(...)) (the somkit command "
            "line does so by default).",
            UserWarning,
            stacklevel=stacklevel,
        )
    return ratio


_NOT_INVERTIBLE = (
    "impute needs a model whose steps before the map can be inverted "
    "feature by feature (scalers); this model's prototypes cannot be "
    "put back in the data's columns"
)


def impute(model, X):
    """Fill each hole (NaN) of X with the value of its sample's BMU prototype.

    Each sample's best-matching unit is searched over its observed features
    (as with ``SOM(missing="ignore")``, whatever the map's own setting), and
    its holes take that unit's codebook values, in the data's units (a
    Pipeline's scalers are undone). Observed values are returned unchanged.

    Parameters
    ----------
    model : fitted SOM, or a Pipeline of scalers ending in one
    X : array-like of shape (n_samples, n_features)
        Numeric data with holes as NaN; every row needs at least one
        observed value.

    Returns
    -------
    X_filled : ndarray of shape (n_samples, n_features), float64

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, impute
    >>> X = np.array([[0.0, 0.0], [0.1, 0.1], [5.0, 5.0], [5.1, 5.1]])
    >>> som = SOM((1, 2), radius=0, init="sample", random_state=0).fit(X)
    >>> impute(som, np.array([[np.nan, 4.9]])).round(2).tolist()
    [[5.05, 4.9]]
    """
    from somkit._encode import OneHotText
    from somkit._model import to_data_units, to_map_space, unwrap

    som, prefix = unwrap(model)
    if prefix is not None and isinstance(prefix.steps[0][1], OneHotText):
        # its text columns cannot take a prototype's 0/1 shares back
        raise ValueError(_NOT_INVERTIBLE + " (a one-hot step for text columns).")
    if hasattr(X, "iloc"):  # a frame: its values, columns in its own order
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(X, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {values.shape}.")
    holes = np.isnan(values)
    if not holes.any():
        return values.copy()
    searcher = copy.copy(som)
    searcher.missing = "ignore"
    Z = to_map_space(model, X)
    idx = np.asarray(searcher.predict(Z))
    proto = to_data_units(model, som.codebook_[idx])
    if proto is None or proto.shape != values.shape:
        raise ValueError(_NOT_INVERTIBLE + ".")
    return np.where(holes, proto, values)
