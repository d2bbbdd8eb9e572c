"""somkit.plot: artist data (cells, colours, counts, markers, segments).

Every check compares what was drawn with an independent computation: BMUs
from scipy's cdist, unit centres from the grid positions, U-matrix values
from somkit.umatrix (itself tested against loops in test_umatrix.py).
"""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from scipy.spatial.distance import cdist  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

import somkit  # noqa: E402
from somkit import SOM, plot  # noqa: E402
from somkit._umatrix import expanded_positions  # noqa: E402

X, Y = make_blobs(n_samples=150, n_features=4, centers=3, random_state=0)
LETTERS = np.array(["a", "b", "c"])[Y]  # string classes

# (grid, topology, periodic): rect, hex, periodic, 1-D and non-square maps.
MAPS = [
    ((6, 8), "rect", False),
    ((3, 7), "rect", False),
    ((5, 7), "rect", True),
    ((6, 8), "hex", False),
    ((5, 3), "hex", False),
    ((4, 7), "hex", True),
    (9, "rect", False),
    (6, "rect", True),
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module", params=MAPS, ids=lambda m: "-".join(map(str, m)))
def som(request):
    grid, topology, periodic = request.param
    return SOM(
        grid, topology=topology, periodic=periodic, n_epochs=3, random_state=0
    ).fit(X)


def _bmu(som, data=X):
    """BMUs by brute force (euclidean maps)."""
    return np.argmin(cdist(data, som.codebook_.astype(float)), axis=1)


def _unit_xy(som):
    """Expected plot position of each unit: x = column, y = row (chain: y=0)."""
    pos = som.grid_.positions
    if pos.shape[1] == 1:
        return np.c_[pos[:, 0], np.zeros(len(pos))]
    return np.c_[pos[:, 1], pos[:, 0]]


def _verts(coll):
    return np.array([p.vertices[:-1] for p in coll.get_paths()])


def _check_cells(coll, centres, topology, size):
    """Polygons: 4 or 6 vertices around the given centres, of the right size."""
    assert isinstance(coll, PolyCollection)
    V = _verts(coll)
    assert V.shape == (len(centres), 6 if topology == "hex" else 4, 2)
    np.testing.assert_allclose(V.mean(axis=1), centres, atol=1e-12)
    r = np.linalg.norm(V - centres[:, None, :], axis=2)
    expected = size / math.sqrt(3) if topology == "hex" else size / math.sqrt(2)
    np.testing.assert_allclose(r, expected)
    return V


def _shared_vertices(a, b):
    return int(np.sum(cdist(a, b) < 1e-9))


# ------------------------------------------------------------------ umatrix
def test_umatrix_cells_and_values(som):
    ax = plot.umatrix(som)
    coll = ax.collections[0]
    centres = _unit_xy(som)
    V = _check_cells(coll, centres, som.topology, 1.0)
    np.testing.assert_allclose(coll.get_array(), somkit.umatrix(som).ravel())
    # Row 0 on top, equal aspect.
    assert ax.yaxis_inverted()
    assert ax.get_aspect() == 1.0
    # The cells tile the plane: adjacent (non-wrapped) units share a side.
    g = som.grid_
    for i, j in g.edges():
        if np.linalg.norm(g.positions[i] - g.positions[j]) < 1 + 1e-9:
            assert _shared_vertices(V[i], V[j]) == 2
    assert len(ax.figure.axes) == 2  # the map and its colour bar


@pytest.mark.parametrize("reduce", ["median", "max"])
def test_umatrix_reduce(som, reduce):
    ax = plot.umatrix(som, reduce=reduce, colorbar=False)
    np.testing.assert_allclose(
        ax.collections[0].get_array(), somkit.umatrix(som, reduce=reduce).ravel()
    )
    assert len(ax.figure.axes) == 1


def test_umatrix_expanded_cells(som):
    ax = plot.umatrix(som, expanded=True)
    coll = ax.collections[0]
    E = somkit.umatrix(som, expanded=True)
    np.testing.assert_allclose(coll.get_array(), E.ravel())
    P = expanded_positions(som.grid_).reshape(-1, som.grid_.ndim)
    centres = np.c_[P[:, 1], P[:, 0]] if P.shape[1] == 2 else np.c_[P, 0 * P]
    V = _check_cells(coll, centres, som.topology, 0.5)
    # Unit cells sit exactly on the unit positions (aligned with labels).
    if som.grid_.ndim == 2:
        R, C = som.grid_.shape
        unit_cells = centres.reshape(2 * R - 1, 2 * C - 1, 2)[::2, ::2]
        np.testing.assert_allclose(unit_cells.reshape(-1, 2), _unit_xy(som))
    else:
        np.testing.assert_allclose(centres[::2], _unit_xy(som))
    # No holes and no overlaps: each cell touches its nearest cells along a
    # full side (hex: 2 shared vertices with each of up to 6 cells).
    D = cdist(centres, centres)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_allclose(D.min(axis=1), 0.5)
    for a in range(0, len(V), 7):
        for b in np.flatnonzero(np.isclose(D[a], 0.5)):
            assert _shared_vertices(V[a], V[b]) == 2


def test_umatrix_uses_given_axes(som):
    fig, axes = plt.subplots(1, 2)
    out = plot.umatrix(som, ax=axes[1], colorbar=False, edgecolor="red")
    assert out is axes[1]
    assert not axes[0].collections
    assert matplotlib.colors.same_color(out.collections[0].get_edgecolor()[0], "red")


# --------------------------------------------------------------------- hits
def test_hits_counts(som):
    ax = plot.hits(som, X, annotate=True)
    counts = np.bincount(_bmu(som), minlength=som.grid_.n_units)
    np.testing.assert_array_equal(ax.collections[0].get_array(), counts)
    _check_cells(ax.collections[0], _unit_xy(som), som.topology, 1.0)
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    xy = _unit_xy(som)
    expected = {((xy[j, 0], xy[j, 1]), str(counts[j])) for j in np.flatnonzero(counts)}
    assert texts == expected


def test_hits_weighted():
    som = SOM((4, 5), n_epochs=2, random_state=0).fit(X)
    w = np.linspace(0.5, 2.0, len(X))
    ax = plot.hits(som, X, sample_weight=w, annotate=False)
    ref = np.bincount(_bmu(som), weights=w, minlength=som.grid_.n_units)
    np.testing.assert_allclose(ax.collections[0].get_array(), ref)
    assert not ax.texts


# -------------------------------------------------------------------- labels
def _class_markers(ax, classes):
    out = {}
    for coll in ax.collections:
        if coll.get_label() in classes:
            out[coll.get_label()] = coll
    assert set(out) == set(classes)
    return out


@pytest.mark.parametrize("background", ["umatrix", "grid"])
def test_labels_markers_on_bmu_cells(som, background):
    ax = plot.labels(som, X, LETTERS, background=background)
    cells = ax.collections[0]
    paths = cells.get_paths()
    assert len(paths) == som.grid_.n_units
    if background == "umatrix":
        np.testing.assert_allclose(cells.get_array(), somkit.umatrix(som).ravel())
    markers = _class_markers(ax, ["a", "b", "c"])
    bmu = _bmu(som)
    xy = _unit_xy(som)
    for cls, coll in markers.items():
        offsets = coll.get_offsets()
        units = sorted(set(bmu[LETTERS == cls].tolist()))
        # One marker per unit holding the class ...
        assert len(offsets) == len(units)
        # ... inside that unit's cell of the U-matrix underneath, nearer to
        # its centre than to any other unit's.
        nearest = np.argmin(cdist(offsets, xy), axis=1)
        assert sorted(nearest.tolist()) == units
        for (px, py), j in zip(offsets, nearest, strict=True):
            assert paths[j].contains_point((px, py))
        # Marker area grows with the count of the class on the unit.
        n = np.array([np.sum((bmu == j) & (LETTERS == cls)) for j in nearest])
        sizes = coll.get_sizes()
        order = np.argsort(n, kind="stable")
        assert np.all(np.diff(sizes[order]) >= -1e-9)


def test_labels_not_transposed():
    """A sample won by unit (r, c) of a 3x7 map is drawn at x ~ c, y ~ r."""
    for topology in ("rect", "hex"):
        som = SOM((3, 7), topology=topology, n_epochs=3, random_state=0).fit(X)
        ax = plot.labels(som, X[:1], ["only"], background=None)
        (coll,) = [c for c in ax.collections if c.get_label() == "only"]
        r, c = np.unravel_index(_bmu(som, X[:1])[0], (3, 7))
        x0 = c + (0.5 * (r % 2) if topology == "hex" else 0.0)
        y0 = r * (math.sqrt(3) / 2 if topology == "hex" else 1.0)
        np.testing.assert_allclose(coll.get_offsets()[0], [x0, y0])


def test_labels_expanded_background_aligns(som):
    ax = plot.labels(som, X, Y, expanded=True, annotate=True)
    cells = ax.collections[0]
    assert len(cells.get_paths()) == somkit.umatrix(som, expanded=True).size
    bmu = _bmu(som)
    P = expanded_positions(som.grid_).reshape(-1, som.grid_.ndim)
    centres = np.c_[P[:, 1], P[:, 0]] if P.shape[1] == 2 else np.c_[P, 0 * P]
    markers = _class_markers(ax, ["0", "1", "2"])
    for coll in markers.values():
        for px, py in coll.get_offsets():
            # The nearest expanded cell is a unit cell holding that sample.
            k = int(np.argmin(np.hypot(centres[:, 0] - px, centres[:, 1] - py)))
            unit = int(np.argmin(cdist([centres[k]], _unit_xy(som))))
            assert np.allclose(centres[k], _unit_xy(som)[unit])
            assert unit in set(bmu.tolist())
    # Annotations: one per marker, the count of that class on that unit.
    n_markers = sum(len(c.get_offsets()) for c in markers.values())
    assert len(ax.texts) == n_markers
    assert sum(int(t.get_text()) for t in ax.texts) == len(X)


def test_labels_styles():
    som = SOM((4, 6), topology="hex", n_epochs=2, random_state=0).fit(X)
    ax = plot.labels(
        som,
        X,
        LETTERS,
        markers={"a": "x", "b": "+", "c": "o"},
        colors=["red", "green", "blue"],
        legend=False,
        background=None,
    )
    markers = _class_markers(ax, ["a", "b", "c"])
    assert matplotlib.colors.same_color(markers["b"].get_facecolor()[0], "green")
    assert ax.get_legend() is None
    # With background=None on a fresh Axes, the map frame is still set up.
    assert ax.yaxis_inverted()
    with pytest.raises(ValueError, match="markers has no entry"):
        plot.labels(som, X, LETTERS, markers={"a": "x"})
    with pytest.raises(ValueError, match="background must be one of"):
        plot.labels(som, X, LETTERS, background="image")
    with pytest.raises(ValueError, match="one class per sample"):
        plot.labels(som, X, LETTERS[:-1])


def test_labels_over_existing_umatrix():
    som = SOM((5, 7), topology="hex", n_epochs=2, random_state=0).fit(X)
    ax = plot.umatrix(som)
    limits = ax.get_xlim(), ax.get_ylim()
    plot.labels(som, X, Y, ax=ax, background=None)
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1


# --------------------------------------------------------- component planes
def test_component_planes(som):
    names = ["w", "x", "y", "z"]
    axes = plot.component_planes(som, names)
    assert isinstance(axes, np.ndarray) and axes.shape == (4,)
    for f, a in enumerate(axes):
        coll = a.collections[0]
        np.testing.assert_allclose(coll.get_array(), som.codebook_[:, f])
        _check_cells(coll, _unit_xy(som), som.topology, 1.0)
        assert a.get_title() == names[f]
    assert len({id(a) for a in axes}) == 4
    assert all(a.figure is axes[0].figure for a in axes)


def test_component_planes_axes_fig_and_subset():
    som = SOM((4, 6), topology="hex", n_epochs=2, random_state=0).fit(X)
    fig, given = plt.subplots(1, 3)
    out = plot.component_planes(som, axes=given, features=[3, 1], colorbar=False)
    assert list(out) == list(given[:2])
    np.testing.assert_allclose(out[0].collections[0].get_array(), som.codebook_[:, 3])
    assert out[1].get_title() == "feature 1"
    assert not given[2].collections
    fig2 = plt.figure()
    out = plot.component_planes(som, fig=fig2, ncols=3)
    assert out[0].figure is fig2 and len(out) == 4
    assert sum(not a.get_visible() for a in fig2.axes if not a.collections) == 2
    with pytest.raises(ValueError, match="feature_names has 2 names"):
        plot.component_planes(som, ["a", "b"])
    with pytest.raises(ValueError, match="axes has 1 Axes"):
        plot.component_planes(som, axes=[given[0]])


def test_component_planes_frame_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["p", "q", "r", "s"])
    som = SOM((3, 4), n_epochs=2, random_state=0).fit(frame)
    axes = plot.component_planes(som, features=["r"])
    assert [a.get_title() for a in axes] == ["r"]
    np.testing.assert_allclose(axes[0].collections[0].get_array(), som.codebook_[:, 2])


