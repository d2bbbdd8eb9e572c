"""somkit.umatrix against slow loop references written out by hand."""

import math

import numpy as np
import pytest
from scipy.spatial import distance as sd
from sklearn.exceptions import NotFittedError

from somkit import SOM
from somkit._umatrix import expanded_positions
from somkit._umatrix import umatrix as umatrix_fn

X = np.random.default_rng(0).normal(size=(160, 4)) + np.array([3.0, 0, 0, 0])

# (grid, topology, periodic, metric)
CASES = [
    ((6, 8), "rect", False, "euclidean"),
    ((5, 7), "rect", True, "manhattan"),
    ((2, 5), "rect", True, "euclidean"),
    ((6, 8), "hex", False, "cosine"),
    ((4, 7), "hex", True, "chebyshev"),
    ((5, 3), "hex", False, "dot"),
    (9, "rect", False, "euclidean"),
    (7, "rect", True, "cosine"),
    ((3, 4, 5), "rect", False, "euclidean"),
    ((2, 3, 4), "rect", True, "manhattan"),
    ((1, 6), "rect", False, "euclidean"),
    ((1, 6), "hex", False, "euclidean"),
    ((6, 1), "hex", False, "euclidean"),
]


def _fit(grid, topology, periodic, metric):
    return SOM(
        grid,
        topology=topology,
        periodic=periodic,
        metric=metric,
        n_epochs=2,
        radius=(2.0, 0.5),
        random_state=0,
    ).fit(X)


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(map(str, c)))
def som(request):
    return _fit(*request.param)


