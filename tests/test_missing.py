"""Holes in the data: ``SOM(missing="ignore")`` against slow references.

The references below are written from the definitions (a sample's distance
over its observed features, rescaled by n_features / n_observed; updates
along observed features only), one sample and one unit at a time.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from somkit import SOM, impute, metrics
from somkit._kernels import batch_sums, moments
from somkit._neighborhood import neighborhood

METRICS = ["euclidean", "cosine", "dot", "manhattan", "chebyshev"]


# ----------------------------------------------------------- references
def ref_distance(x, w, metric):
    """Distance of a sample with holes to one unit, from the definition."""
    seen = ~np.isnan(x)
    xo, wo = x[seen], w[seen]
    scale = len(x) / seen.sum()
    if metric == "euclidean":
        return np.sqrt(scale * np.sum((xo - wo) ** 2))
    if metric == "manhattan":
        return scale * np.sum(np.abs(xo - wo))
    if metric == "chebyshev":
        return np.max(np.abs(xo - wo))
    if metric == "dot":
        return -scale * (xo @ wo)
    cos = (xo @ wo) / (np.linalg.norm(xo) * np.linalg.norm(wo))
    return max(0.0, 1.0 - cos)


def unit_rows(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def ref_search(X, W, metric):
    """(BMU, distance) of every row; ties to the lowest unit."""
    if metric == "cosine":
        W = unit_rows(W)
    D = np.array([[ref_distance(x, w, metric) for w in W] for x in X])
    idx = D.argmin(axis=1)
    return idx, D[np.arange(len(X)), idx], D


def prepared(X, metric):
    """Rows as the map sees them: cosine rows at unit norm over observed."""
    if metric != "cosine":
        return X
    norms = np.sqrt(np.nansum(X**2, axis=1, keepdims=True))
    return X / norms


def holes(X, frac, seed=0):
    rng = np.random.default_rng(seed)
    Xh = np.array(X, dtype=np.float64)
    Xh[rng.random(Xh.shape) < frac] = np.nan
    Xh[np.isnan(Xh).all(axis=1), 0] = np.asarray(X)[np.isnan(Xh).all(axis=1), 0]
    return Xh


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    centers = rng.normal(scale=3.0, size=(4, 5)) + 2.0
    X = np.vstack([c + rng.normal(size=(40, 5)) for c in centers])
    return X, holes(X, 0.25)


# ------------------------------------------------------------- BMU search
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_masked_search_matches_the_definition(blobs, metric, dtype):
    X, Xh = blobs
    som = SOM((4, 5), metric=metric, missing="ignore", dtype=dtype, n_epochs=2)
    som.fit(Xh)
    idx, dist, D = ref_search(prepared(Xh, metric), som.codebook_, metric)
    tol = 1e-9 if dtype == "float64" else 2e-4
    got = som.predict(Xh)
    # float32 scores may swap near-ties: the distances must then tie too
    np.testing.assert_allclose(D[np.arange(len(Xh)), got], dist, rtol=tol, atol=tol)
    if dtype == "float64":
        np.testing.assert_array_equal(got, idx)
    np.testing.assert_allclose(-som.score_samples(Xh), dist, rtol=tol, atol=tol)
    np.testing.assert_allclose(som.transform(Xh), D, rtol=tol, atol=tol)


def test_search_is_one_product_not_a_row_loop(blobs, monkeypatch):
    """Euclidean chunks with holes are ranked by one GEMM of [X0 | M]."""
    import somkit._kernels._search as search

    X, Xh = blobs
    som = SOM((4, 5), missing="ignore", dtype="float64", n_epochs=1).fit(Xh)
    calls = []
    real = search._masked_scores

    def spy(cb, s, C, nan, r):
        calls.append(r)
        return real(cb, s, C, nan, r)

    monkeypatch.setattr(search, "_masked_scores", spy)
    som.predict(Xh)
    assert sum(calls) == len(Xh)  # every row went through the masked product


def test_ties_go_to_the_lowest_unit():
    W = np.array([[0.0, 5.0], [0.0, -5.0], [3.0, 0.0]])
    som = SOM((1, 3), init=W, n_epochs=1, radius=0, missing="ignore")
    som.fit(np.array([[0.0, 1.0], [3.0, 0.0]]))
    som.codebook_[:] = W
    # observed feature 0 only: units 0 and 1 tie at distance 0
    assert som.predict(np.array([[0.0, np.nan]])).tolist() == [0]


# ---------------------------------------------------------- training rules
def ref_smoothed_sums(X, W, grid, sigma, metric):
    """Neighbourhood-weighted sums of the observed values and their weights."""
    Xp = prepared(X, metric)
    idx, _, _ = ref_search(Xp, W, metric)
    H = neighborhood("gaussian", grid.distances(np.arange(grid.n_units)), sigma)
    seen = ~np.isnan(Xp)
    num = np.zeros_like(W)
    den = np.zeros_like(W)
    for x, m, c in zip(Xp, seen, idx, strict=True):
        num += H[:, c, None] * np.where(m, x, 0.0)
        den += H[:, c, None] * m
    return num, den


def ref_batch_epoch(X, W, grid, sigma, metric):
    """Kohonen's batch rule over observed values only (per-feature weights)."""
    num, den = ref_smoothed_sums(X, W, grid, sigma, metric)
    new = np.where(den > 1e-12 * den.max(), num / np.maximum(den, 1e-300), W)
    return unit_rows(new) if metric == "cosine" else new