# -------------------------------------------------------------------- images
def _pictures(n=None):
    """A distinct 5x4 picture per sample (its index written in the pixels)."""
    n = len(X) if n is None else n
    return np.arange(n)[:, None, None] * 100.0 + np.arange(20).reshape(1, 5, 4)


@pytest.mark.parametrize("pick", ["nearest", "first"])
def test_images_one_per_unit(som, pick):
    pics = _pictures()
    ax = plot.images(som, X, pics, pick=pick)
    bmu = _bmu(som)
    D = cdist(X, som.codebook_.astype(float))
    expected = {}
    for j in range(som.grid_.n_units):
        members = np.flatnonzero(bmu == j)
        if len(members) == 0:
            continue
        if pick == "first":
            expected[j] = members[0]
        else:
            expected[j] = members[np.argmin(D[members, j])]
    assert len(ax.images) == len(expected)
    xy = _unit_xy(som)
    side = 0.9 if som.topology == "rect" else 2 / (math.sqrt(3) + 1)
    for im, (j, i) in zip(ax.images, sorted(expected.items()), strict=True):
        np.testing.assert_array_equal(im.get_array(), pics[i])
        left, right, bottom, top = im.get_extent()
        np.testing.assert_allclose([(left + right) / 2, (top + bottom) / 2], xy[j])
        # Height is the longer side; the first image row is on top (small y).
        assert bottom - top == pytest.approx(side)
        assert right - left == pytest.approx(side * 4 / 5)
        assert top < bottom
    # Cells: every unit drawn black, so empty units show as black gaps.
    cells = ax.collections[0]
    _check_cells(cells, xy, som.topology, 1.0)
    assert all(matplotlib.colors.same_color(c, "black") for c in cells.get_facecolor())
    assert all(im.get_zorder() > cells.get_zorder() for im in ax.images)


