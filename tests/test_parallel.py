"""The fast paths of the numpy kernels equal their plain counterparts.

Threaded chunked passes vs one serial pass, FFT smoothing vs the dense
kernel matrix, the online rule's separable-gaussian path vs its generic path.
"""

import numpy as np
import pytest

from somkit import SOM, _kernels
from somkit._grid import Grid
from somkit._kernels import _search, _smooth
from somkit._kernels._online import online_steps
from somkit._neighborhood import neighborhood, support
from somkit._registry import METRIC_ID, NEIGHBORHOOD_ID, NEIGHBORHOODS


def _data(n=3000, d=7, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) + 3 * rng.integers(0, 4, size=(n, 1))).astype(
        np.float32
    )


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot", "manhattan"])
def test_threaded_pass_equals_serial_pass(monkeypatch, metric):
    X = _data()
    grid = Grid((6, 5))
    W = X[np.random.default_rng(1).choice(len(X), grid.n_units)].copy()
    w = np.random.default_rng(2).uniform(0, 2, len(X))
    monkeypatch.setattr(_search, "THREAD_WORK", 1)
    monkeypatch.setattr(_search, "n_workers", lambda: 3)
    threaded = _kernels.batch_sums(X, W, metric, w, batch_size=97, grid=grid)
    idx_t = _kernels.bmu(X, W, metric, second=True, batch_size=97)
    monkeypatch.setattr(_search, "n_workers", lambda: 1)
    plain = _kernels.batch_sums(X, W, metric, w, batch_size=len(X), grid=grid)
    idx_p = _kernels.bmu(X, W, metric, second=True, batch_size=len(X))
    np.testing.assert_allclose(threaded[0], plain[0], rtol=1e-12)
    np.testing.assert_allclose(threaded[1], plain[1], rtol=1e-12)
    for key in ("qe_sum", "te_sum", "weight"):
        assert threaded[2][key] == pytest.approx(plain[2][key], rel=1e-12)
    for a, b in zip(idx_t, idx_p, strict=True):
        np.testing.assert_array_equal(a, b)


def test_threaded_fit_is_deterministic(monkeypatch):
    X = _data(4000)
    monkeypatch.setattr(_search, "THREAD_WORK", 1)
    monkeypatch.setattr(_search, "n_workers", lambda: 2)
    a = SOM((5, 6), n_epochs=3, random_state=0, batch_size=128).fit(X)
    b = SOM((5, 6), n_epochs=3, random_state=0, batch_size=128).fit(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_bmu_and_stats_match_brute_force():
    X = _data(2000, 5)
    grid = Grid((4, 6), "hex")
    W = X[:24] + 0.1
    idx, dist, idx2 = _kernels.bmu(X, W, "euclidean", second=True)
    D = np.sqrt(((X[:, None, :].astype(float) - W[None].astype(float)) ** 2).sum(-1))
    order = np.argsort(D, axis=1, kind="stable")
    np.testing.assert_array_equal(idx, order[:, 0])
    np.testing.assert_array_equal(idx2, order[:, 1])
    np.testing.assert_allclose(dist, D[np.arange(len(X)), idx], rtol=1e-6)
    stats = _kernels.bmu_stats(X, W, "euclidean", grid=grid)
    assert stats["qe_sum"] == pytest.approx(dist.sum())
    assert stats["te_sum"] == (~grid.are_adjacent(idx, idx2)).sum()


@pytest.mark.parametrize(
    "shape,topology,periodic",
    [
        ((13, 11), "rect", False),
        ((9, 8), "rect", True),
        ((12, 9), "hex", False),
        ((12, 10), "hex", True),
        ((4, 5, 3), "rect", False),
        ((4, 6, 3), "rect", True),
        ((17,), "rect", True),
    ],
)
@pytest.mark.parametrize("kernel", NEIGHBORHOODS)
def test_fft_smoothing_equals_dense_matrix(shape, topology, periodic, kernel):
    grid = Grid(shape, topology, periodic)
    rng = np.random.default_rng(0)
    for sigma in (0.8, 2.5, 9.0):
        values = rng.normal(size=(grid.n_units, 3))
        values[rng.random(grid.n_units) < 0.5] = 0.0
        D = grid.distances()
        H = neighborhood(kernel, D, sigma)
        reach = support(kernel, sigma)
        if np.isfinite(reach):
            H[D > reach + 1e-9] = 0.0
        ref = H @ values
        out = _smooth._fft_smooth(grid, kernel, sigma, values)
        np.testing.assert_allclose(out, ref, atol=1e-12)
        # no input within reach: exactly zero, as in the dense product
        far = np.abs(H) @ np.any(values != 0, axis=1) == 0
        assert np.all(out[far] == 0.0)


def test_large_map_smoothing_never_builds_dense_kernel(monkeypatch):
    grid = Grid((80, 90))
    monkeypatch.setattr(
        Grid, "distances", lambda *a, **k: pytest.fail("dense distances built")
    )
    values = np.random.default_rng(0).normal(size=(grid.n_units, 4))
    for kernel in NEIGHBORHOODS:
        out = _kernels.smooth(grid, kernel, 6.0, values)
        assert out.shape == values.shape and np.all(np.isfinite(out))


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("shape", [(7, 9), (11,), (3, 4, 5)])
def test_online_separable_gaussian_equals_generic_path(shape, periodic):
    grid = Grid(shape, "rect", periodic)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    W0 = rng.normal(size=(grid.n_units, 4))
    lrs = np.linspace(0.5, 0.05, len(X))
    sigmas = np.linspace(3.0, 0.5, len(X))
    out = []
    for lattice in (True, False):
        W = W0.copy()
        online_steps(
            X,
            np.ones(len(X)),
            W,
            grid.positions,
            grid.period,
            periodic,
            METRIC_ID["euclidean"],
            NEIGHBORHOOD_ID["gaussian"],
            lrs,
            sigmas,
            lattice=lattice,
        )
        out.append(W)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-10, atol=1e-12)
