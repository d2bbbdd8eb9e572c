"""iris: a SOM with radius 0 is clustering (k-means); more units = micro-clusters.

Petal length and width of the 150 iris flowers. With radius 0 only the
winning unit learns, so Kohonen's batch rule becomes Lloyd's k-means
iteration: 3 units land on k-means' 3 centres, 20 units split the data into
small, almost pure micro-clusters.
"""

from __future__ import annotations

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import figure, unit_purity

NAME = "iris"
TITLE = "Radius 0 = clustering: 3 units vs k-means, 20 units = micro-clusters"


def run(random_state=0, quick=False, n_units=20, n_epochs=None, **som_kwargs):
    """Fit a 3-unit and an ``n_units``-unit map with radius 0 on iris petals.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the maps and of k-means.
    quick : bool, default=False
        Fewer epochs (the result is the same: Lloyd's rule converges in a few).
    n_units : int, default=20
        Units of the micro-cluster map (a 4 x 5 grid for 20).
    n_epochs : int, optional
        Batch epochs (default 20, 10 when quick).
    **som_kwargs
        Other :class:`~somkit.SOM` parameters.

    Returns
    -------
    AppResult
        Figure ``clusters``; metrics ``kmeans_max_distance`` (largest distance
        between a unit of the 3-unit map and its matched k-means centre, in
        cm), ``qe_3``, ``qe_micro``, ``micro_purity`` (share of non-empty
        micro-cluster units holding one species) and ``micro_empty_units``.

    Examples
    --------
    >>> from somkit.apps import iris
    >>> res = iris.run(quick=True)
    >>> res.metrics["kmeans_max_distance"] < 0.1
    True
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_iris

    from somkit import SOM

    data = load_iris()
    X = data.data[:, 2:4]
    y = data.target
    names = [n.replace(" (cm)", "") for n in data.feature_names[2:4]]
    n_epochs = n_epochs or (10 if quick else 20)
    kw = {"radius": 0.0, "n_epochs": n_epochs, "random_state": random_state}
    kw.update(som_kwargs)

    som3 = SOM(grid=3, **kw).fit(X)
    km = KMeans(n_clusters=3, n_init=10, random_state=random_state).fit(X)
    D = np.linalg.norm(som3.codebook_[:, None, :] - km.cluster_centers_[None], axis=2)
    rows, cols = linear_sum_assignment(D)
    max_dist = float(D[rows, cols].max())

    shape = _near_square(n_units)
    micro = SOM(grid=shape, **kw).fit(X)
    hits = np.bincount(micro.labels_, minlength=micro.grid_.n_units)
    metrics = {
        "kmeans_max_distance": max_dist,
        "qe_3": som3.quantization_error(X),
        "qe_kmeans": float(km.transform(X).min(axis=1).mean()),
        "qe_micro": micro.quantization_error(X),
        "micro_units": int(micro.grid_.n_units),
        "micro_empty_units": int((hits == 0).sum()),
        "micro_purity": unit_purity(micro.labels_, y, micro.grid_.n_units),
    }

    fig, (a, b) = figure(11, 4.6, ncols=2)
    for k, species in enumerate(data.target_names):
        a.scatter(*X[y == k].T, s=12, alpha=0.6, label=species)
    a.scatter(*km.cluster_centers_.T, marker="x", s=120, color="black", label="k-means")
    a.scatter(
        *som3.codebook_.T,
        s=110,
        facecolors="none",
        edgecolors="red",
        linewidths=2,
        label="SOM units (radius 0)",
    )
    a.set_title(f"3 units vs k-means: largest gap {max_dist:.1e} cm")
    a.legend(fontsize=8, loc="upper left")
    b.scatter(*X.T, c=micro.labels_, cmap="tab20", s=12, alpha=0.7)
    W = micro.codebook_[hits > 0]
    b.scatter(*W.T, s=60, color="black", marker="D", label="units")
    b.set_title(
        f"{micro.grid_.n_units} units: micro-clusters "
        f"(purity {metrics['micro_purity']:.2f})"
    )
    b.legend(fontsize=8, loc="upper left")
    for ax in (a, b):
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])

    text = (
        "With radius 0 only the best-matching unit learns, so the batch SOM is "
        f"k-means: its 3 units sit {max_dist:.1e} cm from k-means' centres. "
        f"With {micro.grid_.n_units} units the same rule cuts the flowers into "
        f"micro-clusters; {metrics['micro_purity']:.0%} of the non-empty ones hold "
        f"a single species ({metrics['micro_empty_units']} units won no flower)."
    )
    return AppResult(NAME, TITLE, {"clusters": fig}, metrics, text)


def _near_square(n):
    rows = max(r for r in range(1, int(n**0.5) + 1) if n % r == 0)
    return (rows, n // rows) if rows > 1 else (n,)
