"""One-hot encoding of text columns, storable in a somkit model file.

:class:`OneHotText` is the first step of a model trained with
``somkit fit --categorical onehot``: it turns each text column into one
0/1 column per category seen in training and passes numeric columns through,
so the map trains on numbers and :func:`somkit.load` gives a model that takes
the raw table. Its fitted state is plain lists (JSON in the model file), so
no pickle is needed.

At ``transform``: a category not seen in training gives all zeros in its
block (it matches no training category); a missing value (None, NaN, an
empty text) gives holes (NaN) in its block, which a map with
``missing="ignore"`` measures around.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["OneHotText", "encoded_dataset", "encodes_text"]


def _is_hole(v):
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if isinstance(v, str):
        return not v.strip()
    return type(v).__name__ in ("NAType", "NaTType")


def _text(v):
    """The category text of a cell (integral numbers without ".0")."""
    if isinstance(v, Real | np.number) and not isinstance(v, bool | np.bool_):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v).strip()


def _number(v):
    if isinstance(v, Real | np.number) and not isinstance(v, bool | np.bool_):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _columns_of(X):
    """``(names or None, list of 1-D object arrays)`` of a frame or 2-D array."""
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        names = [str(c) for c in X.columns]
        return names, [X.iloc[:, j].to_numpy(dtype=object) for j in range(X.shape[1])]
    A = np.asarray(X, dtype=object)
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {A.shape}.")
    return None, [A[:, j] for j in range(A.shape[1])]


def _is_text_column(values):
    return any(not _is_hole(v) and _number(v) is None for v in values)


class OneHotText(TransformerMixin, BaseEstimator):
    """One-hot encode the text columns of a table; pass numbers through.

    Parameters
    ----------
    columns : list of str or int, or None, default=None
        The text columns (names when fitted on a frame, else positions).
        None: every column holding a value that is not a number.

    Attributes
    ----------
    categorical_ : list of int
        Positions of the encoded columns.
    categories_ : list of list of str
        Sorted categories of each encoded column, as seen in training.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a frame (the command line sets it from the
        file's header).

    Examples
    --------
    >>> enc = OneHotText().fit([["a", 1.0], ["b", 2.0], [None, 3.0]])
    >>> enc.categories_
    [['a', 'b']]
    >>> enc.transform([["b", 5.0], ["c", 6.0], [None, 7.0]]).tolist()
    [[0.0, 1.0, 5.0], [0.0, 0.0, 6.0], [nan, nan, 7.0]]
    >>> list(enc.get_feature_names_out())
    ['x0=a', 'x0=b', 'x1']
    """

    def __init__(self, columns=None):
        self.columns = columns

    def fit(self, X, y=None):
        names, cols = _columns_of(X)
        self.n_features_in_ = len(cols)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if self.columns is None:
            chosen = [j for j, c in enumerate(cols) if _is_text_column(c)]
        else:
            chosen = sorted({self._position(c, names) for c in self.columns})
        self.categorical_ = chosen
        self.categories_ = [
            sorted({_text(v) for v in cols[j] if not _is_hole(v)}) for j in chosen
        ]
        return self

    def _position(self, spec, names):
        if isinstance(spec, Integral) and not isinstance(spec, bool):
            if 0 <= spec < self.n_features_in_:
                return int(spec)
        elif names is not None and str(spec) in names:
            return names.index(str(spec))
        raise ValueError(f"columns: no column {spec!r} in X.")

    def transform(self, X):
        check_is_fitted(self, "categories_")
        names, cols = _columns_of(X)
        if len(cols) != self.n_features_in_:
            raise ValueError(
                f"X has {len(cols)} features, but OneHotText is expecting "
                f"{self.n_features_in_} features as input."
            )
        if names is not None and hasattr(self, "feature_names_in_"):
            if list(names) != [str(n) for n in self.feature_names_in_]:
                raise ValueError(
                    "X's columns differ from the ones seen in fit: "
                    f"{list(self.feature_names_in_)}."
                )
        n = len(cols[0]) if cols else 0
        blocks = []
        encoded = dict(zip(self.categorical_, self.categories_, strict=True))
        for j, values in enumerate(cols):
            if j in encoded:
                cats = encoded[j]
                where = {c: k for k, c in enumerate(cats)}
                block = np.zeros((n, len(cats)))
                for i, v in enumerate(values):
                    if _is_hole(v):
                        block[i] = np.nan
                    elif _text(v) in where:
                        block[i, where[_text(v)]] = 1.0
                blocks.append(block)
                continue
            out = np.empty((n, 1))
            for i, v in enumerate(values):
                x = np.nan if _is_hole(v) else _number(v)
                if x is None:
                    raise ValueError(
                        f"column {self._name(j)!r} holds text ({v!r}) but was "
                        "numeric in training."
                    )
                out[i, 0] = x
            blocks.append(out)
        return np.hstack(blocks) if blocks else np.zeros((n, 0))

    def _name(self, j):
        if hasattr(self, "feature_names_in_"):
            return str(self.feature_names_in_[j])
        return f"x{j}"

    def get_feature_names_out(self, input_features=None):
        """Input names, each text column expanded to ``name=category``."""
        check_is_fitted(self, "categories_")
        encoded = dict(zip(self.categorical_, self.categories_, strict=True))
        out = []
        for j in range(self.n_features_in_):
            name = self._name(j)
            if j in encoded:
                out.extend(f"{name}={c}" for c in encoded[j])
            else:
                out.append(name)
        return np.asarray(out, dtype=object)

    # ------------------------------------------------------------ model files
    def _to_step(self, name):
        """This fitted encoder as a model-file step (JSON state, no arrays)."""
        check_is_fitted(self, "categories_")
        state = {
            "n_features_in": int(self.n_features_in_),
            "categorical": [int(j) for j in self.categorical_],
            "categories": [[str(c) for c in cats] for cats in self.categories_],
        }
        if hasattr(self, "feature_names_in_"):
            state["feature_names_in"] = [str(n) for n in self.feature_names_in_]
        columns = self.columns if self.columns is None else list(self.columns)
        return {
            "name": name,
            "class": "OneHotText",
            "params": {"columns": columns},
            "state": state,
            "arrays": {},
        }

    @classmethod
    def _from_step(cls, step):
        """The fitted encoder of a model-file step (inverse of ``_to_step``)."""
        state = step["state"]
        est = cls(**step["params"])
        est.n_features_in_ = int(state["n_features_in"])
        est.categorical_ = [int(j) for j in state["categorical"]]
        est.categories_ = [[str(c) for c in cats] for cats in state["categories"]]
        if len(est.categorical_) != len(est.categories_):
            raise ValueError("OneHotText: categorical columns and categories differ")
        if "feature_names_in" in state:
            est.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        return est


def encodes_text(model):
    """Whether ``model`` (a SOM or a Pipeline) starts with a :class:`OneHotText`."""
    steps = getattr(model, "steps", None)
    return bool(steps) and any(isinstance(s, OneHotText) for _, s in steps)


def encoded_dataset(model, data):
    """``data`` (a ``somkit._data.Dataset``) with the model's one-hot step
    applied: text columns become ``name=category`` 0/1 features, numbers
    stay in their units. Unchanged when the model encodes no text."""
    import dataclasses

    if not encodes_text(model):
        return data
    encoder = model.steps[0][1]
    return dataclasses.replace(
        data,
        X=encoder.transform(data.X),
        feature_names=[str(n) for n in encoder.get_feature_names_out()],
        text_columns=[],
        image_shape=None,
    )
