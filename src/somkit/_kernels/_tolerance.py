"""Rounding bands of the exact top-2 search (float32 scores, float64 check).

The BMU searches (:mod:`somkit._kernels._search`, the online rule, the torch
backend) rank units by scores computed in the codebook's precision and
recompute the distances of every unit whose score lies within a band of the
runner-up's in float64. The bands here bound the scores' rounding error, so
the winner and the runner-up are those of exact arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LAMBDA", "gamma_bound", "masked_tolerance", "score_tolerance"]

#: Confidence factor of the probabilistic rounding bound of
#: :func:`score_tolerance`.
LAMBDA = 10.0


def gamma_bound(n, u):
    """Relative error bound of an ``n``-term inner product in roundoff ``u``."""
    worst = n * u / (1 - n * u) if n * u < 1 else math.inf
    likely = math.expm1(LAMBDA * math.sqrt(n) * u + n * u * u / (1 - u))
    return min(worst, likely)


def score_tolerance(Ws, precision, shifted, thin=None, terms=None):
    """``(b, c)``: the candidate band ``b r + c`` of the exact top-2 search.

    Twice a bound on the gap between the GEMM score of a row ``x`` for any
    unit and the exact value it stands for, with ``r`` the norm of
    ``x - s`` (see :func:`somkit._kernels._numba.top2_exact`): every unit
    whose score is within the band of the runner-up's may be among the two
    best in exact arithmetic. An inner product of ``n`` terms in unit
    roundoff ``u`` errs by at most ``g(n)`` times the sum of its terms'
    magnitudes, ``g(n)`` the smaller of ``gamma_n = n u / (1 - n u)``, the
    worst case (Higham, *Accuracy and Stability of Numerical Algorithms*,
    2nd ed., 2002, sec. 3.1), and ``exp(LAMBDA sqrt(n) u + n u^2 / (1 - u))
    - 1``, which holds with probability at least
    ``1 - 2 n exp(-LAMBDA^2 (1 - u)^2 / 2)`` when rounding errors are
    independent and of mean zero (Higham and Mary, "A new approach to
    probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5),
    2019): below 1e-15 for ``LAMBDA = 10`` and a million features; the
    smaller of the two from about 100 features on. With ``w`` the largest
    unit norm (Cauchy-Schwarz bounds the magnitudes):

    * euclidean (``shifted``), scores ``[x - s, 1] @ [-2 (w - s); ||w -
      s||^2]`` with the squared norms rounded once from float64: the
      product, ``g(d + 1) (2 r w + (1 + u) w^2)``, the norms, ``u w^2``,
      and the rounding of ``x - s`` and ``w - s``, ``4 u r w + (2 u + u^2)
      w^2``;
    * dot and cosine, scores ``x @ -w``: ``g(d) r w``;
    * ``thin = (basis_norms, coef_aug)``: scores from a factored codebook,
      ``[(x - s) @ basis^T, 1] @ coef_aug``: ``(g(d) + g(q + 1) + 3 u)
      (r Cmax + Bmax)`` with ``Cmax = max_j sum_k |coef_kj| ||basis_k||``
      and ``Bmax`` the largest norm term, plus the gap between the float64
      factors and the stored codebook, ``2 u (r + w) w + u^2 w^2``.

    Parameters
    ----------
    Ws : ndarray (n_units, n_features), float64
        The codebook as the scores see it (minus the shift ``s`` if any).
    precision : numpy dtype or float
        Precision of the scores: a dtype, or the unit roundoff itself.
    shifted : bool
        Euclidean scores (else dot / cosine).
    terms : int, optional
        Terms of the euclidean product (default ``d + 1``; the search of rows
        with holes multiplies ``[x0 | mask] @ [-2 w; w^2]``: ``2 d``).

    Examples
    --------
    >>> b, c = score_tolerance(np.eye(2), np.float64, True)
    >>> bool(0 < b < 1e-14 and 0 < c < 1e-14)
    True
    """
    w = float(np.sqrt(np.max(np.einsum("ij,ij->i", Ws, Ws), initial=0.0)))
    if isinstance(precision, float):
        u = precision
    else:
        u = float(np.finfo(precision).eps) / 2
    d = Ws.shape[1]
    if thin is None:
        if not shifted:
            return np.array([2 * gamma_bound(d, u) * w, 0.0])
        g = gamma_bound(d + 1 if terms is None else terms, u)
        return 2 * np.array(
            [(2 * g + 4 * u) * w, (g * (1 + u) + 3 * u + u * u) * w * w]
        )
    norms, coef_aug = thin
    q = len(norms)
    cmax = float(np.max(np.abs(coef_aug[:q]).T @ norms, initial=0.0))
    bmax = float(np.max(np.abs(coef_aug[q]), initial=0.0))
    k = gamma_bound(d, u) + gamma_bound(q + 1, u) + 3 * u
    return 2 * np.array([k * cmax + 2 * u * w, k * bmax + (2 * u + u * u) * w * w])


def masked_tolerance(Ws, precision, metric):
    """The band of :func:`score_tolerance` for the scores of rows with holes.

    euclidean: ``2 d`` terms (``[x0 | mask] @ [-2 w; w^2]``); dot: as
    without holes (``r`` = the observed norm, full-codebook product);
    cosine ranks by the ratio ``x0.w / |w_obs|``, within ``(1.5 g(d) + 3 u)
    r`` of exact. ``Ws``, ``precision``: as for :func:`score_tolerance`.

    Examples
    --------
    >>> b, c = masked_tolerance(np.eye(2), np.float32, "cosine")
    >>> bool(0 < b < 1e-5 and c == 0)
    True
    """
    u = (
        precision
        if isinstance(precision, float)
        else float(np.finfo(precision).eps) / 2
    )
    d = Ws.shape[1]
    if metric == "euclidean":
        return score_tolerance(Ws, u, True, terms=2 * d)
    if metric == "cosine":
        return np.array([2 * (1.5 * gamma_bound(d, u) + 3 * u), 0.0])
    return score_tolerance(Ws, u, False)
