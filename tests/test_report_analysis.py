"""The report's analysis: topographic error and advice, clusters and their
profiles, rows.csv, labels with holes, the class and cluster figures, the
Python entry point and the page's size limits."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from somkit import SOM, plot
from somkit._data import Dataset
from somkit._labels import encode_labels
from somkit.report import build_report, diagnose, map_statistics, write_report
from somkit.report._build import analyse


def penguins():
    pp = pytest.importorskip("palmerpenguins")
    frame = pp.load_penguins()
    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = frame.dropna(subset=cols)
    return frame[cols].to_numpy(float), frame["species"].to_numpy()


def cli_model(X, **kw):
    """The command line's default model: standard scaling, automatic grid."""
    return make_pipeline(StandardScaler(), SOM("auto", random_state=0, **kw)).fit(X)


def brute_te(som, Z, diagonal):
    W = som.codebook_.astype(np.float64)
    D = np.linalg.norm(Z[:, None, :] - W[None], axis=2)
    two = np.argsort(D, axis=1, kind="stable")[:, :2]
    rc = np.stack(np.unravel_index(two, som.grid_.shape), axis=-1)
    step = np.abs(rc[:, 0] - rc[:, 1])
    if diagonal:
        return float(np.mean(step.max(axis=1) > 1))
    return float(np.mean(step.sum(axis=1) > 1))


# ------------------------------------------------------- topographic error
@pytest.mark.parametrize("name", ["iris", "wine", "penguins"])
@pytest.mark.parametrize("topology", ["rect", "hex"])
def test_default_maps_are_not_called_folded(name, topology):
    X = {
        "iris": lambda: load_iris().data,
        "wine": lambda: load_wine().data,
        "penguins": lambda: penguins()[0],
    }[name]()
    model = cli_model(X, topology=topology)
    som, Z = model[-1], model[0].transform(X)
    stats = map_statistics(som, Z)
    assert not [f for f in diagnose(stats, som, Z) if f.kind == "folded"]
    if topology == "rect":
        assert stats["adjacency"].startswith("8 neighbours")
        assert stats["topographic_error"] == pytest.approx(brute_te(som, Z, True))
    else:
        assert stats["adjacency"].startswith("6 neighbours")


def test_iris_false_alarm_came_from_four_neighbours():
    X = load_iris().data
    model = cli_model(X)
    som, Z = model[-1], model[0].transform(X)
    assert brute_te(som, Z, diagonal=False) > 0.1  # the old warning
    assert map_statistics(som, Z)["topographic_error"] < 0.02


def _refit(som, X, finding):
    assert finding.params, finding.text
    return SOM(**{**som.get_params(), **finding.params}).fit(X)


@pytest.mark.parametrize(
    "params, advised",
    [
        ({"init": "random", "radius": 0.0, "n_epochs": 2}, "--init pca --radius"),
        ({"init": "random", "n_epochs": 2}, "--init pca"),
    ],
)
def test_fold_advice_removes_the_fold(params, advised):
    X = np.random.default_rng(0).random((300, 2))
    som = SOM((8, 8), random_state=0, **params).fit(X)
    (f,) = [f for f in diagnose(map_statistics(som, X), som, X) if f.kind == "folded"]
    assert advised in f.text
    better = _refit(som, X, f)
    stats = map_statistics(better, X)
    assert stats["topographic_error"] < 0.1
    assert not [g for g in diagnose(stats, better, X) if g.kind == "folded"]


