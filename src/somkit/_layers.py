"""Layered maps: named blocks of columns, each with its own metric and weight.

A layered map (R's kohonen calls it a *supersom*; ``xyf`` is the two-layer
case) keeps one codebook over all columns, but finds the best-matching unit
on a weighted sum of per-layer distances::

    D(x, w_j) = sum_l  a_l * d_l(x[cols_l], w_j[cols_l])

with ``a_l = (weight_l / s_l) / sum_k (weight_k / s_k)``. ``s_l`` is the mean
distance, in the layer's own metric, between two rows drawn independently
from the (weighted) training data, measured once at fit on up to
:data:`SCALE_ROWS` rows. This is the normalisation of R's kohonen
``supersom`` (Wehrens & Kruisselbrink 2018, "Flexible self-organizing maps in
kohonen 3.0", J. Stat. Softw. 87(7)): with ``normalizeDataLayers=TRUE`` (its
default) it sets ``distance.weights <- 1 / mean(object.distances(...))``
over the rows of each layer's initial codebook, a random sample of data
rows, then ``weights <- user.weights * distance.weights``, rescaled to sum to
one. Over the same rows our mean (all ordered pairs, self-pairs included)
is kohonen's (distinct pairs) times ``(n - 1) / n``, a factor common to
every layer that cancels in ``a_l``. So a weight means the same however wide
a layer is or in whatever units it is measured.

Layer metrics (:data:`somkit._registry.LAYER_METRICS`):

* ``"sqeuclidean"``: sum of squared differences (kohonen's default
  "sumofsquares"). A weighted sum of such layers is a squared euclidean
  distance on columns scaled by ``sqrt(a_l)``: the search is one GEMM on the
  augmented codebook.
* ``"euclidean"``: its square root; ``"manhattan"``: sum of absolute
  differences;
* ``"cosine"``: ``1 - cos`` of the layer's blocks; the layer's block of every
  codebook row is kept at unit norm (as ``SOM(metric="cosine")`` does);
* ``"tanimoto"``: ``1 - x.w / (|x|^2 + |w|^2 - x.w)`` (0 when both are zero),
  the Tanimoto (generalised Jaccard) distance for non-negative data: on
  binary vectors it is one minus the size of the intersection over the size
  of the union. kohonen's "tanimoto" is different: the share of positions
  where ``x`` and ``w`` fall on different sides of 0.5, a step function of
  the prototype; ours is continuous in ``w``, so prototypes between the
  one-hot corners (class frequencies) are compared gradually.

A layer of weight 0 takes no part in the search (its columns are still
trained: they follow the units chosen by the other layers), and a layer with
``predict=False`` is left out of the search at prediction time (the target
layer of a supervised map).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from somkit._registry import LAYER_METRIC_ID, LAYER_METRICS, check_choice

__all__ = [
    "Layer",
    "LayerMetric",
    "LayeredMixin",
    "Layout",
    "fit_layout",
    "layer_distances",
    "search_metric",
]

#: Rows used to measure each layer's mean distance (its normalisation).
SCALE_ROWS = 1000


@dataclass(frozen=True)
class Layer:
    """One named block of columns of a layered map.

    Parameters
    ----------
    name : str
        Unique name of the layer.
    columns : int, slice, or sequence of int or str
        The layer's columns: an int ``n`` takes the next ``n`` columns after
        the previous layer's; a slice or a list gives column positions, or
        column names of a DataFrame. The layers must cover every column
        exactly once.
    weight : float, default=1.0
        Relative weight of the layer's normalised distance in the BMU search
        (>= 0; 0 leaves it out of the search but still trains it).
    metric : {"sqeuclidean", "euclidean", "cosine", "manhattan", "tanimoto"}, \
