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

    Uses scikit-learn's :func:`sklearn.manifold.trustworthiness` on the grid
    positions of the samples' BMUs, with a tiny deterministic jitter so that
    samples sharing a unit do not tie. Values near 1 mean that samples
    mapped close together on the grid are also close in the data. Needs
    ``n_neighbors < n_samples / 2``; quadratic in n_samples, so subsample
    large data first.
    """
    from sklearn.manifold import trustworthiness as sk_trust

    X, _ = _prepare(som, X)
    n = X.shape[0]
    if not 1 <= n_neighbors < n / 2:
        raise ValueError(
            f"n_neighbors must be in [1, n_samples / 2), got {n_neighbors} for "
            f"{n} samples."
        )
    idx, _ = som._bmu(X)
    pos = som.grid_.positions[idx]
    jitter = np.random.default_rng(0).uniform(-0.01, 0.01, size=pos.shape)
    return float(
        sk_trust(np.asarray(X, dtype=np.float64), pos + jitter, n_neighbors=n_neighbors)
    )
