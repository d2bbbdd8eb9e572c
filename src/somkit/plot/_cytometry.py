"""FlowSOM figures: the minimum-spanning-tree star plot and a marker heatmap."""

from __future__ import annotations

import numpy as np


def _check_flowsom(flowsom):
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(flowsom, "unit_metaclusters_") or not hasattr(flowsom, "som_"):
        raise TypeError(
            f"expected a fitted somkit.cytometry.FlowSOM, got {type(flowsom).__name__}."
        )
    check_is_fitted(flowsom, "unit_metaclusters_")


def _marker_names(flowsom):
    return [str(m) for m in flowsom.markers_]


def mst_layout(codebook, random_state=0):
    """2-D positions of units from the minimum spanning tree of their codes.

    The tree (scipy) joins the units by euclidean distance between their
    code vectors; the positions are a metric MDS (scikit-learn's SMACOF,
    started from classical MDS) of the path lengths in edges along the tree,
    so tree neighbours sit about one unit apart and branches spread out.

    Returns
    -------
    xy : ndarray of shape (n_units, 2)
    edges : ndarray of shape (n_units - 1, 2)
    """
    from scipy.sparse.csgraph import minimum_spanning_tree, shortest_path
    from scipy.spatial.distance import pdist, squareform
    from sklearn.manifold import MDS

    W = np.asarray(codebook, dtype=np.float64)
    D = squareform(pdist(W))
    # Equal codes would vanish from a sparse graph: give them a tiny length.
    D[(D == 0) & ~np.eye(len(D), dtype=bool)] = 1e-12
    tree = minimum_spanning_tree(D).tocoo()
    edges = np.c_[tree.row, tree.col]
    hops = shortest_path(tree, directed=False, unweighted=True)
    mds = MDS(
        n_components=2,
        metric="precomputed",
        init="classical_mds",
        n_init=1,
        max_iter=300,
        random_state=random_state,
        normalized_stress="auto",
    )
    xy = mds.fit_transform(hops)
    return xy, edges


