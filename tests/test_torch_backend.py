"""The torch backend (backend="torch") against the numpy backend.

Every comparison trains the same map twice, once with the numpy kernels and
once with the torch kernels, from the same seed, and checks codebooks,
labels and per-epoch statistics. The CPU runs are the reference checks here;
the ``gpu``-marked copies run the same tests with ``device="cuda"``.
"""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs

from somkit import SOM, _kernels
from somkit._backends.numpy import NumpyBackend
from somkit._grid import Grid
from somkit._neighborhood import neighborhood
from somkit._registry import NEIGHBORHOODS
from somkit._train import minibatch_update

torch = pytest.importorskip("torch")
tb = pytest.importorskip("somkit._backends.torch")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
METRICS = ["euclidean", "cosine", "dot", "manhattan", "chebyshev"]
GRIDS = {
    "rect": dict(grid=(5, 6)),
    "hex": dict(grid=(6, 5), topology="hex"),
    "rect-periodic": dict(grid=(5, 6), periodic=True),
    "hex-periodic": dict(grid=(6, 5), topology="hex", periodic=True),
    "chain": dict(grid=12),
    "3d-periodic": dict(grid=(3, 4, 3), periodic=True),
}


@pytest.fixture(scope="module")
def blobs():
    # Not centred on the origin: a PCA grid through the origin has units on
    # one ray, identical after the cosine metric normalises them (exact ties
    # that float rounding would break differently in numpy and torch).
    X, _ = make_blobs(n_samples=500, n_features=5, centers=6, random_state=0)
    return (X - X.mean(axis=0)) / X.std(axis=0) + 1.5


@pytest.fixture(scope="module")
def uniform():
    # Every unit wins samples, so flat-topped kernels leave no empty units
    # with (nearly) identical codebook rows whose near-ties would break by
    # rounding.
    return np.random.default_rng(0).uniform(size=(600, 3))


def fit_both(X, device, sample_weight=None, **kw):
    kw.setdefault("n_epochs", 3)
    kw.setdefault("random_state", 0)
    a = SOM(backend="numpy", **kw).fit(X, sample_weight=sample_weight)
    b = SOM(backend="torch", device=device, **kw).fit(X, sample_weight=sample_weight)
    return a, b


def assert_same_map(a, b, tol=1e-9, labels=True):
    assert isinstance(b.codebook_, np.ndarray)
    assert b.codebook_.dtype == a.codebook_.dtype
    np.testing.assert_allclose(b.codebook_, a.codebook_, rtol=tol, atol=tol)
    if labels:
        np.testing.assert_array_equal(b.labels_, a.labels_)
    for key in ("quantization_error", "topographic_error", "radius"):
        np.testing.assert_allclose(
            b.history_[key], a.history_[key], rtol=tol, atol=tol, err_msg=key
        )
    assert b.outlier_threshold_ == pytest.approx(a.outlier_threshold_, rel=tol)


