"""Supervised maps: SOMClassifier and SOMRegressor (xyf-style layered maps).

Both train one layered :class:`somkit.SOM` on two layers, as R's kohonen
``xyf`` does (Melssen, Wehrens & Buydens 2006, Chemom. Intell. Lab. Syst.
83(2); Wehrens & Kruisselbrink 2018, J. Stat. Softw. 87(7)):

* ``"features"``: the columns of X (``metric``, weight 1);
* ``"target"``: the one-hot classes (classifier) or the standardised targets
  (regressor), weight ``target_weight``, left out of the search at
  prediction time (``Layer(predict=False)``).

During training the BMU is found on both layers (each normalised by its mean
distance, see :mod:`somkit._layers`), so units specialise in one class or
one range of the target while keeping the map's order; at prediction only
the features layer picks the unit, and the unit's target block (class
frequencies, or target mean) is the answer.

The defaults work without tuning: the classifier's map has about ``10 *
sqrt(n_samples)`` units (twice the SOM Toolbox rule of thumb: more, purer
prototypes), at least :data:`UNITS_PER_CLASS` per class; the regressor's
has the SOM Toolbox's ``5 * sqrt(n_samples)`` and averages the targets of
the 10 nearest units (targets are noisy: one unit's mean over a couple of
samples overfits, as a 1-nearest-neighbour regressor does). The
classifier's radius decays to :data:`FINE_RADIUS`, a narrow fine-tuning
phase at the end of training (Kohonen's two phases, ordering then
convergence with a small neighbourhood: T. Kohonen, Self-Organizing Maps,
3rd ed., Springer 2001; the SOM Toolbox's rough and fine-tuning phases):
class prototypes sharpen (digits: 0.965 against 0.936 when the radius ends
at 1.5). The regressor keeps the SOM's usual end
radius, 1.5: a smoother target plane averages noisy targets (diabetes: R^2
0.457 against 0.438 with 0.5). Both numbers from
``benchmarks/supervised.py``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from somkit._layers import Layer
from somkit._registry import LAYER_METRICS, check_choice
from somkit._rules import END_RADIUS

__all__ = ["SOMClassifier", "SOMRegressor"]

#: Fewest units per class for grid="auto" (classifier).
UNITS_PER_CLASS = 4
#: End of the default radius schedule: the fine-tuning phase.
FINE_RADIUS = 0.5
#: Parameters passed on to the inner SOM unchanged.
_SOM_PARAMS = (
    "topology",
    "periodic",
    "neighborhood",
    "learning_rate",
    "algorithm",
    "n_epochs",
    "batch_size",
    "init",
    "shuffle",
    "backend",
    "device",
    "dtype",
    "random_state",
    "verbose",
    "callbacks",
)


class _SupervisedSOM(BaseEstimator):
    """Shared parameters and machinery of SOMClassifier and SOMRegressor."""

    def __init__(
        self,
        grid="auto",
        *,
        target_weight=1.0,
        n_neighbors=None,
        metric="sqeuclidean",
        topology="rect",
        periodic=False,
        neighborhood="gaussian",
        radius=None,
        learning_rate=(0.5, 0.01),
        algorithm="batch",
        n_epochs=20,
        batch_size=None,
        init="pca",
        shuffle=True,
        backend="auto",
        device=None,
        dtype="float32",
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.grid = grid
        self.target_weight = target_weight
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.topology = topology
        self.periodic = periodic
        self.neighborhood = neighborhood
        self.radius = radius
        self.learning_rate = learning_rate
        self.algorithm = algorithm
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.init = init
        self.shuffle = shuffle
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    # ------------------------------------------------------------ training
    def _check_own_params(self):
        tw = self.target_weight
        if not isinstance(tw, Real) or isinstance(tw, bool) or not tw >= 0:
            raise ValueError(f"target_weight must be a number >= 0, got {tw!r}.")
        k = self.n_neighbors
        if k is not None and (
            not isinstance(k, Integral) or isinstance(k, bool) or k < 1
        ):
            raise ValueError(f"n_neighbors must be None or an int >= 1, got {k!r}.")
        check_choice("metric", self.metric, LAYER_METRICS)

    def _validate(self, X, y, sample_weight):
        self._check_own_params()
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], multi_output=self._multi
        )
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            if not sw.sum() > 0:
                raise ValueError("sample_weight must have a positive sum.")
        return X, y, sw

    def _grid(self, X, sample_weight, min_units):
        if not (isinstance(self.grid, str) and self.grid == "auto"):
            return self.grid
        from somkit._rules import auto_grid

        n = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        floor = max(4, int(min_units))
        shape = auto_grid(
            X,
            sample_weight,
            units_per_root=self._units_per_root,
            min_units=floor,
            max_units=max(floor, int(math.ceil(n))),
        )
        if self.topology == "hex" and self.periodic and shape[0] % 2:
            shape = (shape[0] + 1, *shape[1:])
        return shape

    def _fit_map(self, X, T, sample_weight, target_metric, min_units):
        """Train ``som_`` on ``[X | T]`` (features and target layers)."""
        from somkit._rules import default_radius
        from somkit._som import SOM

        d, k = X.shape[1], T.shape[1]
        # a constant target (one class, constant y) cannot be normalised:
        # it then takes no part in the search
        used = T if sample_weight is None else T[sample_weight > 0]
        weight = float(self.target_weight) if np.ptp(used, axis=0).max() > 0 else 0.0
        layers = [
            Layer("features", d, weight=1.0, metric=self.metric),
            Layer("target", k, weight=weight, metric=target_metric, predict=False),
        ]
        grid = self._grid(X, sample_weight, min_units)
        radius = self.radius
        if radius is None:
            shape = (grid,) if isinstance(grid, Integral) else tuple(grid)
            radius = default_radius(shape, self._end_radius)
        params = {p: getattr(self, p) for p in _SOM_PARAMS}
        som = SOM(grid, radius=radius, layers=layers, **params)
        Z = np.hstack([X, T.astype(X.dtype)])
        self.som_ = som.fit(Z, sample_weight=sample_weight)
        self.n_iter_ = som.n_iter_
        return self

    # ----------------------------------------------------------- inference
    def _features(self):
        """``(W_features, metric)``: the features block and its search metric."""
        d = self.n_features_in_
        cols, metric = self.som_.layers_.metric(False).restrict(["features"])
        return np.ascontiguousarray(self.som_.codebook_[:, cols[:d]]), metric

    def _units(self, X):
        """Nearest ``n_neighbors`` units of each row: ``(idx, dist)``, (n, k)."""
        from somkit._backends import resolve

        check_is_fitted(self, "som_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        W, metric = self._features()
        backend = resolve(self.backend, X, device=self.device)
        k = self._default_neighbors if self.n_neighbors is None else self.n_neighbors
        k = min(int(k), W.shape[0])
        if k == 1:
            idx, dist = backend.bmu(X, W, metric, batch_size=self.batch_size)
            return np.asarray(idx)[:, None], np.asarray(dist)[:, None]
        from somkit._kernels import chunk_rows

        n = X.shape[0]
        idx = np.empty((n, k), dtype=np.int64)
        dist = np.empty((n, k))
        rows = chunk_rows(W.shape[0], self.batch_size)
        for a in range(0, n, rows):
            D = np.asarray(backend.distances(X[a : a + rows], W, metric))
            part = np.argsort(D, axis=1, kind="stable")[:, :k]
            idx[a : a + rows] = part
            dist[a : a + rows] = np.take_along_axis(D, part, axis=1)
        return idx, dist

    def _target_block(self):
        return np.asarray(self.som_.codebook_[:, self.n_features_in_ :], np.float64)

    def _predicted_block(self, X):
        """Mean target block of each row's nearest units."""
        idx, _ = self._units(X)
        return self._target_block()[idx].mean(axis=1)

    def apply(self, X):
        """Flat index of each row's BMU on the features layer."""
        return self._units(X)[0][:, 0]

    def _map_view(self):
        """The features part of the map as a fitted SOM (for plots, metrics).

        Its codebook is the features block, its search the features layer:
        ``view.predict(X) == self.apply(X)``.
        """
        from somkit._som import SOM

        check_is_fitted(self, "som_")
        som = self.som_
        view = SOM(**{**som.get_params(), "layers": None})
        meta, arrays = som._get_state()
        d = self.n_features_in_
        arrays = {**arrays, "codebook": arrays["codebook"][:, :d]}
        arrays.pop("feature_names_in", None)
        meta = {**meta, "n_features_in": d}
        meta["layers"], more = som.layers_.restrict(["features"]).to_state()
        arrays.update(more)
        view._set_state(meta, arrays)
        if hasattr(self, "feature_names_in_"):
            view.feature_names_in_ = self.feature_names_in_
        return view

    # ----------------------------------------------------------- model file
    def _to_step(self, name):
        """This fitted estimator as one step of a model file (no pickle)."""
        from somkit._io import encode

        check_is_fitted(self, "som_")
        inner = self.som_._to_step("som")
        arrays = {f"som.{k}": v for k, v in inner["arrays"].items()}
        state = {"som": {"params": inner["params"], "state": inner["state"]}}
        for attr in self._state_attrs:
            if hasattr(self, attr):
                value = getattr(self, attr)
                if attr in ("classes_", "feature_names_in_") and value.dtype == object:
                    value = np.asarray(value, dtype=str)
                state[attr] = encode(value, arrays, attr)
        params = {
            k: encode(v, arrays, f"param__{k}")
            for k, v in self.get_params(deep=False).items()
        }
        cls = type(self).__name__
        return {
            "name": name,
            "class": cls,
            "params": params,
            "state": state,
            "arrays": arrays,
        }

    @classmethod
    def _from_step(cls, step):
        """A fitted estimator from a model-file step (inverse of ``_to_step``)."""
        from somkit._io import decode
        from somkit._som import SOM

        arrays = step["arrays"]
        params = {k: decode(v, arrays) for k, v in step["params"].items()}
        est = cls(**params)
        state = dict(step["state"])
        inner = state.pop("som")
        own = {k[4:]: v for k, v in arrays.items() if k.startswith("som.")}
        est.som_ = SOM._from_step({**inner, "arrays": own})
        for attr, value in state.items():
            if attr not in cls._state_attrs:
                raise ValueError(f"unknown state {attr!r} of {cls.__name__}")
            value = decode(value, arrays)
            if attr == "feature_names_in_":
                value = np.asarray(value, dtype=object)
            setattr(est, attr, value)
        if est.som_.n_features_in_ <= est.n_features_in_:
            raise ValueError("the map has no target columns")
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


