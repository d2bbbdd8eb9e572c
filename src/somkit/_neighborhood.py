"""Neighbourhood kernels h(d, sigma) on grid distances.

All kernels equal 1 at d = 0. ``sigma = 0`` means winner-only learning for
every kernel (h = 1 at d = 0, else 0), the competitive (k-means-like) limit.
"""

from __future__ import annotations

import numpy as np

#: Gaussian kernels are cut off at this many sigmas when a sparse smoothing
#: matrix is built for a large map (exp(-8) ~ 3.4e-4 of the peak).
GAUSSIAN_CUTOFF = 4.0

KERNELS = (
    "gaussian",
    "bubble",
    "cut_gaussian",
    "mexican_hat",
    "triangle",
    "epanechnikov",
)


def neighborhood(name, d, sigma):
    """Evaluate kernel ``name`` on grid distances ``d`` with width ``sigma``.

    Parameters
    ----------
    name : str
        One of :data:`KERNELS`.
    d : array-like
        Non-negative grid distances.
    sigma : float
        Kernel width in grid units (>= 0).

    Returns
    -------
    h : ndarray of float64, same shape as ``d``.

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
    d = np.asarray(d, dtype=np.float64)
    sigma = float(sigma)
    if sigma <= 0:
        return (d <= 1e-9).astype(np.float64)
    if name == "gaussian":
        return np.exp(-(d * d) / (2.0 * sigma * sigma))
    if name == "bubble":
        return (d <= sigma + 1e-9).astype(np.float64)
    if name == "cut_gaussian":
        return np.exp(-(d * d) / (2.0 * sigma * sigma)) * (d <= sigma + 1e-9)
    if name == "mexican_hat":
        q = (d * d) / (sigma * sigma)
        return (1.0 - q) * np.exp(-0.5 * q)
    if name == "triangle":
        return np.maximum(0.0, 1.0 - d / sigma)
    if name == "epanechnikov":
        return np.maximum(0.0, 1.0 - (d * d) / (sigma * sigma))
    raise ValueError(f"neighborhood must be one of {KERNELS}, got {name!r}.")


def support(name, sigma):
    """Grid distance beyond which kernel ``name`` is zero (or negligible).

    Returns ``inf`` for kernels with unbounded support (mexican_hat). The
    gaussian is treated as zero beyond :data:`GAUSSIAN_CUTOFF` sigmas.
    """
    sigma = float(sigma)
    if sigma <= 0:
        return 0.0
    if name in ("bubble", "cut_gaussian", "triangle", "epanechnikov"):
        return sigma
    if name == "gaussian":
        return GAUSSIAN_CUTOFF * sigma
    return np.inf
