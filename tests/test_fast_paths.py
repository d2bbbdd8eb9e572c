"""Shortcuts of the numpy kernels against the plain computation they replace."""

import numpy as np
import pytest
from scipy.linalg import eigh

from somkit import SOM, _init, _kernels
from somkit._backends.numpy import NumpyBackend
from somkit._grid import Grid
from somkit._init import init_codebook, make_grid
from somkit._kernels._threads import balanced_rows

NUMPY = NumpyBackend()


def pca_init(X, grid):
    return init_codebook(X, grid, "pca", None, None, NUMPY)[0]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    # anisotropic, off-centre: the components and the shift both matter
    X = rng.standard_normal((1500, 24)) * np.linspace(4.0, 0.2, 24) + 0.5
    return X.astype(np.float32)


GRIDS = [
    ((8, 11), "rect", False),
    ((8, 10), "hex", True),
    ((17,), "rect", False),
    ((3, 4, 5), "rect", False),
]


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot"])
@pytest.mark.parametrize("shape, topology, periodic", GRIDS)
def test_factored_first_pass_matches_full_pass(data, metric, shape, topology, periodic):
    som = SOM(grid=shape, topology=topology, periodic=periodic, metric=metric)
    som._check_params()
    rng = np.random.default_rng(0)
    som.grid_ = make_grid(som, data, None, NUMPY)
    W, factored = som._initialize(data, None, np.float32, rng, NUMPY)
    assert factored is not None
    full = _kernels.batch_sums(data, W, metric, grid=som.grid_)
    fast = _kernels.batch_sums(data, W, metric, grid=som.grid_, factored=factored)
    np.testing.assert_array_equal(fast[1], full[1])  # same winners
    np.testing.assert_allclose(fast[0], full[0], rtol=1e-12, atol=1e-9)
    for key in ("qe_sum", "te_sum", "weight"):
        assert fast[2][key] == pytest.approx(full[2][key], rel=1e-12)


def test_factors_reproduce_the_codebook(data):
    grid = Grid((6, 9), "hex", False)
    W, factored = init_codebook(data, grid, "pca", None, None, NUMPY)
    np.testing.assert_allclose(W, factored.dense(), rtol=1e-12, atol=1e-12)
    # the SOM Toolbox's lininit written out: corners at mean +- sd * pc
    mean = data.mean(axis=0, dtype=np.float64)
    cov = np.cov(data.T.astype(np.float64), bias=True)
    evals, evecs = np.linalg.eigh(cov)
    pc1 = evecs[:, -1] * np.sqrt(evals[-1])
    sign = np.sign(pc1[np.argmax(np.abs(pc1))])
    col = grid.positions[:, 1]
    u = 2 * (col - col.min()) / np.ptp(col) - 1  # columns span more than rows
    expected_pc1 = mean + np.outer(u, sign * pc1)
    rows = grid.positions[:, 0] == grid.positions[:, 0].min()
    # first-row units differ from the 1-component line only along pc2
    residual = W[rows] - expected_pc1[rows]
    # (float32 data: the covariance is formed from float32 products)
    assert np.allclose(residual - residual[0], 0.0, atol=1e-5)
    unit = factored.unit_rows().dense()
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(unit, _kernels.normalize_rows(W), rtol=1e-10)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_fit_with_pca_init_equals_fit_from_the_same_array(data, metric):
    """fit(init="pca") takes the factored first pass; an array init does not."""
    params = dict(grid=(7, 9), metric=metric, n_epochs=4, random_state=0)
    a = SOM(init="pca", **params).fit(data)
    grid = a.grid_
    W0 = pca_init(data, grid)
    if metric == "cosine":
        W0 = _kernels.normalize_rows(W0)
    W0 = W0.astype(np.float32)
    b = SOM(init=W0, **params).fit(data)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.history_["topographic_error"] == b.history_["topographic_error"]


