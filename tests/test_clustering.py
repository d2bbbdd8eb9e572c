"""SOMClustering: sklearn compatibility, non-convex clusters, empty units."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from somkit import SOM, SOMClustering

# ------------------------------------------------------------------ data


def interlocked_rings(n=400, noise=0.05, seed=0):
    """Two unit circles in 3-D linked like chain links (1 apart at the link)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    s = rng.uniform(0, 2 * np.pi, n)
    a = np.c_[np.cos(t), np.sin(t), np.zeros(n)]
    b = np.c_[1 + np.cos(s), np.zeros(n), np.sin(s)]
    X = np.vstack([a, b]) + rng.normal(0, noise, (2 * n, 3))
    return X, np.repeat([0, 1], n)


def ball_in_shell(n_ball=300, n_shell=600, seed=0):
    """A dense ball of radius 0.3 inside a spherical shell of radius 0.95-1.05."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n_ball, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ball = v * 0.3 * rng.uniform(0, 1, (n_ball, 1)) ** (1 / 3)
    u = rng.normal(size=(n_shell, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    shell = u * rng.uniform(0.95, 1.05, (n_shell, 1))
    return np.vstack([ball, shell]), np.repeat([0, 1], [n_ball, n_shell])


# ------------------------------------------------------- sklearn checks

ESTIMATORS = [
    SOMClustering(random_state=0),
    SOMClustering(
        n_clusters=None, linkage="single", som=SOM((5, 5), n_epochs=3, random_state=0)
    ),
    SOMClustering(
        linkage="average",
        connectivity="grid",
        som=SOM((4, 4), metric="cosine", topology="hex", random_state=0),
    ),
    SOMClustering(linkage="complete", som=SOM(12, metric="manhattan", random_state=0)),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------ non-convex shapes


@pytest.mark.parametrize("make", [interlocked_rings, ball_in_shell])
@pytest.mark.parametrize("seed", [0, 1])
def test_single_linkage_separates_what_kmeans_cannot(make, seed):
    X, y = make(seed=seed)
    km = KMeans(2, n_init=4, random_state=seed).fit_predict(X)
    assert adjusted_rand_score(y, km) < 0.3
    est = SOMClustering(n_clusters=2, linkage="single", random_state=seed).fit(X)
    assert adjusted_rand_score(y, est.labels_) >= 0.9
    # the count is found without being told
    auto = SOMClustering(n_clusters=None, linkage="single", random_state=seed).fit(X)
    assert auto.n_clusters_ == 2
    assert adjusted_rand_score(y, auto.labels_) >= 0.9


def test_single_linkage_with_a_given_map():
    X, y = interlocked_rings(seed=3)
    som = SOM((15, 15), radius=(4, 0.5), random_state=0)
    est = SOMClustering(n_clusters=2, som=som, linkage="single").fit(X)
    assert adjusted_rand_score(y, est.labels_) >= 0.9
    # the given map is cloned, never fitted in place
    assert not hasattr(som, "codebook_")
    assert est.som_ is not som and est.som_.grid_.shape == (15, 15)


def test_ward_on_blobs_close_to_kmeans():
    X, y = make_blobs(600, centers=4, random_state=2)
    est = SOMClustering(n_clusters=4, random_state=0).fit(X)
    km = KMeans(4, n_init=10, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, est.labels_) >= adjusted_rand_score(y, km) - 0.05
    grid = SOMClustering(n_clusters=4, connectivity="grid", random_state=0).fit(X)
    assert adjusted_rand_score(y, grid.labels_) >= 0.9


def test_cosine_map_clusters_directions():
    # Two directions, magnitudes from 0.1 to 10: Euclidean groups by length,
    # the cosine map's distances group by direction.
    rng = np.random.default_rng(0)
    dirs = np.array([[1.0, 0.2, 0.0], [0.0, 0.3, 1.0]])
    y = rng.integers(0, 2, 400)
    X = dirs[y] * rng.uniform(0.1, 10, (400, 1)) + rng.normal(0, 0.02, (400, 3))
    som = SOM((6, 6), metric="cosine", random_state=0)
    est = SOMClustering(n_clusters=2, som=som, linkage="average").fit(X)
    assert adjusted_rand_score(y, est.labels_) == 1.0


# ------------------------------------------------ semantics vs references


def test_units_labels_match_a_linkage_without_empty_units():
    X, _ = make_blobs(300, centers=3, cluster_std=0.4, random_state=0)
    som = SOM((12, 12), radius=(3, 0.5), random_state=0)
    est = SOMClustering(n_clusters=3, som=som, linkage="single").fit(X)
    bmu = est.som_.predict(X)
    hits = np.bincount(bmu, minlength=144)
    used = np.flatnonzero(hits > 0)
    empty = np.flatnonzero(hits == 0)
    assert len(empty) > 20  # the gaps between the blobs
    np.testing.assert_array_equal(est.unit_weights_, hits)
    W = est.som_.codebook_.astype(float)
    # used units: sklearn's single linkage on the used codebook vectors alone
    ref = AgglomerativeClustering(3, linkage="single").fit_predict(W[used])
    assert adjusted_rand_score(ref, est.unit_labels_[used]) == 1.0
    # empty units: the cluster of the nearest used unit
    nearest = used[np.argmin(cdist(W[empty], W[used]), axis=1)]
    np.testing.assert_array_equal(est.unit_labels_[empty], est.unit_labels_[nearest])
    # samples: the cluster of their BMU; predict agrees on the training data
    np.testing.assert_array_equal(est.labels_, est.unit_labels_[bmu])
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    # clusters numbered by their lowest unit index
    firsts = [np.flatnonzero(est.unit_labels_ == k)[0] for k in range(3)]
    assert firsts == sorted(firsts)


@pytest.mark.parametrize("seed", [0, 1])
def test_empty_units_would_chain_the_clusters(seed):
    # With the empty units in the single linkage, the units stretched across
    # the gaps chain two blobs together and a cluster of empty units takes a
    # label; leaving them out keeps the three blobs apart.
    X, y = make_blobs(
        300, centers=[[0, 0], [6, 0], [3, 5]], cluster_std=0.5, random_state=seed
    )
    # a map that ends at radius 1.5 leaves units in the gaps
    som = SOM((10, 10), n_epochs=10, random_state=0)
    est = SOMClustering(n_clusters=3, som=som, linkage="single").fit(X)
    assert adjusted_rand_score(y, est.labels_) == 1.0
    W = est.som_.codebook_.astype(float)
    all_units = AgglomerativeClustering(3, linkage="single").fit_predict(W)
    naive = all_units[est.som_.predict(X)]
    assert adjusted_rand_score(y, naive) < 0.6


def test_zero_weight_units_count_as_empty_and_centres_are_weighted():
    X, y = make_blobs(200, centers=2, cluster_std=0.5, random_state=0)
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, 200)
    som = SOM((8, 8), radius=(2, 0.5), random_state=0)
    est = SOMClustering(n_clusters=2, som=som).fit(X, sample_weight=sw)
    bmu = est.som_.labels_
    np.testing.assert_allclose(
        est.unit_weights_, np.bincount(bmu, weights=sw, minlength=64)
    )
    for k in range(est.n_clusters_):
        members = est.labels_ == k
        np.testing.assert_allclose(
            est.cluster_centers_[k],
            np.average(X[members], axis=0, weights=sw[members]),
        )
    # Zero-weight samples spread over the gaps: their units hold samples but
    # no weight, and are assigned like empty units (nearest weighted unit).
    Xz = np.vstack([X, rng.uniform([-6, -6], [10, 6], (60, 2))])
    swz = np.r_[sw, np.zeros(60)]
    est0 = SOMClustering(n_clusters=2, som=som).fit(Xz, sample_weight=swz)
    bmu = est0.som_.labels_
    hits = np.bincount(bmu, minlength=64)
    weighted = np.flatnonzero(est0.unit_weights_ > 0)
    ghost = np.flatnonzero((hits > 0) & (est0.unit_weights_ == 0))
    assert len(ghost) > 0
    W = est0.som_.codebook_.astype(float)
    nearest = weighted[np.argmin(cdist(W[ghost], W[weighted]), axis=1)]
    np.testing.assert_array_equal(est0.unit_labels_[ghost], est0.unit_labels_[nearest])
    ref = AgglomerativeClustering(2, linkage="ward").fit_predict(W[weighted])
    assert adjusted_rand_score(ref, est0.unit_labels_[weighted]) == 1.0
    assert adjusted_rand_score(y, est0.labels_[:200]) == 1.0


def test_n_clusters_none_cuts_the_largest_gap():
    X, y = make_blobs(
        400, centers=[[0, 0], [10, 0], [0, 10]], cluster_std=0.6, random_state=0
    )
    som = SOM((10, 10), radius=(3, 0.5), random_state=0)
    est = SOMClustering(n_clusters=None, som=som, linkage="ward").fit(X)
    assert est.n_clusters_ == 3
    assert adjusted_rand_score(y, est.labels_) == 1.0
    # independent reference: scipy's ward heights over the used units
    used = np.flatnonzero(est.unit_weights_ > 0)
    Z = linkage(est.som_.codebook_[used].astype(float), "ward")
    h = np.sort(Z[:, 2])
    np.testing.assert_allclose(est.heights_, h, rtol=1e-6, atol=1e-9)
    m = len(used)
    gaps = {k: h[m - k] - h[m - k - 1] for k in range(2, 11)}
    assert max(gaps, key=gaps.get) == 3
    ref = fcluster(Z, 3, criterion="maxclust")
    assert adjusted_rand_score(ref, est.unit_labels_[used]) == 1.0
    # max_clusters bounds the search
    two = SOMClustering(n_clusters=None, som=som, max_clusters=2).fit(X)
    assert two.n_clusters_ == 2


def test_pandas_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = make_blobs(100, centers=2, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b"])
    est = SOMClustering(som=SOM((4, 4), random_state=0)).fit(df)
    assert list(est.feature_names_in_) == ["a", "b"]
    np.testing.assert_array_equal(est.predict(df), est.labels_)


@pytest.mark.parametrize(
    "params, exc, word",
    [
        (dict(n_clusters=0), ValueError, "n_clusters"),
        (dict(n_clusters=2.5), ValueError, "n_clusters"),
        (dict(linkage="centroid"), ValueError, "linkage"),
        (dict(connectivity="knn"), ValueError, "connectivity"),
        (dict(max_clusters=1), ValueError, "max_clusters"),
        (dict(som="SOM"), TypeError, "som"),
    ],
)
def test_bad_parameters(params, exc, word):
    X, _ = make_blobs(50, random_state=0)
    with pytest.raises(exc, match=word):
        SOMClustering(**params).fit(X)


def test_more_clusters_than_used_units():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 10, axis=0)
    with pytest.raises(ValueError, match="n_clusters=3"):
        SOMClustering(n_clusters=3, som=SOM((3, 3), random_state=0)).fit(X)