default="sqeuclidean"
        Distance within the layer (see :mod:`somkit._layers`).
    predict : bool, default=True
        Whether the layer takes part in the search at prediction time
        (``predict``, ``transform``, ``score_samples``, metrics, plots).
        False for a target layer that new data do not have.

    Examples
    --------
    >>> Layer("class", 3, weight=0.5, metric="tanimoto", predict=False).metric
    'tanimoto'
    """

    name: str
    columns: object
    weight: float = 1.0
    metric: str = "sqeuclidean"
    predict: bool = True

    def to_dict(self):
        """JSON-able form (for model files); :meth:`from_dict` inverts it."""
        cols = self.columns
        if isinstance(cols, slice):
            cols = {"slice": [cols.start, cols.stop, cols.step]}
        elif not isinstance(cols, Integral | str):
            cols = [c if isinstance(c, str) else int(c) for c in cols]
        else:
            cols = cols if isinstance(cols, str) else int(cols)
        return {
            "name": self.name,
            "columns": cols,
            "weight": float(self.weight),
            "metric": self.metric,
            "predict": bool(self.predict),
        }

    @classmethod
    def from_dict(cls, d):
        cols = d["columns"]
        if isinstance(cols, dict):
            cols = slice(*cols["slice"])
        return cls(d["name"], cols, d["weight"], d["metric"], d["predict"])


def layer_distances(A, B, metric):
    """Dense float64 distances between the rows of ``A`` and ``B`` in one layer.

    The reference definition of the layer metrics (see the module doc).

    Examples
    --------
    >>> layer_distances([[1.0, 0.0]], [[1.0, 1.0]], "tanimoto").tolist()
    [[0.5]]
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    check_choice("metric", metric, LAYER_METRICS)
    if metric == "manhattan":
        from scipy.spatial.distance import cdist

        return cdist(A, B, metric="cityblock")
    if metric == "cosine":
        from somkit._kernels._distances import normalize_rows

        return np.maximum(1.0 - normalize_rows(A) @ normalize_rows(B).T, 0.0)
    dot = A @ B.T
    na = np.einsum("ij,ij->i", A, A)[:, None]
    nb = np.einsum("ij,ij->i", B, B)[None, :]
    if metric == "tanimoto":
        den = na + nb - dot
        safe = np.where(den > 0, den, 1.0)
        return np.where(den > 0, 1.0 - dot / safe, 0.0)
    d2 = np.maximum(na + nb - 2.0 * dot, 0.0)
    return d2 if metric == "sqeuclidean" else np.sqrt(d2)


def _as_index(cols):
    """A slice for a run of consecutive columns, else the index array."""
    cols = np.asarray(cols, dtype=np.int64)
    if len(cols) and np.array_equal(cols, np.arange(cols[0], cols[0] + len(cols))):
        return slice(int(cols[0]), int(cols[0]) + len(cols))
    return cols


