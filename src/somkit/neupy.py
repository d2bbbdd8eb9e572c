"""NeuPy's ``SOFM`` with its parameters, for migrating NeuPy code to somkit.

NeuPy (``neupy.algorithms.SOFM``) is unmaintained and does not install on
NumPy 2. :class:`SOFM` takes the same keyword-only parameters and offers the
same methods (``train(X, epochs)``, ``predict`` -> one-hot, ``predict_raw``,
``weight`` of shape ``(n_inputs, n_outputs)``), so a NeuPy script runs after
changing one import::

    # from neupy import algorithms; sofm = algorithms.SOFM(...)
    from somkit.neupy import SOFM
    sofm = SOFM(n_inputs=2, features_grid=(10, 10), learning_radius=2, ...)

The learning rule
-----------------
Samples are presented one at a time (in order, or shuffled every epoch with
``shuffle_data=True``). For a sample ``x`` with winning unit ``c`` (largest
``predict_raw`` score, ties to the lowest index), every neighbour ``j`` of
``c`` moves towards ``x``::

    w_j += step_t * scale(j, c) * (x - w_j)

* rect grids: ``j`` is a neighbour when its integer grid offset from ``c``
  lies in the Euclidean disc ``sum_a (j_a - c_a)**2 <= radius_t**2``, and
  ``scale`` is the mean over the grid axes of
  ``exp(-(j_a - c_a)**2 / (2 * pi * std_t**2))``. This is exactly NeuPy's
  rule; on a 5x5 grid with ``std=1`` the scales along the centre row are
  .7645, .9264, 1, .9264, .7645 and .5291 at the corners.
* hexagon grids (odd rows shifted right by half a cell, as in
  :class:`somkit._grid.Grid`): ``j`` is a neighbour when its ring (hex step)
  distance ``k`` from ``c`` is at most ``radius_t``, and
  ``scale = exp(-k**2 / (2 * pi * std_t**2))``.
* ``std_t == 0`` gives the factor 1 at zero offset and 0 elsewhere (per axis
  on rect grids, as NeuPy does).

With ``epoch`` counted from 1 and carried over between ``train`` calls
(:attr:`SOFM.last_epoch`)::

    radius_t = max(0, learning_radius - epoch // reduce_radius_after)
    step_t   = step / (1 + epoch / reduce_step_after)
    std_t    = std / (1 + epoch / reduce_std_after)

(``None`` disables a decay.) With ``distance="cos"`` updated weight columns
are renormalised to unit length after every update.

NeuPy bugs fixed here
---------------------
* hexagon grids: NeuPy computed the step scale from the one-hot output
  instead of the ring distances, so every neighbour got the same factor
  ``exp(-1 / (2 pi std**2))``; here the scale falls off with the ring
  distance as NeuPy documented.
* ``weight="init_pca"`` divided by zero (NaN weights) on 1-row or 1-column
  grids and ignored the third axis of 3-D grids; here each grid axis with
  more than one unit gets its own principal component, in axis order. It also
  works on hexagon grids, which NeuPy refused.
* ``fit(X)`` passed ``y`` as the number of epochs; here ``fit(X, y=None,
  epochs=100)`` trains and returns ``self``.
* NumPy integers (``np.int64(3)``) are accepted wherever an int is.

somkit additions: ``random_state`` (NeuPy drew from NumPy's global
generator) and :meth:`SOFM.epoch_parameters` (the decayed values of an
epoch).

What is shared with :class:`somkit.SOM`
---------------------------------------
The grid coordinates come from :class:`somkit._grid.Grid`, the radius decay
is :class:`somkit.schedules.StepDecay` (NeuPy's stepwise schedule), the
principal components of ``init_pca`` come from the same solver as the SOM's
PCA initialisation, and "euclid"/"dot_product"/"cos" are the registry's
"euclidean"/"dot"/"cosine". The step itself stays NeuPy's own kernel
(:func:`_sofm_epoch`): its neighbourhood is not a function of the grid
distance (the mean of per-axis gaussians inside a Euclidean disc on rect
grids, hop counts on hexagon grids) and its training error is measured on
the updated units, so the shared online rule cannot reproduce NeuPy's
numbers, which the tests pin.
"""

