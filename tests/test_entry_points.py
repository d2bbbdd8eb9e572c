"""One model, one backend interface: every entry point gives the same answers.

The resolver picks one backend per call and refuses what it cannot honour;
dask input gives lazy dask output; a Pipeline (the command line's model) is
accepted wherever a SOM is; names and ids come from one registry and the
numba, numpy and torch paths agree on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_wine
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import somkit
from somkit import SOM, load, metrics, plot
from somkit._backends import resolve
from somkit._model import unwrap
from somkit._neighborhood import neighborhood
from somkit._registry import METRIC_ID, METRICS, NEIGHBORHOOD_ID, NEIGHBORHOODS
from somkit.cli import cli

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def wine():
    data = load_wine()
    return data.data, [n.replace("/", "_") for n in data.feature_names]


@pytest.fixture(scope="module")
def fitted(wine):
    X, _ = wine
    Xs = StandardScaler().fit_transform(X)
    return Xs, SOM((6, 7), topology="hex", n_epochs=4, random_state=0).fit(Xs)


# ------------------------------------------------------------ dask in, out
def test_dask_in_gives_lazy_dask_out_equal_to_numpy(fitted):
    X, som = fitted
    dX = da.from_array(X, chunks=(50, -1))
    for method in ("predict", "transform", "score_samples", "decision_function"):
        lazy = getattr(som, method)(dX)
        assert isinstance(lazy, da.Array), method
        np.testing.assert_allclose(
            lazy.compute(), getattr(som, method)(X), rtol=1e-12, err_msg=method
        )
    np.testing.assert_array_equal(som.bmu_coords(dX), som.bmu_coords(X))


def test_metrics_on_dask_are_blockwise_and_equal_numpy(fitted, monkeypatch):
    X, som = fitted
    dX = da.from_array(X, chunks=(40, -1))
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    # no block may be pulled into one numpy array of all rows
    for adjacency in ("edges", "diagonal"):
        assert metrics.topographic_error(
            som, dX, adjacency=adjacency, sample_weight=w
        ) == pytest.approx(
            metrics.topographic_error(som, X, adjacency=adjacency, sample_weight=w)
        )
    assert metrics.quantization_error(som, dX, sample_weight=w) == pytest.approx(
        metrics.quantization_error(som, X, sample_weight=w), rel=1e-12
    )
    assert metrics.distortion(som, dX) == pytest.approx(
        metrics.distortion(som, X), rel=1e-12
    )
    assert som.score(dX) == pytest.approx(som.score(X), rel=1e-12)
    with pytest.raises(TypeError, match="subsample"):
        metrics.trustworthiness(som, dX)


def test_dask_fit_then_predict_stays_on_dask(wine):
    X = StandardScaler().fit_transform(wine[0])
    dX = da.from_array(X, chunks=(60, -1))
    som = SOM((4, 4), dtype="float64", n_epochs=3, random_state=0).fit(dX)
    assert som.fit_backend_ == "dask"
    ref = SOM((4, 4), dtype="float64", n_epochs=3, random_state=0).fit(X)
    np.testing.assert_allclose(som.codebook_, ref.codebook_, rtol=1e-9, atol=1e-12)
    assert isinstance(som.predict(dX), da.Array)


# ------------------------------------------------------------- refusals
def test_refused_combinations_name_what_would_work(fitted):
    X, som = fitted
    dX = da.from_array(X, chunks=(50, -1))
    with pytest.raises(ValueError, match="algorithm='online' is not available on the"):
        SOM((3, 3), algorithm="online").fit(dX)
    with pytest.raises(ValueError, match="algorithm in \\('batch', 'minibatch'\\)"):
        SOM((3, 3), algorithm="online").fit(dX)
    with pytest.raises(ValueError, match="use backend='dask'"):
        SOM((3, 3), backend="numpy").fit(dX)
    with pytest.raises(ValueError, match="needs backend='torch'"):
        SOM((3, 3), backend="numpy", device="cpu").fit(X)
    with pytest.raises(ValueError, match="needs backend='torch'"):
        SOM((3, 3), backend="dask", device="cuda").fit(X)
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve("gpu", X)
    # the same rules at prediction time
    som2 = SOM((3, 3), random_state=0).fit(X).set_params(backend="numpy")
    with pytest.raises(ValueError, match="use backend='dask'"):
        som2.predict(dX)


def test_absent_device_is_refused_everywhere(wine, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    X = wine[0]
    for kw in ({"device": "cuda"}, {"backend": "torch", "device": "cuda"}):
        with pytest.raises(ValueError, match="CUDA is not available"):
            SOM((3, 3), **kw).fit(X)
    path = tmp_path / "w.csv"
    np.savetxt(path, X, delimiter=",")
    res = CliRunner().invoke(
        cli, ["fit", str(path), "-o", str(tmp_path / "m.npz"), "--device", "cuda"]
    )
    assert res.exit_code == 2 and "CUDA is not available" in res.stderr
    assert not (tmp_path / "m.npz").exists()


def test_torch_backend_refuses_online():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="use backend='numpy'"):
        SOM((3, 3), backend="torch", device="cpu", algorithm="online").fit(np.eye(5))


def test_init_is_keyword_only_after_grid():
    with pytest.raises(TypeError):
        SOM((3, 3), "hex")
    assert SOM((3, 3), topology="hex").topology == "hex"


# --------------------------------------------------- a pipeline is a model
def test_plots_and_metrics_take_a_pipeline(wine):
    X, names = wine
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=names)
    pipe = make_pipeline(StandardScaler(), SOM((5, 6), n_epochs=3, random_state=0)).fit(
        frame
    )
    som = pipe[-1]
    Xs = pipe[0].transform(frame)
    # U-matrix: the map itself
    ax = plot.umatrix(pipe)
    np.testing.assert_array_equal(
        ax.collections[0].get_array(), somkit.umatrix(som).ravel()
    )
    # component planes: named, and in the data's own units
    axes = plot.component_planes(pipe)
    assert [a.get_title() for a in axes] == names
    W_data = pipe[0].inverse_transform(som.codebook_.astype(float))
    for j, a in enumerate(axes):
        np.testing.assert_allclose(a.collections[0].get_array(), W_data[:, j])
    # hits and labels from raw rows equal the map's on scaled rows
    h_pipe = plot.hits(pipe, frame).collections[0].get_array()
    h_som = plot.hits(som, Xs).collections[0].get_array()
    np.testing.assert_array_equal(h_pipe, h_som)
    # grid_in_data in the data's units, axes named
    ax = plot.grid_in_data(pipe, frame, dims=(0, 12))
    assert ax.get_xlabel() == names[0] and ax.get_ylabel() == names[12]
    # metrics send the raw rows through the scaler
    assert metrics.quantization_error(pipe, frame) == pytest.approx(
        metrics.quantization_error(som, Xs)
    )
    assert metrics.topographic_error(pipe, frame) == pytest.approx(
        metrics.topographic_error(som, Xs)
    )


def test_user_pipeline_round_trip_and_refused_steps(wine, tmp_path):
    X, _ = wine
    pipe = Pipeline(
        [("mm", MinMaxScaler()), ("map", SOM((4, 5), n_epochs=2, random_state=0))]
    ).fit(X)
    path = somkit.save(pipe, tmp_path / "p.npz")
    back = load(path)
    assert isinstance(back, Pipeline) and [n for n, _ in back.steps] == ["mm", "map"]
    np.testing.assert_array_equal(back.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(back.transform(X), pipe.transform(X))
    np.testing.assert_allclose(back.decision_function(X), pipe.decision_function(X))
    from sklearn.decomposition import PCA

    bad = make_pipeline(PCA(3), SOM((3, 3), n_epochs=1)).fit(X)
    with pytest.raises(TypeError, match="cannot store step 'pca'"):
        somkit.save(bad, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_format_1_files_load_as_the_pipeline_they_described(wine, tmp_path):
    """A file written before models were pipelines: SOM + scaler_ dict."""
    X, names = wine
    mean, scale = X.mean(axis=0), X.std(axis=0)
    som = SOM((4, 4), n_epochs=2, random_state=0).fit((X - mean) / scale)
    meta = {
        "format": "somkit-model",
        "format_version": 1,
        "somkit_version": "0.1.0",
        "class": "SOM",
        "params": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in som.get_params().items()
            if k not in ("callbacks", "learning_rate", "grid")
        }
        | {
            "grid": {"__tuple__": [4, 4]},
            "learning_rate": {"__tuple__": [0.5, 0.01]},
            "callbacks": None,
        },
        "grid": som.grid_.to_dict(),
        "n_features_in": 13,
        "n_iter": 2,
        "radius_schedule": som._radius_schedule_.to_dict(),
        "outlier_threshold": som.outlier_threshold_,
        "history": som.history_,
        "extra": {
            "scaler_": {
                "kind": "standard",
                "mean": {"__array__": "scaler__mean"},
                "scale": {"__array__": "scaler__scale"},
            }
        },
    }
    path = tmp_path / "old.npz"
    np.savez(
        path,
        meta=np.array(json.dumps(meta)),
        codebook=som.codebook_,
        labels=som.labels_,
        scaler__mean=mean,
        scaler__scale=scale,
        feature_names_in=np.array(names),
    )
    assert zipfile.is_zipfile(path)
    model = load(path)
    assert isinstance(model, Pipeline)
    np.testing.assert_array_equal(model[-1].codebook_, som.codebook_)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=names)
    np.testing.assert_array_equal(model.predict(frame), som.predict((X - mean) / scale))
    assert list(model.feature_names_in_) == names


# ------------------------------------------------- one registry, one rule
def test_numba_neighborhood_ids_match_the_definition():
    from somkit._kernels._online import _h

    d = np.linspace(0.0, 7.0, 141)
    assert list(NEIGHBORHOOD_ID) == list(NEIGHBORHOODS)
    for name in NEIGHBORHOODS:
        for sigma in (0.0, 0.7, 1.0, 3.2):
            got = [_h(NEIGHBORHOOD_ID[name], v, sigma) for v in d]
            np.testing.assert_allclose(
                got, neighborhood(name, d, sigma), rtol=1e-15, atol=0, err_msg=name
            )


def test_numba_metric_ids_match_the_dense_distances():
    from somkit._kernels import normalize_rows, pairwise_distances
    from somkit._kernels._numba import pair_distances

    rng = np.random.default_rng(1)
    C, W = rng.normal(size=(40, 6)), rng.normal(size=(9, 6))
    assert list(METRIC_ID) == list(METRICS)
    for name in METRICS:
        Cm, Wm = (normalize_rows(C), normalize_rows(W)) if name == "cosine" else (C, W)
        idx = rng.integers(0, 9, size=40)
        out = np.empty(40)
        pair_distances(Cm, Wm, idx, METRIC_ID[name], out)
        ref = pairwise_distances(C, W, name)[np.arange(40), idx]
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12, err_msg=name)


def test_online_metric_ids_pick_the_numpy_winner():
    """One sequential step with each metric moves the unit numpy calls the BMU."""
    from somkit._kernels import bmu, normalize_rows

    rng = np.random.default_rng(2)
    X = rng.normal(size=(1, 5)) + 1
    W0 = rng.normal(size=(12, 5)) + 1
    for name in METRICS:
        som = SOM(
            (3, 4),
            metric=name,
            algorithm="online",
            init=W0,
            radius=0,
            learning_rate=0.5,
            n_epochs=1,
            dtype="float64",
        ).fit(X)
        start = normalize_rows(W0) if name == "cosine" else W0
        winner = bmu(X, start, name)[0][0]
        moved = np.flatnonzero(np.abs(som.codebook_ - start).max(axis=1) > 1e-9)
        assert moved.tolist() == [winner], name


def test_shared_rules_size_every_entry_point(wine, tmp_path):
    from somkit._clustering import SOMClustering
    from somkit._rules import default_radius

    X = StandardScaler().fit_transform(wine[0])
    som = SOM(grid="auto", n_epochs=1, random_state=0).fit(X)
    assert som._radius_schedule_ == default_radius(som.grid_.shape)
    path = tmp_path / "w.csv"
    np.savetxt(path, X, delimiter=",")
    res = CliRunner().invoke(
        cli,
        ["fit", str(path), "-o", str(tmp_path / "m.npz"), "--epochs", "1", "-q"],
    )
    assert res.exit_code == 0, res.output
    cli_som, _ = unwrap(load(tmp_path / "m.npz"))
    assert cli_som.grid_.shape == som.grid_.shape
    clu = SOMClustering(n_clusters=3, random_state=0).fit(X)
    assert clu.som_.radius == default_radius(clu.som_.grid_.shape, 0.5)
    _, red = somkit.reduce(X, 20, random_state=0, return_som=True, n_epochs=1)
    assert red.radius == default_radius(red.grid_.shape, 0.5)


# ------------------------------------------------------- a light CLI start
def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from somkit.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('sklearn', 'numba', 'torch', 'scipy', 'matplotlib',"
        " 'dask') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert "HEAVY []" in out.stdout, out.stdout
    # -X importtime: cumulative microseconds of the top-level somkit.cli import
    rows = [ln.split("|") for ln in out.stderr.splitlines() if ln.startswith("import")]
    cli_us = next(int(r[1]) for r in rows if r[2].strip() == "somkit.cli")
    assert cli_us < 500_000, cli_us