def _dist(a, b, metric):
    """Distance between two codebook vectors, by scipy's own definitions."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if metric in ("euclidean", "dot"):  # dot maps use euclidean (documented)
        return sd.euclidean(a, b)
    if metric == "cosine":
        return sd.cosine(a, b)
    if metric == "manhattan":
        return sd.cityblock(a, b)
    return sd.chebyshev(a, b)


def _neighbours(shape, topology, periodic, coord):
    """Adjacent units of ``coord``, from the lattice rules, not from Grid."""
    coord = tuple(coord)
    if topology == "hex":
        r, c = coord
        if r % 2 == 0:
            steps = [(0, -1), (0, 1), (-1, -1), (-1, 0), (1, -1), (1, 0)]
        else:
            steps = [(0, -1), (0, 1), (-1, 0), (-1, 1), (1, 0), (1, 1)]
    else:
        steps = []
        for axis in range(len(shape)):
            for s in (-1, 1):
                step = [0] * len(shape)
                step[axis] = s
                steps.append(tuple(step))
    out = set()
    for step in steps:
        n = [a + s for a, s in zip(coord, step, strict=True)]
        if periodic:
            n = [a % size for a, size in zip(n, shape, strict=True)]
        elif any(a < 0 or a >= size for a, size in zip(n, shape, strict=True)):
            continue
        n = tuple(n)
        if n != coord:
            out.add(n)
    return out


def _ref_units(som, reduce):
    shape, W = som.grid_.shape, som.codebook_
    U = np.empty(shape)
    for coord in np.ndindex(*shape):
        i = np.ravel_multi_index(coord, shape)
        ds = [
            _dist(W[i], W[np.ravel_multi_index(n, shape)], som.metric)
            for n in _neighbours(shape, som.topology, som.periodic, coord)
        ]
        U[coord] = {"mean": np.mean, "median": np.median, "max": np.max}[reduce](ds)
    return U


@pytest.mark.parametrize("reduce", ["mean", "median", "max"])
def test_units_match_loop(som, reduce):
    U = umatrix_fn(som, reduce=reduce)
    assert U.shape == som.grid_.shape
    np.testing.assert_allclose(U, _ref_units(som, reduce), rtol=1e-9, atol=1e-12)


def test_expanded_matches_loop(som):
    shape = som.grid_.shape
    if len(shape) == 3:
        with pytest.raises(ValueError, match="expanded"):
            umatrix_fn(som, expanded=True)
        return
    W, metric = som.codebook_, som.metric
    units = _ref_units(som, "mean")
    E = umatrix_fn(som, expanded=True)

    def d(a, b):
        return _dist(
            W[np.ravel_multi_index(a, shape)], W[np.ravel_multi_index(b, shape)], metric
        )

    if len(shape) == 1:
        n = shape[0]
        ref = np.empty(2 * n - 1)
        for i in range(n):
            ref[2 * i] = units[i]
            if i + 1 < n:
                ref[2 * i + 1] = d((i,), (i + 1,))
        np.testing.assert_allclose(E, ref, rtol=1e-9, atol=1e-12)
        return

    R, C = shape
    ref = np.full((2 * R - 1, 2 * C - 1), np.nan)
    for r in range(R):
        for c in range(C):
            ref[2 * r, 2 * c] = units[r, c]
            if c + 1 < C:
                ref[2 * r, 2 * c + 1] = d((r, c), (r, c + 1))
    if som.topology == "rect":
        for r in range(R - 1):
            for c in range(C):
                ref[2 * r + 1, 2 * c] = d((r, c), (r + 1, c))
                if c + 1 < C:
                    ref[2 * r + 1, 2 * c + 1] = 0.5 * (
                        d((r, c), (r + 1, c + 1)) + d((r, c + 1), (r + 1, c))
                    )
    else:
        # Each edge between rows r and r + 1 goes to the cell under its
        # midpoint: column position x -> cell k = 2 (x - 0.25).
        for r in range(R - 1):
            for a in range(C):
                for b in range(C):
                    xa, xb = a + 0.5 * (r % 2), b + 0.5 * ((r + 1) % 2)
                    if abs(xa - xb) == 0.5:
                        k = 2 * ((xa + xb) / 2 - 0.25)
                        assert k == int(k)
                        ref[2 * r + 1, int(k)] = d((r, a), (r + 1, b))
    assert not np.isnan(ref).any()
    np.testing.assert_allclose(E, ref, rtol=1e-9, atol=1e-12)


def test_expanded_unit_cells_follow_reduce():
    som = _fit((4, 5), "hex", True, "euclidean")
    for reduce in ("median", "max"):
        E = umatrix_fn(som, expanded=True, reduce=reduce)
        np.testing.assert_allclose(E[0::2, 0::2], umatrix_fn(som, reduce=reduce))


@pytest.mark.parametrize("topology", ["rect", "hex"])
def test_expanded_positions(topology):
    from somkit._grid import Grid

    g = Grid((5, 4), topology)
    P = expanded_positions(g)
    assert P.shape == (9, 7, 2)
    # Unit cells on their unit; every cell's nearest other cells at 0.5.
    np.testing.assert_allclose(P[0::2, 0::2].reshape(-1, 2), g.positions)
    flat = P.reshape(-1, 2)
    D = sd.cdist(flat, flat)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_allclose(D.min(axis=1), 0.5)
    if topology == "hex":
        # Odd rows: at the midpoint of two adjacent units.
        pos = g.positions
        for p in P[1::2].reshape(-1, 2):
            dd = np.linalg.norm(pos - p, axis=1)
            assert np.sum(np.isclose(dd, 0.5)) == 2
        assert P[1, 0, 0] == pytest.approx(math.sqrt(3) / 4)


def test_flat_map_is_zero_and_constant_data():
    som = SOM((3, 4), n_epochs=1, random_state=0).fit(np.ones((20, 3)))
    np.testing.assert_allclose(umatrix_fn(som), 0.0, atol=1e-6)
    np.testing.assert_allclose(umatrix_fn(som, expanded=True), 0.0, atol=1e-6)


def test_known_values_rect():
    """A 2x2 map with hand-picked codebook: every value checked by hand."""
    som = SOM((2, 2), n_epochs=1, random_state=0).fit(X[:, :2])
    som.codebook_ = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 4.0]])
    U = umatrix_fn(som)
    np.testing.assert_allclose(U, [[3.5, 3.5], [3.5, 3.5]])
    np.testing.assert_allclose(
        umatrix_fn(som, expanded=True),
        [[3.5, 3.0, 3.5], [4.0, 5.0, 4.0], [3.5, 3.0, 3.5]],
    )
    np.testing.assert_allclose(umatrix_fn(som, reduce="max"), 4.0)


def test_single_unit_is_nan():
    som = SOM(1, n_epochs=1, random_state=0).fit(X)
    assert np.isnan(umatrix_fn(som)).all()


def test_public_reexport():
    import somkit

    som = _fit((3, 4), "rect", False, "euclidean")
    np.testing.assert_array_equal(somkit.umatrix(som), umatrix_fn(som))


def test_errors():
    with pytest.raises(NotFittedError):
        umatrix_fn(SOM())
    som = _fit((3, 4), "rect", False, "euclidean")
    with pytest.raises(ValueError, match="reduce must be one of"):
        umatrix_fn(som, reduce="sum")
    with pytest.raises(TypeError, match="expanded"):
        umatrix_fn(som, expanded="yes")
