"""somkit.neupy.SOFM against NeuPy's published numbers and slow loop references."""

import itertools
import math
from collections import deque

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from somkit._grid import Grid
from somkit.neupy import SOFM, StopTraining, ring_distances

NO_DECAY = dict(reduce_radius_after=None, reduce_std_after=None, reduce_step_after=None)

# ----------------------------------------------------------- references


def bfs_distances(grid):
    """Hop counts over Grid's adjacency (independent of the hex formula)."""
    adj = grid.adjacency("edges")
    m = grid.n_units
    D = np.full((m, m), -1)
    for s in range(m):
        D[s, s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in adj.indices[adj.indptr[u] : adj.indptr[u + 1]]:
                if D[s, v] < 0:
                    D[s, v] = D[s, u] + 1
                    queue.append(v)
    return D


def reference_train(X, W, shape, epochs, *, first_epoch=1, hexagon=False, **p):
    """NeuPy's online rule written out plainly, one unit at a time.

    NeuPy: the winner is the largest score; neighbours lie in the Euclidean
    disc of integer offsets (rect) or within the hex ring distance (hexagon);
    the step is scaled by the mean over axes of exp(-off^2 / (2 pi std^2))
    (rect) or exp(-ring^2 / (2 pi std^2)) (hexagon, the fixed rule).
    """
    W = W.astype(float).copy()
    coords = list(itertools.product(*(range(s) for s in shape)))
    hops = bfs_distances(Grid(shape, "hex")) if hexagon else None
    for epoch in range(first_epoch, first_epoch + epochs):
        radius = p["learning_radius"]
        if p["reduce_radius_after"]:
            radius = max(0, radius - epoch // p["reduce_radius_after"])
        step = p["step"]
        if p["reduce_step_after"]:
            step = step / (1 + epoch / p["reduce_step_after"])
        std = p["std"]
        if p["reduce_std_after"]:
            std = std / (1 + epoch / p["reduce_std_after"])

        def g(off, std=std):
            if std == 0:
                return 1.0 if off == 0 else 0.0
            return math.exp(-(off**2) / (2 * math.pi * std**2))

        for x in X:
            if p["distance"] == "euclid":
                scores = [-math.dist(x, W[:, j]) for j in range(W.shape[1])]
            elif p["distance"] == "dot_product":
                scores = [float(np.dot(x, W[:, j])) for j in range(W.shape[1])]
            else:
                scores = [
                    float(np.dot(x, W[:, j]))
                    / (np.linalg.norm(x) * np.linalg.norm(W[:, j]))
                    for j in range(W.shape[1])
                ]
            c = int(np.argmax(scores))
            for j, cj in enumerate(coords):
                if hexagon:
                    ring = hops[c, j]
                    if ring > radius:
                        continue
                    scale = g(ring)
                else:
                    offs = [abs(a - b) for a, b in zip(cj, coords[c], strict=True)]
                    if sum(o * o for o in offs) > radius**2:
                        continue
                    scale = sum(g(o) for o in offs) / len(offs)
                W[:, j] += step * scale * (x - W[:, j])
                if p["distance"] == "cos":
                    W[:, j] /= np.linalg.norm(W[:, j])
    return W


def single_update(shape, std, grid_type="rect", radius=10):
    """Weights after one sample with step=1 and the winner in the centre.

    All units start at 0 except the centre at 0.5 (so it wins); a unit moves
    to exactly its step scale.
    """
    m = math.prod(shape)
    centre = np.ravel_multi_index(tuple(s // 2 for s in shape), shape)
    W = np.zeros((1, m))
    W[0, centre] = 0.5
    sofm = SOFM(
        n_inputs=1,
        features_grid=shape,
        grid_type=grid_type,
        learning_radius=radius,
        std=std,
        step=1,
        weight=W,
        **NO_DECAY,
    )
    sofm.train(np.array([[1.0]]), epochs=1)
    return sofm.weight.reshape(shape), centre


# ---------------------------------------------------------------- tests


def test_published_step_scaler_5x5():
    # NeuPy's documented scaler around the centre of a 5x5 grid with std=1.
    S, _ = single_update((5, 5), std=1)
    np.testing.assert_allclose(S[2], [0.7645, 0.9264, 1.0, 0.9264, 0.7645], atol=5e-5)
    np.testing.assert_allclose(S[:, 2], S[2], atol=1e-12)
    for corner in [(0, 0), (0, 4), (4, 0), (4, 4)]:
        assert S[corner] == pytest.approx(0.5291, abs=5e-5)
    # The formula behind the numbers: mean over axes of exp(-d^2/(2 pi std^2)).
    g = np.exp(-(np.arange(-2, 3) ** 2) / (2 * np.pi))
    np.testing.assert_allclose(S, (g[:, None] + g[None, :]) / 2, rtol=1e-12)


def test_neighbours_are_a_euclidean_disc():
    # radius 2 on a 5x5 grid: NeuPy's documented diamond-with-shoulders mask.
    S, _ = single_update((5, 5), std=1, radius=2)
    expected = np.array(
        [
            [0, 0, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [1, 1, 1, 1, 1],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(S > 0, expected)


def test_std_zero_scales_per_axis():
    S, _ = single_update((3, 3), std=0, radius=1)
    np.testing.assert_allclose(S, [[0, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 0]])


def test_hexagon_step_scale_falls_with_ring_distance():
    # NeuPy's bug gave every neighbour exp(-1/(2 pi std^2)); the fix uses the
    # ring distance.
    shape = (7, 7)
    S, centre = single_update(shape, std=1.5, grid_type="hexagon", radius=2)
    hops = bfs_distances(Grid(shape, "hex"))[centre].reshape(shape)
    expected = np.where(hops <= 2, np.exp(-(hops**2) / (2 * np.pi * 1.5**2)), 0.0)
    np.testing.assert_allclose(S, expected, rtol=1e-12)
    assert len(np.unique(np.round(S[S > 0], 12))) == 3


@pytest.mark.parametrize("shape", [(2, 2), (5, 4), (6, 7), (1, 5), (5, 1)])
def test_ring_distances_match_grid_hops(shape):
    R = ring_distances(shape)
    np.testing.assert_array_equal(R, bfs_distances(Grid(shape, "hex")))
    # distance-1 rings are exactly somkit's hex neighbours
    D = Grid(shape, "hex").distances()
    np.testing.assert_array_equal(R == 1, np.isclose(D, 1.0))


@pytest.mark.parametrize(
    "shape, distance, grid_type",
    [
        ((4, 5), "euclid", "rect"),
        ((3, 3, 2), "euclid", "rect"),
        ((6,), "euclid", "rect"),
        ((4, 4), "cos", "rect"),
        ((4, 4), "dot_product", "rect"),
        ((4, 5), "euclid", "hexagon"),
    ],
)
def test_online_rule_matches_reference_loop(shape, distance, grid_type):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(25, 3))
    if distance == "dot_product":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    m = math.prod(shape)
    W0 = rng.normal(scale=0.3, size=(3, m))
    if distance == "cos":
        W0 /= np.linalg.norm(W0, axis=0)
    params = dict(
        learning_radius=3,
        std=1.3,
        step=0.4,
        reduce_radius_after=2,
        reduce_std_after=3,
        reduce_step_after=2,
        distance=distance,
    )
    sofm = SOFM(
        n_inputs=3, features_grid=shape, grid_type=grid_type, weight=W0, **params
    )
    # Two train calls: epochs must carry over (1, 2 then 3, 4, 5).
    sofm.train(X, epochs=2)
    assert sofm.last_epoch == 2
    sofm.train(X, epochs=3)
    assert sofm.last_epoch == 5 and len(sofm.errors.train) == 5
    ref = reference_train(X, W0, shape, 5, hexagon=grid_type == "hexagon", **params)
    np.testing.assert_allclose(sofm.weight, ref, rtol=1e-10, atol=1e-12)


def test_epoch_parameters_decay_formulas():
    sofm = SOFM(
        n_inputs=2,
        n_outputs=4,
        learning_radius=3,
        std=2,
        step=0.5,
        reduce_radius_after=4,
        reduce_std_after=10,
        reduce_step_after=5,
    )
    assert sofm.epoch_parameters(1) == (3, 0.5 / 1.2, 2 / 1.1)
    assert sofm.epoch_parameters(8)[0] == 1
    assert sofm.epoch_parameters(100)[0] == 0
    free = SOFM(n_inputs=2, n_outputs=4, learning_radius=3, std=2, step=0.5, **NO_DECAY)
    assert free.epoch_parameters(1000) == (3, 0.5, 2)


def test_training_error_is_mean_abs_update_distance():
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    W0 = np.array([[0.0, 10.0], [0.0, 10.0]])
    sofm = SOFM(n_inputs=2, n_outputs=2, weight=W0, step=0.5, **NO_DECAY)
    sofm.train(X, epochs=1)
    # both samples are won by unit 0; |x - w| before each update
    e1 = np.mean(np.abs(X[0] - 0))
    w = 0.5 * X[0]
    e2 = np.mean(np.abs(X[1] - w))
    assert sofm.errors.train == [pytest.approx((e1 + e2) / 2)]


def test_predict_one_hot_and_raw_scores():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    W = rng.normal(size=(4, 6))
    for distance, ref in [
        ("euclid", -cdist(X, W.T)),
        ("dot_product", X @ W),
        ("cos", 1 - cdist(X, W.T, "cosine")),
    ]:
        sofm = SOFM(n_inputs=4, n_outputs=6, weight=W, distance=distance)
        Wn = sofm.weight
        if distance == "cos":
            np.testing.assert_allclose(np.linalg.norm(Wn, axis=0), 1)
        raw = sofm.predict_raw(X)
        np.testing.assert_allclose(raw, ref, rtol=1e-10, atol=1e-12)
        onehot = sofm.predict(X)
        assert onehot.shape == (30, 6) and onehot.dtype.kind == "i"
        np.testing.assert_array_equal(onehot.sum(axis=1), 1)
        np.testing.assert_array_equal(onehot.argmax(axis=1), ref.argmax(axis=1))
        np.testing.assert_array_equal(sofm.transform(X), onehot)


def test_neupy_docstring_example_separates_the_groups():
    data = np.array(
        [[0.1961, 0.9806], [-0.1961, 0.9806], [-0.5812, -0.8137], [-0.8137, -0.5812]]
    )
    for seed in range(3):
        sofm = SOFM(
            n_inputs=2, n_outputs=2, step=0.1, learning_radius=0, random_state=seed
        )
        sofm.train(data, epochs=100)
        w = sofm.predict(data).argmax(axis=1)
        assert w[0] == w[1] != w[2] == w[3]


def test_fit_works_and_returns_self():
    X = np.random.default_rng(0).uniform(size=(40, 2))
    sofm = SOFM(n_inputs=2, features_grid=(3, 3), learning_radius=1, random_state=0)
    assert sofm.fit(X, epochs=7) is sofm
    assert sofm.last_epoch == 7
    sofm.fit(X, np.zeros(40), 2)
    assert sofm.last_epoch == 9


def test_numpy_integers_accepted():
    X = np.random.default_rng(0).uniform(size=(20, 2))
    sofm = SOFM(
        n_inputs=np.int64(2),
        features_grid=(np.int64(3), np.int32(2)),
        n_outputs=np.int64(6),
        learning_radius=np.int64(1),
        reduce_radius_after=np.int16(3),
        show_epoch=np.uint8(2),
        std=np.float32(1),
        step=np.int64(1),
        random_state=0,
    )
    sofm.train(X, epochs=np.int64(3))
    assert sofm.weight.shape == (2, 6) and sofm.last_epoch == 3


@pytest.mark.parametrize("shape", [(1, 10), (10, 1), (10,)])
def test_init_pca_on_single_row_or_column(shape):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [3.0, 1.0, 0.2] + [1.0, -2.0, 5.0]
    sofm = SOFM(n_inputs=3, features_grid=shape, weight="init_pca", learning_radius=1)
    sofm.init_weights(X)
    W = sofm.weight.T
    assert np.all(np.isfinite(W))
    # Units lie evenly on one line through the mean, along the first PC of the
    # standardised data, symmetric about the mean.
    steps = np.diff(W, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape))
    np.testing.assert_allclose(W.mean(axis=0), X.mean(axis=0), atol=1e-12)
    Z = (X - X.mean(0)) / X.std(0)
    v1 = np.linalg.eigh(np.cov(Z.T, bias=True))[1][:, -1]
    d = steps[0] / X.std(0)
    assert abs(abs(d @ v1) / np.linalg.norm(d) - 1) < 1e-9
    # half-width along the component = its variance (NeuPy's scaling)
    lam1 = np.linalg.eigvalsh(np.cov(Z.T, bias=True))[-1]
    half = (W[-1] - W[0]) / 2 / X.std(0)
    assert np.linalg.norm(half) == pytest.approx(lam1, rel=1e-9)


def test_init_pca_2d_and_3d_grids_span_components():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 4)) * [4.0, 2.0, 1.0, 0.5]
    for shape in [(4, 5), (3, 3, 3)]:
        sofm = SOFM(n_inputs=4, features_grid=shape, weight="init_pca")
        sofm.init_weights(X)
        W = sofm.weight.T
        assert np.all(np.isfinite(W))
        # codebook spread has rank = number of grid axes
        s = np.linalg.svd(W - W.mean(0), compute_uv=False)
        assert np.sum(s > 1e-9 * s[0]) == len(shape)
    # hexagon grids work too (NeuPy refused them)
    sofm = SOFM(
        n_inputs=4,
        features_grid=(4, 4),
        grid_type="hexagon",
        weight="init_pca",
        learning_radius=1,
    )
    sofm.train(X, epochs=2)
    assert np.all(np.isfinite(sofm.weight))


def test_sample_from_data_takes_training_rows():
    X = np.random.default_rng(0).normal(size=(10, 3))
    sofm = SOFM(n_inputs=3, n_outputs=4, weight="sample_from_data", random_state=3)
    sofm.init_weights(X)
    for col in sofm.weight.T:
        assert np.any(np.all(X == col, axis=1))
    # more units than samples -> with replacement, still works
    big = SOFM(n_inputs=3, n_outputs=25, weight="sample_from_data", random_state=3)
    big.train(X, epochs=1)
    assert big.weight.shape == (3, 25)
    with pytest.raises(RuntimeError, match="already"):
        big.init_weights(X)


def test_predict_before_data_init_raises():
    sofm = SOFM(n_inputs=2, n_outputs=3, weight="init_pca")
    with pytest.raises(RuntimeError, match="call train first"):
        sofm.predict(np.zeros((1, 2)))


def test_shuffle_is_reproducible_and_changes_order():
    X = np.random.default_rng(0).normal(size=(50, 2))
    kw = dict(n_inputs=2, features_grid=(3, 3), learning_radius=1, step=0.5)
    runs = []
    for seed in (0, 0, 1):
        s = SOFM(shuffle_data=True, random_state=seed, **kw)
        s.train(X, epochs=3)
        runs.append(s.weight)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])
    # without shuffling, the same initial weights give the reference order
    W0 = SOFM(random_state=0, **kw).weight
    s = SOFM(weight=W0, **kw)
    s.train(X, epochs=3)
    ref = reference_train(
        X,
        W0,
        (3, 3),
        3,
        std=1,
        distance="euclid",
        learning_radius=1,
        step=0.5,
        reduce_radius_after=100,
        reduce_std_after=100,
        reduce_step_after=100,
    )
    np.testing.assert_allclose(s.weight, ref, rtol=1e-10)


def test_signals_and_stop_training(capsys):
    X = np.random.default_rng(0).normal(size=(10, 2))
    seen = []

    class Recorder:
        def train_start(self, network, **kw):
            seen.append(("start", kw["epochs"]))

        def train_error(self, network, value, epoch):
            seen.append(("error", epoch, value))

        def train_end(self, network):
            seen.append(("end", network.last_epoch))

    def stop_at_three(network):
        if network.last_epoch == 3:
            raise StopTraining("enough")

    sofm = SOFM(
        n_inputs=2, n_outputs=3, signals=[Recorder(), stop_at_three], random_state=0
    )
    sofm.train(X, epochs=10)
    assert sofm.last_epoch == 3
    assert seen[0] == ("start", 10) and seen[-1] == ("end", 3)
    assert [e[1] for e in seen if e[0] == "error"] == [1, 2, 3]
    assert [e[2] for e in seen if e[0] == "error"] == sofm.errors.train
    assert capsys.readouterr().out == ""


def test_verbose_prints_show_epoch_cadence(capsys):
    X = np.random.default_rng(0).normal(size=(10, 2))
    sofm = SOFM(n_inputs=2, n_outputs=3, verbose=True, show_epoch=3, random_state=0)
    sofm.train(X, epochs=7)
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[1].rstrip(":")) for line in lines] == [1, 3, 6, 7]


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(n_inputs=2), ValueError, "n_outputs"),
        (
            dict(n_inputs=2, n_outputs=5, features_grid=(2, 2)),
            ValueError,
            "features_grid",
        ),
        (dict(n_inputs=2, n_outputs=4, distance="manhattan"), ValueError, "distance"),
        (dict(n_inputs=2, n_outputs=4, grid_type="hex"), ValueError, "grid_type"),
        (
            dict(n_inputs=2, features_grid=(2, 2, 2), grid_type="hexagon"),
            ValueError,
            "hexagon",
        ),
        (
            dict(n_inputs=2, n_outputs=4, learning_radius=1.5),
            TypeError,
            "learning_radius",
        ),
        (
            dict(n_inputs=2, n_outputs=4, learning_radius=-1),
            ValueError,
            "learning_radius",
        ),
        (dict(n_inputs=2, n_outputs=4, std=-1), ValueError, "std"),
        (dict(n_inputs=2, n_outputs=4, reduce_step_after=0), ValueError, "reduce_step"),
        (dict(n_inputs=2, n_outputs=4, weight="pca"), ValueError, "weight"),
        (dict(n_inputs=2, n_outputs=4, weight=np.zeros((4, 2))), ValueError, "weight"),
        (dict(n_inputs=2, n_outputs=4, shuffle_data="yes"), TypeError, "shuffle_data"),
    ],
)
def test_bad_parameters(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        SOFM(**kwargs)


def test_bad_input():
    sofm = SOFM(n_inputs=2, n_outputs=3, random_state=0)
    with pytest.raises(ValueError, match="n_inputs"):
        sofm.train(np.zeros((5, 3)), epochs=1)
    with pytest.raises(ValueError, match="NaN"):
        sofm.train(np.array([[0.0, np.nan]]), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        sofm.train(np.zeros((5, 2)), epochs=0)
    with pytest.raises(TypeError):
        SOFM(2, 3)  # keyword-only, as in NeuPy
    # a 1-D vector is one sample (n_inputs > 1) or a column (n_inputs == 1)
    assert sofm.predict(np.array([0.5, 0.5])).shape == (1, 3)
    one = SOFM(n_inputs=1, n_outputs=3, random_state=0)
    assert one.predict(np.array([0.1, 0.2, 0.3, 0.4])).shape == (4, 3)


def test_moons_chain_orders_itself():
    # NeuPy's moons example: a 1x20 chain on one moon orders itself along the
    # arc (unit index follows the angle around the moon's centre) and covers
    # all of it.
    from scipy.stats import spearmanr
    from sklearn.datasets import make_moons

    data, targets = make_moons(n_samples=400, noise=0.1, random_state=0)
    data = data[targets == 1]  # centre (1, 0.5), angles 0..pi
    sofm = SOFM(
        n_inputs=2,
        features_grid=(1, 20),
        learning_radius=4,
        reduce_radius_after=10,
        step=0.3,
        std=2,
        reduce_std_after=20,
        shuffle_data=True,
        weight="sample_from_data",
        random_state=0,
    )
    sofm.train(data, epochs=50)
    W = sofm.weight.T
    angle = np.arctan2(0.5 - W[:, 1], 1.0 - W[:, 0])
    angle = np.where(angle < -np.pi / 2, angle + 2 * np.pi, angle)
    assert abs(spearmanr(np.arange(20), angle)[0]) > 0.99
    assert np.ptp(angle) > 0.9 * np.pi
    qe = np.min(cdist(data, W), axis=1).mean()
    assert qe < 0.1
