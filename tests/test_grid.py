"""Grid invariants: properties (hypothesis) and hand-counted adjacency."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somkit._grid import Grid


@st.composite
def grids(draw):
    ndim = draw(st.integers(1, 3))
    topology = "hex" if ndim == 2 and draw(st.booleans()) else "rect"
    shape = tuple(draw(st.integers(1, 7)) for _ in range(ndim))
    periodic = draw(st.booleans())
    if topology == "hex" and periodic and shape[0] % 2:
        shape = (shape[0] + 1, *shape[1:])
    return Grid(shape, topology, periodic)


@settings(max_examples=60, deadline=None)
@given(grids())
def test_distances_symmetric_zero_diagonal_triangle(grid):
    D = grid.distances()
    np.testing.assert_allclose(D, D.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(D), 0, atol=1e-12)
    # Triangle inequality on a sample of triples.
    rng = np.random.default_rng(0)
    i, j, k = rng.integers(0, grid.n_units, size=(3, 50))
    assert np.all(D[i, k] <= D[i, j] + D[j, k] + 1e-9)


@settings(max_examples=60, deadline=None)
@given(grids())
def test_flat_index_coordinate_round_trip(grid):
    idx = np.arange(grid.n_units)
    coords = grid.index_to_coords(idx)
    np.testing.assert_array_equal(grid.coords_to_index(coords), idx)
    # Row-major: index = r * cols + c for 2-D grids.
    if grid.ndim == 2:
        np.testing.assert_array_equal(coords[:, 0] * grid.shape[1] + coords[:, 1], idx)


@settings(max_examples=60, deadline=None)
@given(grids())
def test_adjacency_is_distance_one(grid):
    A = grid.adjacency().toarray()
    np.testing.assert_array_equal(A, A.T)
    D = grid.distances()
    np.testing.assert_array_equal(A, np.isclose(D, 1.0))
    e = grid.edges()
    assert len(e) == A.sum() // 2
    assert np.all(e[:, 0] < e[:, 1])


@settings(max_examples=40, deadline=None)
@given(grids())
def test_periodic_grids_are_regular(grid):
    """On a torus large enough to avoid self-wrap, every unit has the full count."""
    if not grid.periodic or min(grid.shape) < 3:
        return
    if grid.topology == "hex" and grid.shape[0] < 4:
        return
    full = {"hex": 6}.get(grid.topology, 2 * grid.ndim)
    deg = np.asarray(grid.adjacency().sum(axis=1)).ravel()
    assert np.all(deg == full)


@pytest.mark.parametrize(
    "shape,topology,periodic,interior,corner",
    [
        ((5, 6), "rect", False, 4, 2),
        ((5, 6), "hex", False, 6, 2),
        ((7,), "rect", False, 2, 1),
        ((4, 4, 4), "rect", False, 6, 3),
    ],
)
def test_neighbour_counts(shape, topology, periodic, interior, corner):
    grid = Grid(shape, topology, periodic)
    deg = np.asarray(grid.adjacency().sum(axis=1)).ravel()
    assert deg.max() == interior
    assert deg[0] == corner


def test_hex_positions_and_neighbours():
    g = Grid((4, 4), "hex")
    # Odd rows shifted right by half a cell; rows sqrt(3)/2 apart.
    np.testing.assert_allclose(g.positions[5], [math.sqrt(3) / 2, 1.5])
    # Unit (1, 1) = 5 touches (0,1),(0,2),(1,0),(1,2),(2,1),(2,2).
    assert sorted(g.neighbors(5).tolist()) == [1, 2, 4, 6, 9, 10]
    # Unit (2, 1) = 9 (even row) touches (1,0),(1,1),(2,0),(2,2),(3,0),(3,1).
    assert sorted(g.neighbors(9).tolist()) == [4, 5, 8, 10, 12, 13]
    np.testing.assert_allclose(g.distances(5)[0, g.neighbors(5)], 1.0)


def test_diagonal_adjacency_rect_only():
    rect = Grid((3, 3))
    assert len(rect.neighbors(4, kind="diagonal")) == 8
    hexg = Grid((3, 3), "hex")
    assert len(hexg.edges("diagonal")) == len(hexg.edges())


def test_periodic_wraps_shortest_way():
    g = Grid((6,), periodic=True)
    assert g.distances_between(0, 5) == 1.0
    h = Grid((4, 5), "hex", periodic=True)
    assert sorted(h.neighbors(0).tolist()) == sorted({1, 4, 5, 9, 15, 19})


@pytest.mark.parametrize(
    "args,match",
    [
        (((0, 3),), ">= 1"),
        (((3, 3), "tri"), "topology"),
        (((3, 3, 3), "hex"), "2-D"),
        (((3, 4), "hex", True), "even"),
        ((("a",),), "integers"),
    ],
)
def test_invalid_grids(args, match):
    with pytest.raises(ValueError, match=match):
        Grid(*args)
