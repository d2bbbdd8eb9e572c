"""The class map: each unit shaded by its majority class and its purity."""

from __future__ import annotations

import numpy as np

from somkit.plot._cells import (
    bmu_of,
    cell_vertices,
    check_flat,
    check_som,
    draw_cells,
    extent_of,
    new_axes,
    unit_xy,
)


def class_colors(n):
    """``n`` distinct colours (RGBA): tab10, then tab20, then a hue wheel."""
    import matplotlib

    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [tuple(cmap(i)) for i in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [tuple(cmap(i)) for i in range(n)]
    cmap = matplotlib.colormaps["hsv"]
    return [tuple(cmap(i / n)) for i in range(n)]


def cluster_colors(n):
    """``n`` light colours for clusters (Set2, Set3, then a hue wheel), unlike
    the class colours so that clusters and classes are not confused."""
    import matplotlib

    for name, size in (("Set2", 8), ("Set3", 12)):
        if n <= size:
            cmap = matplotlib.colormaps[name]
            return [tuple(cmap(i)) for i in range(n)]
    cmap = matplotlib.colormaps["hsv"]
    return [tuple(0.4 + 0.6 * v for v in cmap(i / n)[:3]) + (1.0,) for i in range(n)]


def class_map(
    som,
    X,
    y,
    *,
    ax=None,
    colors=None,
    purity=True,
    markers=False,
    legend=True,
    empty_color="white",
    **style,
):
    """Shade each unit by the majority class of its samples.

    A unit takes the colour of its most frequent class (ties go to the
    class listed first); with ``purity=True`` the colour is mixed with
    white in proportion to the share of other classes, so pure units are
    saturated and mixed units pale. Units no sample picked are
    ``empty_color``. Labels may be of any type, with holes (None, NaN) as
    their own class "missing" (see ``somkit._labels.encode_labels``).

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    ax : matplotlib Axes, optional
    colors : sequence of colours, optional
        One per class, in the order of the legend (default: tab10/tab20).
    purity : bool, default=True
        Fade mixed units towards white.
    markers : bool, default=False
        Also draw :func:`somkit.plot.labels`'s class markers on top.
    legend : bool, default=True
    empty_color : colour, default="white"
    **style
        Passed to the cells' ``PolyCollection``.

    Returns
    -------
    ax : matplotlib Axes
        The cells are ``ax.collections[0]`` (face colours in unit order).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM, plot
    >>> X, y = load_iris(return_X_y=True)
    >>> som = SOM((5, 6), n_epochs=3, random_state=0).fit(X)
    >>> ax = plot.class_map(som, X, y)
    >>> len(ax.collections[0].get_facecolors())
    30
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    from somkit._labels import encode_labels, majority, unit_class_counts

    grid = check_som(som)
    check_flat(grid, "plot.class_map")
    bmu = bmu_of(som, X)
    names, codes = encode_labels(y)
    if len(codes) != len(bmu):
        raise ValueError(
            f"y must hold one class per sample: {len(bmu)} samples, {len(codes)} "
            "labels."
        )
    k = len(names)
    palette = class_colors(k) if colors is None else [to_rgba(c) for c in colors]
    if len(palette) < k:
        raise ValueError(f"colors has {len(palette)} entries for {k} classes.")
    counts = unit_class_counts(bmu, codes, grid.n_units, k)
    top, share = majority(counts)
    face = np.tile(np.asarray(to_rgba(empty_color)), (grid.n_units, 1))
    for u in np.flatnonzero(top >= 0):
        rgb = np.asarray(palette[top[u]][:3])
        s = share[u] if purity else 1.0
        face[u, :3] = 1.0 - s * (1.0 - rgb)
    verts = cell_vertices(unit_xy(grid), grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), False)
    style.setdefault("edgecolor", "0.85")
    draw_cells(ax, verts, facecolor=face, **style)
    if markers:
        from somkit.plot._maps import labels

        labels(som, X, [names[c] for c in codes], ax=ax, background=None, legend=False)
    if legend and k:
        handles = [
            Patch(facecolor=palette[i], edgecolor="0.5", label=names[i])
            for i in range(k)
        ]
        if purity:
            for s in (1.0, 0.75, 0.5):
                grey = 1.0 - s * (1.0 - 0.35)
                handles.append(
                    Patch(
                        facecolor=(grey, grey, grey),
                        edgecolor="0.5",
                        label=f"{s:.0%} of the unit's samples",
                    )
                )
        handles.append(Patch(facecolor=empty_color, edgecolor="0.5", label="empty"))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=9,
            title="majority class" + (" / purity" if purity else ""),
            title_fontsize=9,
        )
    return ax


def cluster_borders(grid, unit_labels):
    """Segments (n, 2, 2) between adjacent cells of different clusters."""
    from somkit.plot._cells import SQRT3

    labels = np.asarray(unit_labels)
    e = grid.edges("edges")
    e = e[labels[e[:, 0]] != labels[e[:, 1]]]
    xy = unit_xy(grid)
    a, b = xy[e[:, 0]], xy[e[:, 1]]
    step = b - a
    near = np.hypot(step[:, 0], step[:, 1]) < 1.01  # periodic wraps: not drawn
    a, step = a[near], step[near]
    mid = a + step / 2
    perp = np.stack([-step[:, 1], step[:, 0]], axis=1)
    perp /= np.hypot(perp[:, 0], perp[:, 1])[:, None]
    half = 0.5 / SQRT3 if grid.topology == "hex" and grid.ndim == 2 else 0.5
    return np.stack([mid - half * perp, mid + half * perp], axis=1)


def clusters(som, unit_labels, *, ax=None, colors=None, names=None, legend=True):
    """Draw the clusters of the units as coloured regions with borders.

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    unit_labels : array-like of shape (n_units,)
        Cluster of each unit (ints from 0), e.g.
        ``SOMClustering.unit_labels_``.
    ax : matplotlib Axes, optional
    colors : sequence of colours, optional
        One per cluster (default: :func:`cluster_colors`).
    names : sequence of str, optional
        Cluster names written on the map (default "1", "2", ...).
    legend : bool, default=True

    Returns
    -------
    ax : matplotlib Axes
        ``ax.collections[0]`` holds the cells, ``ax.collections[1]`` the
        borders between clusters.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, plot
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> som = SOM((4, 5), n_epochs=2, random_state=0).fit(X)
    >>> ax = plot.clusters(som, np.arange(20) // 10)
    >>> len(ax.collections[1].get_segments())
    5
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    grid = check_som(som)
    check_flat(grid, "plot.clusters")
    labels = np.asarray(unit_labels, dtype=np.int64).ravel()
    if labels.shape != (grid.n_units,) or labels.min(initial=0) < 0:
        raise ValueError(
            f"unit_labels must hold one cluster index >= 0 per unit ({grid.n_units})"
            f", got shape {np.shape(unit_labels)}."
        )
    k = int(labels.max()) + 1
    palette = cluster_colors(k) if colors is None else [to_rgba(c) for c in colors]
    names = [str(i + 1) for i in range(k)] if names is None else list(names)
    xy = unit_xy(grid)
    verts = cell_vertices(xy, grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), False)
    face = np.asarray([palette[c] for c in labels])
    draw_cells(ax, verts, facecolor=face, edgecolor="0.85")
    ax.add_collection(
        LineCollection(cluster_borders(grid, labels), colors="0.1", linewidths=2.0)
    )
    fs = max(7.0, min(14.0, 160.0 / max(grid.shape)))
    for c in range(k):
        units = np.flatnonzero(labels == c)
        if not len(units):
            continue
        centre = xy[units].mean(axis=0)
        u = units[np.argmin(np.hypot(*(xy[units] - centre).T))]
        ax.text(
            *xy[u],
            names[c],
            ha="center",
            va="center",
            fontsize=fs,
            fontweight="bold",
            color="0.05",
            zorder=4,
        )
    if legend:
        handles = [
            Patch(
                facecolor=face[labels == c][0],
                edgecolor="0.3",
                label=f"cluster {names[c]}",
            )
            for c in range(k)
            if np.any(labels == c)
        ]
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9
        )
    return ax