def test_empty_and_far_advice_removes_the_warning():
    rng = np.random.default_rng(0)
    X = rng.random((40, 2))
    som = SOM((20, 20), n_epochs=3, random_state=0).fit(X)
    (f,) = diagnose(map_statistics(som, X), som, X)
    assert f.kind == "empty" and "(90%)" in f.text and "--grid" in f.text
    better = _refit(som, X, f)
    assert not [g for g in diagnose(map_statistics(better, X), better, X)]
    X = np.r_[rng.normal(0, 0.05, (60, 2)), rng.normal(5, 0.05, (60, 2))]
    som = SOM(10, n_epochs=5, random_state=0).fit(X)
    (f,) = diagnose(map_statistics(som, X), som, X)
    assert f.kind == "far" and "--radius 2.5,0.5" in f.text
    stats = map_statistics(_refit(som, X, f), X)
    assert stats["far_units"] / stats["n_units"] <= 0.1


def test_parameters_show_the_radius_schedule_and_empty_share():
    X = load_iris().data
    data = Dataset(X, list("abcd"), True, source="iris.csv")
    som = SOM((8, 12), n_epochs=2, random_state=0).fit(X)
    text = build_report(som, data)
    assert "linear from 3 to 1.5 grid units (automatic" in text
    empty = int(np.sum(np.bincount(som.predict(X), minlength=96) == 0))
    assert f"{empty} ({empty / 96:.0%})" in text
    som = SOM((4, 4), radius=(2, 0.5), n_epochs=2, random_state=0).fit(X)
    assert "linear from 2 to 0.5 grid units</td>" in build_report(som, data)


# ----------------------------------------------------------------- clusters
def test_cluster_profiles_against_pandas():
    pd = pytest.importorskip("pandas")
    X, y = load_wine(return_X_y=True, as_frame=True)
    model = cli_model(X)
    data = Dataset(X.to_numpy(), list(X.columns), True, labels=y.to_numpy())
    a = analyse(model, data)
    prof, som = a.profiles, model[-1]
    bmu = som.predict(model[0].transform(X))
    assert prof.n_clusters == 3 and prof.automatic  # wine's three cultivars
    clusters = a.clustering.unit_labels_[bmu]
    np.testing.assert_array_equal(prof.labels, clusters)
    frame = X.assign(c=clusters)
    means = frame.groupby("c").mean().to_numpy()
    stds = frame.groupby("c").std(ddof=0).to_numpy()
    np.testing.assert_allclose(prof.mean, means, rtol=1e-10)
    np.testing.assert_allclose(prof.std, stds, rtol=1e-10)
    for c in range(3):
        rest = X[clusters != c].mean().to_numpy()
        d = (means[c] - rest) / X.std(ddof=0).to_numpy()
        np.testing.assert_allclose(prof.diff[c], d, rtol=1e-10)
    mix = pd.crosstab(clusters, y).to_numpy()
    np.testing.assert_array_equal(prof.class_counts, mix)
    # clusters agree with the classes (adjusted Rand index)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, clusters) > 0.7
    a4 = analyse(model, data, n_clusters=4)
    assert a4.profiles.n_clusters == 4 and not a4.profiles.automatic
    with pytest.raises(ValueError, match="n_clusters must be between 1 and"):
        analyse(model, data, n_clusters=500)


def test_cluster_words_name_the_distinguishing_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (300, 3))
    X[:150, 1] += 8  # only feature "b" separates the two groups
    data = Dataset(X, ["a", "b", "c"], True, source="x.csv")
    text = build_report(SOM((6, 6), random_state=0).fit(X), data)
    assert "<b>2</b> clusters" in text
    words = re.findall(r"<li>(Cluster \d:[^<]*)</li>", text)
    assert len(words) == 2
    for w in words:
        assert re.search(r"(high|low) b \(mean", w) and " a (mean" not in w


