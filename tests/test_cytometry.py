"""somkit.cytometry: transforms, consensus metaclustering, FlowSOM, tables,
pictures and model files, each checked against an independent reference."""

import doctest
import importlib

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from somkit.cytometry import (
    FlowSOM,
    abundances,
    arcsinh,
    consensus_cluster,
    load_flowsom,
    make_cytometry,
    marker_medians,
)
from somkit.cytometry._consensus import (
    cdf_area,
    consensus_matrices,
    elbow,
    resample_indices,
)

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def cells():
    return make_cytometry(20_000, 10, 8, n_lineages=3, random_state=3)


def _best_f1(y, pred, pop):
    """F1 of population ``pop`` under a one-to-one (Hungarian) matching."""
    ys, ps = np.unique(y), np.unique(pred)
    F = np.zeros((ys.size, ps.size))
    for i, a in enumerate(ys):
        for j, b in enumerate(ps):
            tp = np.sum((y == a) & (pred == b))
            F[i, j] = 2 * tp / (np.sum(y == a) + np.sum(pred == b))
    rows, cols = linear_sum_assignment(-F)
    match = dict(zip(rows, cols, strict=True))
    i = int(np.flatnonzero(ys == pop)[0])
    return F[i, match[i]] if i in match else 0.0


# ------------------------------------------------------------------ generator
def test_generator_shares_lineages_and_determinism():
    X, y = make_cytometry(100_000, 12, 9, rare=(0.005, 0.003), random_state=1)
    assert X.dtype == np.float32 and X.shape == (100_000, 12)
    counts = np.bincount(y)
    assert counts[-2] == 500 and counts[-1] == 300
    X2, y2 = make_cytometry(100_000, 12, 9, rare=(0.005, 0.003), random_state=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    raw, _ = make_cytometry(
        100_000, 12, 9, rare=(0.005, 0.003), random_state=1, transform=False
    )
    np.testing.assert_allclose(np.arcsinh(raw / 5.0), X, rtol=1e-5, atol=1e-5)
    assert (raw < 0).any()  # background noise makes some values negative
    with pytest.raises(ValueError, match="n_populations"):
        make_cytometry(100, 5, 3, n_lineages=3)


# ----------------------------------------------------------------- transforms
def test_arcsinh_against_numpy_per_channel():
    rng = np.random.default_rng(0)
    raw = rng.normal(scale=300, size=(100, 3))
    np.testing.assert_allclose(arcsinh(raw, 150), np.arcsinh(raw / 150))
    out = arcsinh(raw, [5, 150, 1])
    for j, c in enumerate([5, 150, 1]):
        np.testing.assert_allclose(out[:, j], np.arcsinh(raw[:, j] / c))
    frame = pd.DataFrame(raw, columns=["CD3", "CD4", "FSC"])
    got = arcsinh(frame, {"CD3": 5, "CD4": 150})
    np.testing.assert_allclose(got["CD3"], np.arcsinh(raw[:, 0] / 5))
    np.testing.assert_allclose(got["CD4"], np.arcsinh(raw[:, 1] / 150))
    np.testing.assert_array_equal(got["FSC"], raw[:, 2])  # untouched
    np.testing.assert_allclose(
        arcsinh(frame, "flow", columns=["CD4"])["CD4"], np.arcsinh(raw[:, 1] / 150)
    )
    assert arcsinh(raw.astype(np.float32), 5).dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cofactor": 0}, "cofactor"),
        ({"cofactor": [5, 5]}, "one number per channel"),
        ({"cofactor": {"CD99": 5}}, "CD99"),
        ({"cofactor": 5, "columns": ["CD99"]}, "CD99"),
    ],
)
def test_arcsinh_rejects_bad_input(kwargs, match):
    frame = pd.DataFrame(np.ones((3, 3)), columns=["CD3", "CD4", "FSC"])
    with pytest.raises(ValueError, match=match):
        arcsinh(frame, **kwargs)


