"""The SOM estimator against slow, obviously-correct references."""

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.preprocessing import StandardScaler

from somkit import SOM
from somkit._kernels import smooth
from somkit._neighborhood import neighborhood
from somkit._registry import NEIGHBORHOODS
from somkit.schedules import ExponentialDecay, InverseDecay, LinearDecay, StepDecay

# ----------------------------------------------------------- references


def ref_positions(shape, topology):
    """Unit positions written out from DESIGN.md section 3, row-major."""
    pos = []
    for idx in itertools.product(*(range(s) for s in shape)):
        if topology == "hex":
            r, c = idx
            pos.append((r * math.sqrt(3) / 2, c + 0.5 * (r % 2)))
        else:
            pos.append(tuple(float(v) for v in idx))
    return np.array(pos)


def ref_grid_distances(shape, topology, periodic):
    """Grid distances; periodic ones by trying every wrapped image."""
    pos = ref_positions(shape, topology)
    m = len(pos)
    period = np.array(shape, float)
    if topology == "hex":
        period[0] = shape[0] * math.sqrt(3) / 2
    D = np.zeros((m, m))
    shifts = [np.zeros(len(shape))]
    if periodic:
        shifts = [
            np.array(s) * period
            for s in itertools.product((-1, 0, 1), repeat=len(shape))
        ]
    for i in range(m):
        for j in range(m):
            D[i, j] = min(np.linalg.norm(pos[i] - pos[j] + s) for s in shifts)
    return D


def ref_kernel(name, d, sigma):
    if sigma == 0:
        return 1.0 if d == 0 else 0.0
    g = math.exp(-d * d / (2 * sigma * sigma))
    return {
        "gaussian": g,
        "bubble": float(d <= sigma),
        "cut_gaussian": g * (d <= sigma),
        "mexican_hat": (1 - d * d / sigma**2) * g,
        "triangle": max(0.0, 1 - d / sigma),
        "epanechnikov": max(0.0, 1 - d * d / sigma**2),
    }[name]


def ref_batch_epoch(X, W, D, kernel, sigma, weights=None):
    """Kohonen's batch rule with explicit loops over samples and units."""
    n, m = len(X), len(W)
    weights = np.ones(n) if weights is None else weights
    num = np.zeros_like(W)
    den = np.zeros(m)
    for i in range(n):
        dists = [np.sum((X[i] - W[j]) ** 2) for j in range(m)]
        c = int(np.argmin(dists))
        for j in range(m):
            h = ref_kernel(kernel, D[j, c], sigma)
            num[j] += h * weights[i] * X[i]
            den[j] += h * weights[i]
    out = W.copy()
    for j in range(m):
        if abs(den[j]) > 1e-12:
            out[j] = num[j] / den[j]
    return out


def ref_online(X, W, D, kernel, sigma, lr):
    W = W.copy()
    for x in X:
        c = int(np.argmin(((x - W) ** 2).sum(axis=1)))
        for j in range(len(W)):
            W[j] += lr * ref_kernel(kernel, D[j, c], sigma) * (x - W[j])
    return W


GRIDS = [
    ((4, 5), "rect", False),
    ((4, 5), "hex", False),
    ((4, 5), "rect", True),
    ((4, 5), "hex", True),
    ((7,), "rect", False),
    ((7,), "rect", True),
    ((2, 3, 2), "rect", False),
    ((2, 3, 2), "rect", True),
]


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 3)) + rng.integers(0, 3, size=(60, 1))


@pytest.mark.parametrize("shape,topology,periodic", GRIDS)
def test_grid_distances_match_reference(shape, topology, periodic):
    som = SOM(grid=shape, topology=topology, periodic=periodic, n_epochs=1)
    som.fit(np.random.default_rng(0).normal(size=(20, 2)))
    np.testing.assert_allclose(
        som.grid_.distances(), ref_grid_distances(shape, topology, periodic), atol=1e-12
    )


@pytest.mark.parametrize("kernel", NEIGHBORHOODS)
@pytest.mark.parametrize("shape,topology,periodic", GRIDS)
def test_batch_epoch_matches_loop_reference(blobs, shape, topology, periodic, kernel):
    X = blobs
    m = int(np.prod(shape))
    W0 = np.random.default_rng(1).normal(size=(m, X.shape[1])) + 1
    sigma = 1.3
    som = SOM(
        grid=shape,
        topology=topology,
        periodic=periodic,
        neighborhood=kernel,
        radius=sigma,
        init=W0,
        n_epochs=1,
        dtype="float64",
    ).fit(X)
    D = ref_grid_distances(shape, topology, periodic)
    np.testing.assert_allclose(
        som.codebook_, ref_batch_epoch(X, W0, D, kernel, sigma), rtol=1e-9, atol=1e-9
    )