def test_rows_and_clusters_csv(tmp_path):
    X, y = load_iris(return_X_y=True)
    model = cli_model(X)
    ids = np.array([f"f{i}" for i in range(150)])[::-1]
    path = write_report(model, X, tmp_path, labels=y, ids=ids, n_clusters=3)
    with open(path.parent / "rows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    som, Z = model[-1], model[0].transform(X)
    D = np.linalg.norm(Z[:, None, :] - som.codebook_[None].astype(float), axis=2)
    bmu = D.argmin(axis=1)
    assert [r["id"] for r in rows] == list(ids)
    assert [int(r["bmu"]) for r in rows] == bmu.tolist()
    cols = som.grid_.shape[1]
    assert [int(r["row"]) * cols + int(r["col"]) for r in rows] == bmu.tolist()
    dist = np.array([float(r["distance"]) for r in rows])
    np.testing.assert_allclose(dist, D.min(axis=1), rtol=1e-4)
    flags = np.array([r["outlier"] == "1" for r in rows])
    near = np.isclose(D.min(axis=1), som.outlier_threshold_, rtol=1e-5)
    assert flags.sum() >= 1  # the 99th percentile leaves at least one above
    np.testing.assert_array_equal(
        flags[~near], D.min(axis=1)[~near] > som.outlier_threshold_
    )
    assert {r["cluster"] for r in rows} == {"1", "2", "3"}
    assert [r["label"] for r in rows] == [str(v) for v in y]
    with open(path.parent / "clusters.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 3 * 4
    first = [t for t in table if t["cluster"] == "1"]
    inside = X[[r["cluster"] == "1" for r in rows]]
    np.testing.assert_allclose(
        [float(t["mean"]) for t in first], inside.mean(axis=0), rtol=1e-5
    )
    assert int(first[0]["n_samples"]) == len(inside)
    # a chain's coordinate is its position, as `somkit predict` writes it
    chain = SOM(7, n_epochs=2, random_state=0).fit(X)
    write_report(chain, X, tmp_path / "chain")
    with open(tmp_path / "chain" / "rows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "bmu", "position", "cluster", "distance", "outlier"]
    assert [r["position"] for r in rows] == [r["bmu"] for r in rows]
    assert [r["id"] for r in rows[:3]] == ["1", "2", "3"]  # row numbers


# -------------------------------------------------------------------- labels
def test_labels_with_holes_and_mixed_types():
    names, codes = encode_labels([3, "x", None, float("nan"), 3.0, "x", 10])
    assert names == ["3", "10", "x", "missing"]
    assert codes.tolist() == [0, 2, 3, 3, 0, 2, 1]
    X = load_iris().data
    labels = np.array(["a", None, 2, float("nan")] * 37 + ["a", "b"], dtype=object)
    data = Dataset(X, list("abcd"), True, labels=labels, label_name="k")
    text = build_report(SOM((4, 4), n_epochs=2, random_state=0).fit(X), data)
    assert "<td>missing</td>" in text
    payload = json.loads(
        re.search(r'id="som-data">(.*?)</script>', text, re.S).group(1)
    )
    assert payload["classes"] == ["2", "a", "b", "missing"]


# ------------------------------------------------------------------ figures
def test_class_map_shades_majority_and_purity():
    from matplotlib.colors import to_rgba

    X, y = load_iris(return_X_y=True)
    som = SOM((5, 6), n_epochs=3, random_state=0).fit(X)
    ax = plot.class_map(som, X, y, colors=["red", "green", "blue"])
    face = ax.collections[0].get_facecolors()
    bmu = som.predict(X)
    for u in range(30):
        got = y[bmu == u]
        if not len(got):
            np.testing.assert_allclose(face[u], to_rgba("white"))
            continue
        counts = np.bincount(got, minlength=3)
        top = int(np.argmax(counts))
        share = counts[top] / len(got)
        rgb = np.array(to_rgba(["red", "green", "blue"][top])[:3])
        np.testing.assert_allclose(face[u][:3], 1 - share * (1 - rgb), atol=1e-6)
    plot.class_map(som, X, y, markers=True, purity=False)


def test_cluster_figure_borders():
    X = np.random.default_rng(0).normal(size=(100, 3))
    som = SOM((4, 5), n_epochs=2, random_state=0).fit(X)
    labels = np.zeros(20, dtype=int)
    labels[[0, 1, 5, 6]] = 1  # a 2x2 block in the corner: 4 border edges
    ax = plot.clusters(som, labels)
    segs = np.asarray(ax.collections[1].get_segments())
    assert len(segs) == 4
    np.testing.assert_allclose(np.hypot(*(segs[:, 1] - segs[:, 0]).T), 1.0)
    hexed = SOM((4, 4), topology="hex", n_epochs=1, random_state=0).fit(X)
    e = hexed.grid_.edges()
    labels = np.arange(16) % 2
    n_diff = int(np.sum(labels[e[:, 0]] != labels[e[:, 1]]))
    segs = plot.clusters(hexed, labels).collections[1].get_segments()
    assert len(segs) == n_diff
    with pytest.raises(ValueError, match="unit_labels"):
        plot.clusters(som, [0, 1])


# ------------------------------------------------------- Python entry point
def test_write_report_from_python_with_a_frame(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = load_wine(return_X_y=True, as_frame=True)
    model = cli_model(X)
    ids = pd.Series([f"w{i}" for i in range(len(X))], name="wine_id")
    path = write_report(model, X, tmp_path / "r", labels=y, ids=ids)
    text = path.read_text()
    assert "proline" in text and "wine_id" in text and "w17" in text
    assert "<td>label</td>" not in text or "label column" in text
    with pytest.raises(ValueError, match="labels has 3 values for 178 rows"):
        build_report(model, X, labels=[1, 2, 3])
    with pytest.raises(TypeError, match="a Dataset carries its own"):
        build_report(model, Dataset(X.to_numpy(), list(X.columns), True), ids=ids)
    with pytest.raises(ValueError, match="data has 2 features"):
        build_report(model, X.to_numpy()[:, :2])
    with pytest.raises(ValueError, match="image_shape"):
        build_report(model, X, image_shape=(3, 3))


def test_id_budget_caps_the_page(tmp_path, monkeypatch):
    from somkit.report import _explorer

    X = np.random.default_rng(0).normal(size=(3000, 2))
    som = SOM((2, 2), n_epochs=2, random_state=0).fit(X)
    ids = [f"id-{i:06d}" for i in range(3000)]
    full = build_report(som, X, ids=ids)
    assert "id-002999" in full and "To keep the page light" not in full
    monkeypatch.setattr(_explorer, "ID_BUDGET", 2000)
    text = build_report(som, X, ids=ids)
    payload = json.loads(re.search(r'id="som-data">(.*?)</script>', text, re.S)[1])
    assert payload["idCap"] == 50
    assert [len(u) for u in payload["ids"]] == [50] * 4
    assert "holds the IDs of 200 of 3000 rows" in text
    assert len(text) < len(full) - 25_000  # 2800 IDs of 12 bytes fewer


# ------------------------------------------------------------------ Jupyter
def test_fitted_som_shows_a_compact_summary_in_jupyter():
    from somkit import umatrix

    X = load_iris().data
    som = SOM((5, 6), random_state=0)
    assert "sk-" in som._repr_html_()  # unfitted: scikit-learn's diagram
    som.fit(X)
    text = som._repr_html_()
    assert som._repr_mimebundle_()["text/html"] == text
    # the default schedule: 22 epochs (iris is smaller than its subsample)
    assert "5x6 rect (30 units)" in text and "batch, 22 epochs" in text
    assert f"QE {som.history_['quantization_error'][-1]:.4g}" in text
    assert "linear from" in text or "constant" in text
    assert len(text) < 6000 and "<script" not in text
    greys = [int(g) for g in re.findall(r'fill="rgb\((\d+),', text)]
    assert len(greys) == 30
    U = umatrix(som).ravel()
    assert int(np.argmin(greys)) == int(np.argmax(U))  # darkest = largest
    assert int(np.argmax(greys)) == int(np.argmin(U))
