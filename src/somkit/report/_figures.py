"""The report's static figures, drawn with :mod:`somkit.plot`, as PNG text."""

from __future__ import annotations

import base64
import io
import math
import warnings

import numpy as np

#: Component planes drawn at most.
MAX_PLANES = 36
#: Width of the page's column in pixels; figures are drawn to fill it.
COLUMN_PX = 1050
#: Tallest single-map figure (pixels).
MAX_HEIGHT_PX = 950
DPI = 100

CAPTIONS = {
    "umatrix": (
        "Each cell is one unit of the map, shaded by how far its prototype is "
        "from its neighbours' prototypes: light areas are groups of similar "
        "samples and dark bands are the borders between groups."
    ),
    "expanded": (
        "The same distances drawn in more detail: an extra cell between every "
        "pair of neighbouring units shows how far apart those two are, so "
        "borders between groups show up as dark lines."
    ),
    "hits": (
        "How many samples each unit represents (the samples for which it is "
        "the closest unit); empty cells are units no sample picked."
    ),
    "planes": (
        "One small map per input feature, coloured by the value of that feature "
        "in each unit's prototype (in the data's own units): features whose "
        "maps look alike are correlated."
    ),
    "clusters": (
        "The units grouped into clusters of similar prototypes (agglomerative "
        "clustering of the units; empty units join the nearest cluster). Thick "
        "lines are the borders between clusters; the numbers match the "
        "cluster profiles below."
    ),
    "labels": (
        "Each unit takes the colour of the most frequent class among its "
        "samples, paler when other classes share the unit (lower purity): a "
        "map that separates the classes shows large regions of strong colour."
    ),
    "images": (
        "Each cell shows one sample that the unit represents (the closest one), "
        "so you can see what each part of the map stands for; black cells are "
        "units no sample picked."
    ),
    "history": (
        "How training went, epoch by epoch: the average distance from samples "
        "to their unit (quantization error), the share of samples whose two "
        "closest units are not neighbours (topographic error) and the "
        "neighbourhood radius."
    ),
}

TITLES = {
    "umatrix": "U-matrix",
    "expanded": "Expanded U-matrix",
    "hits": "Hit map",
    "planes": "Component planes",
    "clusters": "Clusters",
    "labels": "Class map",
    "images": "Samples on the map",
    "history": "Training history",
}

SECTION_IDS = {
    "umatrix": "umatrix",
    "expanded": "expanded-umatrix",
    "hits": "hits",
    "planes": "component-planes",
    "clusters": "clusters",
    "labels": "class-map",
    "images": "images",
    "history": "history",
}


def close(fig):
    """Release a matplotlib figure (pyplot-managed or not)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def _planes_figure(model, features):
    """A figure as wide as the page's column for the component planes."""
    import matplotlib.pyplot as plt

    from somkit._model import unwrap
    from somkit.plot._cells import cell_vertices, extent_of, unit_xy

    som, _ = unwrap(model)
    n = len(features) if features is not None else som.n_features_in_
    ncols = min(n, 3 if n <= 6 else 4 if n <= 16 else 5 if n <= 25 else 6)
    width = COLUMN_PX / DPI
    w, h = extent_of(cell_vertices(unit_xy(som.grid_), som.grid_.topology))
    panel_h = (width / ncols - 0.9) * h / w + 0.45
    return plt.figure(
        figsize=(width, panel_h * math.ceil(n / ncols)), layout="constrained"
    )


def figure(
    model, kind, data=None, *, image_shape=None, features=None, unit_labels=None
):
    """Draw one figure of ``model``; return the matplotlib Figure.

    Parameters
    ----------
    model : fitted SOM, or a Pipeline ending in one
        A Pipeline's earlier steps (the command line's scaling) are applied
        to the data and undone for the component planes.
    kind : {"umatrix", "expanded", "hits", "planes", "clusters", "labels", \
"images", "history"}
        "labels" is the class map: each unit shaded by its majority class
        and purity (:func:`somkit.plot.class_map`).
    data : somkit._data.Dataset, optional
        Needed by "hits", "labels" (with labels) and "images".
    image_shape : tuple, optional
        Pixel shape of each row for "images".
    features : sequence of int, optional
        Which component planes to draw (default: all).
    unit_labels : array-like of shape (n_units,), optional
        Cluster of each unit, for "clusters".
    """
    from somkit import plot

    som = model
    X = None if data is None else data.X
    if kind in ("hits", "labels", "images") and data is None:
        raise ValueError(f"the {kind!r} figure needs data.")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        if kind == "umatrix":
            ax = plot.umatrix(som)
        elif kind == "expanded":
            ax = plot.umatrix(som, expanded=True)
        elif kind == "hits":
            ax = plot.hits(som, X)
        elif kind == "planes":
            fig = _planes_figure(model, features)
            axes = plot.component_planes(som, features=features, fig=fig)
            ax = axes[0]
        elif kind == "clusters":
            if unit_labels is None:
                raise ValueError("the 'clusters' figure needs unit_labels.")
            ax = plot.clusters(som, unit_labels)
        elif kind == "labels":
            if data.labels is None:
                raise ValueError("the class map needs a label column.")
            ax = plot.class_map(som, X, data.labels)
        elif kind == "images":
            if image_shape is None:
                raise ValueError("the 'images' figure needs image_shape.")
            pictures = data.X.reshape((data.n_samples, *image_shape))
            ax = plot.images(som, X, pictures)
        elif kind == "history":
            ax = plot.history(som)
        else:
            raise ValueError(f"kind must be one of {tuple(CAPTIONS)}, got {kind!r}.")
    fig = ax.figure
    if kind in TITLES and kind != "planes":
        ax.set_title(TITLES[kind])
    return fig


def fit_to_column(fig, max_height_px=MAX_HEIGHT_PX, dpi=DPI):
    """Resize ``fig`` to the page's column width (at most ``max_height_px``
    tall), keeping its shape; fonts keep their size in points."""
    w, h = fig.get_size_inches()
    scale = min(COLUMN_PX / (w * dpi), max_height_px / (h * dpi))
    fig.set_size_inches(w * scale, h * scale)
    return fig


def png_base64(fig, dpi=DPI, fit=True):
    """The figure as base64 PNG text (``fit``: resized to the column first);
    the figure is closed."""
    buf = io.BytesIO()
    try:
        if fit:
            fit_to_column(fig, dpi=dpi)
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def lut(cmap, n=64):
    """``n`` hex colours sampled from a matplotlib colour map."""
    import matplotlib
    from matplotlib.colors import to_hex

    cm = matplotlib.colormaps[cmap]
    return [to_hex(cm(x)) for x in np.linspace(0.0, 1.0, n)]