@pytest.mark.parametrize("n", [1, 7, 1000, 20000, 20001, 99999])
@pytest.mark.parametrize("rows", [1, 64, 1165, 8192])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_balanced_chunks(n, rows, workers):
    r = balanced_rows(n, rows, workers)
    assert 1 <= r <= rows
    n_chunks = -(-n // r)
    # chunks go round-robin to the threads; the busiest one may exceed an
    # even share by less than one row per chunk it holds
    sizes = [min(r, n - c * r) for c in range(n_chunks)]
    load = [sum(sizes[k::workers]) for k in range(workers)]
    assert max(load) - -(-n // workers) < -(-n_chunks // workers)


@pytest.mark.parametrize("d", [300, 800])
def test_lanczos_top_pairs_match_lapack(d):
    rng = np.random.default_rng(d)
    A = rng.standard_normal((d + 50, d)) * np.linspace(3, 1, d)
    cov = A.T @ A / len(A)
    evals, evecs = _init._top_eigh(cov, 2)
    ref_vals, ref_vecs = eigh(cov, subset_by_index=[d - 2, d - 1])
    np.testing.assert_allclose(evals, ref_vals, rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(evecs * ref_vecs, axis=0)), 1, atol=1e-8)


# ------------------------------------------------------------- online rule
def one_ordered_pass(X, W0, **params):
    """The online rule over X once, in order, in float64, from codebook W0."""
    return SOM(
        algorithm="online",
        init=W0,
        n_epochs=1,
        shuffle=False,
        dtype="float64",
        **params,
    ).fit(X)


def ref_online_with_stats(X, W, pos, metric, sigma, lr):
    """The textbook online loop in float64, recording each sample's QE and TE
    on the codebook it meets before its own step."""
    W = W.copy()
    D = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    qe = te = 0.0
    for x in X:
        if metric == "euclidean":
            dist = np.sqrt(((x - W) ** 2).sum(axis=1))
        elif metric == "manhattan":
            dist = np.abs(x - W).sum(axis=1)
        elif metric == "chebyshev":
            dist = np.abs(x - W).max(axis=1)
        elif metric == "dot":
            dist = -(W @ x)
        else:
            dist = 1.0 - W @ x  # unit rows
        order = np.argsort(dist, kind="stable")
        c, c2 = order[0], order[1]
        qe += dist[c]
        te += not (1e-9 < D[c, c2] <= 1 + 1e-9)
        W += lr * np.exp(-(D[:, c] ** 2) / (2 * sigma**2))[:, None] * (x - W)
        if metric == "cosine":
            W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W, qe / len(X), te / len(X)


@pytest.mark.parametrize(
    "metric", ["euclidean", "manhattan", "chebyshev", "dot", "cosine"]
)
@pytest.mark.parametrize("d", [10, 4, 3])
def test_online_rule_and_running_stats_match_loop(metric, d):
    """Features in groups of four (plus a remainder) and the running QE/TE."""
    rng = np.random.default_rng(d)
    X = rng.normal(size=(40, d)) + rng.integers(0, 3, size=(40, 1))
    if metric == "cosine":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    shape = (4, 6)
    W0 = rng.normal(size=(24, d))
    if metric == "cosine":
        W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
    som = one_ordered_pass(
        X, W0, grid=shape, metric=metric, radius=1.3, learning_rate=0.2
    )
    pos = np.argwhere(np.ones(shape)).astype(float)
    W, qe, te = ref_online_with_stats(X, W0, pos, metric, 1.3, 0.2)
    np.testing.assert_allclose(som.codebook_, W, rtol=1e-9, atol=1e-12)
    assert som.history_["quantization_error"][0] == pytest.approx(qe, rel=1e-9)
    assert som.history_["topographic_error"][0] == pytest.approx(te, abs=1e-12)


@pytest.mark.parametrize("m", [1, 2, 7, 15, 16, 17, 64, 1601])
def test_online_argmin_matches_numpy(m):
    from somkit._kernels._online import _argmin

    rng = np.random.default_rng(m)
    for dtype in (np.float32, np.float64):
        v = rng.integers(0, 5, size=m).astype(dtype)  # many ties
        assert _argmin(v) == int(np.argmin(v))
        v = rng.standard_normal(m).astype(dtype)
        assert _argmin(v) == int(np.argmin(v))


@pytest.mark.parametrize("topology", ["rect", "hex"])
def test_online_radius_zero_moves_only_the_winner(topology):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 6))
    W0 = rng.normal(size=(12, 6))
    som = one_ordered_pass(
        X, W0, grid=(3, 4), topology=topology, radius=0, learning_rate=0.3
    )
    W = W0.copy()
    for x in X:  # sequential competitive learning
        c = np.argmin(((x - W) ** 2).sum(axis=1))
        W[c] += 0.3 * (x - W[c])
    np.testing.assert_allclose(som.codebook_, W, rtol=1e-12)


@pytest.mark.parametrize("d", [300, 2100])
def test_pca_init_of_constant_data_and_single_rows(d):
    """Lanczos must not fail when the covariance annihilates its start."""
    X = np.full((20, d), 2.5, dtype=np.float32)
    som = SOM(grid=(3, 3), n_epochs=1).fit(X)
    np.testing.assert_allclose(som.codebook_, 2.5, rtol=1e-6)
    one = np.random.default_rng(0).random((1, d))
    som = SOM(grid=(3, 3)).partial_fit(one)
    np.testing.assert_allclose(som.codebook_, np.repeat(one, 9, axis=0), rtol=1e-6)


def test_lanczos_when_the_start_vector_is_in_the_null_space():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 300)) * np.linspace(2, 1, 300)
    X -= X.mean(axis=1, keepdims=True)  # rows sum to 0: cov @ ones == 0
    cov = np.cov(X.T, bias=True)
    assert np.abs(cov @ np.ones(300)).max() < 1e-10
    evals, evecs = _init._top_eigh(cov, 2)
    ref_vals, ref_vecs = eigh(cov, subset_by_index=[298, 299])
    np.testing.assert_allclose(evals, ref_vals, rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(evecs * ref_vecs, axis=0)), 1, atol=1e-8)


def test_factored_pass_keeps_lowest_index_ties():
    """Units equal after normalising tie exactly (cosine on one feature)."""
    X = np.random.default_rng(0).normal(size=(200, 1)) + 3
    som = SOM(grid=(1, 6), metric="cosine")
    som._check_params()
    rng = np.random.default_rng(0)
    som.grid_ = make_grid(som, X, None, NUMPY)
    W, factored = som._initialize(X, None, np.float32, rng, NUMPY)
    full = _kernels.batch_sums(X, W, "cosine", grid=som.grid_)
    fast = _kernels.batch_sums(X, W, "cosine", grid=som.grid_, factored=factored)
    np.testing.assert_array_equal(fast[1], full[1])
    assert full[1][0] == 200
