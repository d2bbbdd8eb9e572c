"""SOM.fit_stream (training from chunks), the exact tail quantile, reservoirs."""

import numpy as np
import pytest
from scipy import stats

from somkit import SOM, reservoir_sample
from somkit._kernels import Tail


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(5, 6))
    X = centers[rng.integers(0, 5, 4000)] + rng.normal(size=(4000, 6))
    return X + 10.0


def _chunks(X, n=7):
    parts = np.array_split(X, n)
    return lambda: iter(parts)


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(dtype="float64"),
        dict(grid="auto"),
        dict(topology="hex", metric="cosine"),
        dict(init="random", neighborhood="bubble"),
        dict(init=np.zeros((36, 6)) + np.arange(36)[:, None] / 10),
    ],
)
def test_fit_stream_equals_fit_on_the_concatenation(blobs, params):
    X = blobs.astype(np.float32)
    kw = dict(grid=(6, 6), n_epochs=4, random_state=0)
    kw.update(params)
    a = SOM(**kw).fit_stream(_chunks(X))
    b = SOM(**kw).fit(X)
    tol = 1e-10 if kw.get("dtype") == "float64" else 1e-5
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=tol, atol=tol)
    assert a.grid_.shape == b.grid_.shape
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=tol)
    np.testing.assert_allclose(
        a.history_["quantization_error"], b.history_["quantization_error"], rtol=1e-6
    )
    assert not hasattr(a, "labels_")
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_fit_stream_with_weights_equals_weighted_fit(blobs):
    w = np.random.default_rng(1).integers(0, 4, len(blobs)).astype(float)
    parts = list(zip(np.array_split(blobs, 5), np.array_split(w, 5), strict=True))
    kw = dict(grid="auto", dtype="float64", n_epochs=3, random_state=0)
    a = SOM(**kw).fit_stream(lambda: iter(parts))
    b = SOM(**kw).fit(blobs, sample_weight=w)
    assert a.grid_.shape == b.grid_.shape
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-10, atol=1e-10)
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=1e-12)


def test_fit_stream_minibatch_in_stream_order_equals_numpy(blobs):
    """Chunks in the stream's order; without shuffling rows in stored order."""
    kw = dict(
        grid=(5, 5),
        algorithm="minibatch",
        batch_size=100,
        shuffle=False,
        dtype="float64",
        n_epochs=2,
        random_state=0,
    )
    parts = np.split(blobs, 8)  # 500 rows each: whole minibatches
    a = SOM(**kw).fit_stream(lambda: iter(parts))
    b = SOM(**kw).fit(blobs)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-10, atol=1e-10)
    shuffled = SOM(**{**kw, "shuffle": True}).fit_stream(lambda: iter(parts))
    again = SOM(**{**kw, "shuffle": True}).fit_stream(lambda: iter(parts))
    np.testing.assert_array_equal(shuffled.codebook_, again.codebook_)


def test_fit_stream_n_epochs_and_frames(blobs):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(blobs, columns=[f"f{i}" for i in range(6)])
    parts = [frame.iloc[:1500], frame.iloc[1500:]]
    som = SOM((4, 4), n_epochs=9, random_state=0).fit_stream(
        lambda: iter(parts), n_epochs=2
    )
    assert som.n_iter_ == 2 and len(som.history_["epoch"]) == 2
    assert list(som.feature_names_in_) == list(frame.columns)


