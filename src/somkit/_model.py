"""What a user trained: a SOM, or a pipeline of preprocessing steps and a SOM.

A model is what every entry point answers with: the command line saves a
:class:`sklearn.pipeline.Pipeline` (its scaler, then the map), and
:func:`load` returns it, so ``load(path).predict(raw_columns)`` gives the
command line's answers. Plots, metrics and reports take either form and
call :func:`unwrap` to reach the map, :func:`to_map_space` to send data
through the earlier steps, and :func:`to_data_units` to show prototypes in
the data's own units.

Only steps whose fitted state is plain arrays can be stored without pickle:
the SOM (or, last, a SOMClassifier / SOMRegressor),
:class:`~sklearn.preprocessing.StandardScaler`,
:class:`~sklearn.preprocessing.MinMaxScaler` and somkit's one-hot step for
text columns (:class:`somkit._encode.OneHotText`, first in the pipeline). For
a supervised map, :func:`unwrap` gives the features part of its map as a SOM
(see ``SOMClassifier._map_view``), so plots and metrics take features only.
"""

from __future__ import annotations

import numpy as np

from somkit._encode import OneHotText
from somkit._io import decode, encode, read_model, write_model
from somkit._som import SOM
from somkit._state import check_array, check_dict, check_float, check_int, check_str

__all__ = [
    "feature_names",
    "load",
    "preprocessing",
    "save",
    "to_data_units",
    "to_map_space",
    "unwrap",
]

#: Fitted attributes stored for each preprocessing class (those present).
_SCALER_STATE = {
    "StandardScaler": (
        "mean_",
        "scale_",
        "var_",
        "n_samples_seen_",
        "n_features_in_",
        "feature_names_in_",
    ),
    "MinMaxScaler": (
        "min_",
        "scale_",
        "data_min_",
        "data_max_",
        "data_range_",
        "n_samples_seen_",
        "n_features_in_",
        "feature_names_in_",
    ),
}


def _scaler_class(name):
    from sklearn import preprocessing

    return getattr(preprocessing, name)


# ------------------------------------------------------------------ unwrap
def _is_map(obj):
    # a SOM, or any object shaped like a fitted one (codebook_ and grid_)
    return isinstance(obj, SOM) or (hasattr(obj, "codebook_") and hasattr(obj, "grid_"))


def _is_supervised(obj):
    # SOMClassifier / SOMRegressor: a map of features and target layers
    return hasattr(obj, "_map_view") and hasattr(obj, "som_")


