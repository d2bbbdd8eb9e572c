"""Plots drawn on the map itself: U-matrix, hits, component planes, labels,
images. The cell layout is described in :mod:`somkit.plot._cells`."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from somkit import _umatrix
from somkit._labels import encode_labels
from somkit.plot._cells import (
    HEX_INNER_SQUARE,
    add_colorbar,
    bmu_of,
    cell_vertices,
    check_flat,
    check_som,
    draw_cells,
    extent_of,
    fitted_som,
    frame,
    new_axes,
    to_xy,
    unit_xy,
)

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_PICK = ("nearest", "first")
_BACKGROUNDS = ("umatrix", "grid", None)


# ------------------------------------------------------------------ U-matrix
def umatrix(
    som,
    *,
    expanded=False,
    reduce="mean",
    ax=None,
    cmap="bone_r",
    colorbar=True,
    vmin=None,
    vmax=None,
    **style,
):
    """Draw the U-matrix: distances between adjacent units.

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    expanded : bool, default=False
        False: one cell per unit (its mean distance to its neighbours).
        True: a cell between every pair of adjacent units as well (see
        :func:`somkit.umatrix`): half-size squares on rect maps, half-size
        hexagons on hex maps (the edge cells fill the gaps between units).
    reduce : {"mean", "median", "max"}, default="mean"
        How a unit combines the distances to its neighbours.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is created when None.
    cmap : str or Colormap, default="bone_r"
        Light = close neighbours (clusters), dark = borders.
    colorbar : bool, default=True
    vmin, vmax : float, optional
        Colour limits (default: the data range).
    **style
        Passed to the cells' ``PolyCollection`` (e.g. ``edgecolor``).

    Returns
    -------
    ax : matplotlib Axes
        The cells are ``ax.collections[0]``; its colour array is
        ``somkit.umatrix(som, expanded, reduce).ravel()``.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, plot
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> som = SOM((5, 6), topology="hex", n_epochs=2, random_state=0).fit(X)
    >>> ax = plot.umatrix(som, expanded=True)
    """
    grid = check_som(som)
    check_flat(grid, "plot.umatrix")
    U = _umatrix.umatrix(som, expanded=expanded, reduce=reduce)
    if expanded:
        pos = _umatrix.expanded_positions(grid).reshape(-1, grid.ndim)
        verts = cell_vertices(to_xy(pos), grid.topology, 0.5)
    else:
        verts = cell_vertices(unit_xy(grid), grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), colorbar)
    coll = draw_cells(ax, verts, U.ravel(), cmap=cmap, vmin=vmin, vmax=vmax, **style)
    if colorbar:
        add_colorbar(ax, coll, "distance to neighbours", verts)
    return ax


# ---------------------------------------------------------------------- hits
def hits(
    som,
    X,
    *,
    sample_weight=None,
    ax=None,
    cmap="Blues",
    colorbar=True,
    annotate="auto",
    fontsize=None,
    **style,
):
    """Draw how many samples of ``X`` each unit wins.

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,), optional
        Count weighted samples instead.
    ax : matplotlib Axes, optional
    cmap : str or Colormap, default="Blues"
    colorbar : bool, default=True
    annotate : bool or "auto", default="auto"
        Write the count in each non-empty cell ("auto": on maps of up to 400
        units).
    fontsize : float, optional
    **style
        Passed to the cells' ``PolyCollection``.

    Returns
    -------
    ax : matplotlib Axes
        The cells are ``ax.collections[0]``; its colour array holds the
        counts in unit order.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, plot
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> som = SOM((4, 5), n_epochs=2, random_state=0).fit(X)
    >>> ax = plot.hits(som, X)
    >>> int(ax.collections[0].get_array().sum())
    100
    """
    grid = check_som(som)
    check_flat(grid, "plot.hits")
    bmu = bmu_of(som, X)
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64).ravel()
        if w.shape != bmu.shape:
            raise ValueError(
                f"sample_weight has {w.size} values for {bmu.size} samples."
            )
    counts = np.bincount(bmu, weights=w, minlength=grid.n_units).astype(np.float64)
    xy = unit_xy(grid)
    verts = cell_vertices(xy, grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), colorbar)
    style.setdefault("edgecolor", "0.8")
    coll = draw_cells(ax, verts, counts, cmap=cmap, vmin=0, **style)
    if colorbar:
        add_colorbar(ax, coll, "hits", verts)
    if annotate == "auto":
        annotate = grid.n_units <= 400
    elif not isinstance(annotate, bool | np.bool_):
        raise ValueError(f"annotate must be True, False or 'auto', got {annotate!r}.")
    if annotate:
        norm, cm = coll.norm, coll.get_cmap()
        fs = fontsize or max(4.0, min(9.0, 120.0 / max(grid.shape)))
        for (x, y), c in zip(xy, counts, strict=True):
            if c > 0:
                rgb = np.asarray(cm(norm(c)))[:3]
                light = float(rgb @ [0.299, 0.587, 0.114]) > 0.5
                text = f"{c:g}" if w is not None else f"{int(c)}"
                ax.text(
                    x,
                    y,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fs,
                    color="black" if light else "white",
                )
    return ax


# ----------------------------------------------------------- component planes
def component_planes(
    som,
    feature_names=None,
    *,
    features=None,
    axes=None,
    fig=None,
    ncols=None,
    cmap="viridis",
    colorbar=True,
    **style,
):
    """Draw one small map per feature: the codebook's value of that feature.

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    feature_names : sequence of str, optional
        Panel titles; default ``som.feature_names_in_`` when the map was
        fitted on a frame, else "feature 0", "feature 1", ...
    features : sequence of int or str, optional
        Which features to draw (indices or names); default all.
    axes : sequence of Axes, optional
        One per drawn feature (extra axes are left untouched).
    fig : Figure, optional
        Figure to fill with a grid of panels when ``axes`` is None; a new
        figure is created when both are None.
    ncols : int, optional
        Panels per row (default ``ceil(sqrt(n_features))``).
    cmap : str or Colormap, default="viridis"
    colorbar : bool, default=True
        One small colour bar per panel (features have their own scales).
    **style
        Passed to each panel's ``PolyCollection``.

    Returns
    -------
    axes : ndarray of Axes, shape (n_drawn_features,)
        The panel of each drawn feature, in order (the figure is
        ``axes[0].figure``). Unused panels of a created grid are hidden.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, plot
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> som = SOM((4, 5), n_epochs=2, random_state=0).fit(X)
    >>> plot.component_planes(som, ["a", "b", "c"]).shape
    (3,)
    """
    from somkit._model import to_data_units

    grid = check_som(som)
    check_flat(grid, "plot.component_planes")
    # a Pipeline's scaling is undone: prototypes in the data's own units
    W = to_data_units(som)
    if W is None:
        W = np.asarray(fitted_som(som).codebook_, dtype=np.float64)
    n_features = W.shape[1]
    names = _feature_names(som, feature_names, n_features)
    cols = _pick_features(features, names, n_features)
    n = len(cols)
    verts = cell_vertices(unit_xy(grid), grid.topology, 1.0)
    if axes is not None:
        axes = np.asarray(axes, dtype=object).ravel()
        if len(axes) < n:
            raise ValueError(f"axes has {len(axes)} Axes, {n} features to draw.")
        panels = axes[:n]
    else:
        ncols = int(ncols) if ncols is not None else math.ceil(math.sqrt(n))
        if ncols < 1:
            raise ValueError(f"ncols must be a positive int, got {ncols!r}.")
        nrows = math.ceil(n / ncols)
        if fig is None:
            import matplotlib.pyplot as plt

            w, h = extent_of(verts)
            m = max(w, h)
            cell_w = 2.4 * w / m + (0.6 if colorbar else 0.1)
            cell_h = 2.4 * h / m + 0.45
            fig = plt.figure(figsize=(cell_w * ncols, cell_h * nrows))
        grid_axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for extra in grid_axes[n:]:
            extra.set_visible(False)
        panels = grid_axes[:n]
    for a, f in zip(panels, cols, strict=True):
        coll = draw_cells(a, verts, W[:, f], cmap=cmap, **style)
        a.set_title(names[f], fontsize=10)
        if colorbar:
            cb = a.figure.colorbar(coll, ax=a, fraction=0.046, pad=0.03)
            cb.ax.tick_params(labelsize=8.5)
    return np.asarray(list(panels), dtype=object)


def _feature_names(som, feature_names, n_features):
    if feature_names is None:
        from somkit._model import feature_names as model_names

        names = model_names(som)
        if names is None or len(names) != n_features:
            return [f"feature {i}" for i in range(n_features)]
        return names
    names = [str(v) for v in feature_names]
    if len(names) != n_features:
        raise ValueError(
            f"feature_names has {len(names)} names, the map has {n_features} features."
        )
    return names


def _pick_features(features, names, n_features):
    if features is None:
        return list(range(n_features))
    if isinstance(features, str | Integral):
        features = [features]
    out = []
    for f in features:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"features: unknown feature name {f!r}.")
            out.append(names.index(f))
        elif isinstance(f, Integral) and -n_features <= int(f) < n_features:
            out.append(int(f) % n_features)
        else:
            raise ValueError(
                f"features must hold names or indices in [0, {n_features}), got {f!r}."
            )
    return out


# -------------------------------------------------------------------- labels
def labels(
    som,
    X,
    y,
    markers=None,
    *,
    colors=None,
    ax=None,
    background="umatrix",
    expanded=False,
    reduce="mean",
    cmap="bone_r",
    size=80.0,
    annotate=False,
    legend=True,
    **scatter_kw,
):
    """Draw class markers on the units that win samples of each class.

    Every (unit, class) pair with at least one sample gets one marker of the
    class's shape and colour, inside the unit's cell: at its centre when the
    unit holds one class, else spread on a small circle around the centre.
    The marker area grows with the count, from about ``size / 4`` to
    ``size`` for the largest count (``size * (0.25 + 0.75 * n / n_max)``).

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class of each sample: any values (numbers sort as numbers, anything
        else by its text; see ``somkit._labels.encode_labels``); missing
        labels (None, NaN, "") form the class "missing", drawn last.
    markers : str, sequence or dict, optional
        Marker per class: one marker for all, a sequence in sorted class
        order, or a dict class -> marker. Default: o s ^ D v P X * ...
    colors : color, sequence or dict, optional
        Same forms as ``markers``; default the "tab10" colours.
    ax : matplotlib Axes, optional
    background : {"umatrix", "grid", None}, default="umatrix"
        What to draw under the markers: the U-matrix (no colour bar), empty
        cell outlines, or nothing (e.g. when ``ax`` already holds a
        :func:`umatrix`).
    expanded, reduce, cmap
        Passed to :func:`umatrix` for the background.
    size : float, default=80
        Marker area (points^2) of the largest count.
    annotate : bool, default=False
        Write each marker's count next to it.
    legend : bool, default=True
    **scatter_kw
        Passed to ``Axes.scatter`` (e.g. ``edgecolors``, ``alpha``).

    Returns
    -------
    ax : matplotlib Axes
        One ``PathCollection`` per class, labelled ``str(class)``; its
        offsets are the marker positions (plot coordinates, see
        :mod:`somkit.plot`).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM, plot
    >>> X, y = load_iris(return_X_y=True)
    >>> som = SOM((5, 7), topology="hex", n_epochs=3, random_state=0).fit(X)
    >>> ax = plot.labels(som, X, y, markers=["o", "s", "^"])
    """
    from matplotlib.markers import MarkerStyle

    grid = check_som(som)
    check_flat(grid, "plot.labels")
    if background not in _BACKGROUNDS:
        raise ValueError(
            f"background must be one of {_BACKGROUNDS}, got {background!r}."
        )
    bmu = bmu_of(som, X)
    # lists keep their Python values (a list of text and NaN is not all text)
    y = y if isinstance(y, np.ndarray) else np.asarray(y, dtype=object)
    if y.ndim != 1 or len(y) != len(bmu):
        raise ValueError(
            f"y must hold one class per sample: {len(bmu)} samples, y has shape "
            f"{y.shape}."
        )
    classes, yi = encode_labels(y)
    k = len(classes)
    counts = np.bincount(bmu * k + yi, minlength=grid.n_units * k).reshape(-1, k)
    marker_of = _per_class(markers, classes, _MARKERS, "markers")
    color_of = _per_class(colors, classes, _tab10(k), "colors")

    xy = unit_xy(grid)
    verts = cell_vertices(xy, grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), False)
    if background == "umatrix":
        umatrix(som, expanded=expanded, reduce=reduce, ax=ax, cmap=cmap, colorbar=False)
    elif background == "grid":
        draw_cells(ax, verts, facecolor="none", edgecolor="0.75", linewidth=0.5)
    elif not ax.collections and not ax.images:
        frame(ax, verts)

    # Positions: centre for a single class, else a circle of radius 0.22.
    present = counts > 0
    n_present = present.sum(axis=1)
    rank = np.cumsum(present, axis=1) - 1
    angle = np.pi / 2 + 2 * np.pi * rank / np.maximum(n_present, 1)[:, None]
    rho = np.where(n_present > 1, 0.22, 0.0)[:, None]
    px = xy[:, 0:1] + rho * np.cos(angle)
    py = xy[:, 1:2] - rho * np.sin(angle)
    n_max = max(int(counts.max()), 1)
    for c in range(k):
        units = np.flatnonzero(present[:, c])
        n = counts[units, c]
        kw = {"linewidths": 0.5, "zorder": 3}
        if MarkerStyle(marker_of[c]).is_filled():
            kw["edgecolors"] = "black"
        kw.update(scatter_kw)
        ax.scatter(
            px[units, c],
            py[units, c],
            s=size * (0.25 + 0.75 * n / n_max),
            marker=marker_of[c],
            color=color_of[c],
            label=str(classes[c]),
            **kw,
        )
        if annotate:
            for x0, y0, m in zip(px[units, c], py[units, c], n, strict=True):
                ax.annotate(
                    str(int(m)),
                    (x0, y0),
                    xytext=(4, -4),
                    textcoords="offset points",
                    fontsize=7,
                    zorder=4,
                )
    if legend and k:
        leg = ax.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, scatterpoints=1
        )
        for h in leg.legend_handles:
            h.set_sizes([0.6 * size])
    return ax


def _tab10(k):
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(max(k, 1))]


def _per_class(spec, classes, default, name):
    """Resolve a per-class style (single value, sequence, dict) to a list."""
    k = len(classes)
    if spec is None:
        return [default[i % len(default)] for i in range(k)]
    if isinstance(spec, dict):
        # keys as the class names they stand for (2 and 2.0 -> "2")
        lookup = {encode_labels([key])[0][0]: v for key, v in spec.items()}
        missing = [c for c in classes if c not in lookup]
        if missing:
            raise ValueError(f"{name} has no entry for classes {missing!r}.")
        return [lookup[c] for c in classes]
    if isinstance(spec, str) or (
        isinstance(spec, tuple) and len(spec) in (3, 4) and name == "colors"
    ):
        return [spec] * k
    spec = list(spec)
    if len(spec) < k:
        raise ValueError(f"{name} has {len(spec)} entries for {k} classes.")
    return spec[:k]


# -------------------------------------------------------------------- images
def images(
    som,
    X,
    images,
    *,
    pick="nearest",
    image_shape=None,
    ax=None,
    cmap="gray",
    vmin=None,
    vmax=None,
    gap_color="black",
    **imshow_kw,
):
    """Draw one image per unit: a sample that the unit wins.

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    X : array-like of shape (n_samples, n_features)
        The samples (e.g. image features) mapped to the units.
    images : array-like
        The picture of each sample: (n_samples, h, w) grey,
        (n_samples, h, w, 3 or 4) colour, or (n_samples, h * w) flat (square
        images, or give ``image_shape``).
    pick : {"nearest", "first"}, default="nearest"
        Among the samples a unit wins: the one nearest its codebook vector
        (map metric; ties -> lowest index), or the first in ``X``.
    image_shape : tuple (h, w), optional
        Shape of flat images.
    ax : matplotlib Axes, optional
    cmap : str or Colormap, default="gray"
        For grey images.
    vmin, vmax : float, optional
        Grey range shared by all images (default: min and max of ``images``).
    gap_color : color, default="black"
        Colour of the cells, seen around each image and filling the units
        that win no sample (the gaps between clusters).
    **imshow_kw
        Passed to each ``Axes.imshow``.

    Returns
    -------
    ax : matplotlib Axes
        ``ax.collections[0]`` holds the cells; ``ax.images`` one image per
        non-empty unit, in unit order, centred on the unit (rect: 0.9 of
        the cell, hex: the square inside the hexagon).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from somkit import SOM, plot
    >>> d = load_digits()
    >>> som = SOM((8, 8), n_epochs=3, random_state=0).fit(d.data)
    >>> ax = plot.images(som, d.data, d.images)
    """
    grid = check_som(som)
    check_flat(grid, "plot.images")
    if not isinstance(pick, str) or pick not in _PICK:
        raise ValueError(f"pick must be one of {_PICK}, got {pick!r}.")
    bmu = bmu_of(som, X)
    imgs = _check_images(images, image_shape, len(bmu))
    order = np.arange(len(bmu))
    if pick == "nearest":
        dist = -np.asarray(som.score_samples(X), dtype=np.float64)
        order = np.lexsort((order, dist, bmu))
    else:
        order = np.lexsort((order, bmu))
    first = np.ones(len(order), dtype=bool)
    first[1:] = bmu[order][1:] != bmu[order][:-1]
    chosen = order[first]  # one sample per non-empty unit, in unit order
    units = bmu[chosen]

    xy = unit_xy(grid)
    verts = cell_vertices(xy, grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), False)
    draw_cells(ax, verts, facecolor=gap_color, edgecolor=gap_color)
    side = 0.9 if grid.topology == "rect" else HEX_INNER_SQUARE
    h, w = imgs.shape[1:3]
    half_w, half_h = 0.5 * side * w / max(h, w), 0.5 * side * h / max(h, w)
    if imgs.ndim == 3:
        vmin = float(np.nanmin(imgs)) if vmin is None else vmin
        vmax = float(np.nanmax(imgs)) if vmax is None else vmax
        imshow_kw = {"cmap": cmap, "vmin": vmin, "vmax": vmax, **imshow_kw}
    imshow_kw.setdefault("interpolation", "nearest")
    imshow_kw.setdefault("zorder", 2)  # above the cells (collections: 1)
    for j, i in zip(units, chosen, strict=True):
        x, y = xy[j]
        # y is inverted: the image's first row goes to the smaller y (top).
        ax.imshow(
            imgs[i],
            extent=(x - half_w, x + half_w, y + half_h, y - half_h),
            origin="upper",
            **imshow_kw,
        )
    frame(ax, verts)
    return ax


def _check_images(images, image_shape, n_samples):
    imgs = np.asarray(images)
    if imgs.ndim == 0 or len(imgs) != n_samples:
        raise ValueError(
            f"images must hold one image per sample of X ({n_samples}), got "
            f"shape {imgs.shape}."
        )
    if imgs.ndim == 2:
        if image_shape is None:
            side = math.isqrt(imgs.shape[1])
            if side * side != imgs.shape[1]:
                raise ValueError(
                    f"flat images of {imgs.shape[1]} pixels are not square: pass "
                    "image_shape=(h, w)."
                )
            image_shape = (side, side)
        image_shape = tuple(int(s) for s in image_shape)
        if math.prod(image_shape) != imgs.shape[1]:
            raise ValueError(
                f"image_shape={image_shape} does not hold {imgs.shape[1]} pixels."
            )
        imgs = imgs.reshape((n_samples, *image_shape))
    if imgs.ndim not in (3, 4) or (imgs.ndim == 4 and imgs.shape[-1] not in (3, 4)):
        raise ValueError(
            "images must have shape (n, h, w), (n, h, w, 3|4) or (n, h * w); got "
            f"{imgs.shape}."
        )
    return imgs