def test_wide_stream_uses_few_passes(blobs):
    """Wide chunks: the pca init needs a fixed number of passes."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(2200, 2)))[0].T
    X = rng.normal(size=(300, 2)) * [5.0, 2.0] @ basis
    X += 0.05 * rng.normal(size=X.shape)
    calls = []
    parts = np.array_split(X, 3)

    def chunks():
        calls.append(1)
        return iter(parts)

    a = SOM((3, 4), n_epochs=1, dtype="float64", random_state=0).fit_stream(chunks)
    b = SOM((3, 4), n_epochs=1, dtype="float64", random_state=0).fit(X)
    # scan + 8 iterations + 1 Rayleigh-Ritz + 1 epoch + threshold
    assert len(calls) == 12
    np.testing.assert_allclose(a.codebook_, b.codebook_, atol=1e-6)


@pytest.mark.parametrize(
    "chunks, error, match",
    [
        ([np.zeros((3, 2))], TypeError, "callable"),
        (lambda: iter([np.zeros((3, 2)), np.zeros((3, 3))]), ValueError, "features"),
        (lambda: iter([np.full((3, 2), np.nan)]), ValueError, "NaN"),
        (lambda: iter([]), ValueError, "no rows"),
        (lambda: iter([(np.zeros((3, 2)), [1, 2])]), ValueError, "3 rows but 2"),
    ],
)
def test_fit_stream_refuses_bad_chunks(chunks, error, match):
    with pytest.raises(error, match=match):
        SOM((2, 2), random_state=0).fit_stream(chunks)


def test_fit_stream_refuses_a_spent_iterator_and_other_backends():
    it = iter([np.random.default_rng(0).normal(size=(50, 2))])
    with pytest.raises(ValueError, match="fresh iterator"):
        SOM((2, 2), random_state=0).fit_stream(lambda: it)
    parts = [np.zeros((4, 2)) + np.arange(4)[:, None]]
    with pytest.raises(ValueError, match="online"):
        SOM((2, 2), algorithm="online").fit_stream(lambda: iter(parts))
    with pytest.raises(ValueError, match="backend='dask'"):
        SOM((2, 2), backend="dask").fit_stream(lambda: iter(parts))


def test_model_file_of_a_streamed_map_round_trips(tmp_path, blobs):
    import somkit

    som = SOM((3, 3), random_state=0).fit_stream(_chunks(blobs))
    path = somkit.save(som, tmp_path / "m.npz")
    back = somkit.load(path)
    np.testing.assert_array_equal(back.codebook_, som.codebook_)
    assert not hasattr(back, "labels_")
    assert back.fit_backend_ == som.fit_backend_


# ------------------------------------------------------------------ quantile
@pytest.mark.parametrize("seed", range(6))
def test_tail_equals_numpy_percentile(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    values = rng.gamma(2.0, size=n)
    if seed % 2:
        values = np.round(values, 1)  # ties
    weights = None if seed < 3 else rng.integers(0, 4, n).astype(float)
    if weights is not None and not weights.sum():
        weights[0] = 1.0
    q = [99.0, 50.0, 99.9, 0.0, 100.0, 90.0][seed]
    total = n if weights is None else weights.sum()
    tail = Tail(q, total)
    for a in range(0, n, 97):
        tail.add(values[a : a + 97], None if weights is None else weights[a : a + 97])
    expected = np.percentile(values, q, method="inverted_cdf", weights=weights)
    assert tail.result() == expected
    if q >= 90:
        assert len(tail.values) <= (1 - q / 100) * n + 2 + (weights is not None) * n


# ----------------------------------------------------------------- reservoir
def test_reservoir_is_deterministic_and_independent_of_chunking():
    X = np.arange(3000.0).reshape(1000, 3)
    a = reservoir_sample([X[:10], X[10:600], X[600:]], 50, random_state=4)
    b = reservoir_sample(np.array_split(X, 33), 50, random_state=4)
    c = reservoir_sample(lambda: iter([X]), 50, random_state=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert len(np.unique(a[:, 0])) == 50  # without replacement
    assert np.all(np.diff(a[:, 0]) > 0)  # stream order
    assert not np.array_equal(a, reservoir_sample([X], 50, random_state=5))
    assert reservoir_sample([X[:7]], 50, random_state=0).shape == (7, 3)


def test_reservoir_is_uniform():
    """Each row is kept with probability k / n (chi-square over 4000 draws)."""
    n, k, draws = 40, 5, 4000
    X = np.arange(n, dtype=float)[:, None]
    counts = np.zeros(n)
    pair = 0
    for seed in range(draws):
        rows = reservoir_sample([X[:13], X[13:]], k, random_state=seed)[:, 0]
        counts[rows.astype(int)] += 1
        pair += 0 in rows and n - 1 in rows
    expected = draws * k / n
    p = stats.chisquare(counts, np.full(n, expected)).pvalue
    assert p > 1e-3, counts
    # pairs too: P(first and last both kept) = k(k-1) / (n(n-1))
    p_pair = k * (k - 1) / (n * (n - 1))
    assert stats.binomtest(pair, draws, p_pair).pvalue > 1e-3


def test_weighted_reservoir_draws_proportionally_to_weight():
    w = np.array([1.0, 2.0, 3.0, 0.0, 4.0])
    X = np.arange(5.0)[:, None]
    counts = np.zeros(5)
    for seed in range(3000):
        row = reservoir_sample([(X, w)], 1, random_state=seed)[0, 0]
        counts[int(row)] += 1
    assert counts[3] == 0
    p = stats.chisquare(counts[w > 0], 3000 * w[w > 0] / w.sum()).pvalue
    assert p > 1e-3, counts


def test_reservoir_sample_checks_n():
    with pytest.raises(ValueError, match="n must be an int"):
        reservoir_sample([np.zeros((2, 2))], 0)


def test_fit_stream_default_schedule_with_subsample_equals_fit():
    """More rows than the ordering subsample: the subsample is gathered from
    the chunks in one pass (the same rows as fit draws) and the map is fit's."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12_000, 5)) + rng.integers(0, 4, (12_000, 1)) * 3.0
    kw = dict(grid=(4, 4), dtype="float64", random_state=0)
    a = SOM(**kw).fit_stream(lambda: iter(np.array_split(X, 9)))
    b = SOM(**kw).fit(X)
    assert min(b.history_["rows"]) < len(X)  # ordering epochs read a subsample
    assert a.history_["rows"] == b.history_["rows"]
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=1e-12)


@pytest.mark.parametrize("init", ["pca", "random"])
def test_fit_stream_default_schedule_with_weights_equals_weighted_fit(init):
    """(rows, weights) chunks: the ordering subsample keeps its rows' weights,
    as fit's does (they were dropped: the ordering epochs ran unweighted)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12_000, 5)) + rng.integers(0, 4, (12_000, 1)) * 3.0
    w = rng.uniform(0.1, 3.0, len(X))
    parts = list(zip(np.array_split(X, 9), np.array_split(w, 9), strict=True))
    kw = dict(grid=(4, 4), dtype="float64", init=init, random_state=0)
    a = SOM(**kw).fit_stream(lambda: iter(parts))
    b = SOM(**kw).fit(X, sample_weight=w)
    assert min(b.history_["rows"]) < len(X)  # ordering epochs read a subsample
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        a.history_["quantization_error"], b.history_["quantization_error"], rtol=1e-9
    )


def test_fit_stream_names_an_empty_row_by_its_row_in_the_stream():
    # row 57 of the stream is row 7 of its third chunk: the message gave 7
    X = np.random.default_rng(0).normal(size=(100, 3))
    X[57] = np.nan
    parts = np.array_split(X, 4)
    with pytest.raises(ValueError, match=r"row\(s\) 57 \(0-based\)"):
        SOM((3, 3), missing="ignore").fit_stream(lambda: iter(parts))
