"""Consensus clustering of SOM units (ConsensusClusterPlus, as FlowSOM uses it).

Definition (Monti et al. 2003, "Consensus clustering", Machine Learning 52:
91-118; implemented in R by Wilkerson & Hayes 2010, ConsensusClusterPlus,
Bioinformatics 26:1572): draw ``n_resamples`` subsets of the items, each a
share ``resample_fraction`` of them without replacement; cluster every subset
hierarchically (euclidean distance, ``linkage``) and cut its tree into k
clusters. The consensus matrix entry of items i and j is the number of
subsets in which both were drawn and fell in the same cluster divided by the
number of subsets in which both were drawn (0 when never drawn together).
The final clustering cuts the ``final_linkage`` tree of the distance
``1 - consensus`` into k clusters. FlowSOM calls it with ``reps=100``,
``pItem=0.9``, ``pFeature=1``, ``clusterAlg="hc"`` and average linkage
inside and outside.

Choosing k: FlowSOM's elbow (Van Gassen et al. 2015, Cytometry A 87:636)
fits two straight lines to the within-cluster sum of squares of k = 1..max
and takes the k where the pair fits best; Monti's consensus CDF area A(k)
grows with k while clusters split cleanly and flattens after, so the relative
gain ``delta(k) = (A(k) - A(k-1)) / A(k-1)`` falls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

LINKAGES = ("average", "complete", "single", "ward", "centroid", "median", "weighted")
#: Bins of the consensus CDF, as ConsensusClusterPlus draws it.
CDF_BINS = 100


@dataclass
class ConsensusResult:
    """Consensus clustering for every k in ``k_values``.

    Attributes
    ----------
    k_values : list of int
    labels : dict k -> ndarray of shape (n_items,)
        Final clusters numbered 0..k-1 in order of first appearance.
    consensus : dict k -> ndarray of shape (n_items, n_items)
    cdf_area : dict k -> float
        Area under the empirical CDF of the consensus values (pairs i < j).
    """

    k_values: list
    labels: dict = field(default_factory=dict)
    consensus: dict = field(default_factory=dict)
    cdf_area: dict = field(default_factory=dict)


def resample_indices(n_items, n_resamples, resample_fraction, rng):
    """The item subsets of every resample (sorted index arrays)."""
    size = max(2, int(np.floor(resample_fraction * n_items)))
    size = min(size, n_items)
    return [
        np.sort(rng.choice(n_items, size=size, replace=False))
        for _ in range(n_resamples)
    ]


def cut_tree(X, k_values, linkage, metric="euclidean", precomputed=None):
    """Labels of the ``linkage`` tree of X cut into each k (dict k -> labels)."""
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist

    dist = precomputed if precomputed is not None else pdist(X, metric)
    if dist.size == 0:  # one item
        return {k: np.zeros(1, dtype=np.int64) for k in k_values}
    Z = hierarchy.linkage(dist, method=linkage)
    return {
        k: _first_seen(hierarchy.fcluster(Z, t=k, criterion="maxclust"))
        for k in k_values
    }


def _first_seen(labels):
    """Renumber labels 0..k-1 in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def consensus_matrices(X, k_values, subsets, linkage="average"):
    """Consensus matrix for every k from the given resampled subsets."""
    n = X.shape[0]
    together = {k: np.zeros((n, n)) for k in k_values}
    drawn = np.zeros((n, n))
    for idx in subsets:
        cuts = cut_tree(X[idx], k_values, linkage)
        drawn[np.ix_(idx, idx)] += 1.0
        for k, lab in cuts.items():
            same = (lab[:, None] == lab[None, :]).astype(np.float64)
            together[k][np.ix_(idx, idx)] += same
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in k_values:
            m = np.where(drawn > 0, together[k] / np.maximum(drawn, 1), 0.0)
            np.fill_diagonal(m, 1.0)
            out[k] = m
    return out


def cdf_area(consensus, bins=CDF_BINS):
    """Area under the empirical CDF of the consensus values of pairs i < j.

    The CDF is evaluated on ``bins + 1`` equally spaced points of [0, 1] and
    integrated as a step function (each interval takes the CDF at its right
    end), which is how ConsensusClusterPlus computes the area.
    """
    values = consensus[np.triu_indices_from(consensus, k=1)]
    grid = np.linspace(0.0, 1.0, bins + 1)
    cdf = np.searchsorted(np.sort(values), grid, side="right") / max(values.size, 1)
    return float(np.sum(np.diff(grid) * cdf[1:]))


