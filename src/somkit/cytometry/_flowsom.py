"""FlowSOM: a self-organizing map of the cells, then metaclusters of its units."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from somkit.cytometry._consensus import (
    LINKAGES,
    cdf_choice,
    check_consensus_params,
    consensus_cluster,
    cut_tree,
    elbow,
    within_sse,
)
from somkit.cytometry._transforms import _is_frame, cofactors_for, column_indices

METACLUSTERINGS = ("consensus", "hierarchical")
AUTO_K = ("elbow", "cdf")
#: FlowSOM starts the radius at this quantile of the grid distances.
RADIUS_QUANTILE = 0.67


class FlowSOM(ClusterMixin, BaseEstimator):
    """FlowSOM clustering of cytometry data (Van Gassen et al. 2015).

    A self-organizing map (default 10 x 10) summarises the cells; its units
    are grouped into metaclusters by consensus hierarchical clustering
    (ConsensusClusterPlus with average linkage, as FlowSOM does); every cell
    takes the metacluster of its best-matching unit.

    Parameters
    ----------
    n_clusters : int, "elbow" or "cdf", default="elbow"
        Number of metaclusters, or how to choose it among 2..``max_clusters``:
        "elbow" is FlowSOM's elbow of the within-cluster sum of squares of
        the units, "cdf" the point where the consensus CDF area stops
        growing by more than 10% (Monti et al. 2003).
    grid : (int, int), default=(10, 10)
        Map shape.
    markers : list of str or int, default=None
        Channels to cluster on (names for a DataFrame, positions for an
        array); None uses every column.
    cofactor : None, float, sequence or dict, default=None
        When given, the markers are transformed with ``arcsinh(x / cofactor)``
        before clustering (and in ``predict``); see :func:`arcsinh`. None:
        the data are used as given (already transformed).
    max_clusters : int, default=20
        Largest number of metaclusters tried by "elbow" and "cdf".
    topology : {"rect", "hex"}, default="rect"
    neighborhood : str, default="gaussian"
        Neighbourhood kernel of the map (see :class:`somkit.SOM`); FlowSOM
        itself uses "bubble" with the online rule.
    radius : None, float or (start, end), default=None
        None is FlowSOM's schedule: from the 0.67 quantile of the distances
        between units down to 0 (the last epochs move each unit to the mean
        of its own cells).
    algorithm : {"batch", "online", "minibatch"}, default="batch"
        "online" with ``neighborhood="bubble"`` and
        ``learning_rate=(0.05, 0.01)`` is FlowSOM's own rule.
    n_epochs : int, default=20
        Epochs of the ordering phase (FlowSOM's ``rlen``, 10 there), over
        the ``subsample``.
    learning_rate : (float, float), default=(0.05, 0.01)
        Online and minibatch only (FlowSOM's ``alpha``).
    init : {"pca", "sample", "random"} or array, default="pca"
        Initial unit vectors (see :class:`somkit.SOM`); FlowSOM draws
        random cells ("sample").
    subsample : int or None, default=50_000
        The ordering phase (the radius schedule) runs on a random sample of
        this many cells when there are more; None uses every cell, as
        FlowSOM does. The map is ordered long before the radius is small,
        so the sample costs no accuracy and makes the cost of training
        nearly independent of the number of cells.
    final_epochs : int, default=3
        Then this many batch passes over every cell with radius 0 (each
        unit moves to the mean of its cells, as k-means does), so rare
        populations that the sample barely holds get units of their own.
        0 skips them (FlowSOM's way).
    metaclustering : {"consensus", "hierarchical"}, default="consensus"
        Consensus clustering of the units, or one plain hierarchical
        clustering of them with ``linkage``.
    linkage : str, default="average"
        Linkage of the hierarchical trees (scipy's names, e.g. "ward").
    n_resamples : int, default=100
    resample_fraction : float, default=0.9
        ConsensusClusterPlus's ``reps`` and ``pItem``.
    empty_units : {"nearest", "cluster"}, default="nearest"
        "nearest" leaves units that won no training cell out of the
        metaclustering and gives each the metacluster of the nearest unit
        (by code vector) that won cells: a unit stranded between
        populations would otherwise take a metacluster of its own.
        "cluster" metaclusters every unit, as FlowSOM does.
    backend : {"auto", "numpy", "torch", "dask"}, default="auto"
    device : str or None, default=None
    batch_size : int or None, default=None
        Passed to :class:`somkit.SOM`.
    random_state : int, Generator or None, default=None
        Seeds the map and the resampling; same seed, same data -> same
        metaclusters.
    verbose : int, default=0

    Attributes
    ----------
    som_ : somkit.SOM
        The fitted map (on the selected, transformed markers).
    unit_metaclusters_ : ndarray of shape (n_units,)
        Metacluster of every unit (0..n_clusters_-1).
    labels_ : ndarray of shape (n_cells,)
        Metacluster of every training cell.
    units_ : ndarray of shape (n_cells,)
        Best-matching unit of every training cell.
    n_clusters_ : int
    markers_ : list
        Marker names (DataFrame input) or positions.
    cofactors_ : ndarray or None
        Cofactor of each marker (NaN: not transformed), None if no transform.
    elbow_curve_ : ndarray or None
        Within-cluster sum of squares of the units for k = 1..max_clusters
        (automatic k only).
    cdf_area_ : dict or None
        Consensus CDF area for each k tried (consensus metaclustering).

    Examples
    --------
    >>> from somkit.cytometry import FlowSOM, make_cytometry
    >>> X, y = make_cytometry(5000, 10, 5, rare=(), n_lineages=5, random_state=0)
    >>> fs = FlowSOM(n_clusters=5, grid=(6, 6), random_state=0).fit(X)
    >>> fs.labels_.shape, fs.unit_metaclusters_.shape
    ((5000,), (36,))
    >>> from sklearn.metrics import adjusted_rand_score
    >>> adjusted_rand_score(y, fs.labels_) > 0.9
    True
    """

    def __init__(
        self,
        n_clusters="elbow",
        grid=(10, 10),
        markers=None,
        *,
        cofactor=None,
        max_clusters=20,
        topology="rect",
        neighborhood="gaussian",
        radius=None,
        algorithm="batch",
        n_epochs=20,
        learning_rate=(0.05, 0.01),
        init="pca",
        subsample=50_000,
        final_epochs=3,
        metaclustering="consensus",
        linkage="average",
        n_resamples=100,
        resample_fraction=0.9,
        empty_units="nearest",
        backend="auto",
        device=None,
        batch_size=None,
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.grid = grid
        self.markers = markers
        self.cofactor = cofactor
        self.max_clusters = max_clusters
        self.topology = topology
        self.neighborhood = neighborhood
        self.radius = radius
        self.algorithm = algorithm
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.init = init
        self.subsample = subsample
        self.final_epochs = final_epochs
        self.metaclustering = metaclustering
        self.linkage = linkage
        self.n_resamples = n_resamples
        self.resample_fraction = resample_fraction
        self.empty_units = empty_units
        self.backend = backend
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ checks
    def _check_params(self):
        grid = self.grid
        if (
            not isinstance(grid, tuple | list)
            or len(grid) != 2
            or not all(isinstance(g, Integral) and g >= 1 for g in grid)
            or grid[0] * grid[1] < 2
        ):
            raise ValueError(
                f"grid must be a pair of positive ints with at least 2 units, got "
                f"{grid!r}."
            )
        n_units = int(grid[0]) * int(grid[1])
        k = self.n_clusters
        if isinstance(k, str):
            if k not in AUTO_K:
                raise ValueError(
                    f"n_clusters must be an int or one of {AUTO_K}, got {k!r}."
                )
            m = self.max_clusters
            if (
                not isinstance(m, Integral)
                or isinstance(m, bool)
                or not 3 <= m <= n_units
            ):
                raise ValueError(
                    f"max_clusters must be an int in 3..{n_units} (the number of "
                    f"units), got {m!r}."
                )
        elif (
            not isinstance(k, Integral) or isinstance(k, bool) or not 1 <= k <= n_units
        ):
            raise ValueError(
                f"n_clusters must be an int in 1..{n_units} (the number of units) or "
                f"one of {AUTO_K}, got {k!r}."
            )
        if self.metaclustering not in METACLUSTERINGS:
            raise ValueError(
                f"metaclustering must be one of {METACLUSTERINGS}, got "
                f"{self.metaclustering!r}."
            )
        if self.linkage not in LINKAGES:
            raise ValueError(
                f"linkage must be one of {LINKAGES}, got {self.linkage!r}."
            )
        if self.metaclustering == "consensus":
            check_consensus_params(
                self.n_resamples, self.resample_fraction, self.linkage, self.linkage
            )
        if self.subsample is not None and (
            not isinstance(self.subsample, Integral)
            or isinstance(self.subsample, bool)
            or self.subsample < n_units
        ):
            raise ValueError(
                f"subsample must be None or an int >= the number of units "
                f"({n_units}), got {self.subsample!r}."
            )
        if (
            not isinstance(self.final_epochs, Integral)
            or isinstance(self.final_epochs, bool)
            or self.final_epochs < 0
        ):
            raise ValueError(
                f"final_epochs must be an int >= 0, got {self.final_epochs!r}."
            )
        if self.empty_units not in ("nearest", "cluster"):
            raise ValueError(
                f"empty_units must be 'nearest' or 'cluster', got {self.empty_units!r}."
            )
        if self.n_clusters == "cdf" and self.metaclustering != "consensus":
            raise ValueError(
                "n_clusters='cdf' needs metaclustering='consensus' (the CDF is "
                "that of the consensus matrix)."
            )
        return n_units

    def _select(self, X, reset):
        """The markers of X as a float array (transformed when cofactor set)."""
        frame = _is_frame(X)
        names = [str(c) for c in X.columns] if frame else None
        if frame and not all(isinstance(c, str) for c in X.columns):
            names = None
        lazy = type(X).__module__.startswith("dask")
        arr = X.to_numpy() if frame else X
        arr = arr if lazy else np.asarray(arr)
        if arr.ndim != 2:
            raise ValueError(
                f"X must be 2-D (cells x channels), got an array of shape {arr.shape}."
            )
        if reset:
            idx = column_indices(self.markers, names, arr.shape[1])
            self.markers_ = [names[i] for i in idx] if names else list(idx)
            self.n_features_in_ = arr.shape[1]
            if names:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            self.cofactors_ = (
                None
                if self.cofactor is None
                else cofactors_for(self.cofactor, self.markers_)
            )
        else:
            if isinstance(self.markers_[0], str):
                idx = column_indices(self.markers_, names, arr.shape[1])
            else:
                if arr.shape[1] != self.n_features_in_:
                    raise ValueError(
                        f"X has {arr.shape[1]} channels, but FlowSOM was fitted on "
                        f"{self.n_features_in_}."
                    )
                idx = list(self.markers_)
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"X must be numeric, got dtype {arr.dtype}.")
        if lazy:
            return self._select_lazy(arr, idx)
        if (
            self.cofactors_ is None
            and idx == list(range(arr.shape[1]))
            and arr.dtype in (np.float32, np.float64)
        ):
            # Every column, untransformed: no copy (memmaps stay on disk).
            _check_finite(arr)
            return arr
        Xm = np.asarray(arr[:, idx], dtype=np.float32)
        if self.cofactors_ is not None:
            keep = ~np.isnan(self.cofactors_)
            Xm[:, keep] = np.arcsinh(
                Xm[:, keep] / self.cofactors_[keep].astype(np.float32)
            )
        _check_finite(Xm)
        return Xm

    def _select_lazy(self, arr, idx):
        """Dask input: columns and transform stay lazy (no data is loaded)."""
        Xm = arr[:, idx].astype(np.float32)
        if self.cofactors_ is not None:
            keep = ~np.isnan(self.cofactors_)
            f = np.where(keep, self.cofactors_, 1.0).astype(np.float32)
            Xm = np.where(keep, np.arcsinh(Xm / f), Xm)
        return Xm

    def _radius(self):
        if self.radius is not None:
            return self.radius
        return (flowsom_radius(self.grid, self.topology), 0.0)

    # ------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Train the map on the cells of X and metacluster its units.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_cells, n_channels)
            Cells (rows) by channels; only ``markers`` are used.
        y : ignored

        Returns
        -------
        self : FlowSOM
        """
        from somkit import SOM

        n_units = self._check_params()
        Xm = self._select(X, reset=True)
        if Xm.shape[0] < n_units:
            raise ValueError(
                f"FlowSOM needs at least as many cells as units ({n_units}), got "
                f"{Xm.shape[0]}."
            )
        seed_som, seed_meta = _seeds(self.random_state)
        common = {
            "grid": tuple(int(g) for g in self.grid),
            "topology": self.topology,
            "batch_size": self.batch_size,
            "backend": self.backend,
            "device": self.device,
            "random_state": seed_som,
            "verbose": self.verbose,
        }
        n = Xm.shape[0]
        ordering = Xm
        if self.subsample is not None and n > self.subsample:
            pick = np.random.default_rng([seed_som, 1]).choice(
                n, int(self.subsample), replace=False
            )
            ordering = Xm[np.sort(pick)]
        som = SOM(
            neighborhood=self.neighborhood,
            radius=self._radius(),
            learning_rate=self.learning_rate,
            init=self.init,
            algorithm=self.algorithm,
            n_epochs=self.n_epochs,
            **common,
        ).fit(ordering)
        if self.final_epochs:
            # k-means steps of the batch map on every cell (radius 0).
            som = SOM(
                radius=0.0,
                init=np.asarray(som.codebook_),
                algorithm="batch",
                n_epochs=int(self.final_epochs),
                **common,
            ).fit(Xm)
        self.som_ = som
        if som.labels_.shape[0] == n:
            self.units_ = np.asarray(som.labels_)
        else:
            self.units_ = np.asarray(som.predict(Xm))
        codes = np.asarray(self.som_.codebook_, dtype=np.float64)
        keep = np.ones(n_units, dtype=bool)
        if self.empty_units == "nearest":
            keep = np.bincount(self.units_, minlength=n_units) > 0
        if isinstance(self.n_clusters, Integral) and self.n_clusters > keep.sum():
            raise ValueError(
                f"n_clusters={self.n_clusters} exceeds the {int(keep.sum())} units "
                "that won cells; ask for fewer metaclusters or pass "
                "empty_units='cluster'."
            )
        kept = self._metacluster(codes[keep], seed_meta)
        self.unit_metaclusters_ = np.empty(n_units, dtype=np.int64)
        self.unit_metaclusters_[keep] = kept
        if not keep.all():
            from scipy.spatial.distance import cdist

            nearest = cdist(codes[~keep], codes[keep]).argmin(axis=1)
            self.unit_metaclusters_[~keep] = kept[nearest]
        self.labels_ = self.unit_metaclusters_[self.units_]
        return self

    def _metacluster(self, codes, seed):
        """Metacluster of each row of ``codes``; sets n_clusters_ and curves."""
        auto = isinstance(self.n_clusters, str)
        top = min(int(self.max_clusters), len(codes))
        ks = list(range(2, top + 1)) if auto else [int(self.n_clusters)]
        if self.metaclustering == "consensus":
            res = consensus_cluster(
                codes,
                ks,
                n_resamples=self.n_resamples,
                resample_fraction=self.resample_fraction,
                linkage=self.linkage,
                final_linkage=self.linkage,
                random_state=seed,
            )
            labels, self.cdf_area_ = res.labels, dict(res.cdf_area)
        else:
            labels, self.cdf_area_ = cut_tree(codes, ks, self.linkage), None
        self.elbow_curve_ = None
        if auto:
            sse = [within_sse(codes, np.zeros(len(codes), dtype=np.int64))]
            sse += [within_sse(codes, labels[k]) for k in ks]
            self.elbow_curve_ = np.asarray(sse)
            k = elbow(sse) if self.n_clusters == "elbow" else cdf_choice(self.cdf_area_)
        else:
            k = ks[0]
        self.n_clusters_ = int(k)
        return labels[k]

    # ------------------------------------------------------------ inference
    def predict(self, X):
        """Metacluster of each cell (its best-matching unit's metacluster)."""
        return self.unit_metaclusters_[self.predict_units(X)]

    def predict_units(self, X):
        """Best-matching unit of each cell."""
        check_is_fitted(self, "unit_metaclusters_")
        return np.asarray(self.som_.predict(self._select(X, reset=False)))

    def fit_predict(self, X, y=None):
        """Fit, then return the metacluster of every training cell."""
        return self.fit(X).labels_

    def transform_markers(self, X):
        """The markers of X as the map sees them (selected and transformed)."""
        check_is_fitted(self, "unit_metaclusters_")
        return self._select(X, reset=False)

    @property
    def codebook_(self):
        """Unit vectors of the map (n_units, n_markers), transformed scale."""
        check_is_fitted(self, "unit_metaclusters_")
        return self.som_.codebook_

    def save(self, path):
        """Write the fitted model to ``path`` (.npz, no pickle).

        Read it back with :func:`somkit.cytometry.load_flowsom`.
        """
        from somkit.cytometry._model import save_flowsom

        save_flowsom(self, path)
        return path


def _check_finite(X, rows=1 << 18):
    for a in range(0, X.shape[0], rows):
        if not np.all(np.isfinite(X[a : a + rows])):
            raise ValueError(
                "X must not contain NaN or infinite values in the markers."
            )


def flowsom_radius(grid, topology="rect"):
    """FlowSOM's start radius: the 0.67 quantile of the distances between units."""
    rows, cols = (int(g) for g in grid)
    r, c = np.divmod(np.arange(rows * cols), cols)
    if topology == "hex":
        pos = np.c_[r * np.sqrt(3) / 2, c + 0.5 * (r % 2)]
    else:
        pos = np.c_[r, c].astype(np.float64)
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    return float(np.quantile(d, RADIUS_QUANTILE))


def _seeds(random_state):
    """Two independent integer seeds (map, metaclustering) from random_state."""
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(2**31 - 1))
    if random_state is not None and not isinstance(
        random_state, Integral | np.random.Generator
    ):
        raise ValueError(
            "random_state must be None, an int, a RandomState or a Generator; got "
            f"{random_state!r}."
        )
    rng = np.random.default_rng(random_state)
    return tuple(int(s) for s in rng.integers(0, 2**31 - 1, size=2))
