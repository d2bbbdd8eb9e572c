"""Plots in data space and over training time: grid_in_data, history."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from somkit.plot._cells import check_som, fitted_som


def grid_in_data(
    som,
    X=None,
    dims=(0, 1),
    *,
    ax=None,
    adjacency="edges",
    point_kw=None,
    unit_kw=None,
    edge_kw=None,
):
    """Draw the units and their grid edges in data space, over the samples.

    Shows how the map is spread over the data (border shrinkage, folds,
    twists). Works for every grid (1-D, 2-D, 3-D, rect, hex, periodic); on
    periodic maps the wrap-around edges are drawn too (they cross the data).

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
    X : array-like of shape (n_samples, n_features), optional
        Samples drawn as small grey points under the map.
    dims : pair of int, default=(0, 1)
        The two features used as x and y.
    ax : matplotlib Axes, optional
    adjacency : {"edges", "diagonal"}, default="edges"
        Which unit pairs are joined (see ``Grid.edges``).
    point_kw, unit_kw, edge_kw : dict, optional
        Styles of the samples (``scatter``), units (``scatter``) and edges
        (``LineCollection``).

    Returns
    -------
    ax : matplotlib Axes
        The edges are one ``LineCollection`` with one segment per grid edge
        (each edge once), from ``codebook_[i, dims]`` to ``codebook_[j,
        dims]``.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, plot
    >>> X = np.random.default_rng(0).uniform(size=(300, 2))
    >>> som = SOM((6, 6), topology="hex", n_epochs=3, random_state=0).fit(X)
    >>> ax = plot.grid_in_data(som, X)
    """
    from matplotlib.collections import LineCollection

    from somkit._model import feature_names, to_data_units, to_map_space

    grid = check_som(som)
    # a Pipeline's map in the data's own units when its steps invert,
    # otherwise everything in the map's (scaled) space
    W = to_data_units(som)
    if W is None:
        W = np.asarray(fitted_som(som).codebook_, dtype=np.float64)
        X = None if X is None else to_map_space(som, X)
    d = _check_dims(dims, W.shape[1])
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 5))
    if X is not None:
        Xa = np.asarray(X)
        if Xa.ndim != 2 or Xa.shape[1] != W.shape[1]:
            raise ValueError(
                f"X must have shape (n_samples, {W.shape[1]}), got {Xa.shape}."
            )
        kw = {"s": 4, "color": "0.6", "alpha": 0.6, "linewidths": 0, "zorder": 1}
        kw.update(point_kw or {})
        ax.scatter(Xa[:, d[0]], Xa[:, d[1]], label="samples", **kw)
    edges = grid.edges(adjacency)
    segments = W[edges][:, :, d]  # (n_edges, 2 ends, 2 coords)
    kw = {"colors": "tab:red", "linewidths": 0.8, "zorder": 2}
    kw.update(edge_kw or {})
    ax.add_collection(LineCollection(segments, label="grid edges", **kw))
    kw = {"s": 12, "color": "tab:red", "edgecolors": "black", "linewidths": 0.4}
    kw.update({"zorder": 3, **(unit_kw or {})})
    ax.scatter(W[:, d[0]], W[:, d[1]], label="units", **kw)
    ax.autoscale_view()
    names = feature_names(som)
    ax.set_xlabel(str(names[d[0]]) if names is not None else f"feature {d[0]}")
    ax.set_ylabel(str(names[d[1]]) if names is not None else f"feature {d[1]}")
    return ax


def _check_dims(dims, n_features):
    ok = (
        isinstance(dims, tuple | list)
        and len(dims) == 2
        and all(isinstance(v, Integral) and 0 <= v < n_features for v in dims)
        and dims[0] != dims[1]
    )
    if not ok:
        raise ValueError(
            "dims must be two different feature indices in "
            f"[0, {n_features}), got {dims!r}."
        )
    return [int(dims[0]), int(dims[1])]


def history(som, *, ax=None):
    """Draw quantization error, topographic error and radius per epoch.

    Parameters
    ----------
    som : fitted SOM, or a Pipeline ending in one
        Uses ``som.history_``.
    ax : matplotlib Axes, optional
        Holds the quantization error (left axis); the topographic error and
        the radius get twin y axes on the right.

    Returns
    -------
    ax : matplotlib Axes
        ``ax.lines[0]`` is the quantization error; the twin axes hold one
        line each ("topographic error", "radius").

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM, plot
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> som = SOM((5, 5), n_epochs=5, random_state=0).fit(X)
    >>> ax = plot.history(som)
    """
    from matplotlib.ticker import MaxNLocator

    som = fitted_som(som)
    hist = getattr(som, "history_", None) or {}
    if not hist.get("epoch"):
        raise ValueError("som.history_ is empty: the map has no training history.")
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        fig.subplots_adjust(left=0.1, right=0.76)
    epoch = _values(hist["epoch"])
    series = [
        ("quantization error", "quantization_error", "tab:blue", ax),
        ("topographic error", "topographic_error", "tab:orange", ax.twinx()),
        ("radius", "radius", "tab:green", ax.twinx()),
    ]
    series[2][3].spines["right"].set_position(("axes", 1.14))
    handles = []
    for label, key, color, a in series:
        (line,) = a.plot(
            epoch, _values(hist.get(key), len(epoch)), marker="o", ms=3, color=color
        )
        line.set_label(label)
        a.set_ylabel(label, color=color)
        a.tick_params(axis="y", colors=color)
        handles.append(line)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    return ax


def _values(seq, n=None):
    """Floats (None -> NaN); a missing series is all NaN."""
    if seq is None:
        return np.full(n, np.nan)
    return np.array([np.nan if v is None else v for v in seq], dtype=np.float64)
