"""Numbers: any offset and scale trains like unit-scale data; bad schedules refused.

The reference for every case is the same map trained on the unit-scale data
(iris): a SOM is equivariant under ``X -> a X + b`` (PCA init, batch means,
online and minibatch steps, radii in grid units), so the map of ``a X + b``
must be ``a W + b`` with the same winners, whatever ``dtype`` says.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import adjusted_rand_score

from somkit import SOM, load
from somkit.schedules import ExponentialDecay, LinearDecay


@pytest.fixture(scope="module")
def X():
    return load_iris().data


def _ref(X, **kw):
    return SOM((5, 5), random_state=0, n_epochs=5, **kw).fit(X)


SHIFTED = [
    # (scale, offset, dtype): each was reproduced broken on float32/float64
    (1e20, 0.0, "float32"),  # squares overflow float32: 3 of 25 units used
    (1e100, 0.0, "float32"),  # an all-NaN codebook that saved and reloaded
    (1.0, 1e8, "float32"),  # float32 spacing 8 at 1e8: one unit
    (1.0, 1e7, "float32"),  # spacing 1: 9 of 25 units, ARI 0.15
    (1e-40, 0.0, "float32"),  # subnormal float32: one unit
    (1e-100, 0.0, "float32"),
    (1e-100, 0.0, "float64"),
    (1e100, 0.0, "float64"),
    (3.0, 1e12, "float64"),
    (2.5e-20, -7e-17, "float32"),
]


@pytest.mark.parametrize("scale,offset,dtype", SHIFTED)
def test_offset_and_scale_train_like_unit_data(X, scale, offset, dtype):
    ref = _ref(X, dtype=dtype)
    Xs = X * scale + offset
    som = _ref(Xs, dtype=dtype)
    assert np.all(np.isfinite(som.codebook_))
    assert len(np.unique(som.labels_)) == len(np.unique(ref.labels_))
    assert adjusted_rand_score(ref.labels_, som.labels_) > 0.98
    np.testing.assert_allclose(
        (som.codebook_ - offset) / scale, ref.codebook_, atol=2e-3, rtol=0
    )
    np.testing.assert_array_equal(som.predict(Xs), som.labels_)
    np.testing.assert_allclose(
        som.transform(Xs) / abs(scale), ref.transform(X), rtol=0, atol=3e-3
    )
    np.testing.assert_allclose(
        np.array(som.history_["quantization_error"]) / abs(scale),
        ref.history_["quantization_error"],
        rtol=2e-3,
    )
    assert som.quantization_error(Xs) / abs(scale) == pytest.approx(
        ref.quantization_error(X), rel=2e-3
    )
    assert som.outlier_threshold_ / abs(scale) == pytest.approx(
        ref.outlier_threshold_, rel=2e-3
    )


@pytest.mark.parametrize("algorithm", ["online", "minibatch"])
@pytest.mark.parametrize("scale,offset", [(1e20, 0.0), (1.0, 1e8), (1e-40, 0.0)])
def test_sequential_rules_are_equivariant_too(X, algorithm, scale, offset):
    ref = _ref(X, algorithm=algorithm)
    som = _ref(X * scale + offset, algorithm=algorithm)
    assert adjusted_rand_score(ref.labels_, som.labels_) > 0.95
    np.testing.assert_allclose(
        (som.codebook_ - offset) / scale, ref.codebook_, atol=2e-2, rtol=0
    )


def test_huge_codebook_saves_finite_and_reloads(X, tmp_path):
    som = _ref(X * 1e100)
    som.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert np.all(np.isfinite(back.codebook_))
    np.testing.assert_array_equal(back.predict(X * 1e100), som.labels_)
    np.testing.assert_array_equal(back.codebook_, som.codebook_)


def test_partial_fit_keeps_the_internal_scaling(X):
    Xs = X + 1e8
    a = SOM((4, 4), random_state=0, n_epochs=3)
    b = SOM((4, 4), random_state=0, n_epochs=3)
    for _ in range(3):
        a.partial_fit(Xs)
        b.partial_fit(X)
    np.testing.assert_allclose(a.codebook_ - 1e8, b.codebook_, atol=2e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1e-300, 1e200])
def test_beyond_float64_squares_is_refused(X, dtype, scale):
    """Squared distances that do not fit in float64: a ValueError says why."""
    with pytest.raises(ValueError, match="squared distances"):
        SOM((3, 3), dtype=dtype).fit(X * scale)


def test_constant_and_tiny_data_are_fine(X):
    for data in (np.full((20, 3), 1e8), np.full((20, 3), 0.0), X[:1] + 1e300):
        som = SOM((2, 2), random_state=0).fit(data)
        assert np.all(np.isfinite(som.codebook_))
        np.testing.assert_allclose(som.codebook_, np.repeat(data[:1], 4, axis=0))


def test_predict_on_data_beyond_the_training_range(X):
    """Inference on values float32 cannot square: finite, consistent answers."""
    som = _ref(X)
    far = X * 1e25
    assert np.all(np.isfinite(som.transform(far)))
    # |x - w|^2 = |x|^2 - 2 x.w + |w|^2: the first term is common to all units
    W = som.codebook_.astype(np.float64)
    expected = np.argmin(-2 * far @ W.T + (W**2).sum(axis=1), axis=1)
    np.testing.assert_array_equal(som.predict(far), expected)
    assert np.all(np.isfinite(som.score_samples(far)))
    far = X * 1e39  # beyond float32
    expected = np.argmin(-2 * far @ W.T + (W**2).sum(axis=1), axis=1)
    np.testing.assert_array_equal(som.predict(far), expected)
    with pytest.raises(ValueError, match="squared distances"):
        som.predict(X * 1e300)


# ------------------------------------------------------------- schedules
@pytest.mark.parametrize("algorithm", ["batch", "online", "minibatch"])
@pytest.mark.parametrize(
    "radius", [1e-300, (5.0, 1e-300), 0.001, ExponentialDecay(3.0, 1e-9)]
)
def test_tiny_radius_refused_with_the_allowed_range(X, algorithm, radius):
    """Was: NaN codebooks (minibatch), no training (batch), ZeroDivisionError."""
    with pytest.raises(ValueError, match=r"radius.*0.*at least 0\.01"):
        SOM((4, 4), radius=radius, algorithm=algorithm, random_state=0).fit(X)


@pytest.mark.parametrize("algorithm", ["batch", "online", "minibatch"])
@pytest.mark.parametrize("radius", [0, (3.0, 0.0), 0.01, LinearDecay(2.0, 0.01)])
def test_zero_and_minimum_radius_train(X, algorithm, radius):
    som = SOM((4, 4), radius=radius, algorithm=algorithm, random_state=0).fit(X)
    assert np.all(np.isfinite(som.codebook_))
    assert len(np.unique(som.labels_)) > 4


@pytest.mark.parametrize("algorithm", ["online", "minibatch"])
@pytest.mark.parametrize(
    "rate", [1e300, 100.0, 3.0, 1.5, (2.0, 0.5), -0.1, 0.0, (0.0, 0.0)]
)
def test_learning_rate_outside_0_1_refused(X, algorithm, rate):
    """Was: NaN at 1e300 and divergence above about 2 (|W| = 2e19 at 100)."""
    with pytest.raises(ValueError, match=r"learning_rate.*\(0, 1\]"):
        SOM((4, 4), learning_rate=rate, algorithm=algorithm).fit(X)


@pytest.mark.parametrize("algorithm", ["online", "minibatch"])
@pytest.mark.parametrize("rate", [1.0, (1.0, 0.0), 1e-6])
def test_learning_rate_in_range_stays_finite_and_bounded(X, algorithm, rate):
    sw = np.linspace(0.1, 50.0, len(X))
    som = SOM(
        (4, 4), learning_rate=rate, algorithm=algorithm, init="sample", random_state=0
    )
    som.fit(X, sample_weight=sw)
    assert np.all(np.isfinite(som.codebook_))
    # every unit stays inside the data's bounding box (convex steps)
    assert np.all(som.codebook_ >= X.min(axis=0) - 1e-4)
    assert np.all(som.codebook_ <= X.max(axis=0) + 1e-4)


def test_batch_ignores_learning_rate(X):
    a = SOM((4, 4), learning_rate=50.0, random_state=0).fit(X)
    b = SOM((4, 4), random_state=0).fit(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)


def test_holes_and_offsets_together(X):
    """missing='ignore' with an offset float32 cannot hold: same map."""
    Xh = X.copy()
    Xh[::7, 1] = np.nan
    Xh[3, :2] = np.nan
    ref = SOM((4, 4), missing="ignore", random_state=0).fit(Xh)
    som = SOM((4, 4), missing="ignore", random_state=0).fit(Xh + 1e8)
    np.testing.assert_allclose(som.codebook_ - 1e8, ref.codebook_, atol=2e-3)
    np.testing.assert_array_equal(som.labels_, ref.labels_)
    np.testing.assert_array_equal(som.predict(Xh + 1e8), ref.predict(Xh))


def test_the_fast_check_never_skips_a_needed_rescale():
    """choose_scaling's quick path agrees with measuring every feature."""
    from somkit._numeric import _holds, _quick_holds, _size, extent

    rng = np.random.default_rng(0)
    for trial in range(300):
        n, d = rng.integers(1, 9000), rng.integers(1, 5)
        X = rng.normal(size=(n, d)) * 10.0 ** rng.integers(-60, 60)
        X += 10.0 ** rng.integers(-5, 15) * rng.integers(0, 2)
        if trial % 3 == 0:  # one far row the sample may miss
            X[rng.integers(n)] *= 10.0 ** rng.integers(1, 30)
        for dtype in ("float32", "float64"):
            for metric in ("euclidean", "cosine"):
                lo, hi = extent(X)
                exact = _holds(*_size(lo, hi, metric), dtype, metric)
                if _quick_holds(X, dtype, metric):
                    assert exact, (trial, dtype, metric)
