"""The dask backend with dask's local schedulers (no cluster)."""

import numpy as np
import pytest

from somkit import SOM

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def test_no_cluster_is_started():
    distributed = pytest.importorskip("distributed")
    X = np.random.default_rng(0).normal(size=(600, 4))
    som = SOM((3, 3), n_epochs=2, random_state=0).fit(da.from_array(X, chunks=200))
    with pytest.raises(ValueError):
        distributed.default_client()
    # a local scheduler gets the codebook as one object for every task
    from somkit._backends import resolve

    be = resolve("auto", da.from_array(X, chunks=100))
    shared = be.share(som.codebook_)
    assert shared.get() is som.codebook_ and shared.key is None
    D = be.distances(da.from_array(X, chunks=100), som.codebook_, "euclidean")
    graph = dict(D.__dask_graph__())
    n_copies = sum(
        isinstance(v, np.ndarray) and v.shape == som.codebook_.shape
        for v in graph.values()
    )
    assert n_copies <= 1


def _wide(n=500, d=2300, seed=0):
    """Rows near a plane in ``d`` dimensions: two clear leading components."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, 2)))[0].T
    coef = rng.normal(size=(n, 2)) * [6.0, 3.0]
    return 5.0 + coef @ basis + 0.1 * rng.normal(size=(n, d))


def test_wide_pca_is_blockwise_and_matches_lanczos():
    from somkit._backends import resolve
    from somkit._init import WIDE_FEATURES, leading_components

    X = _wide()
    assert X.shape[1] > WIDE_FEATURES
    dX = da.from_array(X, chunks=(100, -1))
    be = resolve("auto", dX)
    passes = []
    product = be.cov_product

    def counting(*args):
        passes.append(1)
        return product(*args)

    be.cov_product = counting
    m1, ev1, vec1 = leading_components(dX, None, 2, be)
    m0, ev0, vec0 = leading_components(X, None, 2, resolve("numpy", X))
    assert len(passes) <= 10  # a fixed number of passes, not one per Lanczos step
    np.testing.assert_allclose(m1, m0, rtol=1e-12)
    np.testing.assert_allclose(ev1, ev0, rtol=1e-8)
    np.testing.assert_allclose(np.abs(vec1.T @ vec0), np.eye(2), atol=1e-6)
    w = np.random.default_rng(1).random(len(X))
    _, ev1, _ = leading_components(dX, w, 2, be)
    _, ev0, _ = leading_components(X, w, 2, resolve("numpy", X))
    np.testing.assert_allclose(ev1, ev0, rtol=1e-8)


def test_moments_are_stable_on_uncentred_data():
    """Merged centred scatters, not raw second moments: no cancellation."""
    rng = np.random.default_rng(0)
    X = 1e6 + rng.normal(size=(4000, 3))
    from somkit._backends import resolve

    mean, cov = resolve("auto", da.from_array(X, chunks=(333, 3))).moments(
        da.from_array(X, chunks=(333, 3))
    )
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(cov, np.cov(X.T, bias=True), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_minibatch_matches_numpy_on_local_schedulers(scheduler):
    X = np.random.default_rng(2).normal(size=(1200, 6))
    kw = dict(
        grid=(4, 4),
        algorithm="minibatch",
        batch_size=40,
        shuffle=False,
        dtype="float64",
        n_epochs=2,
        random_state=0,
    )
    with dask.config.set(scheduler=scheduler):
        a = SOM(**kw).fit(da.from_array(X, chunks=(200, 6)))
    b = SOM(**kw).fit(X)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
