"""The SOM estimator: parameter validation and orchestration only."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from somkit import _kernels
from somkit._grid import Grid
from somkit._init import INITS, finish_init, init_codebook
from somkit._kernels import METRICS
from somkit._neighborhood import KERNELS
from somkit._schedules import LinearDecay, as_schedule
from somkit._train import TrainPlan, empty_history, run_epochs

ALGORITHMS = ("batch", "online", "minibatch")
BACKENDS = ("auto", "numpy", "torch", "dask")
DTYPES = ("float32", "float64")
#: Share of training samples closer to their unit than the outlier threshold.
OUTLIER_QUANTILE = 99.0


def default_radius(grid):
    """The radius schedule used when ``radius=None``.

    Linear decay from a quarter of the largest grid side (at least 1) to 1.5
    grid units (or the start value if smaller). With the PCA initialisation
    the map starts ordered, so a moderate start radius keeps it ordered while
    the small end radius lets units fit the data closely.
    """
    side = max(grid.shape)
    start = max(side / 4.0, 1.0)
    return LinearDecay(start, min(1.5, start))


def auto_grid(X, sample_weight=None):
    """Grid shape chosen from the data, as in the SOM Toolbox.

    About ``5 * sqrt(n_samples)`` units (n_samples = total sample weight when
    weights are given, so weights act like repeated rows); the ratio of the
    two sides is the ratio of the standard deviations along the two leading
    principal components (largest side first).
    """
    from somkit._init import _weighted_moments

    n = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    munits = max(4, int(round(5 * math.sqrt(n))))
    if X.shape[1] < 2:
        return (munits,)
    _, cov = _weighted_moments(X, sample_weight)
    ev = np.sort(np.maximum(np.linalg.eigvalsh(cov), 0))[::-1]
    ratio = math.sqrt(ev[0] / ev[1]) if ev[1] > 0 else float(munits)
    ratio = min(max(ratio, 1.0), float(munits))
    rows = max(1, int(round(math.sqrt(munits * ratio))))
    cols = max(1, int(round(munits / rows)))
    return (rows, cols) if cols > 1 else (rows,)


class SOM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Self-organizing map (Kohonen map).

    Parameters
    ----------
    grid : int, tuple of 1 to 3 ints, or "auto", default=(20, 20)
        Map shape. An int gives a 1-D chain; "auto" chooses about
        ``5 * sqrt(n_samples)`` units with sides in the ratio of the data's
        two leading principal components.
    topology : {"rect", "hex"}, default="rect"
        Square or hexagonal lattice (hex: 2-D only, odd rows shifted right by
        half a cell, six neighbours at distance 1).
    periodic : bool, default=False
        Wrap the map edges (toroid). A periodic hex map needs an even number
        of rows.
    metric : {"euclidean", "cosine", "dot", "manhattan", "chebyshev"}, \
default="euclidean"
        Distance used to find the best-matching unit (BMU). "cosine" keeps
        codebook rows at unit norm; "dot" picks the largest inner product.
    neighborhood : {"gaussian", "bubble", "cut_gaussian", "mexican_hat", \
"triangle", "epanechnikov"}, default="gaussian"
        Neighbourhood kernel h(d, sigma) over grid distances d.
    radius : None, float, (start, end) or Schedule, default=None
        Kernel width sigma in grid units. A float is constant, a pair decays
        linearly; ``0`` means winner-only (competitive, k-means-like)
        learning. None uses :func:`default_radius`: linear from a quarter of
        the largest grid side to 1.5.
    learning_rate : float, (start, end) or Schedule, default=(0.5, 0.01)
        Step size of the online and minibatch rules (linear decay for a
        pair); ignored by the batch rule.
    algorithm : {"batch", "online", "minibatch"}, default="batch"
        Kohonen's batch map, the sequential rule (numba), or minibatch steps.
    n_epochs : int, default=10
        Passes over the data. Online and minibatch advance the schedules per
        sample / per minibatch, batch per epoch.
    batch_size : int or None, default=None
        Rows per chunk (batch) or per minibatch (minibatch, default 256).
        Memory stays bounded by chunk-sized blocks.
    init : {"pca", "sample", "random"} or array of shape (n_units, n_features), \
default="pca"
        Codebook initialisation. "pca" spreads the grid over the leading
        principal components scaled by their standard deviations.
    shuffle : bool, default=True
        Present samples in random order (online, minibatch).
    backend : {"auto", "numpy", "torch", "dask"}, default="auto"
        Array kernels; "auto" picks by input type (torch tensor -> torch,
        dask array -> dask, else numpy).
    device : str or None, default=None
        Torch device ("cpu", "cuda", ...), torch backend only.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the codebook and of the computation (sums accumulate in
        float64).
    random_state : int, RandomState, Generator or None, default=None
        Seed of the local generator (sample init, shuffling).
    verbose : int, default=0
        0 prints nothing; 1 shows a progress bar with QE and radius.
    callbacks : list of callables or None, default=None
        Called after each epoch as ``cb(som, epoch, logs)``; returning
        ``False`` stops training.

    Attributes
    ----------
    codebook_ : ndarray of shape (n_units, n_features)
        Unit weight vectors, row-major over the grid.
    cluster_centers_ : ndarray of shape (n_units, n_features)
        The same array as ``codebook_`` (scikit-learn's name).
    labels_ : ndarray of shape (n_samples,)
        BMU of each training sample for the final codebook.
    grid_ : Grid
        Map geometry (positions, distances, adjacency).
    n_iter_ : int
        Epochs run in total (``partial_fit`` calls add one each).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a frame with string column names.
    history_ : dict of lists
        Per epoch: "epoch", "radius", "learning_rate", "quantization_error",
        "topographic_error" and "seconds". The errors are measured in the
        epoch's own BMU searches: batch, on the codebook entering the epoch;
        online and minibatch, on each sample just before its own step.
    outlier_threshold_ : float
        99th (weighted) percentile of the training samples' distance to their
        BMU; :meth:`decision_function` is negative beyond it.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM
    >>> X = load_iris().data
    >>> som = SOM(grid=(6, 6), random_state=0).fit(X)
    >>> som.codebook_.shape
    (36, 4)
    >>> som.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        grid=(20, 20),
        topology="rect",
        periodic=False,
        metric="euclidean",
        neighborhood="gaussian",
        radius=None,
        learning_rate=(0.5, 0.01),
        algorithm="batch",
        n_epochs=10,
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
        self.topology = topology
        self.periodic = periodic
        self.metric = metric
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

    # ------------------------------------------------------------ validation
    def _check_params(self):
        def choice(name, value, allowed):
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")

        choice("topology", self.topology, ("rect", "hex"))
        choice("metric", self.metric, METRICS)
        choice("neighborhood", self.neighborhood, KERNELS)
        choice("algorithm", self.algorithm, ALGORITHMS)
        choice("backend", self.backend, BACKENDS)
        if not isinstance(self.periodic, bool | np.bool_):
            raise ValueError(f"periodic must be True or False, got {self.periodic!r}.")
        if not isinstance(self.shuffle, bool | np.bool_):
            raise ValueError(f"shuffle must be True or False, got {self.shuffle!r}.")
        if (
            not isinstance(self.n_epochs, Integral)
            or isinstance(self.n_epochs, bool)
            or self.n_epochs < 1
        ):
            raise ValueError(f"n_epochs must be an int >= 1, got {self.n_epochs!r}.")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, Integral)
            or isinstance(self.batch_size, bool)
            or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size must be None or an int >= 1, got {self.batch_size!r}."
            )
        if not isinstance(self.verbose, Integral) or self.verbose < 0:
            raise ValueError(f"verbose must be an int >= 0, got {self.verbose!r}.")
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype.name not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}.")
        if isinstance(self.init, str):
            choice("init", self.init, INITS)
        if self.callbacks is not None and not all(callable(c) for c in self.callbacks):
            raise TypeError("callbacks must be a list of callables (som, epoch, logs).")
        if self.device is not None and not isinstance(self.device, str):
            raise TypeError(f"device must be a string or None, got {self.device!r}.")
        if isinstance(self.radius, Real) and not isinstance(self.radius, bool):
            if not self.radius >= 0:
                raise ValueError(f"radius must be >= 0, got {self.radius!r}.")
        as_schedule(self.learning_rate, "learning_rate", None)
        return dtype

    def _make_grid(self, X, sample_weight=None):
        shape = self.grid
        if isinstance(shape, str):
            if shape != "auto":
                raise ValueError(
                    "grid must be an int, a tuple of 1 to 3 positive ints or "
                    f"'auto'; got {shape!r}."
                )
            shape = auto_grid(X, sample_weight)
            if self.topology == "hex" and len(shape) == 1:
                shape = (2, max(1, shape[0] // 2))
            if self.topology == "hex" and self.periodic and shape[0] % 2:
                shape = (shape[0] + 1, shape[1])
        return Grid(shape, self.topology, bool(self.periodic))

    def _resolve_backend(self, X):
        name = self.backend
        if name == "auto":
            mod = type(X).__module__
            # CPU tensors train faster on the numpy kernels; only tensors on
            # an accelerator pick the torch backend.
            if mod.startswith("torch") and X.device.type != "cpu":
                name = "torch"
            elif mod.startswith("dask"):
                name = "dask"
            else:
                name = "numpy"
        if name == "numpy":
            return name, _kernels
        if name == "torch":
            from somkit._backends import torch as torch_backend

            return name, torch_backend.make_backend(self.device)
        from somkit._backends import dask as dask_backend

        return name, dask_backend.make_backend()

    def _validate_X(self, X, reset, dtype=None):
        """Check X; return (X as array-like, native input) for the backend."""
        native = X
        mod = type(X).__module__
        if mod.startswith("torch"):
            X = X.detach().cpu().numpy()
        elif mod.startswith("dask"):
            return self._validate_dask(X, reset), native
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32] if dtype is None else dtype,
            ensure_min_samples=1,
        )
        return X, native

    def _validate_dask(self, X, reset):
        if X.ndim != 2:
            raise ValueError(
                f"Expected a 2D array, got a {X.ndim}D dask array; reshape your data."
            )
        if reset:
            self.n_features_in_ = int(X.shape[1])
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but SOM is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    # -------------------------------------------------------------- training
    def _plan(self, dtype, backend, rng):
        return TrainPlan(
            grid=self.grid_,
            metric=self.metric,
            kernel=self.neighborhood,
            radius=self._radius_schedule_,
            learning_rate=as_schedule(self.learning_rate, "learning_rate", None),
            algorithm=self.algorithm,
            total_epochs=int(self.n_epochs),
            batch_size=self.batch_size,
            shuffle=bool(self.shuffle),
            rng=rng,
            backend=backend,
            verbose=int(self.verbose),
            callbacks=list(self.callbacks or []),
        )

    def _initialize(self, X, sample_weight, dtype, rng):
        self.grid_ = self._make_grid(X, sample_weight)
        self._radius_schedule_ = as_schedule(
            self.radius, "radius", default_radius(self.grid_)
        )
        init = self.init
        if not isinstance(init, str):
            init = np.asarray(init)
            expected = (self.grid_.n_units, X.shape[1])
            if init.shape != expected or not np.issubdtype(init.dtype, np.number):
                raise ValueError(
                    f"init array must be numeric with shape (n_units, n_features) "
                    f"= {expected}, got shape {init.shape}."
                )
            if not np.all(np.isfinite(init)):
                raise ValueError("init array must not contain NaN or inf.")
        W, low_rank = init_codebook(
            X, self.grid_, init, rng, sample_weight, factored=True
        )
        if low_rank is not None and self.metric == "cosine":
            low_rank = low_rank.unit_rows()
        return finish_init(W, self.metric).astype(dtype), low_rank

    def fit(self, X, y=None, sample_weight=None):
        """Train the map on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: arrays, frames, memmaps, torch tensors or dask
            arrays (with the extras).
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (batch rule: weighted means; online and
            minibatch: scaled steps).

        Returns
        -------
        self : SOM
        """
        dtype = self._check_params()
        X, native = self._validate_X(X, reset=True)
        sample_weight = self._check_weight(sample_weight, X)
        rng = _rng(self.random_state)
        W, low_rank = self._initialize(X, sample_weight, dtype, rng)
        _, backend = self._resolve_backend(native)
        self.history_ = empty_history()
        plan = self._plan(dtype, backend, rng)
        W, done = run_epochs(
            W,
            X,
            sample_weight,
            plan,
            0,
            int(self.n_epochs),
            self.history_,
            som=self,
            low_rank=low_rank if backend is _kernels else None,
        )
        self.n_iter_ = int(done)
        self._set_codebook(W)
        self._finish(X, sample_weight, backend)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Run one epoch on X, continuing the schedules where they stopped.

        The first call initialises the map from X. Schedules run over
        ``n_epochs`` calls and then stay at their end values, so a stream of
        batches can be fed indefinitely; a saved and reloaded map resumes
        at the same schedule position.

        Returns
        -------
        self : SOM
        """
        first = not hasattr(self, "codebook_")
        dtype = self._check_params()
        X, native = self._validate_X(X, reset=first)
        sample_weight = self._check_weight(sample_weight, X)
        rng = _rng(self.random_state, getattr(self, "n_iter_", 0))
        low_rank = None
        if first:
            W, low_rank = self._initialize(X, sample_weight, dtype, rng)
            self.history_ = empty_history()
            self.n_iter_ = 0
        else:
            W = self.codebook_.astype(dtype)
        _, backend = self._resolve_backend(native)
        plan = self._plan(dtype, backend, rng)
        W, done = run_epochs(
            W,
            X,
            sample_weight,
            plan,
            self.n_iter_,
            1,
            self.history_,
            som=self,
            low_rank=low_rank if backend is _kernels else None,
        )
        self.n_iter_ += int(done)
        self._set_codebook(W)
        self._finish(X, sample_weight, backend)
        return self

    def _check_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        sw = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        return sw

    def _set_codebook(self, W):
        self.codebook_ = np.ascontiguousarray(W)
        self.cluster_centers_ = self.codebook_
        self._n_features_out = self.codebook_.shape[0]

    def _finish(self, X, sample_weight, backend):
        idx, dist = backend.bmu(
            X, self.codebook_, self.metric, batch_size=self.batch_size
        )
        self.labels_ = idx
        w = None if sample_weight is None else sample_weight
        keep = slice(None) if w is None else w > 0
        self.outlier_threshold_ = float(
            np.percentile(
                dist[keep],
                OUTLIER_QUANTILE,
                method="inverted_cdf",
                weights=None if w is None else w[keep],
            )
        )

    # ------------------------------------------------------------ inference
    def _check_predict_X(self, X):
        check_is_fitted(self, "codebook_")
        X, native = self._validate_X(X, reset=False)
        return X, native

    def _bmu(self, X, second=False):
        X, native = self._check_predict_X(X)
        backend = _kernels
        if self.backend == "torch" or type(native).__module__.startswith("torch"):
            try:
                backend = self._resolve_backend(native)[1]
            except ImportError:
                # A map trained on a GPU still predicts where torch is absent.
                backend = _kernels
        return backend.bmu(
            X, self.codebook_, self.metric, second=second, batch_size=self.batch_size
        )

    def predict(self, X):
        """Flat index of each sample's best-matching unit (ties -> lowest index).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
        """
        return self._bmu(X)[0]

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the BMU of each training sample (``labels_``)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def bmu_coords(self, X):
        """Grid coordinates (row, col[, depth]) of each sample's BMU."""
        return self.grid_.index_to_coords(self.predict(X))

    def transform(self, X):
        """Distance of each sample to every unit, in the map's metric.

        Euclidean distances are plain (not squared). The result follows the
        input's precision: float32 in, float32 out; otherwise float64.

        Returns
        -------
        D : ndarray of shape (n_samples, n_units)
        """
        X, _ = self._check_predict_X(X)
        out_dtype = np.float32 if X.dtype == np.float32 else np.float64
        W = self.codebook_
        n = X.shape[0]
        D = np.empty((n, W.shape[0]), dtype=out_dtype)
        rows = _kernels.chunk_rows(W.shape[0], self.batch_size)
        for a in range(0, n, rows):
            D[a : a + rows] = _kernels.pairwise_distances(
                np.asarray(X[a : a + rows]), W, self.metric
            )
        return D

    def score_samples(self, X):
        """Minus the distance to the BMU (higher = more typical)."""
        return -self._bmu(X)[1]

    def decision_function(self, X):
        """Positive for samples closer to their unit than ``outlier_threshold_``.

        ``outlier_threshold_ - distance to BMU``: negative values flag samples
        farther from the map than 99% of the training data.
        """
        check_is_fitted(self, "codebook_")
        return self.outlier_threshold_ + self.score_samples(X)

    def score(self, X, y=None, sample_weight=None):
        """Minus the (weighted) quantization error on X."""
        from somkit.metrics import quantization_error

        return -quantization_error(self, X, sample_weight=sample_weight)

    def quantization_error(self, X, sample_weight=None):
        """Mean distance of the samples to their BMU."""
        from somkit.metrics import quantization_error

        return quantization_error(self, X, sample_weight=sample_weight)

    def topographic_error(self, X, adjacency="edges", sample_weight=None):
        """Share of samples whose two best units are not adjacent."""
        from somkit.metrics import topographic_error

        return topographic_error(
            self, X, adjacency=adjacency, sample_weight=sample_weight
        )

    def save(self, path):
        """Write the fitted map to ``path`` (.npz + JSON metadata, no pickle)."""
        from somkit._io import save

        save(self, path)
        return path

    @property
    def n_units(self):
        """Number of units of the fitted map."""
        check_is_fitted(self, "codebook_")
        return self.grid_.n_units

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _rng(random_state, step=0):
    """A local numpy Generator from any ``random_state`` (never the global one).

    ``step`` separates the streams of successive ``partial_fit`` calls.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng([int(random_state.randint(2**31 - 1)), step])
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return np.random.default_rng([int(random_state), step])
    raise ValueError(
        "random_state must be None, an int, a RandomState or a Generator; got "
        f"{random_state!r}."
    )
