"""The seed applications: each runs and its numbers back the issue's claims."""

import runpy
import sys

import matplotlib.figure
import numpy as np
import pytest
from scipy.spatial import ConvexHull

from somkit import SOM, apps, datasets
from somkit.apps import breast_cancer, digits, grid_types, iris, moons, reduce
from somkit.apps._base import AppResult
from somkit.apps._common import consecutive_cv, unit_purity

MINE = ["iris", "moons", "grid-types", "breast-cancer", "digits", "reduce"]


def _purity_loop(bmu, y):
    """Reference: share of non-empty units whose samples share one class."""
    units = {}
    for u, c in zip(bmu.tolist(), np.asarray(y).tolist(), strict=True):
        units.setdefault(u, set()).add(c)
    return np.mean([len(classes) == 1 for classes in units.values()])


def _check_result(res, name, stems):
    assert isinstance(res, AppResult)
    assert res.name == name and res.title and res.text
    assert sorted(res.figures) == sorted(stems)
    assert all(isinstance(f, matplotlib.figure.Figure) for f in res.figures.values())


@pytest.mark.parametrize("name", MINE)
def test_registry_finds_the_application(name):
    assert name in apps.available()
    assert callable(apps.get(name).run)


# ---------------------------------------------------------------- datasets
def test_disc_is_uniform_in_the_disc():
    X = datasets.disc(20000, radius=2.0, random_state=1)
    r = np.hypot(X[:, 0], X[:, 1])
    assert X.shape == (20000, 2) and r.max() <= 2.0
    # Uniform area density: a quarter of the points within half the radius.
    assert abs(np.mean(r < 1.0) - 0.25) < 0.015
    assert abs(np.mean(X[:, 0] > 0) - 0.5) < 0.015
    np.testing.assert_array_equal(X, datasets.disc(20000, 2.0, random_state=1))


def test_one_moon_is_the_upper_moon_of_make_moons():
    from sklearn.datasets import make_moons

    X = datasets.one_moon(150, noise=0.0, random_state=0)
    assert X.shape == (150, 2)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), 1.0)
    assert np.all(X[:, 1] >= 0)
    Xm, ym = make_moons(300, noise=0.1, random_state=4)
    np.testing.assert_array_equal(datasets.one_moon(150, 0.1, 4), Xm[ym == 0])


@pytest.mark.parametrize(
    ("func", "kw", "match"),
    [
        (datasets.disc, {"n": 0}, "n must"),
        (datasets.disc, {"radius": 0}, "radius"),
        (datasets.one_moon, {"n": 2.5}, "n must"),
        (datasets.one_moon, {"noise": -1}, "noise"),
    ],
)
def test_dataset_errors(func, kw, match):
    with pytest.raises(ValueError, match=match):
        func(**kw)


# ---------------------------------------------------------------- helpers
def test_unit_purity_matches_loop_reference():
    rng = np.random.default_rng(0)
    bmu = rng.integers(0, 30, size=200)
    y = rng.integers(0, 2, size=200)
    y[bmu < 10] = 1  # units 0..9 pure
    assert unit_purity(bmu, y, 40) == pytest.approx(_purity_loop(bmu, y))
    hits = np.bincount(bmu, minlength=40)
    keep = np.isin(bmu, np.flatnonzero(hits >= 2))
    assert unit_purity(bmu, y, 40, min_hits=2) == pytest.approx(
        _purity_loop(bmu[keep], y[keep])
    )
    assert unit_purity([0, 0, 1], ["a", "a", "b"], 5) == 1.0