class LayerMetric:
    """The combined distance of one search: a "metric" the kernels understand.

    Passed where a metric name goes (``Backend.bmu(X, W, metric)``, ...); the
    numpy, dask and torch backends search with
    ``D = sum_l coef[l] * d_l(x[index[l]], w[index[l]])`` over the layers
    with ``coef[l] > 0``. Layers of any coefficient keep their metric's
    constraint on the codebook (cosine blocks at unit norm).

    Parameters
    ----------
    names, metrics : sequences of str
    index : sequence of int arrays (column positions of each layer)
    coef : sequence of float (>= 0)
    n_features : int
    """

    def __init__(self, names, metrics, index, coef, n_features):
        self.names = tuple(str(n) for n in names)
        self.metrics = tuple(metrics)
        self.index = [np.asarray(i, dtype=np.int64) for i in index]
        self.coef = np.asarray(coef, dtype=np.float64)
        self.n_features = int(n_features)
        self.cols = [_as_index(i) for i in self.index]
        self.metric_ids = np.array([LAYER_METRIC_ID[m] for m in self.metrics])
        self.active = [k for k in range(len(self.names)) if self.coef[k] > 0]

    def __repr__(self):
        parts = ", ".join(
            f"{n}: {m} x {c:.3g}"
            for n, m, c in zip(self.names, self.metrics, self.coef, strict=True)
        )
        return f"LayerMetric({parts})"

    def __eq__(self, other):
        return isinstance(other, LayerMetric) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (
            self.names,
            self.metrics,
            tuple(tuple(i.tolist()) for i in self.index),
            tuple(self.coef.tolist()),
            self.n_features,
        )

    def __dask_tokenize__(self):
        return ("somkit.LayerMetric", self._key())

    @property
    def has_cosine(self):
        return "cosine" in self.metrics

    def flat(self):
        """Numba form of the active layers: ``(cols, offsets, ids, coef)``."""
        act = self.active
        cols = np.concatenate([self.index[k] for k in act] or [np.zeros(0, np.int64)])
        sizes = [len(self.index[k]) for k in act]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        ids = self.metric_ids[act].astype(np.int64)
        return cols, offsets, ids, self.coef[act].copy()

    def pairwise(self, A, B):
        """Dense float64 combined distances between the rows of A and of B."""
        A = np.asarray(A)
        B = np.asarray(B)
        D = np.zeros((A.shape[0], B.shape[0]))
        for k in self.active:
            c = self.cols[k]
            D += self.coef[k] * layer_distances(A[:, c], B[:, c], self.metrics[k])
        return D

    def rowwise(self, A, B):
        """Combined distance between paired rows ``A[i]`` and ``B[i]``."""
        A = np.asarray(A, dtype=np.float64)
        B = np.asarray(B, dtype=np.float64)
        out = np.zeros(A.shape[0])
        for k in self.active:
            c = self.cols[k]
            a, b = A[:, c], B[:, c]
            metric = self.metrics[k]
            if metric in ("sqeuclidean", "euclidean"):
                d = np.einsum("ij,ij->i", a - b, a - b)
                d = d if metric == "sqeuclidean" else np.sqrt(d)
            elif metric == "manhattan":
                d = np.abs(a - b).sum(axis=1)
            elif metric == "cosine":
                from somkit._kernels._distances import normalize_rows

                prod = normalize_rows(a) * normalize_rows(b)
                d = np.maximum(1.0 - prod.sum(axis=1), 0.0)
            else:
                dot = np.einsum("ij,ij->i", a, b)
                den = np.einsum("ij,ij->i", a, a) + np.einsum("ij,ij->i", b, b) - dot
                d = np.where(den > 0, 1.0 - dot / np.where(den > 0, den, 1.0), 0.0)
            out += self.coef[k] * d
        return out

    def constrain(self, be, W):
        """``W`` (a backend array) with every cosine layer's block at unit norm."""
        if not self.has_cosine:
            return W
        W = W.clone() if hasattr(W, "clone") else np.array(W)
        for k, metric in enumerate(self.metrics):
            if metric == "cosine":
                c = self.cols[k]
                c = c if isinstance(c, slice) else c.tolist()
                W[:, c] = be.normalize_rows(W[:, c])
        return W

    def restrict(self, names):
        """``(columns, metric)``: the given layers alone, on their own columns.

        ``columns`` are the positions of those layers' columns in the full
        table, in layer order; the returned metric indexes the reduced table
        and renormalises the coefficients to sum to one.
        """
        keep = [self.names.index(n) for n in names]
        cols = np.concatenate([self.index[k] for k in keep])
        index, start = [], 0
        for k in keep:
            index.append(np.arange(start, start + len(self.index[k])))
            start += len(self.index[k])
        coef = self.coef[keep]
        total = coef.sum()
        coef = coef / total if total > 0 else coef
        sub = LayerMetric(
            [self.names[k] for k in keep],
            [self.metrics[k] for k in keep],
            index,
            coef,
            len(cols),
        )
        return cols, sub


def is_layered(metric):
    """Whether ``metric`` is a :class:`LayerMetric` (not a metric name)."""
    return isinstance(metric, LayerMetric)


class Layout:
    """The fitted layers of a map: columns, metrics, weights and scales.

    ``scales[l]`` is the layer's mean distance on the training data (its
    normalisation); :meth:`metric` gives the :class:`LayerMetric` of the
    training search (every layer) or of the prediction search (layers with
    ``predict=True``).
    """

    def __init__(self, names, metrics, index, weights, predict, scales, n_features):
        self.names = tuple(str(n) for n in names)
        self.metrics = tuple(str(m) for m in metrics)
        self.index = [np.asarray(i, dtype=np.int64) for i in index]
        self.weights = np.asarray(weights, dtype=np.float64)
        self.predict = np.asarray(predict, dtype=bool)
        self.scales = np.asarray(scales, dtype=np.float64)
        self.n_features = int(n_features)

    def coefficients(self, train=True):
        """Per-layer ``a_l`` of the training or of the prediction search."""
        use = self.weights > 0
        if not train:
            use &= self.predict
        raw = np.zeros(len(self.names))
        raw[use] = self.weights[use] / self.scales[use]
        total = raw.sum()
        return raw / total if total > 0 else raw

    def metric(self, train=True):
        """The :class:`LayerMetric` of the training or prediction search."""
        return LayerMetric(
            self.names,
            self.metrics,
            self.index,
            self.coefficients(train),
            self.n_features,
        )

    def restrict(self, names):
        """The given layers alone, their columns renumbered from 0 in order."""
        keep = [self.names.index(n) for n in names]
        index, start = [], 0
        for k in keep:
            index.append(np.arange(start, start + len(self.index[k])))
            start += len(self.index[k])
        return Layout(
            [self.names[k] for k in keep],
            [self.metrics[k] for k in keep],
            index,
            self.weights[keep],
            self.predict[keep],
            self.scales[keep],
            start,
        )

    def to_state(self):
        """``(meta, arrays)`` for a model file."""
        meta = {
            "names": list(self.names),
            "metrics": list(self.metrics),
            "weights": self.weights.tolist(),
            "predict": self.predict.tolist(),
            "scales": self.scales.tolist(),
            "n_features": self.n_features,
        }
        arrays = {f"layer_index_{k}": i for k, i in enumerate(self.index)}
        return meta, arrays

    @classmethod
    def from_state(cls, meta, arrays):
        """Inverse of :meth:`to_state` (validated)."""
        names = list(meta["names"])
        for m in meta["metrics"]:
            check_choice("layer metric", m, LAYER_METRICS)
        index = [np.asarray(arrays[f"layer_index_{k}"]) for k in range(len(names))]
        lay = cls(
            names,
            meta["metrics"],
            index,
            meta["weights"],
            meta["predict"],
            meta["scales"],
            meta["n_features"],
        )
        seen = np.sort(np.concatenate(lay.index)) if index else np.zeros(0)
        if not np.array_equal(seen, np.arange(lay.n_features)):
            raise ValueError("the layers do not cover the columns exactly once")
        return lay