def star_plot(
    flowsom,
    X=None,
    *,
    ax=None,
    layout="mst",
    max_node_size=1.2,
    cmap="tab20",
    marker_cmap="viridis",
    legend=True,
):
    """FlowSOM's star plot: one star per unit on its minimum spanning tree.

    Node area follows the number of cells of the unit, each star segment
    the level of one marker in the unit (scaled to [0, 1] over the units),
    and the disc behind the star the unit's metacluster.

    Parameters
    ----------
    flowsom : fitted FlowSOM
    X : DataFrame or array, default=None
        Cells whose counts size the nodes; None uses the training cells.
    ax : matplotlib Axes, default=None
    layout : {"mst", "grid"}, default="mst"
        Minimum-spanning-tree layout (see :func:`mst_layout`) or the map grid.
    max_node_size : float, default=1.2
        Radius of the largest node, in layout units (tree edges are ~1).
    cmap : str, default="tab20"
        Colours of the metaclusters.
    marker_cmap : str, default="viridis"
        Colours of the marker segments.
    legend : bool, default=True
        Legends of the markers and the metaclusters.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from somkit.cytometry import FlowSOM, make_cytometry
    >>> from somkit import plot
    >>> X, _ = make_cytometry(3000, 6, 4, rare=(), n_lineages=4, random_state=0)
    >>> fs = FlowSOM(n_clusters=4, grid=(5, 5), random_state=0).fit(X)
    >>> ax = plot.star_plot(fs)
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.patches import Circle, Wedge

    _check_flowsom(flowsom)
    if layout not in ("mst", "grid"):
        raise ValueError(f"layout must be 'mst' or 'grid', got {layout!r}.")
    if not max_node_size > 0:
        raise ValueError(f"max_node_size must be > 0, got {max_node_size!r}.")
    W = np.asarray(flowsom.codebook_, dtype=np.float64)
    n_units, n_markers = W.shape
    units = flowsom.units_ if X is None else flowsom.predict_units(X)
    counts = np.bincount(units, minlength=n_units)
    if layout == "mst":
        xy, edges = mst_layout(W)
    else:
        rows, cols = flowsom.som_.grid_.shape
        r, c = np.divmod(np.arange(n_units), cols)
        xy, edges = np.c_[c, -r].astype(np.float64) * 2.0, np.empty((0, 2), int)
    size = max_node_size * np.sqrt(counts / max(counts.max(), 1))
    size = np.maximum(size, 0.15 * max_node_size)
    lo, hi = W.min(axis=0), W.max(axis=0)
    level = (W - lo) / np.where(hi > lo, hi - lo, 1.0)

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 7))
    if len(edges):
        segs = np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], axis=1)
        ax.add_collection(LineCollection(segs, colors="0.6", linewidths=0.8, zorder=0))
    meta_cmap = plt.get_cmap(cmap)
    k = int(flowsom.n_clusters_)
    discs = [Circle(p, s * 1.12) for p, s in zip(xy, size, strict=True)]
    colors = [meta_cmap(m % meta_cmap.N) for m in flowsom.unit_metaclusters_]
    ax.add_collection(
        PatchCollection(
            discs, facecolors=colors, edgecolors="none", alpha=0.45, zorder=1
        )
    )
    mcmap = plt.get_cmap(marker_cmap)
    seg_colors = [mcmap(i / max(n_markers - 1, 1)) for i in range(n_markers)]
    wedges, wedge_colors = [], []
    step = 360.0 / n_markers
    for u in range(n_units):
        for m in range(n_markers):
            r = size[u] * level[u, m]
            if r > 0:
                wedges.append(Wedge(xy[u], r, m * step, (m + 1) * step))
                wedge_colors.append(seg_colors[m])
    ax.add_collection(
        PatchCollection(
            wedges,
            facecolors=wedge_colors,
            edgecolors="white",
            linewidths=0.2,
            zorder=2,
        )
    )
    pad = max_node_size * 1.3
    ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"FlowSOM: {n_units} units, {k} metaclusters")
    if legend:
        from matplotlib.patches import Patch

        names = _marker_names(flowsom)
        first = ax.legend(
            handles=[
                Patch(color=seg_colors[i], label=names[i]) for i in range(n_markers)
            ],
            title="markers",
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize="small",
            frameon=False,
        )
        ax.add_artist(first)
        first.set_clip_on(False)  # add_artist clips to the Axes; it sits outside
        ax.legend(
            handles=[
                Patch(color=meta_cmap(i % meta_cmap.N), alpha=0.45, label=str(i))
                for i in range(k)
            ],
            title="metacluster",
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            fontsize="small",
            frameon=False,
            ncols=min(k, 10),
        )
    return ax


def marker_heatmap(flowsom, X=None, *, ax=None, cmap="magma", annotate=None):
    """Marker levels of each metacluster as a heatmap.

    With cells ``X``: the median of each marker over the cells of each
    metacluster (transformed scale); without: the mean of the units' code
    vectors weighted by their training cells.

    Parameters
    ----------
    flowsom : fitted FlowSOM
    X : DataFrame or array, default=None
    ax : matplotlib Axes, default=None
    cmap : str, default="magma"
    annotate : bool or None, default=None
        Write the values in the cells (None: when the table is small).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from somkit.cytometry import FlowSOM, make_cytometry
    >>> from somkit import plot
    >>> X, _ = make_cytometry(3000, 6, 4, rare=(), n_lineages=4, random_state=0)
    >>> fs = FlowSOM(n_clusters=4, grid=(5, 5), random_state=0).fit(X)
    >>> ax = plot.marker_heatmap(fs, X)
    """
    import matplotlib.pyplot as plt

    _check_flowsom(flowsom)
    k = int(flowsom.n_clusters_)
    names = _marker_names(flowsom)
    if X is None:
        W = np.asarray(flowsom.codebook_, dtype=np.float64)
        hits = np.bincount(flowsom.units_, minlength=W.shape[0]).astype(np.float64)
        table = np.full((k, W.shape[1]), np.nan)
        for c in range(k):
            w = hits * (flowsom.unit_metaclusters_ == c)
            if w.sum() > 0:
                table[c] = (W * w[:, None]).sum(axis=0) / w.sum()
        what = "mean of unit codes"
    else:
        Xm = flowsom.transform_markers(X)
        lab = flowsom.predict(X)
        table = np.full((k, Xm.shape[1]), np.nan)
        for c in range(k):
            rows = Xm[lab == c]
            if len(rows):
                table[c] = np.median(rows, axis=0)
        what = "median of cells"
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(names) + 2.5, 0.35 * k + 1.8))
    im = ax.imshow(table, cmap=cmap, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize="small")
    ax.set_yticks(range(k), [str(c) for c in range(k)], fontsize="small")
    ax.set_xlabel("marker")
    ax.set_ylabel("metacluster")
    ax.set_title(f"Marker levels per metacluster ({what})")
    ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    if annotate is None:
        annotate = table.size <= 400
    if annotate:
        mid = np.nanmean(table) if np.isfinite(table).any() else 0.0
        for (i, j), v in np.ndenumerate(table):
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.1f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if v > mid else "white",
                )
    return ax
