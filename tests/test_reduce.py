"""somkit.reduce: one real sample per unit, distinct, representative."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs

import somkit
from somkit import SOM
from somkit._reduce import _grid_shape, pick_samples


@pytest.fixture(scope="module")
def digits():
    return load_digits().data / 16.0


def _reference_picks(som, X):
    """Loop reference: per unit, the nearest held sample (ties -> lowest index)."""
    D = np.linalg.norm(X[:, None, :] - som.codebook_[None].astype(np.float64), axis=2)
    bmu = D.argmin(axis=1)
    out = {}
    for u in range(som.grid_.n_units):
        held = np.flatnonzero(bmu == u)
        if len(held):
            out[u] = int(held[np.argmin(D[held, u])])
    return out, D


def test_reduce_digits_one_distinct_sample_per_unit(digits):
    idx, som = somkit.reduce(digits, 100, random_state=0, return_som=True)
    assert som.grid_.shape == (10, 10)
    assert idx.shape == (100,) and idx.dtype == np.int64
    assert np.all((idx >= 0) & (idx < len(digits)))
    # The issue asks for distinct indices for at least 80% of the units; with
    # more samples than units every pick is distinct.
    assert len(np.unique(idx)) == 100
    ref, _ = _reference_picks(som, digits)
    assert len(ref) >= 80  # the small final radius leaves few units empty
    for u, i in ref.items():
        assert idx[u] == i


def test_reduce_is_deterministic_and_passes_som_kwargs(digits):
    X = digits[:600]
    a = somkit.reduce(X, (4, 5), random_state=3, n_epochs=5)
    b = somkit.reduce(X, (4, 5), random_state=3, n_epochs=5)
    np.testing.assert_array_equal(a, b)
    idx, som = somkit.reduce(
        X, (4, 5), random_state=3, topology="hex", n_epochs=5, return_som=True
    )
    assert som.topology == "hex" and som.n_epochs == 5 and len(idx) == 20


def test_picks_cover_the_data_better_than_random(digits):
    """Mean distance of every sample to its nearest pick: SOM picks < random."""
    X = digits
    idx = somkit.reduce(X, 64, random_state=0)

    def spread(picks):
        D = np.linalg.norm(X[:, None, :] - X[picks][None], axis=2)
        return D.min(axis=1).mean()

    rng = np.random.default_rng(0)
    random_spreads = [spread(rng.choice(len(X), 64, replace=False)) for _ in range(10)]
    # Measured: 1.39 for the SOM picks, 1.53 to 1.60 for random draws.
    assert spread(idx) < min(random_spreads)


def test_empty_units_take_the_nearest_untaken_sample():
    # Two tight blobs far apart: the units between them win nothing.
    X, _ = make_blobs(
        n_samples=200, centers=[[-10, 0], [10, 0]], cluster_std=0.3, random_state=0
    )
    som = SOM(grid=9, radius=(3, 1.5), n_epochs=10, random_state=0).fit(X)
    idx = pick_samples(som, X)
    ref, D = _reference_picks(som, X)
    empty = [u for u in range(9) if u not in ref]
    assert empty, "the test needs a map with empty units"
    assert len(np.unique(idx)) == 9
    for u, i in ref.items():
        assert idx[u] == i
    # Greedy over (unit, sample) pairs by distance, skipping taken samples.
    taken = set(ref.values())
    pairs = sorted((D[i, u], u, i) for u in empty for i in range(len(X)))
    expected = {}
    for _, u, i in pairs:
        if u not in expected and i not in taken:
            expected[u] = i
            taken.add(i)
    for u in empty:
        assert idx[u] == expected[u]


def test_fewer_samples_than_units():
    X = np.random.default_rng(0).normal(size=(6, 3))
    idx = somkit.reduce(X, (3, 3), random_state=0, n_epochs=3)
    assert idx.shape == (9,)
    assert set(idx.tolist()) == set(range(6))


def test_cosine_metric_picks_by_angle():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)) * rng.uniform(0.1, 10, size=(300, 1))
    idx, som = somkit.reduce(
        X, 12, random_state=0, metric="cosine", n_epochs=5, return_som=True
    )
    assert len(np.unique(idx)) == 12
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sim = Xn @ som.codebook_.T
    bmu = sim.argmax(axis=1)
    for u in range(12):
        held = np.flatnonzero(bmu == u)
        if len(held):
            assert idx[u] == held[np.argmax(sim[held, u])]


@pytest.mark.parametrize(
    ("grid", "shape"),
    [(100, (10, 10)), (12, (3, 4)), (7, (7,)), (1, (1,)), ((2, 5), (2, 5))],
)
def test_grid_shape(grid, shape):
    assert _grid_shape(grid) == shape


def test_input_errors(digits):
    with pytest.raises(TypeError, match="grid"):
        somkit.reduce(digits, 10, grid=(2, 5))
    with pytest.raises(ValueError, match="grid"):
        somkit.reduce(digits, 0)
    with pytest.raises(ValueError, match="grid"):
        somkit.reduce(digits, "ten")
    with pytest.raises(ValueError, match="radius"):
        somkit.reduce(digits, 10, radius=-1.0)