# ---------------------------------------------------------------- fitting
def _check_layer(layer, k):
    if not isinstance(layer, Layer):
        raise TypeError(
            f"layers must be a list of somkit.Layer, got {type(layer).__name__} "
            f"at position {k}."
        )
    if not isinstance(layer.name, str) or not layer.name:
        raise ValueError(f"Layer name must be a non-empty string, got {layer.name!r}.")
    check_choice(f"metric of layer {layer.name!r}", layer.metric, LAYER_METRICS)
    w = layer.weight
    if (
        not isinstance(w, Real)
        or isinstance(w, bool)
        or not (np.isfinite(w) and w >= 0)
    ):
        raise ValueError(
            f"weight of layer {layer.name!r} must be a finite number >= 0, got {w!r}."
        )
    if not isinstance(layer.predict, bool | np.bool_):
        raise ValueError(
            f"predict of layer {layer.name!r} must be True or False, "
            f"got {layer.predict!r}."
        )


def _columns(layer, start, n_features, feature_names):
    cols = layer.columns
    where = f"columns of layer {layer.name!r}"
    if isinstance(cols, Integral) and not isinstance(cols, bool):
        if cols < 1 or start + cols > n_features:
            raise ValueError(
                f"{where}: {cols} columns after column {start} do not fit in "
                f"{n_features} features."
            )
        return np.arange(start, start + int(cols))
    if isinstance(cols, slice):
        return np.arange(n_features)[cols]
    if isinstance(cols, str) or not hasattr(cols, "__len__"):
        raise ValueError(
            f"{where} must be an int, a slice or a list of positions or names, "
            f"got {cols!r}."
        )
    cols = list(cols)
    if cols and all(isinstance(c, str) for c in cols):
        if feature_names is None:
            raise ValueError(f"{where} are names, but X has no column names.")
        names = [str(n) for n in feature_names]
        missing = [c for c in cols if c not in names]
        if missing:
            raise ValueError(f"{where}: no such columns {missing}.")
        return np.array([names.index(c) for c in cols], dtype=np.int64)
    arr = np.asarray(cols)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{where} must be positions (ints) or names, got {cols!r}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n_features):
        raise ValueError(f"{where}: positions must be in [0, {n_features}).")
    return arr.astype(np.int64)


def resolve_layers(layers, n_features, feature_names=None):
    """Validated layers as ``(names, metrics, index, weights, predict)``."""
    if isinstance(layers, Layer) or not isinstance(layers, list | tuple) or not layers:
        raise ValueError(
            f"layers must be None or a non-empty list of somkit.Layer, got {layers!r}."
        )
    index, start = [], 0
    for k, layer in enumerate(layers):
        _check_layer(layer, k)
        cols = _columns(layer, start, n_features, feature_names)
        if len(cols) == 0:
            raise ValueError(f"layer {layer.name!r} has no columns.")
        index.append(cols)
        start = int(cols.max()) + 1
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be unique, got {names}.")
    every = np.sort(np.concatenate(index))
    if not np.array_equal(every, np.arange(n_features)):
        raise ValueError(
            f"the layers must cover each of the {n_features} columns exactly once; "
            f"they cover {len(every)} positions ({len(np.unique(every))} distinct)."
        )
    weights = [float(layer.weight) for layer in layers]
    if not any(w > 0 for w in weights):
        raise ValueError("at least one layer needs a weight > 0.")
    predict = [bool(layer.predict) for layer in layers]
    if not any(w > 0 and p for w, p in zip(weights, predict, strict=True)):
        raise ValueError(
            "at least one layer with weight > 0 must have predict=True (the "
            "search at prediction time needs a layer)."
        )
    return names, [layer.metric for layer in layers], index, weights, predict


