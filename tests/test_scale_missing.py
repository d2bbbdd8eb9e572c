"""Holes (missing="ignore") at scale: dask passes and fit_stream equal numpy.

The numpy backend with ``missing="ignore"`` is the reference (it is checked
against the definitions in ``test_missing.py``); the dask backend (every
init, batch and minibatch, the few-pass wide PCA) and ``fit_stream`` (every
init, batch and minibatch) must give the same map on the same rows.
"""

import numpy as np
import pytest

from somkit import SOM
from somkit._backends import resolve

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


@pytest.fixture(scope="module")
def holed():
    rng = np.random.default_rng(3)
    centers = rng.normal(scale=3.0, size=(4, 6)) + 5.0
    X = centers[rng.integers(0, 4, 1200)] + rng.normal(size=(1200, 6))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0  # every row keeps one observed value
    X[:, 5][:] = np.nan  # a column never observed
    X[::7, 5] = rng.normal(size=len(X[::7]))  # ... but for a few rows
    return X


KW = dict(dtype="float64", missing="ignore", random_state=0, n_epochs=3)


@pytest.mark.parametrize("init", ["pca", "sample", "random"])
def test_dask_every_init_with_holes_equals_numpy(holed, init):
    dX = da.from_array(holed, chunks=(250, 6))
    with dask.config.set(scheduler="sync"):
        a = SOM((4, 5), init=init, **KW).fit(dX)
    b = SOM((4, 5), init=init, **KW).fit(holed)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=1e-12)


def test_dask_minibatch_with_holes_equals_numpy_in_stored_order(holed):
    kw = dict(KW, algorithm="minibatch", batch_size=50, shuffle=False)
    with dask.config.set(scheduler="sync"):
        a = SOM((4, 5), **kw).fit(da.from_array(holed, chunks=(200, 6)))
    b = SOM((4, 5), **kw).fit(holed)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)


def test_dask_passes_with_holes_match_nan_aware_numpy(holed):
    """mean, column range and covariance products around the holes."""
    be = resolve("dask", da.from_array(holed, chunks=(300, 6)), missing="ignore")
    dX = da.from_array(holed, chunks=(300, 6))
    mean, total = be.mean(dX)
    np.testing.assert_allclose(mean, np.nanmean(holed, axis=0))
    assert total == len(holed)
    lo, hi = be.column_range(dX)
    np.testing.assert_allclose(lo, np.nanmin(holed, axis=0))
    np.testing.assert_allclose(hi, np.nanmax(holed, axis=0))
    V = np.random.default_rng(0).normal(size=(6, 2))
    centred = np.nan_to_num(holed - mean)  # a hole at its column's mean
    np.testing.assert_allclose(
        be.cov_product(dX, None, mean, V), centred.T @ (centred @ V) / len(holed)
    )
    numpy_be = resolve("numpy", holed, missing="ignore")
    np.testing.assert_allclose(
        numpy_be.cov_product(holed, None, mean, V), be.cov_product(dX, None, mean, V)
    )


def test_dask_wide_pca_with_holes_is_close_to_numpy():
    """Wide data: the few-pass subspace iteration vs Lanczos, both around holes."""
    rng = np.random.default_rng(4)
    basis = rng.normal(size=(3, 80))
    X = rng.normal(size=(600, 3)) * [6.0, 3.0, 1.5] @ basis
    X += 0.05 * rng.normal(size=X.shape)
    X[rng.random(X.shape) < 0.1] = np.nan
    kw = dict(KW, n_epochs=1)
    with dask.config.set(scheduler="sync"):
        a = SOM((3, 4), **kw).fit(da.from_array(X, chunks=(150, 80)))
    b = SOM((3, 4), **kw).fit(X)
    assert np.isfinite(a.codebook_).all()
    assert a.quantization_error(X) == pytest.approx(b.quantization_error(X), rel=1e-3)


def _chunks(X, n=7):  # a re-readable stream of n chunks
    return lambda: iter(np.array_split(X, n))


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(init="random", metric="manhattan"),
        dict(grid="auto"),
        dict(algorithm="minibatch", batch_size=100, shuffle=False),
    ],
)
def test_fit_stream_with_holes_equals_fit(holed, params):
    p = dict(KW, **params)
    p.setdefault("grid", (4, 5))
    a = SOM(**p).fit_stream(_chunks(holed, 12 if "batch_size" in params else 7))
    b = SOM(**p).fit(holed)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        a.history_["quantization_error"], b.history_["quantization_error"]
    )
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=1e-12)


def test_fit_stream_sample_init_fills_holes_with_observed_means(holed):
    """The reservoir's rows, each hole at its column's observed mean."""
    from somkit._backends.stream import ChunkStream

    stream = ChunkStream(_chunks(holed), lambda C, first, start: np.asarray(C, float))
    stream.scan(masked=True)
    be = resolve("auto", stream, missing="ignore")
    W = be.sample_rows(stream, 30, np.random.default_rng(0))
    filled = np.where(np.isnan(holed), np.nanmean(holed, axis=0), holed)
    for row in W:
        assert np.isclose(filled, row, rtol=0, atol=1e-12).all(axis=1).any()
    som = SOM((5, 6), init="sample", **KW).fit_stream(_chunks(holed))
    assert np.isfinite(som.codebook_).all()


def test_fit_stream_chunks_with_and_without_holes_add_up(holed):
    """Complete chunks give per-unit weights, holed ones per feature: both add."""
    X = np.nan_to_num(holed[:600], nan=1.0)
    mixed = np.vstack([X, holed[600:]])
    parts = [mixed[:300], mixed[300:600], mixed[600:900], mixed[900:]]
    a = SOM((4, 5), **KW).fit_stream(lambda: iter(parts))
    b = SOM((4, 5), **KW).fit(mixed)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)


def test_fit_stream_refuses_holes_by_default_and_empty_rows(holed):
    with pytest.raises(ValueError, match="missing='ignore'"):
        SOM((3, 3), random_state=0).fit_stream(_chunks(holed))
    bad = holed.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="no observed feature"):
        SOM((3, 3), missing="ignore", random_state=0).fit_stream(_chunks(bad))