def start(metric, seed, grid=(3, 4), **kw):
    """A start codebook and a float64 map with holes ignored that uses it."""
    W0 = np.random.default_rng(seed).normal(size=(12, 5)) + 2.0
    if metric == "cosine":
        W0 = unit_rows(W0)
    kw = dict(n_epochs=1, dtype="float64", missing="ignore", **kw)
    return W0, SOM(grid, metric=metric, init=W0, **kw)


@pytest.mark.parametrize("metric", METRICS)
def test_batch_epoch_matches_reference(blobs, metric):
    X, Xh = blobs
    W0, som = start(metric, 3, radius=1.2)
    som.fit(Xh)
    expected = ref_batch_epoch(Xh, W0, som.grid_, 1.2, metric)
    np.testing.assert_allclose(som.codebook_, expected, rtol=1e-9, atol=1e-12)


def test_batch_sums_weights_per_feature(blobs):
    X, Xh = blobs
    W = np.random.default_rng(4).normal(size=(6, 5))
    sums, wsum, stats = batch_sums(Xh, W, "euclidean", masked=True)
    idx, dist, _ = ref_search(Xh, W, "euclidean")
    seen = ~np.isnan(Xh)
    assert wsum.shape == (6, 5)
    for j in range(6):
        rows = idx == j
        np.testing.assert_allclose(sums[j], np.nansum(Xh[rows], axis=0))
        np.testing.assert_allclose(wsum[j], seen[rows].sum(axis=0))
    assert stats["qe_sum"] == pytest.approx(dist.sum())
    # complete rows keep the (n_units,) weights of the plain rule
    _, w1, _ = batch_sums(X, W, "euclidean", masked=True)
    assert w1.shape == (6,)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