def _sample_rows(X, sample_weight, rng):
    """Up to SCALE_ROWS rows of X (numpy, float64) and their weights."""
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    if n > SCALE_ROWS:
        rows = np.sort(rng.choice(n, SCALE_ROWS, replace=False))
        part, w = X[rows], w[rows]
    else:
        part = X
    if hasattr(part, "compute"):  # a dask array
        part = part.compute()
    return np.asarray(part, dtype=np.float64), w


def fit_layout(layers, X, sample_weight, rng, feature_names=None):
    """The :class:`Layout` of ``layers`` on training data X (numpy or dask).

    Each layer's scale is its weighted mean distance over all ordered pairs of
    the sampled rows (self-pairs included), ``sum_ij w_i w_j d_ij /
    (sum_i w_i)^2``: a row of weight 2 counts as the same row twice.

    Raises ValueError for a tanimoto layer with negative values, or a layer
    of positive weight whose rows are all equal (mean distance 0).
    """
    n_features = X.shape[1]
    names, metrics, index, weights, predict = resolve_layers(
        layers, n_features, feature_names
    )
    for k, metric in enumerate(metrics):
        if metric == "tanimoto":
            low = X[:, index[k]].min()
            low = float(low.compute() if hasattr(low, "compute") else low)
            if low < 0:
                raise ValueError(
                    f"layer {names[k]!r} uses the tanimoto distance, which needs "
                    f"non-negative values (binary or one-hot); its minimum is {low}."
                )
    S, w = _sample_rows(X, sample_weight, rng)
    total = w.sum()
    scales = np.zeros(len(names))
    for k, metric in enumerate(metrics):
        block = S[:, index[k]]
        D = layer_distances(block, block, metric)
        scales[k] = float(w @ D @ w) / (total * total)
        if weights[k] > 0 and not scales[k] > 0:
            raise ValueError(
                f"layer {names[k]!r} is constant on the training data (mean "
                "distance 0): it cannot be normalised; give it weight 0."
            )
    return Layout(names, metrics, index, weights, predict, scales, n_features)


# ------------------------------------------------------- the estimator part
def search_metric(som, train=False):
    """What a fitted map searches with: its metric name or its LayerMetric."""
    fn = getattr(som, "_search_metric", None)
    return som.metric if fn is None else fn(train)


class NumpyRows:
    """What :meth:`LayerMetric.constrain` needs of a backend, for numpy arrays."""

    @staticmethod
    def normalize_rows(A):
        from somkit._kernels._distances import normalize_rows

        return normalize_rows(A)


class LayeredMixin:
    """The ``layers`` parameter of :class:`somkit.SOM` (kept out of ``_som``).

    Fitted maps with layers hold ``layers_`` (a :class:`Layout`); every pass
    over the data searches with :meth:`_search_metric`.
    """

    def _search_metric(self, train=False):
        """The metric name, or the LayerMetric of training / prediction."""
        layout = getattr(self, "layers_", None)
        return self.metric if layout is None else layout.metric(train)

    def _check_layers_param(self):
        if self.layers is not None and self.metric != "euclidean":
            raise ValueError(
                f"metric={self.metric!r} applies to maps without layers; with "
                "layers give each Layer its own metric (and leave metric at "
                "'euclidean')."
            )

    def _fit_layers(self, X, sample_weight, rng, W):
        """Fit ``layers_`` on X; return the initial codebook ``W`` constrained."""
        if self.layers is None:
            if hasattr(self, "layers_"):
                del self.layers_
            return W
        names = getattr(self, "feature_names_in_", None)
        self.layers_ = fit_layout(self.layers, X, sample_weight, rng, names)
        return self.layers_.metric(True).constrain(NumpyRows, W)

    def _layers_to_state(self, meta, arrays):
        layout = getattr(self, "layers_", None)
        if layout is not None:
            meta["layers"], more = layout.to_state()
            arrays.update(more)

    def _layers_from_state(self, meta, arrays):
        if meta.get("layers") is not None:
            self.layers_ = Layout.from_state(meta["layers"], arrays)
        elif hasattr(self, "layers_"):
            del self.layers_
