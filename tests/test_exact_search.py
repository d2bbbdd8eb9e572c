"""The BMU search decides by float64 distances, not by float32 scores.

Standardised blobs in 784 dimensions on a trained map have many units whose
squared distances to a sample agree to float32's resolution, so the two
best units taken from float32 scores differ from the exact ones for some
samples. Every backend and every place that reports the runner-up (the
metrics, ``history_``, the online rule's running statistics) must give the
answer of an independent float64 computation.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from somkit import SOM, metrics
from somkit._backends import resolve
from somkit._init import init_codebook
from somkit._kernels import normalize_rows


def _blobs(n=2000, d=784, seed=0):
    X, _ = make_blobs(n_samples=n, n_features=d, centers=20, random_state=seed)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.ascontiguousarray(X, dtype=np.float32)


def _reference(X, W, metric="euclidean"):
    """Best two units and the best distance, in float64, one unit at a time.

    Cosine compares the unit rows the map stores and searches with (the
    float32 rows scaled to unit norm).
    """
    if metric == "cosine":
        X, W = normalize_rows(X), normalize_rows(W)
    Xd = X.astype(np.float64)
    D = np.empty((len(X), len(W)))
    for j, w in enumerate(W.astype(np.float64)):
        if metric == "euclidean":
            D[:, j] = np.sqrt(((Xd - w) ** 2).sum(axis=1))
        elif metric == "cosine":
            D[:, j] = np.maximum(0.0, 1.0 - Xd @ w)
        else:
            D[:, j] = -(Xd @ w)
    order = np.argsort(D, axis=1, kind="stable")[:, :2]
    return order[:, 0], order[:, 1], D[np.arange(len(X)), order[:, 0]]


def _te(grid, i1, i2, limit):
    gap = np.linalg.norm(grid.positions[i1] - grid.positions[i2], axis=1)
    return float(np.mean(gap > limit + 1e-9))


@pytest.fixture(scope="module")
def trained():
    X = _blobs()
    som = SOM((20, 20), n_epochs=3, random_state=0).fit(X)
    return X, som


def test_float32_scores_would_get_the_runner_up_wrong(trained):
    # the data has the near-ties this file is about: the plain float32
    # expansion (the search before this fix) picks other units
    X, som = trained
    W = som.codebook_
    shift = W.mean(axis=0)
    S = (X - shift) @ (-2 * (W - shift).T) + ((W - shift) ** 2).sum(axis=1)
    naive = np.argsort(S, axis=1, kind="stable")[:, :2]
    r1, r2, _ = _reference(X, W)
    assert np.sum((naive[:, 0] != r1) | (naive[:, 1] != r2)) > 10


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_best_two_and_errors_match_float64(trained, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    X, som = trained
    som = som.set_params(backend=backend)
    r1, r2, rd = _reference(X, som.codebook_)
    i1, d1, i2 = som._bmu(X, second=True)
    np.testing.assert_array_equal(i1, r1)
    np.testing.assert_array_equal(i2, r2)
    np.testing.assert_allclose(d1, rd, rtol=1e-12)
    g = som.grid_
    assert metrics.topographic_error(som, X) == pytest.approx(_te(g, r1, r2, 1.0))
    assert metrics.topographic_error(som, X, "diagonal") == pytest.approx(
        _te(g, r1, r2, np.sqrt(2))
    )
    assert metrics.quantization_error(som, X) == pytest.approx(rd.mean(), rel=1e-12)
    som.set_params(backend="auto")


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_other_gemm_metrics_match_float64(metric):
    X = _blobs(1000, 256)
    som = SOM((15, 15), metric=metric, n_epochs=2, random_state=0).fit(X)
    r1, r2, rd = _reference(X, som.codebook_, metric)
    i1, d1, i2 = som._bmu(X, second=True)
    np.testing.assert_array_equal(i1, r1)
    np.testing.assert_array_equal(i2, r2)
    np.testing.assert_allclose(d1, rd, rtol=1e-12, atol=1e-12)


def test_history_of_a_batch_epoch_is_exact(trained):
    # the first epoch measures the PCA initialisation through its factored
    # (thin) scores; a second fit from that codebook measures it densely
    X, _ = trained
    som = SOM((20, 20), n_epochs=1, random_state=0).fit(X)
    be = resolve("numpy", X)
    W0, _ = init_codebook(X, som.grid_, "pca", None, None, be)
    W0 = W0.astype(np.float32)
    r1, r2, rd = _reference(X, W0)
    assert som.history_["topographic_error"][0] == pytest.approx(
        _te(som.grid_, r1, r2, 1.0)
    )
    assert som.history_["quantization_error"][0] == pytest.approx(rd.mean())
    dense = SOM((20, 20), n_epochs=1, init=W0).fit(X)
    assert dense.history_["topographic_error"][0] == pytest.approx(
        _te(som.grid_, r1, r2, 1.0)
    )


def test_online_running_statistics_are_exact(trained):
    # a learning rate far below float32's resolution (rates must be > 0)
    # leaves the codebook as it is, so the running statistics of the online
    # rule are those of that codebook
    X, som = trained
    W = som.codebook_
    r1, r2, rd = _reference(X, W)
    online = SOM(
        (20, 20), algorithm="online", learning_rate=1e-30, n_epochs=1, init=W
    ).fit(X)
    np.testing.assert_array_equal(online.codebook_, W)
    assert online.history_["topographic_error"][0] == pytest.approx(
        _te(som.grid_, r1, r2, 1.0)
    )
    assert online.history_["quantization_error"][0] == pytest.approx(
        rd.mean(), rel=1e-12
    )


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_layered_search_rechecks_in_float64(trained, backend):
    # one sqeuclidean layer orders units like the euclidean distance; its
    # near-ties are decided by float64 combined distances too
    if backend == "torch":
        pytest.importorskip("torch")
    from somkit import Layer

    X, som = trained
    layered = SOM(
        (20, 20),
        layers=[Layer("all", X.shape[1], metric="sqeuclidean")],
        n_epochs=1,
        init=som.codebook_,
        backend=backend,
    ).fit(X)
    W = layered.codebook_
    r1, r2, rd = _reference(X, W)
    i1, d1, i2 = layered._bmu(X, second=True)
    np.testing.assert_array_equal(i1, r1)
    np.testing.assert_array_equal(i2, r2)


def _masked_reference(X, W, metric):
    """Best two units over each row's observed features, in float64.

    As ``somkit._kernels._numba.masked_distance``: euclidean and dot sums
    rescaled by ``n_features / n_observed``, cosine between the observed
    part of the row and of the unit row (both stored at unit norm, as the
    search does).
    """
    seen = ~np.isnan(X)
    if metric == "cosine":
        X, W = normalize_rows(X), normalize_rows(W)
    X0 = np.where(seen, X, 0).astype(np.float64)
    scale = X.shape[1] / seen.sum(axis=1)
    D = np.empty((len(X), len(W)))
    for j, w in enumerate(W.astype(np.float64)):
        if metric == "euclidean":
            D[:, j] = np.sqrt((((X0 - w) ** 2) * seen).sum(axis=1) * scale)
        elif metric == "cosine":
            wobs = np.sqrt(((w * w) * seen).sum(axis=1))
            D[:, j] = np.maximum(0.0, 1.0 - (X0 @ w) / wobs)
        else:
            D[:, j] = -(X0 @ w) * scale
    order = np.argsort(D, axis=1, kind="stable")[:, :2]
    return order[:, 0], order[:, 1], D[np.arange(len(X)), order[:, 0]]


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_search_with_holes_matches_float64(trained, backend, metric):
    # rows with holes rank the units with the observed mask in the product;
    # near-ties are decided by float64 distances over the observed features
    if backend == "torch":
        pytest.importorskip("torch")
    X, som = trained
    X = X[:600].copy()
    rng = np.random.default_rng(1)
    X[rng.random(X.shape) < 0.1] = np.nan
    som = SOM(
        (20, 20),
        metric=metric,
        n_epochs=1,
        init=som.codebook_,
        missing="ignore",
        backend=backend,
    ).fit(X)
    r1, r2, rd = _masked_reference(X, som.codebook_, metric)
    i1, d1, i2 = som._bmu(X, second=True)
    np.testing.assert_array_equal(i1, r1)
    np.testing.assert_array_equal(i2, r2)
    np.testing.assert_allclose(d1, rd, rtol=1e-10, atol=1e-12)