class SOMClassifier(ClassifierMixin, _SupervisedSOM):
    """Supervised self-organizing map classifier (xyf-style layered map).

    Trains one map on the features and the one-hot classes (a target layer
    left out of the search at prediction time); a new sample gets the class
    prototype of its best-matching unit on the features.

    Parameters
    ----------
    grid : "auto", int or tuple, default="auto"
        Map shape. "auto": about ``10 * sqrt(n_samples)`` units (at least 4
        per class, at most one per sample), sides in the ratio of the two
        leading principal components.
    target_weight : float, default=1.0
        Weight of the class layer relative to the features layer (each
        normalised by its mean distance, so 1 means equal say, kohonen's
        ``xyf`` default). 0 trains an unsupervised map and labels its units.
    n_neighbors : int or None, default=None
        Units whose class prototypes are averaged for ``predict_proba``.
        None means 1, the winner alone: with the default map it is as
        accurate as 3 or 5 on wine and digits (5-fold CV, within 0.01), and
        the answer is the class frequencies of one unit, as the map shows.
    metric : {"sqeuclidean", "euclidean", "cosine", "manhattan", "tanimoto"}, \
default="sqeuclidean"
        Distance of the features layer.
    radius : None, float, (start, end) or Schedule, default=None
        None: from a quarter of the longest side down to 0.5, a narrow final
        phase that fine-tunes the prototypes.
    n_epochs : int, default=20
    topology, periodic, neighborhood, learning_rate, algorithm, batch_size, \
init, shuffle, backend, device, dtype, random_state, verbose, callbacks
        As for :class:`somkit.SOM`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    som_ : SOM
        The trained layered map (columns: the features, then one per class).
    unit_proba_ : ndarray of shape (n_units, n_classes)
        Class prototype of every unit (its class frequencies).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    n_iter_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOMClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SOMClassifier(random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _multi = False
    _state_attrs = (
        "classes_",
        "unit_proba_",
        "n_features_in_",
        "feature_names_in_",
        "n_iter_",
    )
    _units_per_root = 10.0
    _default_neighbors = 1
    _end_radius = FINE_RADIUS

    def fit(self, X, y, sample_weight=None):
        """Train on X and the classes y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : SOMClassifier
        """
        X, y, sw = self._validate(X, y, sample_weight)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        self.classes_, codes = np.unique(y, return_inverse=True)
        onehot = np.eye(len(self.classes_))[codes]
        min_units = UNITS_PER_CLASS * len(self.classes_)
        self._fit_map(X, onehot, sw, "sqeuclidean", min_units)
        P = np.clip(self._target_block(), 0.0, None)
        total = P.sum(axis=1, keepdims=True)
        uniform = np.full_like(P, 1.0 / P.shape[1])
        self.unit_proba_ = np.where(
            total > 0, P / np.where(total > 0, total, 1), uniform
        )
        return self

    def predict_proba(self, X):
        """Class probabilities: the class prototype of the nearest unit(s).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "unit_proba_")
        idx, _ = self._units(X)
        return self.unit_proba_[idx].mean(axis=1)

    def predict(self, X):
        """The most probable class of each sample."""
        check_is_fitted(self, "unit_proba_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class SOMRegressor(RegressorMixin, _SupervisedSOM):
    """Supervised self-organizing map regressor (xyf-style layered map).

    Trains one map on the features and the standardised targets (a target
    layer left out of the search at prediction time); a new sample gets the
    target prototype of its best-matching unit on the features (the mean of
    its ``n_neighbors`` nearest units).

    Parameters
    ----------
    grid : "auto", int or tuple, default="auto"
        "auto": about ``5 * sqrt(n_samples)`` units (at most one per sample).
    target_weight : float, default=1.0
        Weight of the target layer relative to the features layer (each
        normalised by its mean distance).
    n_neighbors : int or None, default=None
        Units whose target prototypes are averaged for a prediction; None
        means 10 (on the diabetes data, R^2 0.36 with 1 unit, 0.42 with 5,
        0.46 with 10).
    radius : None, float, (start, end) or Schedule, default=None
        None: from a quarter of the longest side down to 1.5.
    metric, n_epochs, topology, periodic, neighborhood, learning_rate, \
algorithm, batch_size, init, shuffle, backend, device, dtype, random_state, \
verbose, callbacks
        As for :class:`SOMClassifier`.

    Attributes
    ----------
    som_ : SOM
        The trained layered map (columns: the features, then the
        standardised targets).
    unit_target_ : ndarray of shape (n_units,) or (n_units, n_outputs)
        Target prototype of every unit, in the units of y.
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        The standardisation of y.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOMRegressor
    >>> X = np.linspace(0, 6, 200)[:, None]
    >>> reg = SOMRegressor(random_state=0).fit(X, np.sin(X[:, 0]))
    >>> bool(reg.score(X, np.sin(X[:, 0])) > 0.9)
    True
    """

    _multi = True
    _state_attrs = (
        "unit_target_",
        "target_mean_",
        "target_scale_",
        "_y_ndim",
        "n_features_in_",
        "feature_names_in_",
        "n_iter_",
    )
    _units_per_root = 5.0
    _default_neighbors = 10
    _end_radius = END_RADIUS

    def fit(self, X, y, sample_weight=None):
        """Train on X and the targets y (one or several outputs).

        Returns
        -------
        self : SOMRegressor
        """
        X, y, sw = self._validate(X, y, sample_weight)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        Y = y.reshape(len(y), -1)
        w = np.ones(len(Y)) if sw is None else sw
        self.target_mean_ = np.average(Y, axis=0, weights=w)
        std = np.sqrt(np.average((Y - self.target_mean_) ** 2, axis=0, weights=w))
        self.target_scale_ = np.where(std > 0, std, 1.0)
        T = (Y - self.target_mean_) / self.target_scale_
        self._fit_map(X, T, sw, "sqeuclidean", 4)
        unit = self._target_block() * self.target_scale_ + self.target_mean_
        self.unit_target_ = unit[:, 0] if self._y_ndim == 1 else unit
        return self

    def predict(self, X):
        """Target prototype of each sample's nearest unit(s), in y's units."""
        T = self._predicted_block(X) * self.target_scale_ + self.target_mean_
        return T[:, 0] if self._y_ndim == 1 else T

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
