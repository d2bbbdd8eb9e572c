"""Quality measures of a fitted self-organizing map (all chunked).

Every function takes the fitted map and data: ``f(model, X, ...)``, where
``model`` is a SOM or a Pipeline ending in one (X then goes through the
earlier steps first). The map's backend computes, as for ``predict``: numpy
and torch input give floats from chunked passes, dask input is reduced
block by block. Memory stays bounded by chunk-sized blocks; no
(n_samples, n_units) matrix is formed.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from somkit._layers import search_metric

__all__ = [
    "distortion",
    "map_error",
    "map_error_scorer",
    "quantization_error",
    "topographic_error",
    "trustworthiness",
]


def _prepare(model, X, sample_weight=None):
    """(som, checked X, backend, sample weights) for one metric call."""
    from somkit._model import to_map_space, unwrap

    som, _ = unwrap(model)
    X, backend = som._prepare(to_map_space(model, X))
    sw = None
    if sample_weight is not None:
        sw = _check_sample_weight(
            sample_weight, np.empty((X.shape[0], 0)), dtype=np.float64
        )
    return som, X, backend, sw


def quantization_error(model, X, sample_weight=None):
    """Mean distance (in the map's metric) of the samples to their BMU.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM
    >>> X = load_iris().data
    >>> som = SOM((5, 5), random_state=0).fit(X)
    >>> quantization_error(som, X) < 0.5
    True
    """
    from somkit._model import to_map_space, unwrap

    som, _ = unwrap(model)
    return som.quantization_error(to_map_space(model, X), sample_weight)


def topographic_error(model, X, adjacency="edges", sample_weight=None):
    """Share of samples whose best and second-best units are not adjacent.

    The two best units are those of float64 distances on every backend
    (float32 scores only shortlist the candidates), so units whose distances
    to a sample differ below float32's resolution are ordered as in exact
    arithmetic, ties to the lowest index.

    Parameters
    ----------
    adjacency : {"edges", "diagonal"}, default="edges"
        "edges": grid distance 1 (4 neighbours on rect, 6 on hex);
        "diagonal" also accepts the rect diagonals (8 neighbours).
    """
    from somkit._model import to_map_space, unwrap

    som, _ = unwrap(model)
    return som.topographic_error(to_map_space(model, X), adjacency, sample_weight)


def map_error(model, X, adjacency="edges", sample_weight=None):
    """Accuracy and order in one number: relative QE plus topographic error.

    ``QE / QE_1 + TE``: the quantization error (mean distance to the best
    unit) divided by ``QE_1``, that of a map of one unit at the data's
    (weighted) mean, so the share of the data's spread that the map leaves
    unexplained, plus the topographic error (share of samples whose two
    best units are not adjacent; :func:`topographic_error`, Kiviluoto,
    "Topology preservation in self-organizing maps", ICNN'96, 1996). Both
    terms lie in [0, 1]; a sample the map misplaces costs as much as the
    whole spread of a sample. 0 is a perfect, ordered map.

    Adding units lowers the QE term but, once the map has more units than
    the data can order, raises the TE term as the map folds, so the sum is
    lowest for a map as large as the data support: use it to choose the
    map size (:func:`map_error_scorer`), where the estimator's own ``score``
    (minus the QE) always prefers the largest grid. (Kiviluoto's combined
    error, the distance from a sample to its second unit along the map,
    keeps falling as units are added in our measurements, so it cannot
    choose a size.)

    Parameters
    ----------
    adjacency : {"edges", "diagonal"}, default="edges"
        Neighbours for the topographic error (see :func:`topographic_error`).

    Examples
    --------
    >>> import numpy as np
    >>> from somkit import SOM
    >>> X = np.random.default_rng(0).uniform(size=(500, 3))
    >>> small, large = (SOM(g, random_state=0).fit(X) for g in [(4, 4), (30, 30)])
    >>> bool(map_error(large, X) < map_error(small, X))  # fits the data better
    True
    """
    from somkit._model import to_map_space, unwrap
    from somkit._registry import ADJACENCIES, check_choice

    check_choice("adjacency", adjacency, ADJACENCIES)
    som, _ = unwrap(model)
    check_is_fitted(som, "codebook_")
    Xm = to_map_space(model, X)
    pair = None if som.grid_.n_units < 2 else adjacency
    stats = som._quality(Xm, sample_weight, pair)
    # the one-unit map: its unit at the (weighted, per-feature observed)
    # mean, from one float64 batch pass
    _, Xp, backend, sw = _prepare(model, X, sample_weight)
    metric = search_metric(som)
    W = np.zeros((1, som.codebook_.shape[1]))
    sums, wsum, _ = backend.batch_sums(Xp, W, metric, sw)
    sums, wsum = backend.to_numpy(sums), backend.to_numpy(wsum)
    center = sums / np.maximum(np.reshape(wsum, (1, -1)), 1e-300)
    one = backend.stats(Xp, center, metric, sample_weight=sw)
    qe = float(stats["qe_sum"]) / float(stats["weight"])
    qe1 = float(one["qe_sum"]) / float(one["weight"])
    te = float(stats.get("te_sum", 0.0)) / float(stats["weight"])
    return (qe / qe1 if qe1 > 0 else 0.0) + te


def map_error_scorer(estimator, X, y=None, sample_weight=None):
    """Minus :func:`map_error`: a scikit-learn scorer (higher is better).

    Pass it as ``scoring=`` to ``GridSearchCV`` or ``cross_val_score`` to
    choose the grid (or radius, or epochs) of a SOM or of a Pipeline ending
    in one: unlike the estimator's own ``score`` (minus the quantization
    error), it does not always prefer the largest map.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from somkit import SOM
    >>> X = load_iris().data
    >>> search = GridSearchCV(
    ...     SOM(random_state=0),
    ...     {"grid": [(3, 3), (6, 6)]},
    ...     scoring=map_error_scorer,
    ...     cv=3,
    ... ).fit(X)
    >>> search.best_params_["grid"] in [(3, 3), (6, 6)]
    True
    """
    return -map_error(estimator, X, sample_weight=sample_weight)


def _distortion_part(C, idx, sw, W, grid, neighborhood_name, radius, metric):
    """(weighted energy sum, weight) of one chunk with its BMUs ``idx``."""
    from somkit._kernels import normalize_rows, pairwise_distances
    from somkit._neighborhood import neighborhood

    C = np.asarray(C, dtype=np.float64)
    idx = np.asarray(idx)
    if metric == "cosine":
        C = normalize_rows(C)
    H = neighborhood(neighborhood_name, grid.distances(idx), radius)
    H /= H.sum(axis=1, keepdims=True)
    if isinstance(metric, str):
        D = pairwise_distances(C, W, "euclidean") ** 2
    else:  # a layered map: its combined distance (sqeuclidean layers: squared)
        D = pairwise_distances(C, W, metric)
    per = np.einsum("ij,ij->i", H, D)
    w = np.ones(len(C)) if sw is None else np.asarray(sw, dtype=np.float64)
    return float(w @ per), float(w.sum())


def distortion(model, X, sample_weight=None, radius=None):
    """The SOM energy: mean over samples of ``sum_j h(d(j, c)) ||x - w_j||^2``.

    ``h`` is the map's neighbourhood at ``radius`` (default: the final radius
    of the training schedule), normalised per BMU to sum to one, so the value
    is in squared data units and equals the mean squared quantization error
    at radius 0. Computed per chunk (per block for dask input) without an
    (n_samples, n_units) matrix. Samples with holes (a map with
    ``missing="ignore"``) use their rescaled distances over the observed
    features.
    """
    from somkit._backends import input_kind
    from somkit._kernels import chunk_rows

    som, X, backend, sw = _prepare(model, X, sample_weight)
    if radius is None:
        hist = som.history_["radius"]
        radius = hist[-1] if hist else 0.0
    grid = som.grid_
    # a map trained on rescaled data computes on the same scale (the energy
    # is then converted back to squared data units)
    space = getattr(som, "_map_space", None)
    X, W, _ = (X, som.codebook_, 1.0) if space is None else space(X)
    scaling = getattr(som, "_scaling_", None)
    energy = 1.0 if scaling is None or scaling.unit_rows else scaling.scale**2
    metric = search_metric(som)
    idx = backend.bmu(X, W, metric, batch_size=som.batch_size)[0]
    W = W.astype(np.float64)
    args = (W, grid, som.neighborhood, radius, metric)
    if input_kind(X) == "dask":
        import dask

        blocks = X.rechunk({1: -1}).to_delayed().ravel()
        ids = idx.rechunk((X.chunks[0],)).to_delayed().ravel()
        if sw is None:
            ws = [None] * len(blocks)
        else:
            bounds = np.cumsum((0, *X.chunks[0]))
            ws = [sw[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        parts = [
            dask.delayed(_distortion_part)(b, i, w, *args)
            for b, i, w in zip(blocks, ids, ws, strict=True)
        ]
        parts = dask.compute(*parts)
    else:
        rows = chunk_rows(grid.n_units)
        parts = [
            _distortion_part(
                _numpy_rows(X, a, a + rows),
                idx[a : a + rows],
                None if sw is None else sw[a : a + rows],
                *args,
            )
            for a in range(0, X.shape[0], rows)
        ]
    return energy * sum(p[0] for p in parts) / sum(p[1] for p in parts)


def _numpy_rows(X, a, b):
    part = X[a:b]
    if hasattr(part, "detach"):  # a torch tensor
        part = part.detach().cpu().numpy()
    return np.asarray(part)


def trustworthiness(model, X, n_neighbors=5):
    """Trustworthiness of the map projection (BMU grid positions vs data).

    Venna and Kaski's measure with the samples embedded at their BMUs' grid
    positions, a tiny deterministic jitter keeping samples that share a unit
    from tying. Grid distances are the map's own: wrapped on periodic maps.
    Data distances are euclidean (with holes, over the features both samples
    observe, rescaled: :func:`sklearn.metrics.pairwise.nan_euclidean_distances`).
    On non-periodic maps this is
    :func:`sklearn.manifold.trustworthiness` of the jittered positions (up to
    the order of exactly tied data distances). Values near 1 mean that
    samples mapped close together on the grid are also close in the data.
    Needs ``n_neighbors < n_samples / 2``; quadratic in n_samples, so
    subsample large data first (dask input is refused for that reason).
    """
    from sklearn.metrics import pairwise_distances

    from somkit._backends import input_kind

    if input_kind(X) == "dask":
        raise TypeError(
            "trustworthiness is quadratic in the number of samples: pass an "
            "in-memory subsample (numpy array), not a dask array."
        )
    som, X, backend, _ = _prepare(model, X)
    X = _numpy_rows(X, 0, X.shape[0])
    n = X.shape[0]
    k = n_neighbors
    if not 1 <= k < n / 2:
        raise ValueError(
            f"n_neighbors must be in [1, n_samples / 2), got {k} for {n} samples."
        )
    metric = search_metric(som)
    idx = backend.bmu(X, som.codebook_, metric, batch_size=som.batch_size)[0]
    grid = som.grid_
    pos = grid.positions[idx]
    pos = pos + np.random.default_rng(0).uniform(-0.01, 0.01, size=pos.shape)
    d_map = np.zeros((n, n))
    for a in range(pos.shape[1]):  # axis by axis: no (n, n, ndim) block
        delta = np.abs(pos[:, a, None] - pos[None, :, a])
        if grid.periodic:
            delta = np.minimum(delta, grid.period[a] - delta)
        d_map += delta**2
    np.sqrt(d_map, out=d_map)
    X = np.asarray(X, dtype=np.float64)
    if np.isnan(X).any():
        from sklearn.metrics.pairwise import nan_euclidean_distances

        d_data = nan_euclidean_distances(X)
    else:
        d_data = pairwise_distances(X)
    np.fill_diagonal(d_map, np.inf)
    np.fill_diagonal(d_data, np.inf)
    # rank (1 = nearest) of every sample among each sample's data neighbours
    rank = np.empty((n, n), dtype=np.int64)
    order = np.argsort(d_data, axis=1, kind="stable")
    rank[np.arange(n)[:, None], order] = np.arange(1, n + 1)
    near_on_map = np.argsort(d_map, axis=1, kind="stable")[:, :k]
    excess = rank[np.arange(n)[:, None], near_on_map] - k
    penalty = excess[excess > 0].sum()
    return float(1.0 - 2.0 * penalty / (n * k * (2.0 * n - 3.0 * k - 1.0)))
