"""Map cells: where each unit is drawn and the polygons around it.

One layout for every plot, so markers, images and U-matrix cells line up:

* plot coordinates are the grid positions (``somkit._grid.Grid.positions``):
  x = column position, y = row position, with the y axis inverted so row 0
  is at the top (as in ``imshow``) and equal aspect;
* a 1-D chain is drawn as one row of cells (x = position along the chain,
  y = 0);
* rect units are unit squares, hex units pointy-top hexagons whose flat sides
  touch their row neighbours (width 1, the hex lattice tiles the plane);
* periodic maps are drawn flat (wrap-around neighbours are not repeated);
* 3-D grids cannot be drawn as one flat map: functions raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.exceptions import NotFittedError

SQRT3 = math.sqrt(3)
# Side of the square image that fits inside a hexagon of width 1.
HEX_INNER_SQUARE = 2 / (SQRT3 + 1)


def fitted_som(model):
    """The fitted SOM of ``model`` (a SOM or a Pipeline ending in one).

    Raises NotFittedError for an unfitted map and TypeError for anything
    that holds no map.
    """
    from somkit._model import unwrap

    som, _ = unwrap(model)
    if not hasattr(som, "codebook_") or not hasattr(som, "grid_"):
        raise NotFittedError("this SOM is not fitted yet: call fit before plotting.")
    return som


def bmu_of(model, X):
    """BMU of each row of X on the map of ``model`` (earlier steps applied).

    Not ``model.predict``: a supervised model predicts classes or targets.
    """
    from somkit._model import to_map_space

    som = fitted_som(model)
    return np.asarray(som.predict(to_map_space(model, X)))


def check_som(model):
    """The fitted map's grid, or NotFittedError (see :func:`fitted_som`)."""
    return fitted_som(model).grid_


def check_flat(grid, what):
    """Raise for grids that have no flat drawing (3-D)."""
    if grid.ndim > 2:
        raise ValueError(
            f"{what} draws 1-D and 2-D maps only; got a 3-D grid {grid.shape!r}. "
            "Plot slices of somkit.umatrix(som) (or codebook_ reshaped to the "
            "grid) yourself, or use somkit.plot.grid_in_data."
        )


def to_xy(positions):
    """Grid-space positions (..., ndim) -> plot coordinates (..., 2)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.shape[-1] == 1:
        return np.stack([p[..., 0], np.zeros_like(p[..., 0])], axis=-1)
    return p[..., ::-1].copy()


def unit_xy(grid):
    """Plot coordinates (n_units, 2) of the unit centres."""
    return to_xy(grid.positions)


def cell_vertices(xy, topology, size=1.0):
    """Polygon vertices (n, 4 or 6, 2) of cells centred at ``xy``.

    rect: squares of side ``size``; hex: pointy-top hexagons of width
    (flat to flat) ``size``.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if topology == "hex":
        radius = size / SQRT3
        angle = np.pi / 2 + np.arange(6) * np.pi / 3
        offsets = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    else:
        h = size / 2
        offsets = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    return xy[:, None, :] + offsets[None, :, :]


def new_axes(ax, extent=(1.0, 1.0), colorbar=False):
    """``ax``, or a new figure's Axes sized to the map's extent (w, h)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    w, h = (max(float(v), 1e-9) for v in extent)
    m = max(w, h)
    flat = w > 4 * h  # colour bar goes below (see add_colorbar)
    bar_w, bar_h = (0.0, 0.9) if flat else (1.4, 0.0)
    if not colorbar:
        bar_w, bar_h = 0.0, 0.0
    figsize = (max(2.5, 6.0 * w / m + 0.4 + bar_w), max(1.6, 6.0 * h / m + 0.4 + bar_h))
    _, ax = plt.subplots(figsize=figsize)
    return ax


def add_colorbar(ax, coll, label, verts):
    """Colour bar at the right, or below a long flat map (e.g. a chain)."""
    w, h = extent_of(verts)
    if w > 4 * h:
        return ax.figure.colorbar(
            coll, ax=ax, label=label, orientation="horizontal", aspect=40, pad=0.05
        )
    return ax.figure.colorbar(coll, ax=ax, label=label)


def extent_of(verts):
    v = np.asarray(verts).reshape(-1, 2)
    return np.ptp(v, axis=0) if len(v) else np.ones(2)


def frame(ax, verts):
    """Limits around ``verts``, equal aspect, y inverted (row 0 on top)."""
    v = np.asarray(verts).reshape(-1, 2)
    lo, hi = v.min(axis=0), v.max(axis=0)
    pad = 0.03 * max(float(np.max(hi - lo)), 1.0)
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(hi[1] + pad, lo[1] - pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_cells(ax, verts, values=None, *, cmap=None, vmin=None, vmax=None, **style):
    """One PolyCollection of cells; colours from ``values`` when given."""
    from matplotlib.cbook import normalize_kwargs
    from matplotlib.collections import PolyCollection

    kw = {"edgecolor": "face", "linewidth": 0.3}
    kw.update(normalize_kwargs(style, PolyCollection))
    coll = PolyCollection(list(verts), **kw)
    if values is not None:
        coll.set_array(np.asarray(values, dtype=np.float64).ravel())
        coll.set_cmap(cmap)
        coll.set_clim(vmin, vmax)
    ax.add_collection(coll)
    frame(ax, verts)
    return coll