# ------------------------------------------------------------------ consensus
def _reference_consensus(X, k, subsets):
    """Monti's consensus matrix, pair by pair, with scikit-learn's clustering."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(X)
    together = np.zeros((n, n))
    drawn = np.zeros((n, n))
    for idx in subsets:
        lab = AgglomerativeClustering(n_clusters=k, linkage="average").fit_predict(
            X[idx]
        )
        for a in range(len(idx)):
            for b in range(len(idx)):
                drawn[idx[a], idx[b]] += 1
                together[idx[a], idx[b]] += lab[a] == lab[b]
    out = np.zeros((n, n))
    np.divide(together, drawn, out=out, where=drawn > 0)
    np.fill_diagonal(out, 1.0)
    return out


def test_consensus_matrix_matches_a_pair_by_pair_reference():
    rng = np.random.default_rng(0)
    X = np.r_[
        rng.normal(0, 1, (12, 3)), rng.normal(4, 1, (10, 3)), rng.normal(9, 1.5, (8, 3))
    ]
    subsets = resample_indices(len(X), 15, 0.8, np.random.default_rng(1))
    mats = consensus_matrices(X, [2, 3, 4], subsets)
    for k in (2, 3, 4):
        np.testing.assert_allclose(mats[k], _reference_consensus(X, k, subsets))


def test_cdf_area_matches_a_loop():
    rng = np.random.default_rng(2)
    m = rng.random((15, 15))
    m = (m + m.T) / 2
    vals = [m[i, j] for i in range(15) for j in range(i + 1, 15)]
    ref = 0.0
    for b in range(1, 101):
        x = b / 100
        ref += 0.01 * sum(v <= x for v in vals) / len(vals)
    assert cdf_area(m) == pytest.approx(ref)
    assert cdf_area(np.ones((5, 5))) == pytest.approx(0.01)  # all mass at 1


def test_consensus_recovers_separated_groups_and_is_seeded():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10]])
    X = np.repeat(centers, 10, axis=0) + rng.normal(0, 0.5, (30, 2))
    res = consensus_cluster(X, [2, 3, 4], n_resamples=30, random_state=0)
    truth = np.repeat([0, 1, 2], 10)
    assert adjusted_rand_score(truth, res.labels[3]) == 1.0
    assert set(np.unique(res.consensus[3])) <= {0.0, 1.0}
    # Clean groups: the CDF area jumps up to k = 3 and not after it.
    assert res.cdf_area[3] > res.cdf_area[2]
    again = consensus_cluster(X, [2, 3, 4], n_resamples=30, random_state=0)
    for k in (2, 3, 4):
        np.testing.assert_array_equal(res.labels[k], again.labels[k])
    with pytest.raises(ValueError, match="numbers of clusters"):
        consensus_cluster(X, [0, 3])
    with pytest.raises(ValueError, match="resample_fraction"):
        consensus_cluster(X, 3, resample_fraction=1.5)
    with pytest.raises(ValueError, match="linkage"):
        consensus_cluster(X, 3, linkage="nope")


def test_elbow_finds_the_break_of_two_lines():
    # One line through k = 1..4, another through k = 5..12: FlowSOM's rule
    # (lines fitted to 1..i-1 and i..n) puts the elbow at i = 5.
    curve = [100 - 30 * (k - 1) if k <= 4 else 10 - (k - 4) for k in range(1, 13)]
    assert elbow(curve) == 5
    noisy = np.array(curve, dtype=float) + np.r_[0.5, -0.5].repeat(6)[:12] * 0.1
    assert elbow(noisy) == 5
    with pytest.raises(ValueError, match="at least 3"):
        elbow([1, 2])


# -------------------------------------------------------------------- FlowSOM
def test_flowsom_finds_the_populations(cells):
    X, y = cells
    fs = FlowSOM(n_clusters=8, random_state=0).fit(X)
    assert fs.labels_.shape == (len(X),)
    assert fs.unit_metaclusters_.shape == (100,)
    assert adjusted_rand_score(y, fs.labels_) > 0.9
    assert _best_f1(y, fs.labels_, 7) > 0.9  # the 0.3% population
    np.testing.assert_array_equal(fs.predict(X), fs.labels_)
    np.testing.assert_array_equal(fs.unit_metaclusters_[fs.som_.predict(X)], fs.labels_)
    assert set(np.unique(fs.unit_metaclusters_)) == set(range(8))


def test_flowsom_is_deterministic_across_runs_and_threads(cells):
    from threadpoolctl import threadpool_limits

    X, _ = cells
    a = FlowSOM(n_clusters=8, random_state=7).fit(X[:8000])
    with threadpool_limits(limits=1):
        b = FlowSOM(n_clusters=8, random_state=7).fit(X[:8000])
    np.testing.assert_array_equal(a.unit_metaclusters_, b.unit_metaclusters_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-4, atol=1e-4)
    again = FlowSOM(n_clusters=8, random_state=7).fit(X[:8000])
    np.testing.assert_array_equal(a.codebook_, again.codebook_)
    np.testing.assert_array_equal(a.unit_metaclusters_, again.unit_metaclusters_)


def test_flowsom_on_dask_and_torch_backends_is_repeatable(cells):
    X, y = cells
    X = X[:6000]
    da = pytest.importorskip("dask.array")
    dx = da.from_array(X, chunks=2000)
    runs = [
        FlowSOM(n_clusters=8, random_state=1, backend="dask").fit(dx) for _ in range(2)
    ]
    np.testing.assert_array_equal(
        runs[0].unit_metaclusters_, runs[1].unit_metaclusters_
    )
    np.testing.assert_array_equal(
        np.asarray(runs[0].labels_), np.asarray(runs[1].labels_)
    )
    pytest.importorskip("torch")
    runs = [
        FlowSOM(n_clusters=8, random_state=1, backend="torch", device="cpu").fit(X)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(
        runs[0].unit_metaclusters_, runs[1].unit_metaclusters_
    )
    assert adjusted_rand_score(y[:6000], runs[0].labels_) > 0.85


def test_flowsom_markers_and_cofactor_equal_a_manual_pipeline(cells):
    X, _ = cells
    raw = np.sinh(X[:5000].astype(np.float64)) * 150
    names = [f"CD{i}" for i in range(10)]
    frame = pd.DataFrame(raw, columns=names).assign(Time=np.arange(5000.0))
    fs = FlowSOM(
        n_clusters=6, grid=(6, 6), markers=names[:8], cofactor=150, random_state=0
    ).fit(frame)
    manual = FlowSOM(n_clusters=6, grid=(6, 6), random_state=0).fit(
        np.arcsinh(raw[:, :8] / 150)
    )
    np.testing.assert_allclose(fs.codebook_, manual.codebook_, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(fs.labels_, manual.labels_)
    assert fs.markers_ == names[:8]
    # Columns are found by name: reordering the frame changes nothing.
    np.testing.assert_array_equal(fs.predict(frame[frame.columns[::-1]]), fs.labels_)
    with pytest.raises(ValueError, match="CD99"):
        FlowSOM(markers=["CD99"]).fit(frame)
    with pytest.raises(ValueError, match="no column names"):
        FlowSOM(markers=["CD1"]).fit(raw)


def test_empty_units_take_the_nearest_metacluster(cells):
    X, y = cells
    fs = FlowSOM(n_clusters=8, grid=(14, 14), random_state=0).fit(X[:4000])
    hits = np.bincount(fs.units_, minlength=196)
    empty = np.flatnonzero(hits == 0)
    assert empty.size > 0
    full = np.flatnonzero(hits > 0)
    W = fs.codebook_
    for u in empty:
        nearest = full[np.argmin(((W[full] - W[u]) ** 2).sum(axis=1))]
        assert fs.unit_metaclusters_[u] == fs.unit_metaclusters_[nearest]
    every = FlowSOM(
        n_clusters=8, grid=(14, 14), empty_units="cluster", random_state=0
    ).fit(X[:4000])
    np.testing.assert_allclose(every.codebook_, fs.codebook_)


def test_automatic_number_of_metaclusters(cells):
    X, _ = cells
    fs = FlowSOM(n_clusters="elbow", max_clusters=12, random_state=0).fit(X)
    assert fs.elbow_curve_.shape == (12,)
    assert fs.n_clusters_ == elbow(fs.elbow_curve_)
    assert np.all(np.diff(fs.elbow_curve_) <= 1e-9)  # more clusters, less SSE
    cdf = FlowSOM(n_clusters="cdf", max_clusters=12, random_state=0).fit(X)
    assert set(cdf.cdf_area_) == set(range(2, 13))
    assert 2 <= cdf.n_clusters_ <= 12
    assert len(np.unique(cdf.unit_metaclusters_)) == cdf.n_clusters_


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": "many"}, "n_clusters"),
        ({"grid": (10,)}, "grid"),
        ({"metaclustering": "kmeans"}, "metaclustering"),
        ({"linkage": "nope"}, "linkage"),
        ({"n_clusters": "cdf", "metaclustering": "hierarchical"}, "consensus"),
        ({"empty_units": "drop"}, "empty_units"),
        ({"random_state": "x"}, "random_state"),
    ],
)
def test_flowsom_rejects_bad_parameters(kwargs, match):
    X = np.random.default_rng(0).normal(size=(200, 3))
    with pytest.raises(ValueError, match=match):
        FlowSOM(**kwargs).fit(X)


def test_model_file_round_trip_and_refusals(cells, tmp_path):
    X, _ = cells
    frame = pd.DataFrame(np.sinh(X[:3000]) * 5, columns=[f"M{i}" for i in range(10)])
    fs = FlowSOM(n_clusters=5, grid=(5, 5), cofactor=5, random_state=0).fit(frame)
    path = tmp_path / "model.npz"
    fs.save(path)
    back = load_flowsom(path)
    np.testing.assert_array_equal(back.predict(frame), fs.labels_)
    assert back.markers_ == fs.markers_ and back.n_clusters_ == 5
    np.testing.assert_array_equal(back.cofactors_, fs.cofactors_)
    with np.load(path, allow_pickle=False) as npz:
        assert npz["som"].dtype == np.uint8
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a (readable )?FlowSOM model file"):
        load_flowsom(bad)
    np.savez(tmp_path / "other.npz", meta=np.asarray('{"format": "x"}'))
    with pytest.raises(ValueError, match="format"):
        load_flowsom(tmp_path / "other.npz")


# --------------------------------------------------------------------- tables
def test_tables_against_loops():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    files = rng.choice(["s1", "s2", "s3"], 300)
    X = rng.normal(size=(300, 2))
    ab = abundances(labels, files, n_clusters=5)
    med = marker_medians(X, labels, files, n_clusters=5, markers=["a", "b"])
    for f in ("s1", "s2", "s3"):
        sel = files == f
        for c in range(5):
            share = 100 * np.mean(labels[sel] == c)
            assert ab.loc[f, c] == pytest.approx(share)
            cellsel = sel & (labels == c)
            if cellsel.any():
                np.testing.assert_allclose(
                    med.loc[(f, c)].to_numpy(), np.median(X[cellsel], axis=0)
                )
            else:
                assert med.loc[(f, c)].isna().all()
    np.testing.assert_allclose(ab.sum(axis=1), 100)
    assert abundances(labels, files, percent=False).to_numpy().sum() == 300
    with pytest.raises(ValueError, match="one file per cell"):
        abundances(labels, files[:10])
    with pytest.raises(ValueError, match="non-negative"):
        abundances([-1, 0])


# ------------------------------------------------------------------- pictures
def test_star_plot_and_heatmap(cells):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection

    from somkit import plot
    from somkit.plot._cytometry import mst_layout

    X, _ = cells
    fs = FlowSOM(n_clusters=6, grid=(6, 6), random_state=0).fit(X[:5000])
    ax = plot.star_plot(fs)
    colls = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert len(colls) == 2  # discs and wedges
    assert len(colls[0].get_paths()) == 36
    W = fs.codebook_
    level = (W - W.min(0)) / (W.max(0) - W.min(0))
    assert len(colls[1].get_paths()) == int((level > 0).sum())
    xy, edges = mst_layout(W)
    assert edges.shape == (35, 2) and xy.shape == (36, 2)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(35), (edges[:, 0], edges[:, 1])), shape=(36, 36))
    assert connected_components(graph, directed=False)[0] == 1
    plt.close(ax.figure)
    ax = plot.marker_heatmap(fs, X[:5000])
    shown = ax.images[0].get_array()
    lab = fs.predict(X[:5000])
    for c in range(6):
        np.testing.assert_allclose(
            shown[c], np.median(X[:5000][lab == c], axis=0), rtol=1e-6
        )
    plt.close(ax.figure)
    with pytest.raises(TypeError, match="FlowSOM"):
        plot.star_plot(object())
    with pytest.raises(ValueError, match="layout"):
        plot.star_plot(fs, layout="circle")


# ------------------------------------------------------------------- doctests
@pytest.mark.parametrize(
    "module",
    [
        "somkit.cytometry",
        "somkit.cytometry._consensus",
        "somkit.cytometry._fcs",
        "somkit.cytometry._flowsom",
        "somkit.cytometry._model",
        "somkit.cytometry._synthetic",
        "somkit.cytometry._tables",
        "somkit.cytometry._transforms",
        "somkit.plot._cytometry",
    ],
)
def test_docstring_examples_run(module):
    import matplotlib

    matplotlib.use("Agg")
    mod = importlib.import_module(module)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(mod, optionflags=flags, verbose=False)
    assert result.failed == 0
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.gpu
def test_flowsom_on_cuda_is_repeatable_and_agrees(cells):
    X, y = cells
    runs = [
        FlowSOM(n_clusters=8, random_state=2, backend="torch", device="cuda").fit(X)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(
        runs[0].unit_metaclusters_, runs[1].unit_metaclusters_
    )
    np.testing.assert_array_equal(runs[0].labels_, runs[1].labels_)
    cpu = FlowSOM(n_clusters=8, random_state=2).fit(X)
    assert adjusted_rand_score(cpu.labels_, runs[0].labels_) > 0.95
