"""Quality measures of a fitted self-organizing map (all chunked).

Every function takes the fitted map and data: ``f(som, X, ...)``. Memory stays
bounded by chunk-sized blocks; no (n_samples, n_units) matrix is formed.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import _check_sample_weight

from somkit import _kernels

__all__ = [
    "distortion",
    "quantization_error",
    "topographic_error",
    "trustworthiness",
]


def _prepare(som, X, sample_weight=None):
    X, _ = som._check_predict_X(X)
    sw = None
    if sample_weight is not None:
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    return X, sw


def _chunked_stats(som, X, sw, adjacency=None):
    """QE/TE sums from the numpy kernels, chunk by chunk (no per-sample arrays).

    None when the map computes on the torch backend (its own kernels then).
    """
    if som.backend == "torch":
        return None
    return _kernels.bmu_stats(
        X,
        som.codebook_,
        som.metric,
        sample_weight=sw,
        grid=None if adjacency is None else som.grid_,
        adjacency=adjacency or "edges",
        batch_size=som.batch_size,
    )


def _mean(values, sw):
    if sw is None:
        return float(np.mean(values))
    return float(np.average(values, weights=sw))


def quantization_error(som, X, sample_weight=None):
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
    X, sw = _prepare(som, X, sample_weight)
    stats = _chunked_stats(som, X, sw)
    if stats is not None:
        return float(stats["qe_sum"] / stats["weight"])
    _, dist = som._bmu(X)
    return _mean(dist, sw)


def topographic_error(som, X, adjacency="edges", sample_weight=None):
    """Share of samples whose best and second-best units are not adjacent.

    Parameters
    ----------
    adjacency : {"edges", "diagonal"}, default="edges"
        "edges": grid distance 1 (4 neighbours on rect, 6 on hex);
        "diagonal" also accepts the rect diagonals (8 neighbours).
    """
    if adjacency not in ("edges", "diagonal"):
        raise ValueError(
            f"adjacency must be one of ('edges', 'diagonal'), got {adjacency!r}."
        )
    X, sw = _prepare(som, X, sample_weight)
    if som.grid_.n_units < 2:
        return 0.0
    stats = _chunked_stats(som, X, sw, adjacency)
    if stats is not None:
        return float(stats["te_sum"] / stats["weight"])
    idx, _, idx2 = som._bmu(X, second=True)
    bad = ~som.grid_.are_adjacent(idx, idx2, kind=adjacency)
    return _mean(bad.astype(np.float64), sw)


def distortion(som, X, sample_weight=None, radius=None):
    """The SOM energy: mean over samples of ``sum_j h(d(j, c)) ||x - w_j||^2``.

    ``h`` is the map's kernel at ``radius`` (default: the final radius of the
    training schedule), normalised per BMU to sum to one, so the value is in
    squared data units and equals the mean squared quantization error at
    radius 0. Computed per chunk without an (n_samples, n_units) matrix.
    """
    from somkit._neighborhood import neighborhood

    X, sw = _prepare(som, X, sample_weight)
    if radius is None:
        hist = som.history_["radius"]
        radius = hist[-1] if hist else 0.0
    grid = som.grid_
    W = som.codebook_.astype(np.float64)
    idx, _ = som._bmu(X)
    total = 0.0
    weight = 0.0
    rows = _kernels.chunk_rows(grid.n_units)
    for a in range(0, X.shape[0], rows):
        C = np.asarray(X[a : a + rows], dtype=np.float64)
        if som.metric == "cosine":
            C = _kernels.normalize_rows(C)
        H = neighborhood(som.neighborhood, grid.distances(idx[a : a + rows]), radius)
        H /= H.sum(axis=1, keepdims=True)
        d2 = _kernels.pairwise_distances(C, W, "euclidean") ** 2
        per = np.einsum("ij,ij->i", H, d2)
        w = np.ones(len(C)) if sw is None else sw[a : a + rows]
        total += float(w @ per)
        weight += float(w.sum())
    return total / weight


def trustworthiness(som, X, n_neighbors=5):
    """Trustworthiness of the map projection (BMU grid positions vs data).

    Venna and Kaski's measure with the samples embedded at their BMUs' grid
    positions, a tiny deterministic jitter keeping samples that share a unit
    from tying. Grid distances are the map's own: wrapped on periodic maps.
    Data distances are euclidean. On non-periodic maps this is
    :func:`sklearn.manifold.trustworthiness` of the jittered positions (up to
    the order of exactly tied data distances). Values near 1 mean that
    samples mapped close together on the grid are also close in the data.
    Needs ``n_neighbors < n_samples / 2``; quadratic in n_samples, so
    subsample large data first.
    """
    from sklearn.metrics import pairwise_distances

    X, _ = _prepare(som, X)
    n = X.shape[0]
    k = n_neighbors
    if not 1 <= k < n / 2:
        raise ValueError(
            f"n_neighbors must be in [1, n_samples / 2), got {k} for {n} samples."
        )
    idx, _ = som._bmu(X)
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
    d_data = pairwise_distances(np.asarray(X, dtype=np.float64))
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