def test_consecutive_cv():
    t = np.linspace(0, np.pi, 20)
    assert consecutive_cv(np.c_[np.cos(t), np.sin(t)]) == pytest.approx(0, abs=1e-9)
    W = np.c_[[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]  # steps 1 and 2
    assert consecutive_cv(W) == pytest.approx(0.5 / 1.5)


# ---------------------------------------------------------------- the apps
def test_iris_radius0_matches_kmeans():
    res = iris.run(quick=True)
    _check_result(res, "iris", ["clusters"])
    m = res.metrics
    assert m["kmeans_max_distance"] < 0.1
    assert m["qe_3"] == pytest.approx(m["qe_kmeans"], rel=1e-3)
    # 20 units: micro-clusters, much closer to the data, mostly one species
    # (measured 0.83 with 2 empty units).
    assert m["micro_units"] == 20
    assert m["qe_micro"] < 0.5 * m["qe_3"]
    assert m["micro_purity"] >= 0.75


def test_moons_radius2_spreads_units_more_evenly():
    res = moons.run(quick=True)
    _check_result(res, "moons", ["chains"])
    m = res.metrics
    # Measured 0.59 (radius 0) vs 0.16 (radius 2).
    assert m["cv_radius2"] < 0.5 * m["cv_radius0"]
    assert m["qe_radius0"] < m["qe_radius2"]  # k-means fits tighter
    # The figure draws each chain's 19 edges over the points.
    for ax in res.figures["chains"].axes:
        assert len(ax.collections[1].get_segments()) == 19


def test_moons_cv_matches_an_independent_fit():
    X = datasets.one_moon(200, noise=0.05, random_state=0)
    for r in (0.0, 2.0):
        som = SOM(grid=20, radius=r, n_epochs=10, random_state=0).fit(X)
        d = np.linalg.norm(np.diff(som.codebook_.astype(float), axis=0), axis=1)
        got = moons.run(quick=True).metrics[f"cv_radius{r:g}"]
        assert got == pytest.approx(d.std() / d.mean(), rel=1e-6)


def test_grid_types_reports_qe_coverage_and_outliers():
    from sklearn.cluster import KMeans

    res = grid_types.run(quick=True)
    _check_result(res, "grid-types", ["grids"])
    m = res.metrics
    # Both grids quantize the disc about equally well (measured rect 0.086,
    # hex 0.090 on 3000 points); hex has far fewer topographic errors.
    for t in ("rect", "hex"):
        assert 0.05 < m[f"qe_{t}"] < 0.12
    assert abs(m["qe_rect"] - m["qe_hex"]) < 0.2 * m["qe_rect"]
    assert m["te_hex"] < m["te_rect"]
    # Border shrinkage: the units cover less of the disc than k-means'
    # 100 centres do (no neighbourhood pulling them in).
    X = datasets.disc(3000, random_state=0)
    km = KMeans(100, n_init=1, random_state=0).fit(X)
    km_cover = ConvexHull(km.cluster_centers_).volume / np.pi
    for t in ("rect", "hex"):
        assert 0.4 < m[f"coverage_{t}"] < km_cover - 0.1
        # decision_function < 0 flags the 1% farthest points: all on the rim.
        assert m[f"outliers_{t}"] == pytest.approx(30, abs=3)
        assert m[f"outlier_min_radius_{t}"] > 0.9
    # The flagged points are drawn: one orange cross per outlier.
    for ax, t in zip(res.figures["grids"].axes, ("rect", "hex"), strict=True):
        crosses = [c for c in ax.collections if c.get_label().startswith("outliers")]
        assert len(crosses[0].get_offsets()) == m[f"outliers_{t}"]


def test_breast_cancer_purity():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    res = breast_cancer.run(quick=True)
    _check_result(res, "breast-cancer", ["umatrix_labels", "umatrix_expanded"])
    m = res.metrics
    # Recompute from an independent fit with the same settings.
    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data)
    som = SOM((20, 20), n_epochs=10, random_state=0).fit(X)
    assert m["purity"] == pytest.approx(_purity_loop(som.labels_, data.target))
    # Measured 0.96 (all non-empty units), 0.92 (units with >= 2 tumours).
    assert m["purity"] > 0.9 and m["purity_2plus"] > 0.85
    # Far above what the same map gives with shuffled labels.
    rng = np.random.default_rng(0)
    shuffled = [
        unit_purity(som.labels_, rng.permutation(data.target), 400, min_hits=2)
        for _ in range(5)
    ]
    assert m["purity_2plus"] > max(shuffled) + 0.3
    # Expanded U-matrix: a (2R-1) x (2C-1) canvas.
    ax = res.figures["umatrix_expanded"].axes[0]
    assert ax.collections[0].get_array().size == 39 * 39


def test_digits_purity_and_one_image_per_unit():
    res = digits.run(quick=True)
    _check_result(res, "digits", ["images"])
    m = res.metrics
    assert m["nonempty_units"] + m["empty_units"] == 1600
    # Measured 0.968 (quick) / 0.979 (full), 0.936 / 0.955 over units with >= 2.
    assert m["purity"] > 0.93 and m["purity_2plus"] > 0.88
    assert m["empty_units"] > 400  # more units than needed: gaps between groups
    assert len(res.figures["images"].axes[0].images) == m["nonempty_units"]


def test_reduce_som_picked_digits_beat_random_ones():
    res = reduce.run(quick=True)
    _check_result(res, "reduce", ["picked", "accuracy"])
    m = res.metrics
    assert m["n_seeds"] == 10 and len(m["accuracy_som_per_seed"]) == 10
    # Measured (1-NN, quick): 0.936 vs 0.914 on average, 10 wins out of 10.
    assert m["accuracy_som"] > m["accuracy_random"] + 0.01
    assert m["wins"] >= 7
    assert m["min_distinct"] >= 0.8


def test_reduce_app_rejects_unknown_classifier():
    with pytest.raises(ValueError, match="classifier"):
        reduce.run(classifier="svm")


def test_example_script_writes_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["iris.py", str(tmp_path / "out")])
    runpy.run_path("examples/iris.py", run_name="__main__")
    assert (tmp_path / "out" / "clusters.png").stat().st_size > 1000
    assert "kmeans_max_distance" in capsys.readouterr().out