def test_batch_sample_weight_matches_reference(blobs):
    w = np.random.default_rng(3).integers(0, 4, size=len(blobs)).astype(float)
    W0 = np.random.default_rng(1).normal(size=(12, 3))
    som = SOM((3, 4), radius=1.0, init=W0, n_epochs=1, dtype="float64")
    som.fit(blobs, sample_weight=w)
    D = ref_grid_distances((3, 4), "rect", False)
    np.testing.assert_allclose(
        som.codebook_, ref_batch_epoch(blobs, W0, D, "gaussian", 1.0, w), rtol=1e-9
    )


@pytest.mark.parametrize("shape,topology,periodic", GRIDS[:5])
@pytest.mark.parametrize("kernel", ["gaussian", "bubble", "triangle"])
def test_online_matches_loop_reference(blobs, shape, topology, periodic, kernel):
    X = blobs[:25]
    m = int(np.prod(shape))
    W0 = np.random.default_rng(2).normal(size=(m, 3))
    som = SOM(
        grid=shape,
        topology=topology,
        periodic=periodic,
        neighborhood=kernel,
        algorithm="online",
        radius=1.5,
        learning_rate=0.3,
        init=W0,
        n_epochs=1,
        shuffle=False,
        dtype="float64",
    ).fit(X)
    D = ref_grid_distances(shape, topology, periodic)
    np.testing.assert_allclose(
        som.codebook_, ref_online(X, W0, D, kernel, 1.5, 0.3), rtol=1e-9, atol=1e-12
    )


def test_radius_zero_is_kmeans_step(blobs):
    """Winner-only batch update = one Lloyd (k-means) iteration."""
    W0 = blobs[:5].copy()
    som = SOM(5, radius=0, init=W0, n_epochs=1, dtype="float64").fit(blobs)
    lab = cdist(blobs, W0).argmin(axis=1)
    expected = np.array([blobs[lab == k].mean(axis=0) for k in range(5)])
    np.testing.assert_allclose(som.codebook_, expected, rtol=1e-12)