from __future__ import annotations

import math
import time
from numbers import Integral, Real

import numba
import numpy as np

from somkit._grid import Grid
from somkit._kernels._cache import CACHE
from somkit._registry import METRIC_ID
from somkit._schedules import StepDecay

EUCLIDEAN = METRIC_ID["euclidean"]
COSINE = METRIC_ID["cosine"]

__all__ = ["SOFM", "StopTraining"]

_DISTANCES = ("euclid", "dot_product", "cos")
#: NeuPy's distance names as the registry's metrics (their ids reach the kernel).
_METRIC_OF = {"euclid": "euclidean", "dot_product": "dot", "cos": "cosine"}
_GRID_TYPES = ("rect", "hexagon")
_WEIGHT_INITS = ("sample_from_data", "init_pca")


class StopTraining(Exception):
    """Raise from a signal to stop :meth:`SOFM.train` after the current step."""


class TrainErrors:
    """Per-epoch training errors, like NeuPy's ``network.errors``.

    ``train`` holds the mean absolute difference between each sample and the
    weights it updated (before the update), averaged over the epoch.
    """

    def __init__(self):
        self.train = []
        self.valid = []

    def last(self):
        """The last training error, or None before training."""
        return self.train[-1] if self.train else None

    def __len__(self):
        return len(self.train)

    def __repr__(self):
        return f"TrainErrors(train={self.train!r})"


# ----------------------------------------------------------------- kernels
@numba.njit(cache=CACHE)
def _ring_distance(r1, c1, r2, c2):
    """Hex step distance on a grid whose odd rows are shifted right."""
    x1 = c1 - (r1 - (r1 & 1)) // 2
    x2 = c2 - (r2 - (r2 & 1)) // 2
    dx = abs(x1 - x2)
    dz = abs(r1 - r2)
    dy = abs((-x1 - r1) - (-x2 - r2))
    return max(dx, max(dy, dz))


@numba.njit(cache=CACHE)
def _winner(x, W, metric, xnorm):
    """Index of the largest NeuPy score (-euclid, dot, cos); NaN wins first."""
    f, m = W.shape
    best = -np.inf
    c = -1
    for j in range(m):
        s = 0.0
        if metric == EUCLIDEAN:
            for k in range(f):
                t = x[k] - W[k, j]
                s += t * t
            s = -math.sqrt(s)
        else:
            wn = 0.0
            for k in range(f):
                s += x[k] * W[k, j]
                wn += W[k, j] * W[k, j]
            if metric == COSINE:
                s = s / (xnorm * math.sqrt(wn))
        if s != s:  # NaN: numpy's argmax returns the first NaN
            return j
        if c < 0 or s > best:
            best = s
            c = j
    return c


@numba.njit(cache=CACHE)
def _sofm_epoch(X, W, coords, hexagon, metric, radius, step, table):
    """Present the rows of ``X`` in order, updating ``W`` (f, m) in place.

    ``table[k]`` is the step scale of an offset ``k`` (per axis on rect grids,
    ring distance on hexagon grids). Returns the summed per-sample errors.
    """
    n, f = X.shape
    m, ndim = coords.shape
    r2max = radius * radius
    total = 0.0
    diff = np.empty(f)
    for t in range(n):
        x = X[t]
        xnorm = 0.0
        if metric == COSINE:
            for k in range(f):
                xnorm += x[k] * x[k]
            xnorm = math.sqrt(xnorm)
        c = _winner(x, W, metric, xnorm)
        err = 0.0
        count = 0
        for j in range(m):
            if hexagon:
                ring = _ring_distance(
                    coords[j, 0], coords[j, 1], coords[c, 0], coords[c, 1]
                )
                if ring > radius:
                    continue
                scale = table[ring]
            else:
                d2 = 0
                scale = 0.0
                for a in range(ndim):
                    off = abs(coords[j, a] - coords[c, a])
                    d2 += off * off
                    scale += table[off]
                if d2 > r2max:
                    continue
                scale /= ndim
            g = step * scale
            nrm = 0.0
            for k in range(f):
                diff[k] = x[k] - W[k, j]
                err += abs(diff[k])
                W[k, j] += g * diff[k]
                nrm += W[k, j] * W[k, j]
            if metric == COSINE:
                nrm = math.sqrt(nrm)
                for k in range(f):
                    W[k, j] /= nrm
            count += 1
        total += err / (f * count)
    return total


