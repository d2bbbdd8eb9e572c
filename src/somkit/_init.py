"""Codebook initialisation: pca (linear), sample, random, or a given array."""

from __future__ import annotations

import numpy as np

from somkit._registry import INITS

__all__ = ["INITS", "init_codebook", "leading_components", "make_grid"]

#: Above this many features the leading components come from a Lanczos
#: solver on the implicit covariance instead of a dense features^2 matrix.
WIDE_FEATURES = 2048
#: Wide data with at most this many rows: the leading components come from
#: the (rows x rows) Gram matrix, two passes over X, no iterations.
GRAM_ROWS = 4096
#: From this many features on, the leading pairs of a dense covariance come
#: from Lanczos (a few ms) rather than LAPACK's MRRR (tens of ms at 784).
LANCZOS_FEATURES = 256


def _lanczos(op, d, k):
    """``k`` leading eigenpairs by Lanczos, or None when ARPACK gives up.

    Fixed start vectors keep the result deterministic. The all-ones vector
    first; if the matrix annihilates it (constant data, a single sample),
    one fixed pseudo-random vector; a matrix that annihilates both is
    treated as zero by the caller.
    """
    from scipy.sparse.linalg import ArpackError, eigsh

    starts = (np.ones(d), np.random.default_rng(0).standard_normal(d))
    for v0 in starts:
        try:
            return eigsh(op, k=k, which="LA", v0=v0 / np.linalg.norm(v0))
        except ArpackError:  # no convergence, or a start vector mapped to 0
            continue
    return None


def _top_eigh(cov, k):
    """The ``k`` leading eigenpairs of a symmetric matrix (ascending order)."""
    from scipy.linalg import eigh

    d = len(cov)
    if d >= LANCZOS_FEATURES and np.any(cov):
        pairs = _lanczos(cov, d, k)
        if pairs is not None:
            return pairs
    # only the k leading pairs (MRRR): a fraction of a full eigh
    return eigh(cov, subset_by_index=[d - k, d - 1])


def leading_components(X, sample_weight, k, backend):
    """Mean, top-``k`` covariance eigenvalues and eigenvectors (descending).

    Narrow data: the backend's covariance and ``eigh``. Wide data (image
    pixels, deep features): the covariance is never formed; each product
    with it is one pass over X (:meth:`Backend.cov_product`), so memory
    stays O(n_features). In memory, Lanczos on that operator; where passes
    are costly (a cluster, a stream: ``backend.few_passes``), a randomized
    subspace iteration that needs ten passes whatever the data.

    Holes (NaN, a backend with ``masked`` set): narrow data use the
    backend's pairwise-complete covariance; wide data the covariance of the
    rows with each hole at its column's mean (holes add nothing once
    centred).
    """
    n, d = X.shape
    if d <= WIDE_FEATURES or k == 0 or k >= d - 1:
        mean, cov = backend.moments(X, sample_weight)
        from somkit._kernels import blas_single_thread

        # one BLAS thread: a threaded eigensolver of a small matrix loses
        # badly to spinning threads on a busy machine
        with blas_single_thread():
            if 0 < k < d - 1:
                evals, evecs = _top_eigh(cov, k)
            else:
                evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1][: max(k, 0) or None]
        return mean, np.maximum(evals[order], 0.0), evecs[:, order]
    mean, _ = backend.mean(X, sample_weight)
    if backend.few_passes:
        evals, evecs = _subspace(X, sample_weight, mean, k, backend)
    else:
        from scipy.sparse.linalg import LinearOperator

        if n <= GRAM_ROWS:  # few rows: the Gram matrix, in memory
            sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight)
            p = np.asarray(sw, dtype=np.float64) / float(np.sum(sw))
            evals, evecs = _gram_components(X, mean, p, k, backend.masked)
            return mean, evals, evecs

        def matvec(v):
            return backend.cov_product(X, sample_weight, mean, np.reshape(v, (d, 1)))

        op = LinearOperator((d, d), matvec=matvec, dtype=np.float64)
        pairs = _lanczos(op, d, k)
        if pairs is None:  # zero covariance: every direction has variance 0
            pairs = np.zeros(k), np.eye(d, k)
        evals, evecs = pairs
    order = np.argsort(evals)[::-1]
    return mean, np.maximum(evals[order], 0.0), evecs[:, order]


#: Subspace iterations and extra directions of the few-pass wide PCA.
SUBSPACE_ITERATIONS = 8
SUBSPACE_OVERSAMPLE = 10


def _subspace(X, sample_weight, mean, k, backend):
    """Leading eigenpairs of the covariance by randomized subspace iteration.

    ``k + SUBSPACE_OVERSAMPLE`` fixed pseudo-random directions (seed 0, so
    the result is deterministic) are multiplied by the covariance
    ``SUBSPACE_ITERATIONS`` times with re-orthonormalisation (Halko,
    Martinsson and Tropp 2011, algorithm 4.4), then the Rayleigh-Ritz
    pairs of the final subspace are taken: one pass over X per product.
    """
    d = len(mean)
    p = min(d, k + SUBSPACE_OVERSAMPLE)
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((d, p)))[0]
    for _ in range(SUBSPACE_ITERATIONS):
        Q = np.linalg.qr(backend.cov_product(X, sample_weight, mean, Q))[0]
    Y = backend.cov_product(X, sample_weight, mean, Q)
    B = Q.T @ Y
    evals, V = np.linalg.eigh((B + B.T) / 2)
    top = np.argsort(evals)[::-1][:k]
    return evals[top], Q @ V[:, top]


