"""Figures of supervised maps (``somkit.SOMClassifier`` / ``SOMRegressor``).

``class_prototypes`` shades every unit with the colour of its majority class, the
shade's opacity being that class's probability in the unit's prototype;
``target_plane`` is the component plane of a regression target (in y's
units); ``misclassified`` marks, on the class map, the samples whose
predicted class is wrong, at their best-matching unit, in their true class's
colour. The cells are those of every other map plot (see
:mod:`somkit.plot`), so these combine with ``labels``, ``hits`` and
``umatrix`` on the same Axes.
"""

from __future__ import annotations

import numpy as np

from somkit.plot._cells import (
    add_colorbar,
    cell_vertices,
    check_flat,
    draw_cells,
    extent_of,
    new_axes,
    unit_xy,
)
from somkit.plot._maps import _per_class, _tab10


def _supervised(model, attr, kind):
    """``(estimator, prefix)`` of a fitted supervised model, or an error."""
    steps = getattr(model, "steps", None)
    est = steps[-1][1] if steps else model
    if not hasattr(est, "som_") or not hasattr(est, "_map_view"):
        raise TypeError(
            f"expected a fitted somkit.{kind} (or a Pipeline ending in one), got "
            f"{type(est).__name__}."
        )
    if not hasattr(est, attr):
        raise TypeError(f"{kind} plots need a fitted somkit.{kind}.")
    return est, (model[:-1] if steps and len(steps) > 1 else None)


def class_prototypes(model, *, ax=None, colors=None, legend=True, **style):
    """Shade every unit with its majority class, opacity = its probability.

    Parameters
    ----------
    model : fitted SOMClassifier, or a Pipeline ending in one
    ax : matplotlib Axes, optional
    colors : sequence or dict of colours per class, optional
        Default: the "tab10" colours in ``classes_`` order.
    legend : bool, default=True
    **style
        Passed to the cells' ``PolyCollection``.

    Returns
    -------
    ax : matplotlib Axes
        The cells are ``ax.collections[0]``; their face colours carry the
        class colour and, as alpha, the majority class's probability.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOMClassifier, plot
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SOMClassifier(grid=(6, 6), random_state=0).fit(X, y)
    >>> ax = plot.class_prototypes(clf)
    >>> len(ax.collections[0].get_facecolors())
    36
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    clf, _ = _supervised(model, "unit_proba_", "SOMClassifier")
    grid = clf.som_.grid_
    check_flat(grid, "plot.class_prototypes")
    classes = np.asarray(clf.classes_)
    color_of = [
        to_rgba(c) for c in _per_class(colors, classes, _tab10(len(classes)), "colors")
    ]
    P = clf.unit_proba_
    major = P.argmax(axis=1)
    faces = np.array([color_of[c] for c in major])
    faces[:, 3] = P[np.arange(len(P)), major]
    verts = cell_vertices(unit_xy(grid), grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts))
    style.setdefault("edgecolor", "0.85")
    draw_cells(ax, verts, facecolors=faces, **style)
    if legend:
        handles = [
            Patch(color=color_of[i], label=str(c)) for i, c in enumerate(classes)
        ]
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            title="class (shade: probability)",
            title_fontsize=8,
        )
    return ax


def target_plane(model, output=0, *, ax=None, cmap="viridis", colorbar=True, **style):
    """The regression target of every unit, as a component plane (y's units).

    Parameters
    ----------
    model : fitted SOMRegressor, or a Pipeline ending in one
    output : int, default=0
        Which output of a multi-output regressor.
    ax : matplotlib Axes, optional
    cmap : str or Colormap, default="viridis"
    colorbar : bool, default=True

    Returns
    -------
    ax : matplotlib Axes
        The cells are ``ax.collections[0]``; its colour array holds the
        target prototypes in unit order.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOMRegressor, plot
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> reg = SOMRegressor(grid=(5, 5), random_state=0).fit(X, X[:, 0])
    >>> ax = plot.target_plane(reg)
    >>> ax.collections[0].get_array().shape
    (25,)
    """
    reg, _ = _supervised(model, "unit_target_", "SOMRegressor")
    grid = reg.som_.grid_
    check_flat(grid, "plot.target_plane")
    T = np.asarray(reg.unit_target_, dtype=np.float64)
    T = T[:, None] if T.ndim == 1 else T
    if not isinstance(output, int | np.integer) or not 0 <= output < T.shape[1]:
        raise ValueError(f"output must be an int in [0, {T.shape[1]}), got {output!r}.")
    verts = cell_vertices(unit_xy(grid), grid.topology, 1.0)
    ax = new_axes(ax, extent_of(verts), colorbar)
    coll = draw_cells(ax, verts, T[:, output], cmap=cmap, **style)
    if colorbar:
        label = "target" if T.shape[1] == 1 else f"target {output}"
        add_colorbar(ax, coll, label, verts)
    return ax


def misclassified(model, X, y, *, ax=None, colors=None, background=True, size=30):
    """Mark the misclassified samples at their BMU, in their true class's colour.

    Parameters
    ----------
    model : fitted SOMClassifier, or a Pipeline ending in one
    X : array-like of shape (n_samples, n_features)
        Raw features (a Pipeline applies its earlier steps).
    y : array-like of shape (n_samples,)
        True classes.
    ax : matplotlib Axes, optional
    colors : sequence or dict of colours per class, optional
    background : bool, default=True
        Draw :func:`class_prototypes` first.
    size : float, default=30
        Marker area.

    Returns
    -------
    ax : matplotlib Axes
        The title gives the count; the crosses are the last collection.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOMClassifier, plot
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SOMClassifier(grid=(6, 6), random_state=0).fit(X, y)
    >>> ax = plot.misclassified(clf, X, y)
    """
    from matplotlib.colors import to_rgba

    clf, prefix = _supervised(model, "unit_proba_", "SOMClassifier")
    grid = clf.som_.grid_
    check_flat(grid, "plot.misclassified")
    y = np.asarray(y)
    Xm = X if prefix is None else prefix.transform(X)
    pred = clf.predict(Xm)
    if y.shape != pred.shape:
        raise ValueError(f"y has {y.size} values for {pred.size} samples.")
    classes = np.asarray(clf.classes_)
    color_of = [
        to_rgba(c) for c in _per_class(colors, classes, _tab10(len(classes)), "colors")
    ]
    if background:
        ax = class_prototypes(model, ax=ax, colors=colors)
    else:
        verts = cell_vertices(unit_xy(grid), grid.topology, 1.0)
        ax = new_axes(ax, extent_of(verts))
        draw_cells(ax, verts, facecolor="none", edgecolor="0.85")
    wrong = pred != y
    units = clf.apply(Xm)[wrong]
    xy = unit_xy(grid)[units]
    # a small deterministic spread so samples on one unit stay visible
    xy = xy + np.random.default_rng(0).uniform(-0.25, 0.25, size=xy.shape)
    code = {c: i for i, c in enumerate(classes.tolist())}
    cols = [color_of[code[c]] if c in code else (0, 0, 0, 1) for c in y[wrong].tolist()]
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=size,
        c=cols,
        marker="X",
        edgecolors="black",
        linewidths=0.5,
    )
    ax.set_title(f"{int(wrong.sum())} of {len(y)} misclassified", fontsize=9)
    return ax


__all__ = ["class_prototypes", "misclassified", "target_plane"]
