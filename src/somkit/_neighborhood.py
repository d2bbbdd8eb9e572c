"""Neighbourhood functions h(d, sigma) on grid distances: the one definition.

All functions equal 1 at d = 0. ``sigma = 0`` means winner-only learning for
every function (h = 1 at d = 0, else 0), the competitive (k-means-like)
limit. :func:`neighborhood` evaluates numpy arrays and torch tensors with the
same formulas; the numba online rule has its own scalar copy
(``somkit._kernels._online._h``), tested against this one.
"""

from __future__ import annotations

import numpy as np

from somkit._registry import BOUNDED_NEIGHBORHOODS, NEIGHBORHOODS

#: Gaussians are cut off at this many sigmas when a sparse smoothing matrix
#: is built for a large map (exp(-8) ~ 3.4e-4 of the peak).
GAUSSIAN_CUTOFF = 4.0
#: Grid distances within this of a boundary (0, sigma) count as on it.
TOLERANCE = 1e-9


def neighborhood(name, d, sigma):
    """Evaluate neighbourhood ``name`` on grid distances ``d`` with width ``sigma``.

    Parameters
    ----------
    name : str
        One of ``somkit._registry.NEIGHBORHOODS``.
    d : array-like or torch.Tensor
        Non-negative grid distances.
    sigma : float
        Width in grid units (>= 0).

    Returns
    -------
    h : ndarray of float64 (a tensor of ``d``'s dtype for a tensor), same
        shape as ``d``.

    Notes
    -----
    * gaussian: ``exp(-d^2 / (2 sigma^2))``
    * bubble: ``1[d <= sigma]``
    * cut_gaussian: gaussian times ``1[d <= sigma]``
    * mexican_hat (Ricker): ``(1 - d^2/sigma^2) exp(-d^2 / (2 sigma^2))``
    * triangle: ``max(0, 1 - d / sigma)``
    * epanechnikov: ``max(0, 1 - d^2 / sigma^2)``

    Examples
    --------
    >>> float(neighborhood("gaussian", 1.0, 1.0))
    0.6065306597126334
    """
    if hasattr(d, "clamp"):  # a torch tensor: its own methods, no torch import

        def exp(v):
            return v.exp()

        def relu(v):
            return v.clamp(min=0.0)

        def as_float(mask):
            return mask.to(d.dtype)

    else:
        d = np.asarray(d, dtype=np.float64)
        exp = np.exp

        def relu(v):
            return np.maximum(v, 0.0)

        def as_float(mask):
            return np.asarray(mask, dtype=np.float64)

    sigma = float(sigma)
    if sigma <= 0:
        return as_float(d <= TOLERANCE)
    if name == "gaussian":
        return exp(-(d * d) / (2.0 * sigma * sigma))
    if name == "bubble":
        return as_float(d <= sigma + TOLERANCE)
    if name == "cut_gaussian":
        return exp(-(d * d) / (2.0 * sigma * sigma)) * as_float(d <= sigma + TOLERANCE)
    q = (d * d) / (sigma * sigma)
    if name == "mexican_hat":
        return (1.0 - q) * exp(-0.5 * q)
    if name == "triangle":
        return relu(1.0 - d / sigma)
    if name == "epanechnikov":
        return relu(1.0 - q)
    raise ValueError(f"neighborhood must be one of {NEIGHBORHOODS}, got {name!r}.")


def support(name, sigma):
    """Grid distance beyond which neighbourhood ``name`` is zero (or negligible).

    Returns ``inf`` for unbounded functions (mexican_hat). The gaussian is
    treated as zero beyond :data:`GAUSSIAN_CUTOFF` sigmas.

    Examples
    --------
    >>> support("bubble", 2.0), support("gaussian", 2.0)
    (2.0, 8.0)
    """
    sigma = float(sigma)
    if sigma <= 0:
        return 0.0
    if name in BOUNDED_NEIGHBORHOODS:
        return sigma
    if name == "gaussian":
        return GAUSSIAN_CUTOFF * sigma
    return np.inf
