"""somkit.metrics against loop references."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from somkit import SOM, metrics


@pytest.fixture(scope="module")
def fitted():
    X = load_iris().data
    return SOM((5, 6), topology="hex", n_epochs=5, random_state=0).fit(X), X


def _ref_neighbours(rows, cols, r, c, diagonal=False):
    """Adjacent cells of a rect grid, written out by hand."""
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if diagonal:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    return {
        (r + dr, c + dc)
        for dr, dc in steps
        if 0 <= r + dr < rows and 0 <= c + dc < cols
    }


def test_quantization_error_loop(fitted):
    som, X = fitted
    W = som.codebook_.astype(float)
    ref = np.mean([min(np.linalg.norm(x - w) for w in W) for x in X])
    assert metrics.quantization_error(som, X) == pytest.approx(ref, rel=1e-5)
    w = np.arange(len(X), dtype=float)
    d = cdist(X, W).min(axis=1)
    assert metrics.quantization_error(som, X, sample_weight=w) == pytest.approx(
        np.average(d, weights=w), rel=1e-5
    )
    assert som.score(X) == pytest.approx(-ref, rel=1e-5)


@pytest.mark.parametrize("diagonal", [False, True])
def test_topographic_error_rect_loop(diagonal):
    X = load_iris().data
    som = SOM((4, 5), n_epochs=2, radius=0.5, random_state=0).fit(X)
    W = som.codebook_.astype(float)
    bad = 0
    for x in X:
        order = np.argsort(np.linalg.norm(W - x, axis=1), kind="stable")
        b1, b2 = divmod(int(order[0]), 5), divmod(int(order[1]), 5)
        bad += b2 not in _ref_neighbours(4, 5, *b1, diagonal=diagonal)
    kind = "diagonal" if diagonal else "edges"
    assert metrics.topographic_error(som, X, adjacency=kind) == pytest.approx(
        bad / len(X)
    )
    assert som.topographic_error(X, adjacency=kind) == pytest.approx(bad / len(X))


def test_topographic_error_hex_uses_six_neighbours(fitted):
    som, X = fitted
    W = som.codebook_.astype(float)
    pos = []
    for r in range(5):
        for c in range(6):
            pos.append((r * math.sqrt(3) / 2, c + 0.5 * (r % 2)))
    pos = np.array(pos)
    bad = 0
    for x in X:
        o = np.argsort(np.linalg.norm(W - x, axis=1), kind="stable")
        bad += not np.isclose(np.linalg.norm(pos[o[0]] - pos[o[1]]), 1.0)
    assert metrics.topographic_error(som, X) == pytest.approx(bad / len(X))


def test_distortion_radius_zero_is_mean_squared_qe(fitted):
    som, X = fitted
    d = cdist(X, som.codebook_.astype(float)).min(axis=1)
    assert metrics.distortion(som, X, radius=0) == pytest.approx(
        np.mean(d**2), rel=1e-5
    )
    # A wider kernel averages over farther units: distortion grows.
    assert metrics.distortion(som, X, radius=2.0) > metrics.distortion(som, X, radius=0)


def test_trustworthiness_ordered_vs_scrambled(fitted):
    som, X = fitted
    good = metrics.trustworthiness(som, X, n_neighbors=5)
    scrambled = SOM((5, 6), topology="hex", n_epochs=1, random_state=0).fit(X)
    perm = np.random.default_rng(0).permutation(scrambled.grid_.n_units)
    scrambled._set_codebook(som.codebook_[perm])
    bad = metrics.trustworthiness(scrambled, X, n_neighbors=5)
    assert 0.9 < good <= 1.0
    assert bad < good - 0.03
    with pytest.raises(ValueError, match="n_neighbors"):
        metrics.trustworthiness(som, X, n_neighbors=100)


def test_metric_argument_errors(fitted):
    som, X = fitted
    with pytest.raises(ValueError, match="adjacency"):
        metrics.topographic_error(som, X, adjacency="corners")
    with pytest.raises(ValueError, match="features"):
        metrics.quantization_error(som, X[:, :2])


@pytest.mark.parametrize(
    "metric",
    [
        metrics.quantization_error,
        metrics.topographic_error,
        metrics.map_error,
        metrics.map_error_scorer,
        metrics.distortion,
    ],
)
def test_metrics_of_an_unfitted_map_raise_not_fitted(metric):
    # topographic_error and map_error read grid_ before the fitted check
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NotFittedError):
        metric(SOM((3, 3)), X)


def test_metrics_chunked_equal_whole(fitted):
    som, X = fitted
    small = SOM(**{**som.get_params(), "batch_size": 7})
    small.__dict__.update({k: v for k, v in som.__dict__.items() if k.endswith("_")})
    assert metrics.quantization_error(small, X) == pytest.approx(
        metrics.quantization_error(som, X), rel=1e-6
    )
    assert metrics.topographic_error(small, X) == metrics.topographic_error(som, X)


def _ref_trustworthiness(X, pos, period, k):
    """Venna & Kaski written out with loops (wrapped grid distances)."""
    n = len(X)
    d_data = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    delta = np.abs(pos[:, None] - pos[None])
    if period is not None:
        delta = np.minimum(delta, period - delta)
    d_map = np.sqrt((delta**2).sum(-1))
    total = 0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        by_data = sorted(others, key=lambda j: d_data[i, j])
        rank = {j: r + 1 for r, j in enumerate(by_data)}
        for j in sorted(others, key=lambda j: d_map[i, j])[:k]:
            total += max(rank[j] - k, 0)
    return 1 - 2 * total / (n * k * (2 * n - 3 * k - 1))


@pytest.mark.parametrize("topology", ["rect", "hex"])
@pytest.mark.parametrize("periodic", [False, True])
def test_trustworthiness_against_references(topology, periodic):
    from sklearn.manifold import trustworthiness as sk_trust

    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 5))  # continuous: no tied data distances
    som = SOM(
        grid=(6, 8), topology=topology, periodic=periodic, n_epochs=3, random_state=0
    ).fit(X)
    got = metrics.trustworthiness(som, X, n_neighbors=4)
    pos = som.grid_.positions[som.predict(X)]
    pos = pos + np.random.default_rng(0).uniform(-0.01, 0.01, size=pos.shape)
    period = som.grid_.period if periodic else None
    assert got == pytest.approx(_ref_trustworthiness(X, pos, period, 4), abs=1e-12)
    if not periodic:
        assert got == pytest.approx(sk_trust(X, pos, n_neighbors=4), abs=1e-12)
    else:
        # wrapping matters: the flat-plane value differs on a periodic map
        assert got != pytest.approx(sk_trust(X, pos, n_neighbors=4), abs=1e-6)