# --------------------------------------------------------------- helpers
def _check_int(name, value, minval, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, Integral) or isinstance(value, bool | np.bool_):
        allowed = "an int" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {allowed}, got {value!r}.")
    if value < minval:
        raise ValueError(f"{name} must be >= {minval}, got {value!r}.")
    return int(value)


def _check_real(name, value, minval):
    if not isinstance(value, Real) or isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    if not value >= minval:
        raise ValueError(f"{name} must be >= {minval}, got {value!r}.")
    return float(value)


def _decay(value, epoch, after):
    return value if after is None else value / (1.0 + epoch / after)


def ring_distances(shape):
    """Hex ring (step) distances between all units of a 2-D hexagon grid.

    Odd rows are shifted right by half a cell (somkit's and NeuPy's layout).
    Returns an int array of shape (n_units, n_units), row-major unit order.

    Examples
    --------
    >>> ring_distances((2, 2))
    array([[0, 1, 1, 2],
           [1, 0, 1, 1],
           [1, 1, 0, 1],
           [2, 1, 1, 0]])
    """
    rows, cols = shape
    r, c = np.divmod(np.arange(rows * cols), cols)
    x = c - (r - (r & 1)) // 2
    y = -x - r
    return np.maximum.reduce(
        [
            np.abs(x[:, None] - x[None, :]),
            np.abs(y[:, None] - y[None, :]),
            np.abs(r[:, None] - r[None, :]),
        ]
    )


def _pca_weight(X, grid_shape):
    """NeuPy's linear initialisation, defined for every grid shape.

    Features are standardised; the grid's integer coordinates are scaled to
    [-1, 1] per axis; axis ``a`` (counting only axes with more than one unit)
    moves along the ``a``-th principal component of the standardised data,
    scaled by that component's variance (NeuPy's choice); the result is
    mapped back to the data scale. The components come from the solver of
    the SOM's PCA initialisation (``somkit._init.leading_components``).
    """
    from somkit._backends.numpy import NumpyBackend
    from somkit._init import leading_components

    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mean) / sd
    coords = Grid(tuple(grid_shape)).coords
    axes = [a for a, size in enumerate(grid_shape) if size > 1]
    k = min(len(axes), len(Z), Z.shape[1])
    _, variances, vecs = leading_components(Z, None, k, NumpyBackend())
    # Deterministic signs: the largest loading of each component is positive.
    vt = vecs[:, :k].T
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    Zw = np.zeros((len(coords), X.shape[1]))
    for j, a in enumerate(axes[:k]):
        u = 2.0 * (coords[:, a] / (grid_shape[a] - 1) - 0.5)
        Zw += np.outer(u, vt[j] * variances[j])
    return (mean + Zw * sd).T