# ----------------------------------------------------------- whole training
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("metric", METRICS)
def test_batch_matches_numpy(blobs, device, grid, metric):
    a, b = fit_both(blobs, device, metric=metric, dtype="float64", **GRIDS[grid])
    assert_same_map(a, b)
    # The codebook really moved between epochs (not a trivially equal init).
    assert np.ptp(a.history_["quantization_error"]) > 1e-3


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("grid", ["rect", "hex-periodic"])
def test_minibatch_matches_numpy(blobs, device, grid, metric):
    a, b = fit_both(
        blobs,
        device,
        metric=metric,
        algorithm="minibatch",
        batch_size=64,
        shuffle=True,
        dtype="float64",
        **GRIDS[grid],
    )
    assert_same_map(a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel", NEIGHBORHOODS)
@pytest.mark.parametrize("algorithm", ["batch", "minibatch"])
@pytest.mark.parametrize("grid", ["rect", "hex", "hex-periodic"])
def test_every_kernel_matches_numpy(uniform, device, kernel, algorithm, grid):
    if kernel == "mexican_hat" and algorithm == "minibatch":
        pytest.skip(
            "the minibatch rule diverges with mexican_hat's negative lobes (in "
            "both backends), amplifying rounding; see test_minibatch_step_*"
        )
    a, b = fit_both(
        uniform,
        device,
        neighborhood=kernel,
        algorithm=algorithm,
        batch_size=100 if algorithm == "minibatch" else None,
        dtype="float64",
        **GRIDS[grid],
    )
    assert_same_map(a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algorithm", ["batch", "minibatch"])
def test_sample_weight_matches_numpy(blobs, device, algorithm):
    w = np.random.default_rng(1).integers(0, 4, size=len(blobs)).astype(float)
    a, b = fit_both(
        blobs, device, sample_weight=w, algorithm=algorithm, dtype="float64"
    )
    assert_same_map(a, b)


def test_float32_matches_numpy_on_cpu(blobs):
    X = blobs.astype(np.float32)
    for algorithm in ("batch", "minibatch"):
        a, b = fit_both(X, "cpu", algorithm=algorithm, n_epochs=4, **GRIDS["hex"])
        assert b.codebook_.dtype == np.float32
        np.testing.assert_allclose(b.codebook_, a.codebook_, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(b.labels_, a.labels_)


@pytest.mark.gpu
def test_float32_quality_on_cuda(blobs):
    # float32 GEMMs on a GPU round differently: near-ties may pick another
    # unit, so compare quality, not bits.
    X = blobs.astype(np.float32)
    a, b = fit_both(X, "cuda", n_epochs=5, **GRIDS["hex"])
    assert b.codebook_.dtype == np.float32
    assert np.mean(a.labels_ == b.labels_) > 0.97
    assert b.quantization_error(X) == pytest.approx(a.quantization_error(X), rel=0.02)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel", ["cut_gaussian", "gaussian", "mexican_hat"])
def test_large_map_epoch_matches_numpy(uniform, device, kernel):
    # 52 x 50 = 2600 units, beyond the dense limit: cut-off kernels (and the
    # gaussian on hex, cut at 4 sigma) smooth only the pairs within reach,
    # mexican_hat by row blocks. One epoch: with more units than samples,
    # empty units get rows equal up to rounding, and later epochs would
    # depend on which of them wins (labels_ too).
    assert 52 * 50 > _kernels.DENSE_UNITS
    a, b = fit_both(
        uniform,
        device,
        grid=(52, 50),
        topology="hex",
        neighborhood=kernel,
        radius=3.0,
        n_epochs=1,
        dtype="float64",
    )
    assert_same_map(a, b, labels=False)


# ------------------------------------------------------------- inference
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
def test_predict_transform_and_scores_match(blobs, device, metric):
    a, b = fit_both(blobs, device, metric=metric, dtype="float64")
    Xn = blobs[::3] + 0.1
    np.testing.assert_array_equal(b.predict(Xn), a.predict(Xn))
    np.testing.assert_allclose(b.transform(Xn), a.transform(Xn), rtol=1e-9)
    np.testing.assert_allclose(b.score_samples(Xn), a.score_samples(Xn), rtol=1e-9)
    assert b.quantization_error(Xn) == pytest.approx(a.quantization_error(Xn))
    assert b.topographic_error(Xn) == pytest.approx(a.topographic_error(Xn))
    np.testing.assert_array_equal(b.bmu_coords(Xn), a.bmu_coords(Xn))
    # A numpy-fitted map predicts the same with the torch backend.
    a.set_params(backend="torch", device=device)
    np.testing.assert_array_equal(a.predict(Xn), b.predict(Xn))


def test_online_is_refused_on_torch(blobs):
    with pytest.raises(ValueError, match="algorithm='online' is not available on the"):
        SOM(grid=(3, 3), algorithm="online", backend="torch", device="cpu").fit(blobs)


def test_auto_keeps_cpu_tensors_on_numpy(blobs, monkeypatch):
    monkeypatch.setattr(tb, "make_backend", lambda d=None: pytest.fail("torch used"))
    som = SOM((3, 4), n_epochs=2, random_state=0).fit(torch.as_tensor(blobs))
    assert som.fit_backend_ == "numpy"
    ref = SOM((3, 4), n_epochs=2, random_state=0).fit(blobs)
    np.testing.assert_array_equal(som.codebook_, ref.codebook_)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fit_on_torch_tensor(blobs, device, dtype, monkeypatch):
    made = []
    real = tb.make_backend
    monkeypatch.setattr(tb, "make_backend", lambda d=None: made.append(d) or real(d))
    Xt = torch.as_tensor(blobs, dtype=dtype, device=device)
    Xn = Xt.cpu().numpy()
    som_kw = dict(grid=(5, 6), n_epochs=3, random_state=0)
    b = SOM(device=device, **som_kw).fit(Xt)
    # a device is a request for the torch backend (backend="auto")
    assert made and made[0] == device
    assert b.fit_backend_.startswith("torch on " + device)
    a = SOM(backend="numpy", **som_kw).fit(Xn)
    assert isinstance(b.codebook_, np.ndarray)
    assert b.codebook_.dtype == np.float32  # dtype="float32" default
    tol = 1e-9 if device == "cpu" else 1e-4
    np.testing.assert_allclose(b.codebook_, a.codebook_, rtol=tol, atol=tol)
    np.testing.assert_array_equal(b.predict(Xt), b.predict(Xn))
    np.testing.assert_allclose(b.transform(Xt), b.transform(Xn))
    if device == "cpu":
        np.testing.assert_array_equal(b.labels_, a.labels_)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_take_tensors(blobs, device, metric, dtype):
    # X as a tensor (on the device, or on the CPU for a GPU backend) gives
    # the same passes as X as an array.
    be = tb.make_backend(device)
    X = blobs.astype(dtype)
    W = X[:20].copy()
    grid = Grid((4, 5))
    for Xt in (torch.as_tensor(X, device=device), torch.as_tensor(X)):
        for a, b in zip(
            be.bmu(Xt, W, metric, second=True, batch_size=64),
            _kernels.bmu(X, W, metric, second=True),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        got = be.batch_sums(Xt, W, metric, grid=grid)
        ref = _kernels.batch_sums(X, W, metric, grid=grid)
        np.testing.assert_allclose(be.to_numpy(got[0]), ref[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(be.to_numpy(got[1]), ref[1])
        assert got[2]["te_sum"] == ref[2]["te_sum"]


def test_fitted_map_needs_no_torch(blobs, tmp_path):
    som = SOM(grid=(4, 5), backend="torch", device="cpu", n_epochs=2, random_state=0)
    som.fit(blobs)
    pkl = tmp_path / "som.pkl"
    pkl.write_bytes(pickle.dumps(som))
    script = textwrap.dedent(
        f"""
        import sys

        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")

        sys.meta_path.insert(0, NoTorch())
        import pickle
        import numpy as np
        import somkit
        from somkit.plot import umatrix
        som = pickle.loads(open({str(pkl)!r}, "rb").read())
        assert type(som.codebook_) is np.ndarray
        som.save({str(tmp_path / "som.npz")!r})
        back = somkit.load({str(tmp_path / "som.npz")!r})
        assert np.array_equal(back.codebook_, som.codebook_)
        umatrix(back)
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ------------------------------------------------------------ the kernels
def _tie_problem():
    # Duplicated unit rows and integer data: every score is exact, so ties are
    # real ties and must go to the lowest index in every metric.
    W = np.array(
        [[1, 0], [0, 1], [1, 0], [-1, 0], [0, 1], [0, -1], [-1, 0], [0, -1]],
        dtype=np.float64,
    )
    g = np.arange(-3, 4, dtype=np.float64)
    X = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    return X[np.any(X != 0, axis=1)], W


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
def test_bmu_ties_go_to_lowest_index(device, metric):
    X, W = _tie_problem()
    be = tb.make_backend(device)
    idx, dist, idx2 = be.bmu(X, W, metric, second=True, batch_size=7)
    ref = _kernels.bmu(X, W, metric, second=True)
    np.testing.assert_array_equal(idx, ref[0])
    np.testing.assert_allclose(dist, ref[1], atol=1e-12)
    np.testing.assert_array_equal(idx2, ref[2])
    i = np.flatnonzero((X[:, 0] == 3) & (X[:, 1] == 0))[0]
    if metric != "dot":
        assert (idx[i], idx2[i]) == (0, 2)  # units 0 and 2 are both [1, 0]


@pytest.mark.parametrize("device", DEVICES)
def test_batch_sums_match_numpy(device):
    X = load_digits().data.astype(np.float32)
    W = X[np.random.default_rng(0).choice(len(X), 30, replace=False)]
    grid = Grid((5, 6), "hex")
    w = np.random.default_rng(2).random(len(X))
    be = tb.make_backend(device)
    for sw in (None, w):
        got = be.batch_sums(X, W, "euclidean", sw, batch_size=200, grid=grid)
        got = (be.to_numpy(got[0]), be.to_numpy(got[1]), got[2])
        ref = _kernels.batch_sums(X, W, "euclidean", sw, grid=grid)
        assert got[0].dtype == got[1].dtype == np.float64
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
        for key in ("qe_sum", "te_sum", "weight"):
            assert got[2][key] == pytest.approx(ref[2][key], rel=1e-9), key
        assert got[2]["te_sum"] > 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("name", NEIGHBORHOODS)
def test_minibatch_step_matches_numpy(uniform, device, metric, name):
    grid = Grid((6, 5), "hex", periodic=True)
    rng = np.random.default_rng(3)
    W = uniform[rng.choice(len(uniform), grid.n_units, replace=False)]
    sw = rng.random(50)
    if metric == "cosine":
        W = _kernels.normalize_rows(W)
    steps = []
    for be in (NumpyBackend(), tb.make_backend(device)):
        C = be.take(uniform, np.arange(50), np.float64, metric)
        Wb = be.asarray(W)
        sums, wsum, qe, te = be.minibatch_sums(C, Wb, metric, sw, grid)
        new = minibatch_update(be, Wb, sums, wsum, grid, name, 1.7, 0.3, metric)
        steps.append((be.to_numpy(new), float(qe), float(te)))
    got, ref = steps[1], steps[0]
    assert isinstance(got[0], np.ndarray)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12, atol=1e-12)
    assert not np.allclose(got[0], W)
    assert got[1] == pytest.approx(ref[1], rel=1e-12)
    assert got[2] == pytest.approx(ref[2], rel=1e-12)


@pytest.mark.parametrize("name", NEIGHBORHOODS)
def test_one_neighborhood_definition_for_tensors(name):
    d = np.linspace(0.0, 6.0, 121)
    for sigma in (0.0, 0.5, 1.0, 2.5):
        got = neighborhood(name, torch.as_tensor(d), sigma)
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), neighborhood(name, d, sigma), atol=0)
    with pytest.raises(ValueError, match="neighborhood must be one of"):
        neighborhood("cosine", torch.as_tensor(d), 1.0)


@pytest.mark.parametrize(
    "grid",
    [
        Grid((6, 5), "hex", periodic=True),
        Grid((4, 5), "rect", periodic=True),
        Grid(7, periodic=True),
        Grid((3, 3, 4)),
    ],
    ids=repr,
)
def test_device_grid_adjacency(grid):
    from somkit._backends._torch_ops import DeviceGrid

    dg = DeviceGrid(torch, grid, torch.device("cpu"))
    i, j = np.meshgrid(np.arange(grid.n_units), np.arange(grid.n_units))
    i, j = i.ravel(), j.ravel()
    got = dg.adjacent(torch.as_tensor(i), torch.as_tensor(j)).numpy()
    np.testing.assert_array_equal(got, grid.are_adjacent(i, j))
    np.testing.assert_allclose(dg.distances().numpy(), grid.distances(), atol=1e-12)


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize(
    "grid",
    [Grid((52, 50), "hex", periodic=True), Grid((51, 50), "rect")],
    ids=repr,
)
def test_smooth_large_maps(grid, blocked):
    # > _DENSE_UNITS units: sparse pairs (CPU) or masked row blocks (GPU path).
    be = tb.make_backend("cpu")
    be.blocked_cutoff = blocked
    V = np.random.default_rng(0).normal(size=(grid.n_units, 3))
    for kernel in NEIGHBORHOODS:
        for sigma in (0.0, 2.5):
            got = be.smooth(grid, kernel, sigma, torch.as_tensor(V)).numpy()
            ref = _kernels.smooth(grid, kernel, sigma, V)
            np.testing.assert_allclose(got, ref, atol=1e-10, err_msg=kernel)


@pytest.mark.parametrize("device", DEVICES)
def test_data_cached_on_device_across_epochs(blobs, device, monkeypatch):
    # Force the device cache on CPU too: X is uploaded once per fit, yet the
    # result is unchanged.
    monkeypatch.setattr(tb.TorchBackend, "_fits_on_device", lambda self, n: True)
    uploads = []
    real = tb.TorchBackend._chunk_from_host

    def counting(self, X, a, b, *args):
        uploads.append((a, b))
        return real(self, X, a, b, *args)

    monkeypatch.setattr(tb.TorchBackend, "_chunk_from_host", counting)
    a, b = fit_both(blobs, device, n_epochs=4, batch_size=64, dtype="float64")
    assert uploads == [(0, len(blobs))]  # one upload, 4 epochs + labels_
    assert_same_map(a, b)


# ---------------------------------------------------------------- errors
def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install 'somkit\[torch\]'"):
        tb.make_backend("cpu")


def test_bad_device():
    with pytest.raises(ValueError, match="device must be a torch device"):
        tb.make_backend("not-a-device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            SOM(grid=(3, 3), backend="torch", device="cuda").fit(np.eye(4))


def test_default_device():
    be = tb.make_backend()
    assert be.device.split(":")[0] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_torch_model_without_torch_is_refused_not_rerouted(blobs, monkeypatch):
    # No silent fallback: a map set to backend="torch" says what is missing;
    # asking for numpy gives the same answers.
    som = SOM((3, 4), backend="torch", device="cpu", random_state=0).fit(blobs)
    expected = som.predict(blobs)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "somkit._backends.torch", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'somkit\[torch\]'"):
        som.predict(blobs)
    som.set_params(backend="numpy", device=None)
    np.testing.assert_array_equal(som.predict(blobs), expected)