def test_images_flat_rgb_and_errors():
    som = SOM((4, 5), topology="hex", n_epochs=2, random_state=0).fit(X)
    flat = _pictures().reshape(len(X), 20)
    ax = plot.images(som, X, flat, image_shape=(5, 4))
    assert ax.images[0].get_array().shape == (5, 4)
    square = np.arange(len(X) * 9, dtype=float).reshape(len(X), 9)
    ax = plot.images(som, X, square)
    assert ax.images[0].get_array().shape == (3, 3)
    rgb = np.random.default_rng(0).uniform(size=(len(X), 6, 6, 3))
    ax = plot.images(som, X, rgb, pick="first")
    i = int(np.flatnonzero(_bmu(som) == _bmu(som).min())[0])
    np.testing.assert_array_equal(ax.images[0].get_array(), rgb[i])
    with pytest.raises(ValueError, match="not square"):
        plot.images(som, X, flat)
    with pytest.raises(ValueError, match="one image per sample"):
        plot.images(som, X, _pictures(len(X) - 1))
    with pytest.raises(ValueError, match="pick must be one of"):
        plot.images(som, X, _pictures(), pick="random")


def test_images_cosine_nearest():
    """pick="nearest" uses the map's own metric."""
    som = SOM((3, 4), metric="cosine", n_epochs=2, random_state=0).fit(X)
    ax = plot.images(som, X, _pictures())
    D = cdist(X, som.codebook_.astype(float), metric="cosine")
    bmu = np.argmin(D, axis=1)
    for im in ax.images:
        i = int(im.get_array()[0, 0] // 100)
        members = np.flatnonzero(bmu == bmu[i])
        assert i == members[np.argmin(D[members, bmu[i]])]


# -------------------------------------------------------------- grid_in_data
@pytest.mark.parametrize(
    "grid,topology,periodic",
    MAPS + [((3, 3, 4), "rect", False), ((2, 3, 4), "rect", True)],
)
def test_grid_in_data_edges(grid, topology, periodic):
    som = SOM(grid, topology=topology, periodic=periodic, n_epochs=2, random_state=0)
    som.fit(X)
    ax = plot.grid_in_data(som, X, dims=(1, 3))
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segs = np.array(lines.get_segments())
    W = som.codebook_.astype(float)
    g = som.grid_
    # Reference: every pair of units at grid distance 1, each once.
    D = g.distances()
    ref = {
        (i, j)
        for i in range(g.n_units)
        for j in range(i + 1, g.n_units)
        if abs(D[i, j] - 1) < 1e-9
    }
    assert len(segs) == len(ref) == len(g.edges())
    got = set()
    for a, b in segs:
        i = int(np.argmin(np.abs(W[:, [1, 3]] - a).sum(axis=1)))
        j = int(np.argmin(np.abs(W[:, [1, 3]] - b).sum(axis=1)))
        got.add((min(i, j), max(i, j)))
    assert got == ref
    offsets = [c.get_offsets() for c in ax.collections if c.get_label() == "units"]
    np.testing.assert_allclose(offsets[0], W[:, [1, 3]])
    samples = [c for c in ax.collections if c.get_label() == "samples"]
    np.testing.assert_allclose(samples[0].get_offsets(), X[:, [1, 3]])


def test_grid_in_data_options():
    som = SOM((3, 4), n_epochs=2, random_state=0).fit(X)
    ax = plot.grid_in_data(som, adjacency="diagonal")
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == len(som.grid_.edges("diagonal")) == 29
    assert not [c for c in ax.collections if c.get_label() == "samples"]
    for bad in [(0, 0), (0, 4), (1,), "ab"]:
        with pytest.raises(ValueError, match="dims must be"):
            plot.grid_in_data(som, X, dims=bad)
    with pytest.raises(ValueError, match="X must have shape"):
        plot.grid_in_data(som, X[:, :2])


# ------------------------------------------------------------------- history
def test_history_lines(som):
    ax = plot.history(som)
    h = som.history_
    lines = {
        ln.get_label(): ln
        for a in ax.figure.axes
        for ln in a.get_lines()
        if not ln.get_label().startswith("_")
    }
    assert set(lines) == {"quantization error", "topographic error", "radius"}
    for label, key in [
        ("quantization error", "quantization_error"),
        ("topographic error", "topographic_error"),
        ("radius", "radius"),
    ]:
        np.testing.assert_allclose(lines[label].get_xdata(), h["epoch"])
        np.testing.assert_allclose(lines[label].get_ydata(), h[key])
    assert ax.lines[0] is lines["quantization error"]


def test_history_empty():
    som = SOM((3, 4), n_epochs=2, random_state=0).fit(X)
    som.history_ = {k: [] for k in som.history_}
    with pytest.raises(ValueError, match="history_ is empty"):
        plot.history(som)


# --------------------------------------------------------------- all plots
def _all_calls(som):
    pics = _pictures()
    return [
        lambda ax: plot.umatrix(som, ax=ax),
        lambda ax: plot.umatrix(som, expanded=True, ax=ax),
        lambda ax: plot.hits(som, X, ax=ax),
        lambda ax: plot.labels(som, X, Y, ax=ax),
        lambda ax: plot.images(som, X, pics, ax=ax),
        lambda ax: plot.grid_in_data(som, X, ax=ax),
        lambda ax: plot.history(som, ax=ax),
    ]


def test_never_show_and_axes_contract(som, monkeypatch):
    def no_show(*a, **k):
        raise AssertionError("plt.show() called")

    monkeypatch.setattr(plt, "show", no_show)
    for call in _all_calls(som):
        ax = call(None)
        assert isinstance(ax, matplotlib.axes.Axes)
        _, given = plt.subplots()
        assert call(given) is given
        ax.figure.canvas.draw()  # renders without error
        plt.close("all")
    planes = plot.component_planes(som)
    assert all(isinstance(a, matplotlib.axes.Axes) for a in planes)


def test_3d_grid_map_plots_raise():
    som = SOM((2, 3, 4), n_epochs=2, random_state=0).fit(X)
    for call in _all_calls(som)[:5] + [lambda ax: plot.component_planes(som)]:
        with pytest.raises(ValueError, match="3-D grid"):
            call(None)
    plot.grid_in_data(som, X)
    plot.history(som)


def test_not_fitted():
    for fn in (
        lambda: plot.umatrix(SOM()),
        lambda: plot.hits(SOM(), X),
        lambda: plot.labels(SOM(), X, Y),
        lambda: plot.component_planes(SOM()),
        lambda: plot.images(SOM(), X, _pictures()),
        lambda: plot.grid_in_data(SOM(), X),
        lambda: plot.history(SOM()),
    ):
        with pytest.raises(NotFittedError):
            fn()
