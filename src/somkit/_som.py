"""The SOM estimator: parameter validation and orchestration only.

Every computation goes through a backend picked by
:func:`somkit._backends.resolve` (numpy, torch or dask), and training through
the driver :func:`somkit._train.run_epochs`. The fitted state is read and
written through :meth:`SOM._get_state` / :meth:`SOM._set_state`, so the
model-file code (``somkit._io``, ``somkit._model``) needs no estimator
internals.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
)

from somkit._backends import input_kind, resolve
from somkit._init import make_grid
from somkit._layers import LayeredMixin
from somkit._missing import (
    check_weight,
    scale_warning,
    validate_array,
    validate_dask,
)
from somkit._numeric import check_batch
from somkit._registry import (
    ADJACENCIES,
    ALGORITHMS,
    BACKENDS,
    DTYPES,
    INITS,
    METRICS,
    MISSING,
    NEIGHBORHOODS,
    SCHEDULES,
    TOPOLOGIES,
    check_choice,
)
from somkit._repr import SOMBase
from somkit._rules import FULL_EPOCHS, fit_schedule
from somkit._rules import make_rng as _rng
from somkit._runs import RunsMixin
from somkit._schedules import as_schedule, check_radius, check_rate
from somkit._streaming import StreamingMixin
from somkit._train import TrainPlan, empty_history


class SOM(RunsMixin, StreamingMixin, LayeredMixin, SOMBase):
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
        learning; values are 0 or at least 0.01. None: the default schedule
        (see ``schedule``), or else :func:`somkit._rules.default_radius`,
        linear from a quarter of the largest grid side to 1.5.
    learning_rate : float, (start, end) or Schedule, default=(0.5, 0.01)
        Step size of the online and minibatch rules (linear decay for a
        pair), in (0, 1] (a decay may end at 0); ignored by the batch rule.
    algorithm : {"batch", "online", "minibatch"}, default="batch"
        Kohonen's batch map, the sequential rule (numba), or minibatch steps.
    n_epochs : int or None, default=None
        Epochs, each a pass over all the data. Online and minibatch advance
        the schedules per sample / per minibatch, batch per epoch. None: the
        default schedule (see ``schedule``), or else 10 epochs.
    schedule : {"auto", "full"}, default="auto"
        "auto": with ``n_epochs`` and ``radius`` None and the batch rule,
        train rough-then-fine (:func:`somkit._rules.auto_schedule`): 20
        ordering epochs, radius from a quarter of the longest side to 1.5,
        on random subsamples growing to ``max(5000, 4 * n_units)`` rows (a
        wide kernel averages many samples per unit), then 2 epochs on every
        row, radius to 1.0 (1.5 with few rows per unit): 3 reads of the data
        (with the ``labels_`` pass) however large; smaller data get 22
        epochs on every row. Explicit ``n_epochs``/``radius`` (or another
        rule) train exactly as set, every epoch on every row; "full": always
        so (``n_epochs=None``: 10).
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
        Where the work runs, for every method. "auto" picks by input type:
        a dask array -> dask, a torch tensor on an accelerator (or a given
        ``device``) -> torch, anything else -> numpy. A combination that
        cannot run (online on torch or dask, dask input on numpy, an absent
        device) raises ValueError; nothing runs elsewhere than asked.
        Output follows input: numpy arrays for numpy and torch input, lazy
        dask arrays for dask input.
    device : str or None, default=None
        Torch device ("cpu", "cuda", ...), torch backend only (default: the
        input tensor's device, else "cuda" when available, else "cpu").
    dtype : {"float32", "float64"}, default="float32"
        Precision of the codebook and of the computation (sums accumulate in
        float64). Any finite data whose squared distances fit in float64
        trains like the same data at unit scale: data this precision cannot
        hold (offsets, huge or tiny values) is centred and scaled for the
        computation and ``codebook_`` mapped back in float64 (the rule is in
        :mod:`somkit._numeric`); beyond float64 a ValueError says why.
    missing : {"error", "ignore"}, default="error"
        Holes (NaN) in the data. "error" refuses them. "ignore" measures each
        sample over its observed features: euclidean and manhattan sums are
        rescaled by ``n_features / n_observed`` (as the SOM Toolbox and R's
        kohonen), chebyshev is the largest observed difference, cosine the
        cosine of the observed parts, dot the rescaled observed product;
        training moves units along observed features only. A sample with no
        observed feature is refused. See also :func:`somkit.impute`.
    random_state : int, RandomState, Generator or None, default=None
        Seed of the local generator (sample init, shuffling).
    verbose : int, default=0
        0 prints nothing; 1 shows a progress bar with QE and radius.
    callbacks : list of callables or None, default=None
        Called after each epoch as ``cb(som, epoch, logs)`` (``logs``: the
        epoch's ``history_`` row and "n_epochs", the planned count); returning
        ``False`` stops training.
    layers : list of Layer or None, default=None
        Named blocks of columns with their own metric and weight
        (:class:`somkit.Layer`): the BMU minimises the weighted sum of the
        layers' normalised distances (kohonen's supersom; see
        ``somkit._layers``). ``metric`` must then stay "euclidean" (unused).

    Attributes
    ----------
    codebook_ : ndarray of shape (n_units, n_features)
        Unit weight vectors, row-major over the grid.
    cluster_centers_ : ndarray of shape (n_units, n_features)
        The same array as ``codebook_`` (scikit-learn's name).
    labels_ : ndarray of shape (n_samples,)
        BMU of each training sample for the final codebook (not set by
        :meth:`fit_stream`).
    grid_ : Grid
        Map geometry (positions, distances, adjacency).
    n_iter_ : int
        Epochs run in total (``partial_fit`` calls add one each).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a frame with string column names.
    history_ : dict of lists
        Per epoch: "epoch", "radius", "learning_rate", "quantization_error",
        "topographic_error", "seconds" and "rows" (rows the epoch read: fewer
        than n_samples in the subsampled epochs of the default schedule).
        The errors are measured in the epoch's own BMU searches: batch, on
        the codebook entering the epoch (and its rows); online and
        minibatch, on each sample just before its own step.
    n_full_passes_ : int
        Passes over all training rows of the last ``fit`` / ``partial_fit``:
        epochs that read every row and the pass that sets ``labels_`` (an
        init from all rows adds its own: "pca" two, one on dask).
    outlier_threshold_ : float
        99th (weighted) percentile of the training samples' distance to their
        BMU; :meth:`decision_function` is negative beyond it.
    fit_backend_ : str
        Where the last training call ran, e.g. "numpy" or "torch on cuda:0".
    layers_ : Layout
        Only with ``layers``: the fitted layers (columns, metrics, weights
        and each layer's mean distance on the training data).

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
        *,
        topology="rect",
        periodic=False,
        metric="euclidean",
        neighborhood="gaussian",
        radius=None,
        learning_rate=(0.5, 0.01),
        algorithm="batch",
        n_epochs=None,
        schedule="auto",
        batch_size=None,
        init="pca",
        shuffle=True,
        backend="auto",
        device=None,
        dtype="float32",
        missing="error",
        random_state=None,
        verbose=0,
        callbacks=None,
        layers=None,
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
        self.schedule = schedule
        self.batch_size = batch_size
        self.init = init
        self.shuffle = shuffle
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.missing = missing
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.layers = layers

    # ------------------------------------------------------------ validation
    def _check_params(self):
        check_choice("topology", self.topology, TOPOLOGIES)
        check_choice("metric", self.metric, METRICS)
        check_choice("neighborhood", self.neighborhood, NEIGHBORHOODS)
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        check_choice("backend", self.backend, BACKENDS)
        check_choice("missing", self.missing, MISSING)
        if not isinstance(self.periodic, bool | np.bool_):
            raise ValueError(f"periodic must be True or False, got {self.periodic!r}.")
        if not isinstance(self.shuffle, bool | np.bool_):
            raise ValueError(f"shuffle must be True or False, got {self.shuffle!r}.")
        if self.n_epochs is not None and (
            not isinstance(self.n_epochs, Integral)
            or isinstance(self.n_epochs, bool)
            or self.n_epochs < 1
        ):
            raise ValueError(
                f"n_epochs must be None or an int >= 1, got {self.n_epochs!r}."
            )
        check_choice("schedule", self.schedule, SCHEDULES)
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
            check_choice("init", self.init, INITS)
        if self.callbacks is not None and not all(callable(c) for c in self.callbacks):
            raise TypeError("callbacks must be a list of callables (som, epoch, logs).")
        if self.device is not None and not isinstance(self.device, str):
            raise TypeError(f"device must be a string or None, got {self.device!r}.")
        if isinstance(self.radius, Real) and not isinstance(self.radius, bool):
            if not self.radius >= 0:
                raise ValueError(f"radius must be >= 0, got {self.radius!r}.")
        if self.algorithm == "batch":
            as_schedule(self.learning_rate, "learning_rate", None)
        else:
            check_rate(self.learning_rate)
        self._check_layers_param()
        if self.missing == "ignore" and self.layers is not None:
            raise ValueError("missing='ignore' is not available with layers.")
        return dtype

    def _backend_for(self, X, algorithm=None):
        """The backend of this call (see :func:`somkit._backends.resolve`)."""
        return resolve(
            self.backend,
            X,
            device=self.device,
            algorithm=algorithm,
            missing=self.missing,
        )

    def _validate_X(self, X, reset, backend):
        """Check X; return ``(checked, for_backend)``.

        ``checked`` is a numpy array (dask: the lazy array itself) for the
        initialisation and the statistics; ``for_backend`` is what the
        backend computes on: a torch tensor stays a tensor on the torch
        backend, dask stays lazy.
        """
        kind = input_kind(X)
        if kind == "dask":
            X = validate_dask(self, X, reset)
            return X, X
        if kind == "torch":
            checked = validate_array(self, X.detach().cpu().numpy(), reset)
            return checked, X if backend.name == "torch" else checked
        X = validate_array(self, X, reset)
        return X, X

    # -------------------------------------------------------------- training
    def _plan(self, backend, rng, total, rows=None):
        return TrainPlan(
            grid=self.grid_,
            metric=self._search_metric(train=True),
            neighborhood=self.neighborhood,
            radius=self._radius_schedule_,
            learning_rate=as_schedule(self.learning_rate, "learning_rate", None),
            algorithm=self.algorithm,
            total_epochs=int(total),
            batch_size=self.batch_size,
            shuffle=bool(self.shuffle),
            rng=rng,
            backend=backend,
            verbose=int(self.verbose),
            callbacks=list(self.callbacks or []),
            rows=rows,
        )

    def _initialize(
        self, X, sample_weight, dtype, rng, backend, scaling=None, rows=None
    ):
        """Codebook and factors (from ``rows=(X, w)`` if given), layers on X."""
        from somkit._init import init_codebook

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
            if scaling is not None:
                init = scaling.forward(init, np.float64)
        Xi, swi = (X, sample_weight) if rows is None else rows
        W, factored = init_codebook(
            Xi, self.grid_, init, rng, swi, backend, self.metric
        )
        return self._fit_layers(X, sample_weight, rng, W).astype(dtype), factored

    def fit(
        self, X, y=None, sample_weight=None, *, checkpoint=None, checkpoint_every=1
    ):
        """Train the map on X.

        The call is atomic: if it fails or is aborted (a second Ctrl-C), the
        estimator is left exactly as before. One Ctrl-C finishes the current
        epoch, warns, and keeps the map trained so far (``n_iter_`` says
        how far).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: arrays, frames, memmaps, torch tensors or dask
            arrays (with the extras).
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (batch rule: weighted means; online and
            minibatch: scaled steps).
        checkpoint : str or path, default=None
            Save the run to this file (atomically) every ``checkpoint_every``
            epochs, when training stops and on Ctrl-C: the codebook, the
            schedule position and the random stream. :meth:`resume` continues
            it to the same map as an uninterrupted run.
        checkpoint_every : int, default=1

        Returns
        -------
        self : SOM
        """
        from somkit._checkpoint import as_checkpoint

        with self._atomic():
            dtype = self._check_params()
            saver = as_checkpoint(checkpoint, checkpoint_every)
            backend = self._backend_for(X, self.algorithm)
            X, Xb = self._validate_X(X, reset=True, backend=backend)
            sample_weight = check_weight(sample_weight, X.shape[0])
            rng = _rng(self.random_state)
            self._warn_scales(X)
            self._scaling_ = self._choose_scaling(X, dtype)
            Z, Zb = self._scaled(X, Xb, dtype)
            self.grid_ = make_grid(self, Z, sample_weight, backend)
            plan = fit_schedule(self.grid_.shape, X.shape[0], self.get_params())
            self._radius_schedule_, epochs, rows = plan
            check_radius(self._radius_schedule_)
            sub, seed = self._subsample(backend, Zb, sample_weight, rows, rng)
            pca = sub is not None and isinstance(self.init, str) and self.init == "pca"
            W, factored = self._initialize(
                Z,
                sample_weight,
                dtype,
                rng,
                backend,
                self._scaling_,
                sub if pca else None,
            )
            run = (sample_weight, backend, rng, saver, X)
            self._train(
                W,
                Zb,
                Xb,
                run,
                (0, epochs, epochs, rows),
                empty_history(),
                factored,
                (sub, seed),
            )
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Run one epoch on X, continuing the schedules where they stopped.

        The first call initialises the map from X. Schedules run over
        ``n_epochs`` calls (10 when None) and then stay at their end values,
        so a stream of batches can be fed indefinitely; a saved and reloaded
        map resumes at the same schedule position. Every call reads all of
        its X (the default schedule's subsampling is for ``fit``). Atomic
        like :meth:`fit`.

        Returns
        -------
        self : SOM
        """
        with self._atomic():
            first = not hasattr(self, "codebook_")
            dtype = self._check_params()
            backend = self._backend_for(X, self.algorithm)
            X, Xb = self._validate_X(X, reset=first, backend=backend)
            sample_weight = check_weight(sample_weight, X.shape[0])
            rng = _rng(self.random_state, getattr(self, "n_iter_", 0))
            if first:
                self._warn_scales(X)
                self._scaling_ = self._choose_scaling(X, dtype)
            scaling = getattr(self, "_scaling_", None)
            if not first and self.layers is None:
                check_batch(X, scaling, dtype, self.metric)
            Z, Zb = self._scaled(X, Xb, dtype)
            factored = None
            if first:
                self.grid_ = make_grid(self, Z, sample_weight, backend)
                params = {**self.get_params(), "schedule": "full"}
                self._radius_schedule_ = fit_schedule(self.grid_.shape, 0, params)[0]
                check_radius(self._radius_schedule_)
                W, factored = self._initialize(
                    Z, sample_weight, dtype, rng, backend, scaling
                )
                history, start = empty_history(), 0
            else:
                W = self.codebook_
                W = (W if scaling is None else scaling.codebook(W, dtype)).astype(dtype)
                history = {k: list(v) for k, v in self.history_.items()}
                start = self.n_iter_
            run = (sample_weight, backend, rng, None, X)
            total = self.n_epochs or FULL_EPOCHS
            self._train(W, Zb, Xb, run, (start, 1, total, None), history, factored)
        return self

    def _warn_scales(self, X):
        # cosine / dot maps hold embeddings; layered maps scale each layer
        if self.metric not in ("cosine", "dot") and self.layers is None:
            if input_kind(X) == "dask":  # one block's rows, not a pass over X
                X = X.blocks[0]
            scale_warning(X, getattr(self, "feature_names_in_", None), stacklevel=4)

    def _set_codebook(self, W):
        self.codebook_ = np.ascontiguousarray(W)
        self.cluster_centers_ = self.codebook_
        self._n_features_out = self.codebook_.shape[0]

    # ------------------------------------------------------------ inference
    def _prepare(self, X):
        """Checked X and the backend of this call (fitted maps only)."""
        check_is_fitted(self, "codebook_")
        backend = self._backend_for(X)
        return self._validate_X(X, reset=False, backend=backend)[1], backend

    def _bmu(self, X, second=False):
        X, backend = self._prepare(X)
        return self._robust(
            X,
            lambda X, W: backend.bmu(
                X, W, self._search_metric(), second=second, batch_size=self.batch_size
            ),
            "bmu",
        )

    def predict(self, X):
        """Flat index of each sample's best-matching unit (ties -> lowest index).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            A lazy dask array for dask input.
        """
        return self._bmu(X)[0]

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the BMU of each training sample (``labels_``)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def bmu_coords(self, X):
        """Grid coordinates (row, col[, depth]) of each sample's BMU."""
        idx = self.predict(X)
        if input_kind(idx) == "dask":
            idx = idx.compute()
        return self.grid_.index_to_coords(idx)

    def transform(self, X):
        """Distance of each sample to every unit, in the map's metric.

        Euclidean distances are plain (not squared). The result follows the
        input's precision: float32 in, float32 out; otherwise float64.

        Returns
        -------
        D : ndarray of shape (n_samples, n_units)
            A lazy dask array for dask input.
        """
        X, backend = self._prepare(X)
        return self._robust(
            X,
            lambda X, W: backend.distances(
                X, W, self._search_metric(), batch_size=self.batch_size
            ),
            "distances",
        )

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

    def _quality(self, X, sample_weight=None, adjacency=None):
        """QE and TE sums of X from the backend (``somkit.metrics`` uses it).

        Returns ``{"qe_sum", "te_sum", "weight"}``; TE only with an adjacency.
        """
        X, backend = self._prepare(X)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(
                sample_weight, np.empty((X.shape[0], 0)), dtype=np.float64
            )
        return self._robust(
            X,
            lambda X, W: backend.stats(
                X,
                W,
                self._search_metric(),
                sample_weight=sw,
                grid=None if adjacency is None else self.grid_,
                adjacency=adjacency or "edges",
                batch_size=self.batch_size,
            ),
            "stats",
        )

    def score(self, X, y=None, sample_weight=None):
        """Minus the (weighted) quantization error on X."""
        return -self.quantization_error(X, sample_weight=sample_weight)

    def quantization_error(self, X, sample_weight=None):
        """Mean distance of the samples to their BMU (see ``somkit.metrics``)."""
        stats = self._quality(X, sample_weight)
        return float(stats["qe_sum"] / stats["weight"])

    def topographic_error(self, X, adjacency="edges", sample_weight=None):
        """Share of samples whose two best units are not adjacent.

        See :func:`somkit.metrics.topographic_error` for ``adjacency``.
        """
        check_choice("adjacency", adjacency, ADJACENCIES)
        check_is_fitted(self, "codebook_")
        if self.grid_.n_units < 2:
            return 0.0
        stats = self._quality(X, sample_weight, adjacency)
        return float(stats["te_sum"] / stats["weight"])

    # ----------------------------------------------------------- state, files
    def save(self, path):
        """Write the fitted map to ``path`` (.npz + JSON metadata, no pickle).

        See :func:`somkit.save`; ``somkit.load(path)`` reads it back.
        """
        from somkit._io import write_model

        write_model(path, [self._to_step("som")])
        return path

    def _to_step(self, name):
        """This fitted map as one step of a model file (see ``somkit._io``)."""
        from somkit._io import encode

        meta, arrays = self._get_state()
        params = {
            k: encode(v, arrays, f"param__{k}")
            for k, v in self.get_params(deep=False).items()
        }
        return {
            "name": name,
            "class": "SOM",
            "params": params,
            "state": meta,
            "arrays": arrays,
        }

    @classmethod
    def _from_params(cls, step):
        """An unfitted map with the (validated) parameters of a file step."""
        from somkit._io import decode
        from somkit._state import check_som_params

        arrays = step["arrays"]
        raw = {k: decode(v, arrays) for k, v in step["params"].items()}
        som = cls(**check_som_params(raw, cls._get_param_names()))
        try:
            som._check_params()
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        return som

    @classmethod
    def _from_step(cls, step):
        """A fitted map from a model-file step (inverse of :meth:`_to_step`)."""
        return cls._from_params(step)._set_state(step["state"], step["arrays"])

    def _get_state(self):
        """The fitted state as ``(meta, arrays)``: JSON-able values and arrays.

        The inverse of :meth:`_set_state`; parameters are not included
        (``get_params`` gives them). See :mod:`somkit._state`.
        """
        from somkit._state import get_state

        check_is_fitted(self, "codebook_")
        meta, arrays = get_state(self)
        self._layers_to_state(meta, arrays)
        return meta, arrays

    def _set_state(self, meta, arrays):
        """Restore the fitted state written by :meth:`_get_state` (validated)."""
        from somkit._state import read_state

        state = read_state(meta, arrays)
        self._set_codebook(state.pop("codebook_"))
        for name, value in state.items():
            setattr(self, name, value)
        self._layers_from_state(meta, arrays)
        return self

    @property
    def n_units(self):
        """Number of units of the fitted map."""
        check_is_fitted(self, "codebook_")
        return self.grid_.n_units

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "ignore"
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