def _final(model):
    """The estimator at the end of ``model`` (a SOM or a supervised map)."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def unwrap(model):
    """``(som, prefix)``: the map at the end of ``model`` and the steps before it.

    ``prefix`` is a Pipeline of the earlier steps, or None for a bare SOM.
    Raises TypeError for anything else.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> som, prefix = unwrap(make_pipeline(StandardScaler(), SOM((2, 2))))
    >>> type(som).__name__, len(prefix)
    ('SOM', 1)
    """
    if _is_map(model):
        return model, None
    if _is_supervised(model):
        return model._map_view(), None
    steps = getattr(model, "steps", None)
    if steps and (_is_map(steps[-1][1]) or _is_supervised(steps[-1][1])):
        last = steps[-1][1]
        last = last._map_view() if _is_supervised(last) else last
        return last, (model[:-1] if len(steps) > 1 else None)
    raise TypeError(
        "expected a somkit.SOM or a scikit-learn Pipeline ending in a SOM, got "
        f"{type(model).__name__}."
    )


def to_map_space(model, X):
    """X sent through the steps before the map (unchanged for a bare SOM)."""
    _, prefix = unwrap(model)
    return X if prefix is None else prefix.transform(X)


def feature_names(model):
    """Names of the map's features, or None when the model was fit unnamed.

    The input columns, except that a one-hot step's text columns become one
    ``name=category`` feature per category (the map's own features).
    """
    som, prefix = unwrap(model)
    if prefix is not None and isinstance(prefix.steps[0][1], OneHotText):
        return [str(n) for n in prefix.steps[0][1].get_feature_names_out()]
    holder = som if prefix is None else prefix
    names = getattr(holder, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def to_data_units(model, W=None):
    """Codebook rows (default: the map's) mapped back through the earlier steps.

    A one-hot step is not undone: its columns stay shares in [0, 1] (the
    map's features, see :func:`feature_names`). Returns None when a step
    cannot be inverted.
    """
    som, prefix = unwrap(model)
    W = np.asarray(som.codebook_ if W is None else W, dtype=np.float64)
    if prefix is None:
        return W
    for _, step in reversed(prefix.steps):
        if isinstance(step, OneHotText):
            break
        if not hasattr(step, "inverse_transform"):
            return None
        W = np.asarray(step.inverse_transform(W), dtype=np.float64)
    return W


def preprocessing(model):
    """The model's preprocessing in words: "standard", "minmax" or "none".

    Examples
    --------
    >>> preprocessing(SOM())
    'none'
    """
    _, prefix = unwrap(model)
    if prefix is None:
        return "none"
    names = {
        "StandardScaler": "standard",
        "MinMaxScaler": "minmax",
        "OneHotText": "onehot",
    }
    return ", ".join(
        names.get(type(s).__name__, type(s).__name__) for _, s in prefix.steps
    )


# -------------------------------------------------------------- save, load
def _scaler_step(name, est):
    cls = type(est).__name__
    if isinstance(est, OneHotText):
        return est._to_step(name)
    if cls not in _SCALER_STATE:
        raise TypeError(
            f"cannot store step {name!r} ({cls}) in a somkit model file: only "
            f"{', '.join(sorted(_SCALER_STATE))}, OneHotText and SOM steps can "
            "be saved without pickle."
        )
    arrays = {}
    state = {}
    for attr in _SCALER_STATE[cls]:
        if hasattr(est, attr):
            value = getattr(est, attr)
            if attr == "feature_names_in_":
                value = np.asarray(value, dtype=str)
            state[attr] = encode(value, arrays, attr)
    params = {k: encode(v, arrays, f"param__{k}") for k, v in est.get_params().items()}
    return {
        "name": name,
        "class": cls,
        "params": params,
        "state": state,
        "arrays": arrays,
    }


def save(model, path):
    """Write a fitted SOM, or a Pipeline of scalers and a SOM, to ``path``.

    The file is ``.npz`` + JSON metadata (no pickle), written atomically;
    :func:`load` reads it back.

    Parameters
    ----------
    model : SOM or Pipeline
    path : str or Path

    Returns
    -------
    path
    """
    som, prefix = unwrap(model)
    steps = []
    if prefix is not None:
        for name, est in prefix.steps:
            steps.append(_scaler_step(name, est))
    final = _final(model)
    final = final if _is_supervised(final) else som
    steps.append(final._to_step(model.steps[-1][0] if prefix is not None else "som"))
    write_model(path, steps)
    return path


#: Parameters read back for each preprocessing class (others are ignored).
_SCALER_PARAMS = {
    "StandardScaler": ("copy", "with_mean", "with_std"),
    "MinMaxScaler": ("copy", "clip", "feature_range"),
}
#: Fitted arrays a StandardScaler may lack (with_mean / with_std False).
_OPTIONAL = ("mean_", "scale_", "var_")


def _scaler_param(key, value):
    if key != "feature_range":
        if not isinstance(value, bool):
            raise ValueError(f"scaler parameter {key} must be true or false")
        return value
    if not isinstance(value, tuple) or len(value) != 2:
        raise ValueError("feature_range must be a pair of numbers")
    low, high = (check_float(v, "feature_range") for v in value)
    if not low < high:
        raise ValueError("feature_range must increase")
    return (low, high)


def _scaler_attr(attr, value, d):
    """A fitted scaler attribute from a file, checked against ``d`` features."""
    if attr == "n_features_in_":
        return check_int(value, attr, d, d)
    if attr == "feature_names_in_":
        return check_array({attr: value}, attr, attr, "U", (d,)).astype(object)
    if attr == "n_samples_seen_":
        if isinstance(value, np.ndarray):
            arr = check_array({attr: value}, attr, attr, "iuf", (d,))
            if arr.min(initial=0) < 0:
                raise ValueError(f"{attr} must be >= 0")
            return arr
        if isinstance(value, int):
            return check_int(value, attr, 0)
        return check_float(value, attr, 0.0)
    if value is None and attr in _OPTIONAL:
        return None
    arr = check_array({attr: value}, attr, attr, "f", (d,)).astype(np.float64)
    if attr in ("scale_", "data_range_") and not np.all(arr != 0):
        raise ValueError(f"{attr} must not be 0")
    if attr == "var_" and np.any(arr < 0):
        raise ValueError("var_ must be >= 0")
    return arr


def _build_scaler(step, d):
    """A fitted scaler from a file step for ``d`` features (validated)."""
    cls_name = step["class"]
    if cls_name == "v1-scaler":
        return _v1_scaler(step["state"], d)
    if cls_name == "OneHotText":
        return _one_hot(step, d)
    if cls_name not in _SCALER_STATE:
        raise ValueError(f"step class {cls_name!r} is not one somkit stores")
    arrays = step["arrays"]
    params = {
        key: _scaler_param(key, decode(step["params"][key], arrays))
        for key in _SCALER_PARAMS[cls_name]
        if key in step["params"]
    }
    est = _scaler_class(cls_name)(**params)
    state = step["state"]
    for attr in _SCALER_STATE[cls_name]:
        if attr in state:
            setattr(est, attr, _scaler_attr(attr, decode(state[attr], arrays), d))
        elif attr not in ("feature_names_in_", *_OPTIONAL):
            raise ValueError(f"{cls_name} state lacks {attr}")
    if cls_name == "StandardScaler":
        for attr, needed in (("mean_", est.with_mean), ("scale_", est.with_std)):
            if needed and getattr(est, attr, None) is None:
                raise ValueError(f"StandardScaler state lacks {attr}")
    return est


def _v1_scaler(state, d):
    """The format-1 ``scaler_`` dict as a fitted scikit-learn scaler."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    spec = check_dict(state["scaler"], "scaler_", ("kind", "scale"))
    scale = _scaler_attr("scale_", spec["scale"], d)
    if spec["kind"] == "standard":
        est = StandardScaler()
        est.mean_ = _scaler_attr("mean_", spec.get("mean"), d)
        est.scale_ = scale
        est.var_ = scale**2
    elif spec["kind"] == "minmax":
        est = MinMaxScaler()
        est.data_min_ = _scaler_attr("data_min_", spec.get("min"), d)
        est.data_range_ = scale
        est.data_max_ = est.data_min_ + scale
        est.scale_ = 1.0 / scale
        est.min_ = -est.data_min_ / scale
    else:
        raise ValueError(f"unknown scaler kind {spec['kind']!r}")
    est.n_features_in_ = d
    est.n_samples_seen_ = 0
    if state.get("feature_names_in") is not None:
        est.feature_names_in_ = _scaler_attr(
            "feature_names_in_", state["feature_names_in"], d
        )
    return est


def _final_classes():
    """Classes a model file may end with, by their stored name."""
    from somkit._supervised import SOMClassifier, SOMRegressor

    return {"SOM": SOM, "SOMClassifier": SOMClassifier, "SOMRegressor": SOMRegressor}


def _one_hot(step, d):
    """The text encoder of a file step whose output has ``d`` columns."""
    est = OneHotText._from_step(step)
    n_in = check_int(est.n_features_in_, "OneHotText n_features_in", 1, 1 << 24)
    cats = est.categorical_
    if len(set(cats)) != len(cats) or any(not 0 <= j < n_in for j in cats):
        raise ValueError("OneHotText text columns out of range")
    if n_in - len(cats) + sum(len(c) for c in est.categories_) != d:
        raise ValueError("OneHotText gives a different number of columns")
    return est


def build_prefix(steps, d):
    """``(name, estimator)`` of the preprocessing steps feeding ``d`` columns."""
    built = []
    for step in reversed(steps):
        est = _build_scaler(step, d)
        d = est.n_features_in_
        built.insert(0, (step["name"], est))
    return built


def build(steps):
    """The model of validated file steps: a map, or a Pipeline ending in one.

    Steps are checked from the map back: each must output the columns the
    next one takes (a text encoder changes their number, a scaler not).
    """
    final = _final_classes().get(steps[-1]["class"]) if steps else None
    if final is None:
        raise ValueError("the last step is not a SOM")
    names = [check_str(s["name"], "step name") for s in steps]
    if len(set(names)) != len(names) or any("__" in n or not n for n in names):
        raise ValueError("step names must be distinct, non-empty, without '__'")
    som = final._from_step(steps[-1])
    built = build_prefix(steps[:-1], som.n_features_in_)
    if not built:
        return som
    from sklearn.pipeline import Pipeline

    return Pipeline([*built, (steps[-1]["name"], som)])


def load(path):
    """Load a model written by :meth:`SOM.save`, :func:`save` or ``somkit fit``.

    Returns the SOM, or a :class:`sklearn.pipeline.Pipeline` whose last step
    is the SOM when the file holds preprocessing (the command line's
    scaling): its ``predict``/``transform``/``decision_function`` take the
    raw columns. No pickle is involved.

    The file is untrusted input: only the members the format names are
    read, each checked (dtype, shape, size, SHA-256) before it is used, and
    every field is validated (see :mod:`somkit._io` and
    :mod:`somkit._state`); nothing in the file can set an attribute somkit
    does not know. Files of formats 1 and 2 load too.

    Raises
    ------
    ValueError
        For anything but a valid model file: missing, truncated, corrupt or
        foreign files, object arrays, unknown or compressed members, sizes
        or checksums that do not match, invalid values, a training
        checkpoint (use :meth:`SOM.resume`), or a newer format version.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM, load
    >>> X = load_iris().data
    >>> som = SOM((4, 4), random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> _ = som.save(path)
    >>> bool((load(path).predict(X) == som.predict(X)).all())
    True
    """
    meta, steps = read_model(path)
    if "checkpoint" in meta:
        raise ValueError(
            f"{path}: this is a training checkpoint, not a finished model; "
            "continue it with SOM.resume(path, X) or 'somkit resume'."
        )
    try:
        return build(steps)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise ValueError(f"{path}: inconsistent somkit model file ({exc}).") from None