def consensus_cluster(
    X,
    k_values,
    *,
    n_resamples=100,
    resample_fraction=0.9,
    linkage="average",
    final_linkage="average",
    random_state=None,
):
    """Consensus clustering of the rows of X into each k of ``k_values``.

    Parameters
    ----------
    X : array-like of shape (n_items, n_features)
        Items to cluster (FlowSOM: the SOM codebook).
    k_values : int or sequence of int
        Numbers of clusters (each in 1..n_items).
    n_resamples : int, default=100
    resample_fraction : float, default=0.9
        Share of items drawn (without replacement) in each resample.
    linkage, final_linkage : str, default="average"
        Linkage of the trees on the resamples and of the final tree on
        ``1 - consensus`` (scipy's names).
    random_state : int, Generator or None

    Returns
    -------
    ConsensusResult

    Examples
    --------
    >>> import numpy as np
    >>> from somkit.cytometry import consensus_cluster
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10] + np.arange(10)[:, None] / 100
    >>> res = consensus_cluster(X, 2, n_resamples=20, random_state=0)
    >>> res.labels[2].tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """
    from scipy.spatial.distance import squareform

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a 2-D array with rows, got shape {X.shape}.")
    ks = check_k_values(k_values, X.shape[0])
    check_consensus_params(n_resamples, resample_fraction, linkage, final_linkage)
    rng = np.random.default_rng(random_state)
    subsets = resample_indices(X.shape[0], n_resamples, resample_fraction, rng)
    mats = consensus_matrices(X, ks, subsets, linkage)
    result = ConsensusResult(k_values=ks)
    for k in ks:
        m = mats[k]
        dist = squareform(1.0 - m, checks=False)
        result.labels[k] = cut_tree(None, [k], final_linkage, precomputed=dist)[k]
        result.consensus[k] = m
        result.cdf_area[k] = cdf_area(m)
    return result


def check_k_values(k_values, n_items):
    """k values as a sorted list of ints in 1..n_items (ValueError otherwise)."""
    ks = [k_values] if isinstance(k_values, Integral) else list(k_values)
    if not ks or any(
        not isinstance(k, Integral) or isinstance(k, bool) or not 1 <= k <= n_items
        for k in ks
    ):
        raise ValueError(
            f"the numbers of clusters must be ints in 1..{n_items} (the number of "
            f"items), got {k_values!r}."
        )
    return sorted({int(k) for k in ks})


def check_consensus_params(n_resamples, resample_fraction, linkage, final_linkage):
    if (
        not isinstance(n_resamples, Integral)
        or isinstance(n_resamples, bool)
        or n_resamples < 1
    ):
        raise ValueError(f"n_resamples must be an int >= 1, got {n_resamples!r}.")
    if not isinstance(resample_fraction, Real) or not 0 < resample_fraction <= 1:
        raise ValueError(
            f"resample_fraction must be in (0, 1], got {resample_fraction!r}."
        )
    for name, value in (("linkage", linkage), ("final_linkage", final_linkage)):
        if value not in LINKAGES:
            raise ValueError(f"{name} must be one of {LINKAGES}, got {value!r}.")


def within_sse(X, labels):
    """Within-cluster sum of squared distances to the cluster means."""
    X = np.asarray(X, dtype=np.float64)
    total = 0.0
    for c in np.unique(labels):
        rows = X[labels == c]
        total += float(((rows - rows.mean(axis=0)) ** 2).sum())
    return total


def elbow(values):
    """FlowSOM's elbow of a curve given at k = 1..len(values).

    For every split point i (2 <= i <= n - 1) two least-squares lines are
    fitted, one to the points 1..i-1 and one to i..n; the elbow is the i
    whose two lines leave the smallest sum of absolute residuals (the first
    k of the flat part).

    Examples
    --------
    >>> from somkit.cytometry._consensus import elbow
    >>> elbow([100, 60, 20, 18, 16, 14, 12, 10])
    4
    """
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n < 3:
        raise ValueError(f"the elbow needs at least 3 values, got {n}.")
    x = np.arange(1, n + 1, dtype=np.float64)
    best, best_i = np.inf, 2
    for i in range(2, n):
        r = _abs_residuals(x[: i - 1], y[: i - 1]) + _abs_residuals(
            x[i - 1 :], y[i - 1 :]
        )
        if r < best:
            best, best_i = r, i
    return best_i


def _abs_residuals(x, y):
    if x.size < 2:
        return 0.0
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.abs(y - (slope * x + intercept)).sum())


def cdf_choice(areas, min_gain=0.1):
    """Smallest k whose next k adds less than ``min_gain`` relative CDF area.

    ``areas`` maps consecutive k (from 2) to the consensus CDF area A(k); the
    relative gain of k + 1 is ``(A(k+1) - A(k)) / A(k)``. When every step
    gains more, the largest k is returned.
    """
    ks = sorted(areas)
    for k, nxt in zip(ks[:-1], ks[1:], strict=True):
        if (areas[nxt] - areas[k]) / max(areas[k], 1e-12) < min_gain:
            return k
    return ks[-1]