# ------------------------------------------------------------------- SOFM
class SOFM:
    """Self-organizing feature map with NeuPy's parameters and online rule.

    All parameters are keyword-only, as in NeuPy. See the module docstring
    for the exact learning rule and the NeuPy bugs fixed here.

    Parameters
    ----------
    n_inputs : int
        Number of features.
    n_outputs : int or None, default=None
        Number of units; ``None`` takes ``prod(features_grid)``.
    features_grid : tuple of int or None, default=None
        Grid shape (any number of axes for "rect", 1 or 2 for "hexagon");
        ``None`` gives ``(n_outputs, 1)``.
    distance : {"euclid", "dot_product", "cos"}, default="euclid"
        How the winner is chosen: smallest Euclidean distance, largest dot
        product or largest cosine similarity ("cos" keeps weight columns at
        unit length).
    grid_type : {"rect", "hexagon"}, default="rect"
    learning_radius : int, default=0
        Neighbourhood radius in grid steps (0: only the winner learns).
    std : float, default=1
        Width of the step scale over the neighbourhood.
    step : float, default=0.1
        Learning rate of the winner.
    reduce_radius_after, reduce_std_after, reduce_step_after : int or None, \
default=100
        Decay rates (see the module docstring); ``None`` keeps the value.
    weight : array of shape (n_inputs, n_outputs), "sample_from_data", \
"init_pca", or an initializer with ``sample(shape)``, default=None
        Initial weights. ``None`` samples N(0, 0.01**2) as NeuPy's
        ``init.Normal()``; the two strings initialise from the first
        training data.
    shuffle_data : bool, default=False
        Present the samples in a new random order every epoch.
    verbose : bool, default=False
        Print the training error at the first, every ``show_epoch``-th and
        the last epoch.
    show_epoch : int, default=1
    signals : callable, object, or list of them, default=None
        A function is called as ``f(network)`` after every epoch. An object
        may define ``train_start``, ``epoch_start``, ``epoch_end``,
        ``train_end`` (called with the network) and ``train_error`` (called
        with the network and ``value=``, ``epoch=``). Raising
        :class:`StopTraining` stops training.
    random_state : None, int or numpy Generator, default=None
        Source of the initial weights and the shuffling (somkit addition).

    Attributes
    ----------
    weight : ndarray of shape (n_inputs, n_outputs)
        Weights, one column per unit (the spec until initialised).
    last_epoch : int
        The last trained epoch (0 before training).
    n_updates_made : int
        Number of epochs (NeuPy: training updates) run so far.
    errors : TrainErrors
        ``errors.train``: mean absolute update error per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit.neupy import SOFM
    >>> data = np.array([[0.1961, 0.9806], [-0.1961, 0.9806],
    ...                  [-0.5812, -0.8137], [-0.8137, -0.5812]])
    >>> sofm = SOFM(n_inputs=2, n_outputs=2, step=0.1, learning_radius=0,
    ...             random_state=0)
    >>> sofm.train(data, epochs=100)
    >>> winners = sofm.predict(data).argmax(axis=1)
    >>> bool(winners[0] == winners[1] != winners[2] == winners[3])
    True
    """

    def __init__(
        self,
        *,
        n_inputs,
        n_outputs=None,
        features_grid=None,
        distance="euclid",
        grid_type="rect",
        learning_radius=0,
        std=1,
        step=0.1,
        reduce_radius_after=100,
        reduce_std_after=100,
        reduce_step_after=100,
        weight=None,
        shuffle_data=False,
        verbose=False,
        show_epoch=1,
        signals=None,
        random_state=None,
    ):
        self.n_inputs = _check_int("n_inputs", n_inputs, 1)
        n_outputs = _check_int("n_outputs", n_outputs, 1, allow_none=True)
        if features_grid is not None:
            if not isinstance(features_grid, tuple | list) or not features_grid:
                raise TypeError(
                    f"features_grid must be a tuple of ints or None, got "
                    f"{features_grid!r}."
                )
            features_grid = tuple(
                _check_int("features_grid", s, 1) for s in features_grid
            )
            n_grid = math.prod(features_grid)
            if n_outputs is None:
                n_outputs = n_grid
            elif n_grid != n_outputs:
                raise ValueError(
                    f"features_grid {features_grid!r} has {n_grid} units but "
                    f"n_outputs={n_outputs}."
                )
        elif n_outputs is None:
            raise ValueError("one of n_outputs and features_grid must be given.")
        else:
            features_grid = (n_outputs, 1)
        self.n_outputs = n_outputs
        self.features_grid = features_grid

        if distance not in _DISTANCES:
            raise ValueError(f"distance must be one of {_DISTANCES}, got {distance!r}.")
        if grid_type not in _GRID_TYPES:
            raise ValueError(
                f"grid_type must be one of {_GRID_TYPES}, got {grid_type!r}."
            )
        if grid_type == "hexagon" and len(features_grid) > 2:
            raise ValueError(
                "grid_type='hexagon' needs a 1-D or 2-D features_grid, got "
                f"{features_grid!r}."
            )
        self.distance = distance
        self.grid_type = grid_type
        self.learning_radius = _check_int("learning_radius", learning_radius, 0)
        self.std = _check_real("std", std, 0)
        self.step = _check_real("step", step, 0)
        self.reduce_radius_after = _check_int(
            "reduce_radius_after", reduce_radius_after, 1, allow_none=True
        )
        self.reduce_std_after = _check_int(
            "reduce_std_after", reduce_std_after, 1, allow_none=True
        )
        self.reduce_step_after = _check_int(
            "reduce_step_after", reduce_step_after, 1, allow_none=True
        )
        if not isinstance(shuffle_data, bool | np.bool_):
            raise TypeError(f"shuffle_data must be a bool, got {shuffle_data!r}.")
        self.shuffle_data = bool(shuffle_data)
        self.verbose = bool(verbose)
        self.show_epoch = _check_int("show_epoch", show_epoch, 1)
        if signals is None:
            signals = []
        elif not isinstance(signals, list | tuple):
            signals = [signals]
        self.signals = list(signals)
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)

        self.last_epoch = 0
        self.n_updates_made = 0
        self.errors = TrainErrors()
        self.initialized = False
        self.weight = weight
        if isinstance(weight, str):
            if weight not in _WEIGHT_INITS:
                raise ValueError(
                    f"weight must be an array, None, an initializer or one of "
                    f"{_WEIGHT_INITS}, got {weight!r}."
                )
            return
        shape = (self.n_inputs, self.n_outputs)
        if weight is None:
            weight = self._rng.normal(0.0, 0.01, size=shape)
        elif hasattr(weight, "sample"):
            weight = weight.sample(shape)
        weight = np.array(weight, dtype=np.float64)
        if weight.shape != shape:
            raise ValueError(
                f"weight must have shape (n_inputs, n_outputs) = {shape}, got "
                f"{weight.shape}."
            )
        self.weight = weight
        self._finish_init()

    # ------------------------------------------------------------- plumbing
    def _finish_init(self):
        if self.distance == "cos":
            self.weight /= np.linalg.norm(self.weight, axis=0)
        self.initialized = True

    def _grid2d(self):
        """Grid shape used by the kernels (1-D hexagon -> one row)."""
        if self.grid_type == "hexagon" and len(self.features_grid) == 1:
            return (1, self.features_grid[0])
        return self.features_grid

    def _format(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(-1, 1) if self.n_inputs == 1 else X.reshape(1, -1)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array, got {X.ndim} dimensions.")
        if X.shape[1] != self.n_inputs:
            raise ValueError(
                f"X has {X.shape[1]} features but n_inputs={self.n_inputs}."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity.")
        return X

    def init_weights(self, X_train):
        """Initialise the weights from data ("sample_from_data", "init_pca")."""
        if self.initialized:
            raise RuntimeError("the weights are already initialised.")
        X = self._format(X_train)
        if self.weight == "sample_from_data":
            n = len(X)
            rows = self._rng.choice(n, self.n_outputs, replace=n < self.n_outputs)
            self.weight = X[rows].T.copy()
        else:
            self.weight = _pca_weight(X, self._grid2d())
        self._finish_init()

    def _require_weights(self):
        if not self.initialized:
            raise RuntimeError(
                f"weight={self.weight!r} is initialised from the training data; "
                "call train first."
            )

    def _trigger(self, name, **data):
        for signal in self.signals:
            if (
                name == "epoch_end"
                and callable(signal)
                and not hasattr(signal, "epoch_end")
            ):
                signal(self)
            elif hasattr(signal, name):
                getattr(signal, name)(self, **data)

    def _scale_table(self, std):
        """Step scale by offset (rect: per axis; hexagon: ring distance)."""
        k = np.arange(max(self._grid2d()) + 1, dtype=np.float64)
        if std == 0:
            return (k == 0).astype(np.float64)
        return np.exp(-(k**2) / (2 * np.pi * std**2))

    # --------------------------------------------------------------- public
    def epoch_parameters(self, epoch):
        """(radius, step, std) used during ``epoch`` (counted from 1)."""
        radius = self.learning_radius
        if self.reduce_radius_after is not None:
            # NeuPy's stepwise decay is the shared StepDecay (time = epoch - 1)
            decay = StepDecay(radius, every=self.reduce_radius_after)
            radius = int(decay(epoch - 1, epoch))
        step = _decay(self.step, epoch, self.reduce_step_after)
        std = _decay(self.std, epoch, self.reduce_std_after)
        return radius, step, std

    def train(self, X_train, epochs=100):
        """Train for ``epochs`` more epochs (epoch numbers carry over)."""
        epochs = _check_int("epochs", epochs, 1)
        X = self._format(X_train)
        if not self.initialized:
            self.init_weights(X)
        grid = self._grid2d()
        coords = Grid(tuple(grid)).coords
        metric = METRIC_ID[_METRIC_OF[self.distance]]
        hexagon = self.grid_type == "hexagon"
        W = np.ascontiguousarray(self.weight, dtype=np.float64)
        self._trigger("train_start", X_train=X, epochs=epochs)
        first = self.last_epoch + 1
        try:
            for epoch in range(first, first + epochs):
                self._trigger("epoch_start")
                self.last_epoch = epoch
                radius, step, std = self.epoch_parameters(epoch)
                order = self._rng.permutation(len(X)) if self.shuffle_data else None
                Xe = X if order is None else X[order]
                start = time.perf_counter()
                total = _sofm_epoch(
                    Xe, W, coords, hexagon, metric, radius, step, self._scale_table(std)
                )
                self.weight = W
                error = total / len(X)
                self.n_updates_made += 1
                self.errors.train.append(error)
                self._trigger("train_error", value=error, epoch=epoch)
                if self.verbose and (
                    epoch == first
                    or epoch % self.show_epoch == 0
                    or epoch == first + epochs - 1
                ):
                    print(
                        f"epoch {epoch}: train error {error:.6f} "
                        f"({time.perf_counter() - start:.3f} s)"
                    )
                self._trigger("epoch_end")
        except StopTraining as err:
            if self.verbose:
                print(f"epoch {self.last_epoch}: training stopped: {err}")
        self.weight = W
        self._trigger("train_end")

    def fit(self, X, y=None, epochs=100):
        """Train for ``epochs`` epochs (``y`` is ignored); returns ``self``."""
        self.train(X, epochs=epochs)
        return self

    def predict_raw(self, X):
        """Scores of every unit, shape (n_samples, n_outputs).

        -Euclidean distance, dot product or cosine similarity by ``distance``.
        """
        self._require_weights()
        X = self._format(X)
        W = self.weight
        if self.distance == "dot_product":
            return X @ W
        if self.distance == "cos":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (X @ W) / (
                    np.linalg.norm(X, axis=1)[:, None] * np.linalg.norm(W, axis=0)
                )
        out = np.empty((len(X), self.n_outputs))
        for a in range(0, len(X), 4096):
            diff = X[a : a + 4096, :, None] - W[None]
            out[a : a + 4096] = -np.sqrt(np.einsum("nfm,nfm->nm", diff, diff))
        return out

    def predict(self, X):
        """One-hot winners, int array of shape (n_samples, n_outputs)."""
        raw = self.predict_raw(X)
        out = np.zeros(raw.shape, dtype=np.int64)
        out[np.arange(len(raw)), raw.argmax(axis=1)] = 1
        return out

    def transform(self, X):
        """Same as :meth:`predict` (as in NeuPy)."""
        return self.predict(X)

    def __repr__(self):
        return (
            f"SOFM(n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, "
            f"features_grid={self.features_grid!r}, distance={self.distance!r}, "
            f"grid_type={self.grid_type!r}, learning_radius={self.learning_radius}, "
            f"std={self.std}, step={self.step})"
        )
