"""SOMClustering: cluster a self-organizing map's units, label samples by BMU.

Two-level clustering (Vesanto & Alhoniemi, 2000): a SOM summarises the data
with a few hundred prototypes, agglomerative clustering groups the
prototypes, and each sample takes the cluster of its best-matching unit.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from somkit._rules import default_radius

LINKAGES = ("ward", "complete", "average", "single")
CONNECTIVITIES = (None, "grid")
# Bounds of the default map size (number of units), and its density.
_MIN_UNITS, _MAX_UNITS = 16, 1600
UNITS_PER_ROOT = 8.0
#: Final radius of the default map: units end close to the data.
END_RADIUS = 0.5


def default_grid(X, sample_weight=None):
    """Grid shape of the default map: about ``8 * sqrt(n)`` units.

    ``n`` is the total sample weight (the number of samples without weights)
    and the unit count is kept within [16, 1600]. The two sides are in the
    ratio of the standard deviations along the two leading (weighted)
    principal components, the longer side first (the automatic-grid rule of
    ``SOM(grid="auto")`` with more units); weights act exactly like repeated
    samples, so a weight of 2 and a duplicated row give the same map.
    """
    from somkit._rules import auto_grid

    return auto_grid(
        np.asarray(X, dtype=np.float64),
        sample_weight,
        units_per_root=UNITS_PER_ROOT,
        min_units=_MIN_UNITS,
        max_units=_MAX_UNITS,
        min_cols=2,
    )


class SOMClustering(ClusterMixin, BaseEstimator):
    """Cluster data through the units of a self-organizing map.

    Trains a SOM (a clone of ``som``, or a default map), clusters the units
    that hold data with :class:`sklearn.cluster.AgglomerativeClustering`, and
    labels each sample with the cluster of its best-matching unit (BMU).

    Units whose total sample weight is zero are the gaps between clusters:
    left in, they would chain clusters together (single linkage) or be
    counted as data (ward), so they are left out of the linkage and assigned
    afterwards to the cluster of the nearest unit that holds data (distance
    between codebook vectors). New samples whose BMU is such a unit get that
    cluster too.

    Parameters
    ----------
    n_clusters : int or None, default=2
        Number of clusters. ``None`` picks it from the linkage tree of the
        units: the cut at the largest gap between consecutive merge heights,
        searching 2 to ``max_clusters`` clusters.
    som : SOM or None, default=None
        An unfitted (or fitted) :class:`somkit.SOM`; it is cloned and fitted
        on ``X``. ``None`` uses a fine map that ends close to the data:
        ``SOM(grid=default_grid(X), radius=default_radius(grid, 0.5))``,
        about ``8 * sqrt(n_samples)`` units (16 to 1600), 10 batch epochs
        over every row, PCA initialisation. (The SOM's own default schedule
        ends at radius 1.0, which pulls units into the gaps between
        clusters; the explicit radius also keeps every epoch on all rows.)
    linkage : {"ward", "complete", "average", "single"}, default="ward"
        Linkage between groups of units. "ward" (Euclidean, on the codebook
        vectors) suits compact blobs; "single" follows chains of nearby units
        and separates non-convex shapes (rings, nested shells) that k-means
        and ward cannot.
    connectivity : {None, "grid"}, default=None
        ``None``: any two groups of units may merge. ``"grid"``: only groups
        adjacent on the map (grid edges between units holding data) merge
        first, so clusters are contiguous regions of the map; groups of units
        that the empty units cut apart are joined last, as sklearn does for a
        disconnected connectivity graph.
    max_clusters : int, default=10
        Largest count considered when ``n_clusters=None``.
    random_state : None, int or Generator, default=None
        Passed to the default SOM (a given ``som`` keeps its own).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample.
    som_ : SOM
        The fitted map.
    unit_labels_ : ndarray of shape (n_units,)
        Cluster of each unit.
    unit_weights_ : ndarray of shape (n_units,)
        Total sample weight of each unit (its hit count without weights).
    n_clusters_ : int
        Number of clusters found.
    cluster_centers_ : ndarray of shape (n_clusters_, n_features)
        Weighted mean of the training samples in each cluster.
    heights_ : ndarray of shape (n_used_units - 1,)
        Merge heights of the full linkage tree over the units holding data
        (only when ``n_clusters=None``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, SOMClustering
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (100, 2)), rng.normal(3, 0.3, (100, 2))])
    >>> est = SOMClustering(n_clusters=2, som=SOM((6, 6), random_state=0)).fit(X)
    >>> est.n_clusters_
    2
    >>> bool((est.labels_[:100] != est.labels_[100:].reshape(-1, 1)).all())
    True
    """

    def __init__(
        self,
        n_clusters=2,
        som=None,
        linkage="ward",
        connectivity=None,
        max_clusters=10,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.som = som
        self.linkage = linkage
        self.connectivity = connectivity
        self.max_clusters = max_clusters
        self.random_state = random_state

    # ------------------------------------------------------------ validation
    def _check_params(self):
        def is_int(v):
            return isinstance(v, Integral) and not isinstance(v, bool)

        if self.n_clusters is not None and not (
            is_int(self.n_clusters) and self.n_clusters >= 1
        ):
            raise ValueError(
                f"n_clusters must be None or an int >= 1, got {self.n_clusters!r}."
            )
        if not isinstance(self.linkage, str) or self.linkage not in LINKAGES:
            raise ValueError(
                f"linkage must be one of {LINKAGES}, got {self.linkage!r}."
            )
        if self.connectivity not in CONNECTIVITIES:
            raise ValueError(
                f"connectivity must be one of {CONNECTIVITIES}, got "
                f"{self.connectivity!r}."
            )
        if not (is_int(self.max_clusters) and self.max_clusters >= 2):
            raise ValueError(
                f"max_clusters must be an int >= 2, got {self.max_clusters!r}."
            )
        from somkit._som import SOM

        if self.som is not None and not isinstance(self.som, SOM):
            raise TypeError(
                f"som must be a somkit.SOM or None, got {type(self.som).__name__}."
            )

    def _make_som(self, X, sample_weight):
        from somkit._som import SOM

        if self.som is None:
            grid = default_grid(X, sample_weight)
            return SOM(
                grid=grid,
                radius=default_radius(grid, END_RADIUS),
                random_state=self.random_state,
            )
        return clone(self.som)

    # --------------------------------------------------------------- linkage
    def _unit_distances(self, W, metric):
        """Pairwise unit distances for non-ward linkages (None: euclidean)."""
        if metric in ("euclidean", "dot"):
            return None
        from somkit._kernels import pairwise_distances

        D = pairwise_distances(W, W, metric)
        D = np.maximum((D + D.T) / 2, 0.0)
        np.fill_diagonal(D, 0.0)
        return D

    def _agglomerative(self, W, D, conn, **kw):
        if D is None:
            model = AgglomerativeClustering(
                linkage=self.linkage, connectivity=conn, **kw
            )
            data = W
        else:
            model = AgglomerativeClustering(
                linkage=self.linkage, metric="precomputed", connectivity=conn, **kw
            )
            data = D
        with warnings.catch_warnings():
            # A connectivity graph cut by empty units is completed by sklearn;
            # that is the documented behaviour, not a problem.
            warnings.filterwarnings(
                "ignore", message=".*connected components.*", category=UserWarning
            )
            return model.fit(data)

    def _choose_k(self, W, D, conn):
        m = len(W)
        if m <= 2:
            self.heights_ = np.zeros(max(m - 1, 0))
            return m
        tree = self._agglomerative(
            W, D, conn, n_clusters=None, distance_threshold=0.0, compute_full_tree=True
        )
        heights = np.sort(np.asarray(tree.distances_, dtype=np.float64))
        self.heights_ = heights
        # After i merges there are m - i clusters; the gap between merges i
        # and i + 1 (1-based) is heights[i] - heights[i - 1].
        kmax = min(int(self.max_clusters), m - 1)
        best_k, best_gap = 2, -np.inf
        for k in range(2, kmax + 1):
            i = m - k
            gap = heights[i] - heights[i - 1]
            if gap > best_gap:
                best_k, best_gap = k, gap
        return best_k

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None):
        """Train the map and cluster its units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, passed to the SOM; units whose samples all
            have weight zero count as empty.

        Returns
        -------
        self : SOMClustering
        """
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must have a positive sum.")
        som = self._make_som(X, sample_weight)
        som.fit(X, sample_weight=sample_weight)
        bmu = np.asarray(som.labels_)
        sw = np.ones(len(X)) if sample_weight is None else sample_weight
        self._cluster_units(
            som, np.bincount(bmu, weights=sw, minlength=som.grid_.n_units)
        )
        self.labels_ = self.unit_labels_[bmu]

        centers = np.zeros((self.n_clusters_, X.shape[1]))
        np.add.at(centers, self.labels_, X * sw[:, None])
        totals = np.bincount(self.labels_, weights=sw, minlength=self.n_clusters_)
        self.cluster_centers_ = centers / totals[:, None]
        return self

    def _cluster_units(self, som, unit_weights):
        """Cluster the units of the fitted ``som`` holding positive weight.

        Sets ``som_``, ``unit_weights_``, ``unit_labels_``, ``n_clusters_``
        (and ``heights_`` when ``n_clusters=None``).
        """
        self.som_ = som
        n_units = som.grid_.n_units
        self.unit_weights_ = np.asarray(unit_weights, dtype=np.float64)
        used = np.flatnonzero(self.unit_weights_ > 0)
        m = len(used)
        if m == 0:
            raise ValueError("no map unit holds data: nothing to cluster.")
        if self.n_clusters is not None and self.n_clusters > m:
            raise ValueError(
                f"n_clusters={self.n_clusters} is more than the {m} map units that "
                "hold data; use fewer clusters or a larger map (som=SOM(grid=...))."
            )

        W_all = np.asarray(som.codebook_, dtype=np.float64)
        metric = som.metric
        W = W_all[used]
        D = None if self.linkage == "ward" else self._unit_distances(W, metric)
        conn = None
        if self.connectivity == "grid":
            conn = som.grid_.adjacency("edges")[used][:, used]

        if self.n_clusters is None:
            k = self._choose_k(W, D, conn)
        else:
            k = int(self.n_clusters)
            if hasattr(self, "heights_"):
                del self.heights_
        if k == 1 or m == 1:
            used_labels = np.zeros(m, dtype=np.int64)
        elif k == m:
            used_labels = np.arange(m, dtype=np.int64)
        else:
            used_labels = self._agglomerative(W, D, conn, n_clusters=k).labels_

        # Canonical numbering: clusters ordered by their lowest unit index.
        _, first = np.unique(used_labels, return_index=True)
        order = np.argsort(first)
        rename = np.empty(len(order), dtype=np.int64)
        rename[order] = np.arange(len(order))
        used_labels = rename[used_labels]

        unit_labels = np.empty(n_units, dtype=np.int64)
        unit_labels[used] = used_labels
        empty = np.setdiff1d(np.arange(n_units), used)
        if len(empty):
            De = self._assignment_distances(W_all[empty], W, metric)
            unit_labels[empty] = used_labels[np.argmin(De, axis=1)]
        self.unit_labels_ = unit_labels
        self.n_clusters_ = int(used_labels.max()) + 1
        return self

    @staticmethod
    def _assignment_distances(A, B, metric):
        from somkit._kernels import pairwise_distances

        return pairwise_distances(A, B, "euclidean" if metric == "dot" else metric)

    # -------------------------------------------------------------- predict
    def predict(self, X):
        """Cluster of each sample's best-matching unit.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
        """
        check_is_fitted(self, "unit_labels_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.unit_labels_[self.som_.predict(X)]

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


def cluster_map(som, unit_weights, **params):
    """A :class:`SOMClustering` of the units of an already fitted map.

    Nothing is trained: the units of ``som`` holding positive
    ``unit_weights`` (e.g. its hit counts) are clustered exactly as
    :meth:`SOMClustering.fit` clusters the map it trains, and the empty
    units join the cluster of the nearest unit holding data. ``params`` are
    SOMClustering's parameters (``n_clusters``, ``linkage``,
    ``connectivity``, ``max_clusters``).

    Returns
    -------
    SOMClustering
        With ``som_``, ``unit_weights_``, ``unit_labels_``, ``n_clusters_``
        (and ``heights_`` when ``n_clusters=None``); ``predict`` works.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(3, 0.3, (50, 2))])
    >>> som = SOM((5, 5), random_state=0).fit(X)
    >>> hits = np.bincount(som.predict(X), minlength=25)
    >>> est = cluster_map(som, hits, n_clusters=None)
    >>> est.n_clusters_, bool(est.predict(X[:1])[0] != est.predict(X[-1:])[0])
    (2, True)
    """
    est = SOMClustering(**params)
    est._check_params()
    est.n_features_in_ = int(som.n_features_in_)
    return est._cluster_units(som, unit_weights)
