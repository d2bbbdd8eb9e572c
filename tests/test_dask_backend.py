"""The dask backend on a LocalCluster matches the numpy backend."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from somkit import SOM

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.parametrize("topology", ["rect", "hex"])
def test_fit_on_cluster_matches_numpy(client, topology):
    X = load_digits().data
    dX = da.from_array(X, chunks=(250, 64))
    kw = dict(
        grid=(6, 6), topology=topology, dtype="float64", n_epochs=4, random_state=0
    )
    a = SOM(**kw).fit(dX)
    b = SOM(**kw).fit(X)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.predict(dX), b.predict(X))
    np.testing.assert_allclose(
        a.history_["quantization_error"], b.history_["quantization_error"]
    )


def test_sample_weight_and_float32(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    w = rng.integers(0, 3, size=3000).astype(float)
    dX = da.from_array(X, chunks=(700, 5))
    a = SOM((5, 5), n_epochs=3, random_state=0).fit(dX, sample_weight=w)
    b = SOM((5, 5), n_epochs=3, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-4, atol=1e-5)
    assert a.quantization_error(dX) == pytest.approx(b.quantization_error(X), rel=1e-5)


def test_dask_backend_explicit_on_numpy_input(client):
    X = load_digits().data[:500]
    a = SOM((4, 4), backend="dask", dtype="float64", random_state=0).fit(X)
    b = SOM((4, 4), dtype="float64", random_state=0).fit(X)
    np.testing.assert_allclose(a.codebook_, b.codebook_)