def _gram_components(X, mean, p, k, masked=False):
    """Top-``k`` covariance eigenpairs of few rows from the Gram matrix.

    With ``C = sqrt(p) (X - mean)`` (n x d, n small), the covariance is
    ``C.T @ C`` and shares its nonzero eigenvalues with ``G = C @ C.T``
    (n x n); an eigenvector ``u`` of G gives ``C.T @ u / sqrt(lambda)``.
    Columns are taken in blocks, so memory stays O(n^2 + n * block). With
    ``masked``, a hole counts as its column's mean (0 once centred).
    """
    n, d = X.shape
    root = np.sqrt(p)[:, None]
    block = max(1, 2**22 // max(n, 1))

    def columns(a):
        C = np.asarray(X[:, a : a + block], dtype=np.float64) - mean[a : a + block]
        if masked:
            C[np.isnan(C)] = 0.0
        return C * root

    G = np.zeros((n, n))
    for a in range(0, d, block):
        C = columns(a)
        G += C @ C.T
    eig, vecs = np.linalg.eigh(G)
    order = np.argsort(eig)[::-1][:k]
    vals = np.zeros(k)
    vals[: len(order)] = np.maximum(eig[order], 0.0)
    evecs = np.zeros((d, k))
    for a in range(0, d, block):
        evecs[a : a + block, : len(order)] = columns(a).T @ vecs[:, order]
    norms = np.linalg.norm(evecs, axis=0)
    for j in range(k):
        if vals[j] > 0 and norms[j] > 0:
            evecs[:, j] /= norms[j]
        else:  # no variance left: any unit vector (its scale is 0)
            evecs[:, j] = 0.0
            evecs[j % d, j] = 1.0
            vals[j] = 0.0
    return vals, evecs


def pca_factors(X, grid, sample_weight, backend):
    """The linear initialisation as ``(mean, coords, comps)``.

    The codebook is ``mean + coords @ comps``: ``coords`` (n_units, k) are the
    unit positions normalised to [-1, 1] per grid axis, ``comps`` (k, n_features)
    the leading principal components scaled by their standard deviations.
    Kept factored so the first training pass can search BMUs in k dimensions.

    Units are spread over the plane (or line, or volume) of the leading
    principal components, each axis scaled by the component's standard
    deviation, as in the SOM Toolbox's ``som_lininit``: the grid axis with
    the largest extent gets the first component. Grid positions (hex too) are
    normalised to [-1, 1] per axis; axes of extent zero (a 1-row grid) get no
    component.
    """
    pos = grid.positions
    extent = np.ptp(pos, axis=0)
    n_axes = int(np.count_nonzero(extent > 0))
    mean, evals, evecs = leading_components(X, sample_weight, n_axes, backend)
    evals, evecs = evals[:n_axes], evecs[:, :n_axes]
    # Fix the sign of each component so results do not depend on LAPACK.
    signs = np.sign(evecs[np.argmax(np.abs(evecs), axis=0), np.arange(len(evals))])
    evecs = evecs * np.where(signs == 0, 1.0, signs)
    axes = [a for a in np.argsort(-extent, kind="stable") if extent[a] > 0]
    axes = axes[: len(evals)]
    coords = np.empty((grid.n_units, len(axes)))
    comps = np.empty((len(axes), X.shape[1]))
    for k, axis in enumerate(axes):
        p = pos[:, axis]
        coords[:, k] = 2.0 * (p - p.min()) / extent[axis] - 1.0
        comps[k] = evecs[:, k] * np.sqrt(evals[k])
    return mean, coords, comps


def init_codebook(X, grid, init, rng, sample_weight, backend, metric="euclidean"):
    """Initial codebook (float64, shape (n_units, n_features)) and its factors.

    Returns ``(W, factored)``: ``factored`` is a
    :class:`somkit._kernels.Factored` equal to W for the pca init, else None.
    For the cosine metric the rows are scaled to unit norm. With holes in X
    (``backend.masked``): "pca" uses the covariance of the observed values,
    "sample" fills a drawn sample's holes with the column means, "random"
    draws within each column's observed range.
    """
    W, factored = _initial(X, grid, init, rng, sample_weight, backend)
    if metric == "cosine":
        from somkit._kernels import normalize_rows

        W = normalize_rows(W)
        factored = None if factored is None else factored.unit_rows()
    return W, factored


def _initial(X, grid, init, rng, sample_weight, backend):
    d = X.shape[1]
    m = grid.n_units
    if isinstance(init, str) and init == "pca":
        from somkit._kernels import Factored

        factored = Factored(*pca_factors(X, grid, sample_weight, backend))
        return factored.dense(), factored
    if isinstance(init, str) and init == "sample":
        return backend.sample_rows(X, m, rng, sample_weight), None
    if isinstance(init, str) and init == "random":
        lo, hi = backend.column_range(X)
        return lo + rng.random((m, d)) * (hi - lo), None
    return np.array(init, dtype=np.float64), None


def make_grid(som, X, sample_weight, backend):
    """The :class:`~somkit._grid.Grid` of ``som``'s parameters on data X.

    ``grid="auto"`` sizes it from X (:func:`somkit._rules.auto_grid`); hex
    grids get at least two rows, periodic hex grids an even number of rows.
    """
    from somkit._grid import Grid
    from somkit._rules import auto_grid

    shape = som.grid
    if isinstance(shape, str):
        if shape != "auto":
            raise ValueError(
                "grid must be an int, a tuple of 1 to 3 positive ints or "
                f"'auto'; got {shape!r}."
            )
        shape = auto_grid(X, sample_weight, backend)
        if som.topology == "hex" and len(shape) == 1:
            shape = (2, max(1, shape[0] // 2))
        if som.topology == "hex" and som.periodic and shape[0] % 2:
            shape = (shape[0] + 1, shape[1])
    return Grid(shape, som.topology, bool(som.periodic))