def test_empty_unit_keeps_its_vector(blobs):
    W0 = np.vstack([blobs[:3], [[100.0, 100.0, 100.0]]])
    som = SOM(4, radius=0, init=W0, n_epochs=1, dtype="float64").fit(blobs)
    np.testing.assert_array_equal(som.codebook_[3], W0[3])


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "chebyshev"])
def test_transform_and_predict_match_scipy(blobs, metric):
    som = SOM((3, 3), metric=metric, n_epochs=2, random_state=0).fit(blobs)
    name = {"manhattan": "cityblock"}.get(metric, metric)
    ref = cdist(blobs, som.codebook_.astype(float), metric=name)
    np.testing.assert_allclose(som.transform(blobs), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(som.predict(blobs), ref.argmin(axis=1))
    np.testing.assert_allclose(-som.score_samples(blobs), ref.min(axis=1), atol=1e-5)


def test_dot_metric_picks_largest_inner_product(blobs):
    som = SOM((3, 3), metric="dot", n_epochs=2, random_state=0).fit(blobs)
    sims = blobs @ som.codebook_.T.astype(float)
    np.testing.assert_array_equal(som.predict(blobs), sims.argmax(axis=1))
    np.testing.assert_allclose(som.transform(blobs), -sims, rtol=1e-5)


def test_cosine_codebook_rows_have_unit_norm(blobs):
    for algorithm in ("batch", "online", "minibatch"):
        som = SOM((3, 3), metric="cosine", algorithm=algorithm, random_state=0)
        som.fit(blobs)
        np.testing.assert_allclose(np.linalg.norm(som.codebook_, axis=1), 1, rtol=1e-5)


def test_ties_go_to_lowest_index():
    W0 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    som = SOM(3, radius=0, init=W0, n_epochs=1).fit(np.array([[5.0, 5.0]]))
    som._set_codebook(W0.astype(np.float32))
    assert som.predict(np.array([[1.0, 0.1], [0.9, 0.0], [0.0, 0.9]])).tolist() == [
        0,
        0,
        2,
    ]


def test_uncentred_data_keeps_float32_precision():
    """The shifted GEMM expansion finds the true BMU on data far from 0."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4)) + 1e3
    som = SOM((4, 4), n_epochs=3, random_state=0).fit(X)
    W = som.codebook_.astype(np.float64)
    ref = cdist(X, W)
    np.testing.assert_array_equal(som.predict(X), ref.argmin(axis=1))
    np.testing.assert_allclose(-som.score_samples(X), ref.min(axis=1), rtol=1e-3)


def test_determinism_and_seeds():
    X = load_iris().data
    for kw in (
        {},
        {"algorithm": "online"},
        {"algorithm": "minibatch", "batch_size": 16},
        {"init": "sample"},
    ):
        a = SOM((5, 5), random_state=7, **kw).fit(X).codebook_
        b = SOM((5, 5), random_state=7, **kw).fit(X).codebook_
        c = SOM((5, 5), random_state=8, **kw).fit(X).codebook_
        np.testing.assert_array_equal(a, b)
        if kw:
            assert not np.array_equal(a, c)


def test_random_state_does_not_touch_global_rng():
    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what is checked
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    SOM((3, 3), algorithm="online", init="random", random_state=1).fit(load_iris().data)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_partial_fit_continues_schedule():
    X = load_iris().data
    full = SOM((5, 5), n_epochs=4, random_state=0).fit(X)
    inc = SOM((5, 5), n_epochs=4, random_state=0)
    for _ in range(4):
        inc.partial_fit(X)
    assert inc.n_iter_ == 4
    np.testing.assert_allclose(inc.history_["radius"], full.history_["radius"])
    np.testing.assert_allclose(inc.codebook_, full.codebook_, rtol=1e-5, atol=1e-6)
    inc.partial_fit(X)  # past the plan: radius stays at its end value
    assert inc.history_["radius"][-1] == pytest.approx(full.history_["radius"][-1])


@pytest.mark.parametrize(
    "sched,expected",
    [
        (LinearDecay(4.0, 1.0), [4.0, 3.0, 2.0, 1.0]),
        (ExponentialDecay(8.0, 1.0), [8.0, 4.0, 2.0, 1.0]),
        (InverseDecay(1.0, 0.25), [1.0, 0.5, 1 / 3, 0.25]),
        (StepDecay(3.0, every=2), [3.0, 2.0, 2.0, 1.0]),
    ],
)
def test_schedules_drive_radius(sched, expected):
    som = SOM((4, 4), radius=sched, n_epochs=4, random_state=0).fit(load_iris().data)
    np.testing.assert_allclose(som.history_["radius"], expected)


def test_history_callbacks_and_verbose(capsys):
    X = load_iris().data
    seen = []

    def stop_after_two(som, epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch < 2

    som = SOM((4, 4), n_epochs=5, callbacks=[stop_after_two], random_state=0).fit(X)
    assert som.n_iter_ == 2 and [e for e, _ in seen] == [1, 2]
    assert set(som.history_) >= {"radius", "quantization_error", "topographic_error"}
    assert len(som.history_["radius"]) == 2
    assert capsys.readouterr() == ("", "")
    SOM((4, 4), n_epochs=2, verbose=1).fit(X)
    assert "qe=" in capsys.readouterr().err


def test_pandas_and_memmap_inputs(tmp_path):
    pd = pytest.importorskip("pandas")
    X = load_iris().data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    som = SOM((3, 3), random_state=0).fit(df)
    assert list(som.feature_names_in_) == ["a", "b", "c", "d"]
    path = tmp_path / "x.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    som2 = SOM((3, 3), random_state=0).fit(ro)
    np.testing.assert_array_equal(som2.predict(ro), som2.predict(X.astype(np.float32)))
    assert som2.transform(ro).dtype == np.float32


def test_dtype_float64_and_outputs():
    X = load_iris().data
    som = SOM((3, 3), dtype="float64", random_state=0).fit(X)
    assert som.codebook_.dtype == np.float64
    assert som.transform(X).dtype == np.float64
    assert som.predict(X).dtype == np.int64
    assert som.bmu_coords(X).shape == (150, 2)
    np.testing.assert_array_equal(
        som.grid_.coords_to_index(som.bmu_coords(X)), som.predict(X)
    )


def test_auto_grid_follows_pca_spread():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3)) * [4.0, 1.0, 0.1]
    som = SOM("auto", n_epochs=1).fit(X)
    rows, cols = som.grid_.shape
    assert abs(rows * cols - 5 * math.sqrt(1000)) < 0.15 * 5 * math.sqrt(1000)
    # Sides in the ratio of the standard deviations along the leading PCs (4:1).
    assert 3 < rows / cols < 5


def test_auto_grid_counts_sample_weight_as_repeats():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3)) * [3.0, 1.0, 1.0]
    w = rng.integers(0, 4, size=300)
    weighted = SOM("auto", n_epochs=1).fit(X, sample_weight=w)
    repeated = SOM("auto", n_epochs=1).fit(np.repeat(X, w, axis=0))
    assert weighted.grid_.shape == repeated.grid_.shape


def test_decision_function_flags_far_points(blobs):
    som = SOM((4, 4), random_state=0).fit(blobs)
    assert np.mean(som.decision_function(blobs) < 0) <= 0.02
    far = blobs[:3] + 100
    assert (som.decision_function(far) < 0).all()


def test_large_map_smoothing_matches_dense():
    """Sparse/separable smoothing equals the dense kernel matrix."""
    from somkit._grid import Grid

    rng = np.random.default_rng(0)
    for grid, kernel in [
        (Grid((55, 50), "hex"), "cut_gaussian"),
        (Grid((60, 45), "rect", True), "gaussian"),
        (Grid((50, 52), "rect"), "bubble"),
        (Grid((52, 50), "hex", True), "mexican_hat"),
    ]:
        vals = rng.normal(size=(grid.n_units, 3))
        ref = neighborhood(kernel, grid.distances(), 3.0) @ vals
        np.testing.assert_allclose(smooth(grid, kernel, 3.0, vals), ref, atol=1e-9)


def _minisom_qe(X, shape):
    minisom = pytest.importorskip("minisom")
    m = minisom.MiniSom(
        shape[0],
        shape[1],
        X.shape[1],
        sigma=max(shape) / 2,
        learning_rate=0.5,
        random_seed=0,
    )
    m.pca_weights_init(X)
    m.train_random(X, 20 * len(X))
    W = m.get_weights().reshape(-1, X.shape[1])
    return cdist(X, W).min(axis=1).mean()


@pytest.mark.parametrize(
    "loader,shape", [(load_breast_cancer, (20, 20)), (load_digits, (30, 30))]
)
def test_default_quality_beats_minisom(loader, shape):
    X = StandardScaler().fit_transform(loader().data)
    som = SOM(shape, n_epochs=20, random_state=0).fit(X)
    assert som.topographic_error(X, adjacency="diagonal") < 0.05
    assert som.quantization_error(X) < _minisom_qe(X, shape)


# ----------------------------------------------------------- bad input
BAD_PARAMS = [
    ({"grid": 0}, "grid"),
    ({"grid": (3, -1)}, "grid"),
    ({"grid": (2, 2, 2, 2)}, "grid"),
    ({"grid": "big"}, "grid"),
    ({"grid": (3, 3, 3), "topology": "hex"}, "hex"),
    ({"grid": (3, 4), "topology": "hex", "periodic": True}, "even number of rows"),
    ({"topology": "tri"}, "topology"),
    ({"metric": "cheb"}, "metric"),
    ({"neighborhood": "gauss"}, "neighborhood"),
    ({"algorithm": "sgd"}, "algorithm"),
    ({"radius": -1.0}, "radius"),
    ({"radius": (3, -1)}, "radius"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"n_epochs": 0}, "n_epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"init": "zeros"}, "init"),
    ({"init": np.zeros((5, 4))}, "init"),
    ({"dtype": "float16"}, "dtype"),
    ({"backend": "jax"}, "backend"),
    ({"random_state": "x"}, "random_state"),
]


@pytest.mark.parametrize("params,match", BAD_PARAMS)
def test_bad_parameters_raise_clear_errors(params, match):
    X = load_iris().data
    kw = {"grid": (3, 3), **params}
    with pytest.raises(ValueError, match=match):
        SOM(**kw).fit(X)


@pytest.mark.parametrize(
    "X,match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinity"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones(5), "2D array"),
        (np.ones((2, 2, 2)), "dim"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), "string|float"),
    ],
)
def test_bad_data_raises(X, match):
    with pytest.raises(ValueError, match=match):
        SOM((2, 2)).fit(X)


def test_predict_checks():
    from sklearn.exceptions import NotFittedError

    X = load_iris().data
    with pytest.raises(NotFittedError):
        SOM().predict(X)
    som = SOM((2, 2)).fit(X)
    with pytest.raises(ValueError, match="4 features"):
        som.predict(X[:, :3])
    with pytest.raises(ValueError, match="sample_weight"):
        SOM((2, 2)).fit(X, sample_weight=-np.ones(len(X)))


def test_pca_init_on_wide_data_matches_dense(monkeypatch):
    """Wide data take the Lanczos path; it must agree with the dense one."""
    from somkit import _init
    from somkit._backends.numpy import NumpyBackend
    from somkit._grid import Grid

    rng = np.random.default_rng(0)
    n, d = 120, 2600
    X = rng.normal(size=(n, d)) * 0.1
    X[:, :3] += rng.normal(size=(n, 3)) * [5.0, 3.0, 2.0]
    w = rng.integers(1, 3, size=n).astype(float)
    grid = Grid((4, 6))
    be = NumpyBackend()
    wide = _init.init_codebook(X, grid, "pca", None, w, be)[0]
    monkeypatch.setattr(_init, "WIDE_FEATURES", 10**6)
    dense = _init.init_codebook(X, grid, "pca", None, w, be)[0]
    np.testing.assert_allclose(wide, dense, atol=1e-7)
