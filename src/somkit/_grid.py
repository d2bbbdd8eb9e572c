"""Map geometry: unit positions, grid distances and adjacency.

Conventions (DESIGN.md section 3):

* rect: unit ``(r, c)`` sits at ``(r, c)``;
* hex: unit ``(r, c)`` sits at ``(r * sqrt(3) / 2, c + 0.5 * (r % 2))`` so that
  each unit is at distance 1 from its six neighbours (odd rows shifted right);
* flat index is row-major, ``r * cols + c``;
* periodic grids measure the shortest wrapped (minimum image) distance. The
  wrapped box is rectangular for both topologies (a hex torus needs an even
  number of rows so that row parity survives the wrap), so the minimum image
  can be taken per axis.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from scipy import sparse

_TOPOLOGIES = ("rect", "hex")
_ADJACENCY = ("edges", "diagonal")
# Tolerance when comparing float grid distances with 1 or sqrt(2).
EPS = 1e-6


class Grid:
    """Geometry of a self-organizing map.

    Parameters
    ----------
    shape : int or tuple of 1 to 3 ints
        Number of units along each grid axis; an int gives a 1-D chain.
    topology : {"rect", "hex"}, default="rect"
        Square or hexagonal lattice. "hex" needs a 2-D grid.
    periodic : bool, default=False
        Wrap the edges (a ring, a torus). A periodic hex grid needs an even
        number of rows.

    Attributes
    ----------
    shape : tuple of int
    n_units : int
    ndim : int
    positions : ndarray of shape (n_units, ndim)
        Unit positions in grid space (row coordinate first).
    coords : ndarray of shape (n_units, ndim)
        Integer index coordinates of each unit.

    Examples
    --------
    >>> g = Grid((2, 3), topology="hex")
    >>> g.n_units
    6
    >>> sorted(g.neighbors(4).tolist())  # unit (1, 1): odd row, shifted right
    [1, 2, 3, 5]
    """

    def __init__(self, shape, topology="rect", periodic=False):
        self.shape = _check_shape(shape)
        if topology not in _TOPOLOGIES:
            raise ValueError(
                f"topology must be one of {_TOPOLOGIES}, got {topology!r}."
            )
        if topology == "hex" and len(self.shape) != 2:
            raise ValueError(
                "topology='hex' needs a 2-D grid (rows, cols); got grid="
                f"{self.shape!r}."
            )
        if not isinstance(periodic, bool | np.bool_):
            raise TypeError(f"periodic must be a bool, got {periodic!r}.")
        if periodic and topology == "hex" and self.shape[0] % 2:
            raise ValueError(
                "a periodic hex grid needs an even number of rows, got "
                f"grid={self.shape!r}."
            )
        self.topology = topology
        self.periodic = bool(periodic)
        self.ndim = len(self.shape)
        self.n_units = int(np.prod(self.shape))
        self.coords = np.stack(
            np.unravel_index(np.arange(self.n_units), self.shape), axis=1
        ).astype(np.int64)
        pos = self.coords.astype(np.float64)
        if topology == "hex":
            rows = self.coords[:, 0]
            pos[:, 0] = rows * (math.sqrt(3) / 2)
            pos[:, 1] = self.coords[:, 1] + 0.5 * (rows % 2)
        self.positions = pos
        # Size of the wrapped box along each position axis.
        period = np.array(self.shape, dtype=np.float64)
        if topology == "hex":
            period[0] = self.shape[0] * math.sqrt(3) / 2
        self.period = period
        self._dist_cache = None

    # ------------------------------------------------------------------ basics
    def __repr__(self):
        return (
            f"Grid(shape={self.shape!r}, topology={self.topology!r}, "
            f"periodic={self.periodic!r})"
        )

    def __eq__(self, other):
        return (
            isinstance(other, Grid)
            and self.shape == other.shape
            and self.topology == other.topology
            and self.periodic == other.periodic
        )

    def __hash__(self):
        return hash((self.shape, self.topology, self.periodic))

    def to_dict(self):
        """JSON-serialisable description (inverse of :meth:`from_dict`)."""
        return {
            "shape": list(self.shape),
            "topology": self.topology,
            "periodic": self.periodic,
        }

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["shape"]), d["topology"], bool(d["periodic"]))

    def index_to_coords(self, index):
        """Flat unit index -> integer grid coordinates (row-major)."""
        index = np.asarray(index)
        if np.any((index < 0) | (index >= self.n_units)):
            raise ValueError(f"unit index out of range [0, {self.n_units}).")
        return np.stack(np.unravel_index(index, self.shape), axis=-1)

    def coords_to_index(self, coords):
        """Integer grid coordinates (..., ndim) -> flat unit index."""
        coords = np.asarray(coords)
        return np.ravel_multi_index(tuple(np.moveaxis(coords, -1, 0)), self.shape)

    # --------------------------------------------------------------- distances
    def _delta(self, a, b, period=None):
        """|a - b| per axis (broadcasting), wrapped if periodic.

        ``period`` defaults to the full period vector (last axis = grid axis).
        """
        d = np.abs(a - b)
        if self.periodic:
            period = self.period if period is None else period
            d = np.minimum(d, period - d)
        return d

    def distances_between(self, i, j):
        """Grid distance between unit indices ``i`` and ``j`` (broadcast)."""
        pi = self.positions[np.asarray(i)]
        pj = self.positions[np.asarray(j)]
        return np.sqrt(np.sum(self._delta(pi, pj) ** 2, axis=-1))

    def distances(self, units=None):
        """Grid distances from ``units`` (default: all) to every unit.

        Returns an array of shape (len(units), n_units), or (n_units, n_units).
        """
        if units is None:
            if self._dist_cache is None:
                self._dist_cache = self._pairwise(self.positions)
            return self._dist_cache
        p = self.positions[np.atleast_1d(np.asarray(units))]
        return self._pairwise(p)

    def _pairwise(self, p):
        d2 = np.zeros((len(p), self.n_units))
        for k in range(self.ndim):
            dk = self._delta(
                p[:, k : k + 1], self.positions[None, :, k], self.period[k]
            )
            d2 += dk * dk
        return np.sqrt(d2)

    def offsets_within(self, radius):
        """Pairs (i, j, d) of units at grid distance ``d <= radius``.

        Built row block by row block so memory stays proportional to the
        number of returned pairs, not to n_units**2. Used for cut-off kernels
        on large maps.
        """
        rows, cols, vals = [], [], []
        block = max(1, 2_000_000 // max(self.n_units, 1))
        for start in range(0, self.n_units, block):
            units = np.arange(start, min(start + block, self.n_units))
            d = self._pairwise(self.positions[units])
            r, c = np.nonzero(d <= radius + EPS)
            rows.append(units[r])
            cols.append(c)
            vals.append(d[r, c])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    # --------------------------------------------------------------- adjacency
    def edges(self, kind="edges"):
        """Pairs ``(i, j)`` with ``i < j`` of adjacent units, each once.

        ``kind="edges"``: units at grid distance 1 (4 on rect, 6 on hex, 2 on
        a chain, 6 in 3-D). ``kind="diagonal"`` adds the rect diagonals
        (distance sqrt(2); equals "edges" on hex).
        """
        if kind not in _ADJACENCY:
            raise ValueError(f"adjacency must be one of {_ADJACENCY}, got {kind!r}.")
        limit = 1.0
        if kind == "diagonal" and self.topology == "rect" and self.ndim >= 2:
            limit = math.sqrt(2)
        i, j, d = self.offsets_within(limit)
        keep = (i < j) & (d > EPS)
        pairs = np.stack([i[keep], j[keep]], axis=1)
        return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)

    def adjacency(self, kind="edges"):
        """Symmetric boolean sparse matrix (n_units, n_units) of adjacency."""
        e = self.edges(kind)
        n = self.n_units
        data = np.ones(2 * len(e), dtype=bool)
        a = sparse.csr_matrix(
            (data, (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)
        )
        a.sum_duplicates()
        return a

    def neighbors(self, unit, kind="edges"):
        """Indices of the units adjacent to ``unit``."""
        a = self.adjacency(kind)
        return a.indices[a.indptr[unit] : a.indptr[unit + 1]]

    def are_adjacent(self, i, j, kind="edges"):
        """Whether units ``i`` and ``j`` (arrays, broadcast) are adjacent."""
        d = self.distances_between(i, j)
        limit = 1.0
        if kind == "diagonal" and self.topology == "rect" and self.ndim >= 2:
            limit = math.sqrt(2)
        elif kind not in _ADJACENCY:
            raise ValueError(f"adjacency must be one of {_ADJACENCY}, got {kind!r}.")
        return (d > EPS) & (d <= limit + EPS)

    @property
    def max_distance(self):
        """Largest grid distance between two units."""
        extent = np.ptp(self.positions, axis=0)
        if self.periodic:
            extent = np.minimum(extent, self.period / 2)
        return float(np.sqrt(np.sum(extent**2)))


def _check_shape(shape):
    if isinstance(shape, Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, tuple | list) or not shape:
        raise ValueError(
            "grid must be an int, a tuple of 1 to 3 positive ints or 'auto'; got "
            f"{shape!r}."
        )
    if len(shape) > 3:
        raise ValueError(f"grid must have 1 to 3 dimensions, got {shape!r}.")
    out = []
    for s in shape:
        if not isinstance(s, Integral) or isinstance(s, bool):
            raise ValueError(f"grid sizes must be integers, got {shape!r}.")
        if s < 1:
            raise ValueError(f"grid sizes must be >= 1, got {shape!r}.")
        out.append(int(s))
    return tuple(out)