def test_minibatch_step_matches_reference(blobs, metric):
    X, Xh = blobs
    W0, som = start(
        metric,
        5,
        algorithm="minibatch",
        batch_size=len(Xh),  # one step: the whole data
        shuffle=False,
        radius=1.0,
        learning_rate=0.3,
    )
    som.fit(Xh)
    num, den = ref_smoothed_sums(Xh, W0, som.grid_, 1.0, metric)
    expected = W0 + 0.3 * (num - den * W0) / np.maximum(den, 1.0)
    if metric == "cosine":
        expected = unit_rows(expected)
    np.testing.assert_allclose(som.codebook_, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("grid", [(3, 4), (4, 3, 1)])
def test_online_rule_matches_reference(blobs, metric, grid):
    X, Xh = blobs
    Xh = Xh[:60]
    W0, som = start(
        metric,
        6,
        grid,
        algorithm="online",
        shuffle=False,
        radius=1.0,
        learning_rate=0.4,
    )
    som.fit(Xh)
    W = W0.copy()
    D = som.grid_.distances(np.arange(12))
    qe = 0.0
    for x in prepared(Xh, metric):
        d = [ref_distance(x, w, metric) for w in W]
        c = int(np.argmin(d))
        qe += d[c]
        h = neighborhood("gaussian", D[c], 1.0)
        seen = ~np.isnan(x)
        W[:, seen] += 0.4 * h[:, None] * (x[seen] - W[:, seen])
        if metric == "cosine":
            W = unit_rows(W)
    np.testing.assert_allclose(som.codebook_, W, rtol=1e-9, atol=1e-12)
    assert som.history_["quantization_error"][0] == pytest.approx(qe / len(Xh))


@pytest.mark.parametrize("algorithm", ["batch", "minibatch", "online"])
def test_ignore_on_complete_data_is_the_plain_map(blobs, algorithm):
    X, _ = blobs
    kw = dict(algorithm=algorithm, n_epochs=3, random_state=0)
    a = SOM((4, 5), missing="ignore", **kw).fit(X)
    b = SOM((4, 5), **kw).fit(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    assert a.history_ == b.history_ | {"seconds": a.history_["seconds"]}


@pytest.mark.parametrize("init", ["pca", "sample", "random"])
def test_every_init_runs_with_holes(blobs, init):
    _, Xh = blobs
    som = SOM((4, 5), init=init, missing="ignore", random_state=0).fit(Xh)
    assert np.isfinite(som.codebook_).all()
    assert np.isfinite(som.history_["quantization_error"]).all()


def test_pca_init_uses_observed_moments(blobs):
    """Means over observed values, covariances over pairwise-complete rows."""
    _, Xh = blobs
    seen = ~np.isnan(Xh)
    mean = np.array([Xh[seen[:, k], k].mean() for k in range(5)])
    cov = np.empty((5, 5))
    for i in range(5):
        for j in range(5):
            both = seen[:, i] & seen[:, j]
            cov[i, j] = np.mean((Xh[both, i] - mean[i]) * (Xh[both, j] - mean[j]))
    got_mean, got_cov = moments(Xh, masked=True)
    np.testing.assert_allclose(got_mean, mean)
    np.testing.assert_allclose(got_cov, cov)


# ----------------------------------------------------------- the other backends
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("algorithm", ["batch", "minibatch"])
def test_torch_matches_numpy_with_holes(blobs, metric, algorithm, device):
    pytest.importorskip("torch")
    _, Xh = blobs
    kw = dict(
        metric=metric,
        algorithm=algorithm,
        n_epochs=3,
        dtype="float64",
        missing="ignore",
        random_state=0,
    )
    a = SOM((4, 5), backend="numpy", **kw).fit(Xh)
    b = SOM((4, 5), backend="torch", device=device, **kw).fit(Xh)
    np.testing.assert_allclose(b.codebook_, a.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(b.labels_, a.labels_)
    np.testing.assert_allclose(
        b.history_["quantization_error"], a.history_["quantization_error"]
    )
    np.testing.assert_allclose(b.transform(Xh), a.transform(Xh), atol=1e-9)
    np.testing.assert_allclose(b.score_samples(Xh), a.score_samples(Xh), atol=1e-9)


def test_dask_matches_numpy_with_holes(blobs):
    da = pytest.importorskip("dask.array")
    _, Xh = blobs
    dX = da.from_array(Xh, chunks=(50, 5))
    kw = dict(n_epochs=3, dtype="float64", missing="ignore", random_state=0)
    a = SOM((4, 5), **kw).fit(dX)
    b = SOM((4, 5), **kw).fit(Xh)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.predict(dX).compute(), b.predict(Xh))
    np.testing.assert_allclose(a.transform(dX).compute(), b.transform(Xh))
    assert a.quantization_error(dX) == pytest.approx(b.quantization_error(Xh))


def test_dask_blocks_with_and_without_holes_add_up(blobs):
    da = pytest.importorskip("dask.array")
    X, Xh = blobs
    mixed = np.vstack([X[:80], Xh[80:]])  # first blocks complete, later holed
    dX = da.from_array(mixed, chunks=(40, 5))
    kw = dict(n_epochs=2, dtype="float64", missing="ignore", random_state=0)
    a = SOM((4, 5), **kw).fit(dX)
    b = SOM((4, 5), **kw).fit(mixed)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- refusals
def test_default_refuses_holes_and_names_ignore(blobs):
    _, Xh = blobs
    with pytest.raises(ValueError, match=r"NaN.*missing='ignore'"):
        SOM((3, 3)).fit(Xh)
    som = SOM((3, 3), random_state=0).fit(np.nan_to_num(Xh))
    with pytest.raises(ValueError, match="missing='ignore'"):
        som.predict(Xh)
    with pytest.raises(ValueError, match="infinity|inf"):
        SOM((3, 3), missing="ignore").fit(np.where(np.isnan(Xh), np.inf, Xh))


def test_rows_without_observed_values_are_refused_by_number(blobs):
    _, Xh = blobs
    bad = Xh.copy()
    bad[[7, 42]] = np.nan
    with pytest.raises(ValueError, match=r"2 sample\(s\).*row\(s\) 7, 42"):
        SOM((3, 3), missing="ignore").fit(bad)
    som = SOM((3, 3), missing="ignore", random_state=0).fit(Xh)
    with pytest.raises(ValueError, match="row"):
        som.predict(bad)


def test_bad_missing_value_and_unsupported_backend(blobs, monkeypatch):
    from somkit._backends import resolve
    from somkit._backends.numpy import NumpyBackend

    _, Xh = blobs
    with pytest.raises(
        ValueError, match=r"missing must be one of \('error', 'ignore'\)"
    ):
        SOM((3, 3), missing="drop").fit(Xh)
    monkeypatch.setattr(NumpyBackend, "supports_missing", False)
    with pytest.raises(
        ValueError, match="missing='ignore' is not available on the numpy"
    ):
        resolve("numpy", Xh, missing="ignore")
    with pytest.raises(ValueError, match="not available on the numpy"):
        SOM((3, 3), missing="ignore").fit(Xh)


# ------------------------------------------------------- metrics and impute
def test_metrics_accept_holes(blobs):
    _, Xh = blobs
    som = SOM((4, 5), missing="ignore", random_state=0).fit(Xh)
    idx, dist, _ = ref_search(Xh, som.codebook_, "euclidean")
    assert metrics.quantization_error(som, Xh) == pytest.approx(dist.mean())
    te = metrics.topographic_error(som, Xh)
    assert 0.0 <= te <= 1.0
    D2 = np.array(
        [[ref_distance(x, w, "euclidean") ** 2 for w in som.codebook_] for x in Xh]
    )
    sigma = som.history_["radius"][-1]
    H = neighborhood("gaussian", som.grid_.distances(idx), sigma)
    H /= H.sum(axis=1, keepdims=True)
    expected = np.mean(np.sum(H * D2, axis=1))
    assert metrics.distortion(som, Xh) == pytest.approx(expected)
    assert 0.5 < metrics.trustworthiness(som, Xh) <= 1.0


def test_impute_fills_holes_from_the_bmu_prototype(blobs):
    _, Xh = blobs
    som = SOM((4, 5), missing="ignore", random_state=0).fit(Xh)
    filled = impute(som, Xh)
    idx, _, _ = ref_search(Xh, som.codebook_, "euclidean")
    gaps = np.isnan(Xh)
    np.testing.assert_array_equal(filled[~gaps], Xh[~gaps])
    np.testing.assert_allclose(filled[gaps], som.codebook_[idx][gaps], rtol=1e-6)


def test_impute_through_a_scaler_in_data_units():
    X = load_iris().data * np.array([1.0, 10.0, 100.0, 1000.0])
    Xh = holes(X, 0.2)
    model = make_pipeline(
        StandardScaler(), SOM((5, 5), missing="ignore", random_state=0)
    )
    model.fit(Xh)
    filled = impute(model, Xh)
    som = model[-1]
    Z = model[0].transform(Xh)
    idx = som.predict(Z)
    proto = model[0].inverse_transform(som.codebook_[idx])
    gaps = np.isnan(Xh)
    np.testing.assert_allclose(filled[gaps], proto[gaps], rtol=1e-5)
    np.testing.assert_array_equal(filled[~gaps], Xh[~gaps])
    # a map trained on complete data imputes too (the search ignores holes)
    plain = make_pipeline(StandardScaler(), SOM((5, 5), random_state=0)).fit(X)
    assert np.isfinite(impute(plain, Xh)).all()


def test_impute_refuses_a_one_hot_model_by_name():
    # the command line's model of a table with a text column (--categorical
    # onehot): the frame's text used to fail in pandas' float conversion
    import pandas as pd

    from somkit._encode import OneHotText

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    frame["kind"] = rng.choice(["x", "y"], 60)
    frame.loc[3, "a"] = np.nan
    model = make_pipeline(
        OneHotText(columns=[2]),
        StandardScaler(),
        SOM((3, 3), missing="ignore", random_state=0),
    ).fit(frame)
    with pytest.raises(ValueError, match="impute needs .*one-hot"):
        impute(model, frame)


@pytest.mark.parametrize("frac", [0.1, 0.3])
def test_imputation_beats_column_means_on_breast_cancer(frac):
    """The issue's bar: RMSE at least 30% below column-mean imputation."""
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    Xh = holes(X, frac, seed=1)
    gaps = np.isnan(Xh)

    def rmse(filled):
        return np.sqrt(np.mean((filled[gaps] - X[gaps]) ** 2))

    som = SOM(missing="ignore", grid="auto", random_state=0).fit(Xh)
    ours = rmse(impute(som, Xh))
    means = rmse(SimpleImputer().fit_transform(Xh))
    knn = rmse(KNNImputer().fit_transform(Xh))
    assert ours <= 0.7 * means
    assert ours < 1.25 * knn  # in KNNImputer's league


# ------------------------------------------------------------ scale warning
def test_scale_warning_names_widest_and_narrowest_once():
    penguins = pytest.importorskip("palmerpenguins").load_penguins()
    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = penguins[cols].dropna(how="all")
    with pytest.warns(UserWarning, match="feature scales differ") as caught:
        SOM((5, 5), missing="ignore", n_epochs=3, random_state=0).fit(frame)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "'body_mass_g'" in text and "'bill_depth_mm'" in text
    assert "StandardScaler" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_pipeline(StandardScaler(), SOM((5, 5), missing="ignore")).fit(frame)
        SOM((5, 5), metric="cosine", missing="ignore").fit(frame)  # embeddings
    som = SOM((5, 5), missing="ignore")
    with pytest.warns(UserWarning, match="scales"):
        som.partial_fit(frame.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        som.partial_fit(frame.to_numpy())  # only the first call warns
