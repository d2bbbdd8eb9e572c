"""The numeric rule: which data the map computes on as given, which it rescales.

A map is equivariant under ``X -> (X - c) / s`` (the PCA, sample and random
initialisations, the batch means, the online and minibatch steps; radii are in
grid units), so training on rescaled data and mapping the codebook back gives
the map of the original data. somkit uses that to train any finite input
whose squared distances fit in float64, whatever its offset and scale:

* **spread** ``r``: the largest range of one feature over the training rows
  (for the cosine and dot metrics, which depend on the origin, the largest
  absolute value instead). ``r`` must be 0 or within ``[2**-480, 2**480]``
  (about 3e-145 to 3e144), else ``fit`` raises ValueError: squared distances
  would underflow or overflow float64.
* **as given** when ``dtype`` holds the data: ``r`` within ``[2**-E, 2**E]``
  and the largest absolute value at most ``2**k * r`` (offset), with
  ``(E, k) = (40, 10)`` for float32 and ``(480, 24)`` for float64. This is
  the case for ordinary data, which trains exactly as before.
* **rescaled** otherwise: the map trains on ``(X - c) / s`` (``c`` the
  per-feature midrange, 0 for cosine and dot; ``s`` the power of two nearest
  ``r``, so scaling is exact), and ``codebook_`` is mapped back to the data's
  units in float64 (the precision that can hold it). The data is copied once
  in ``dtype`` for training; ``history_`` and ``outlier_threshold_`` are in
  the data's units.

Inference on values the codebook's dtype cannot square (say ``1e25`` with a
float32 map) runs in float64; beyond float64 a ValueError says why.
"""

from __future__ import annotations

import math

import numpy as np

#: Squared spreads must fit in float64: the spread lies in [2**-LIMIT, 2**LIMIT].
LIMIT_EXP = 480
#: (E, k) per compute dtype: spread within 2**-E..2**E, offset at most 2**k spreads.
SAFE = {"float32": (40, 10), "float64": (LIMIT_EXP, 24)}
#: Metrics that do not depend on the origin (centred before scaling).
CENTRED = ("euclidean", "manhattan", "chebyshev")


class Scaling:
    """The map ``X -> (X - offset) / scale`` the computation runs on.

    ``offset`` is a float64 vector (or None: no centring), ``scale`` a power
    of two. With ``unit_rows`` (the cosine metric) codebook rows are
    directions and are not scaled.

    Examples
    --------
    >>> s = Scaling(np.array([1e8, 0.0]), 4.0)
    >>> s.forward(np.array([[1e8 + 4, 8.0]]), np.float64)
    array([[1., 2.]])
    >>> s.backward(np.array([[1.0, 2.0]]))
    array([[1.00000004e+08, 8.00000000e+00]])
    """

    def __init__(self, offset, scale, unit_rows=False):
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float64)
        self.scale = float(scale)
        self.unit_rows = bool(unit_rows)

    def distance_factor(self, metric):
        """Data-unit distance per unit of computed distance in ``metric``."""
        if metric == "cosine":
            return 1.0
        return self.scale**2 if metric == "dot" else self.scale

    def forward(self, X, dtype):
        """``(X - offset) / scale`` in ``dtype``: numpy (a copy), torch, dask."""
        from somkit._backends import input_kind

        kind = input_kind(X)
        if kind == "dask":
            Z = X.astype(np.float64)
            if self.offset is not None:
                Z = Z - self.offset
            return (Z * (1.0 / self.scale)).astype(dtype)
        if kind == "torch":
            import torch

            Z = X.detach().to(torch.float64)
            if self.offset is not None:
                Z = Z - torch.as_tensor(self.offset, device=Z.device)
            tdt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
            return (Z * (1.0 / self.scale)).to(tdt)
        n, d = X.shape
        out = np.empty((n, d), dtype=dtype)
        step = max(1, (1 << 20) // max(d, 1))
        for a in range(0, n, step):
            block = np.array(X[a : a + step], dtype=np.float64)
            if self.offset is not None:
                block -= self.offset
            block *= 1.0 / self.scale
            out[a : a + step] = block
        return out

    def codebook(self, W, dtype):
        """Codebook rows from the data's units to the computing units."""
        if self.unit_rows:
            return np.asarray(W, dtype=dtype)
        return self.forward(np.asarray(W), dtype)

    def backward(self, W):
        """Codebook rows back in the data's units (float64)."""
        W = np.asarray(W, dtype=np.float64)
        if self.unit_rows:
            return W
        W = W * self.scale
        return W if self.offset is None else W + self.offset

    def to_state(self):
        """``(meta, arrays)`` for a model file."""
        arrays = {} if self.offset is None else {"scaling_offset": self.offset}
        meta = {
            "scale": self.scale,
            "centred": self.offset is not None,
            "unit_rows": self.unit_rows,
        }
        return meta, arrays


def extent(X):
    """Per-feature ``(min, max)`` of X as float64 arrays, holes (NaN) skipped.

    A feature with no observed value gets (0, 0). Dask arrays are computed.
    """
    import warnings

    from somkit._backends import input_kind

    if input_kind(X) == "dask":
        import dask
        import dask.array as da

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
            lo, hi = dask.compute(da.nanmin(X, axis=0), da.nanmax(X, axis=0))
    else:
        lo, hi = np.fmin.reduce(X, axis=0), np.fmax.reduce(X, axis=0)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    empty = np.isnan(lo) | np.isnan(hi)
    return np.where(empty, 0.0, lo), np.where(empty, 0.0, hi)


def _size(lo, hi, metric):
    with np.errstate(over="ignore", invalid="ignore"):
        m = float(max(np.max(np.abs(lo)), np.max(np.abs(hi)))) if lo.size else 0.0
        r = float(np.max(hi - lo)) if lo.size else 0.0
    return (r if metric in CENTRED else m), m


def _holds(q, m, dtype, metric):
    """Whether ``dtype`` computes on data of size ``q`` and magnitude ``m``."""
    e, k = SAFE[np.dtype(dtype).name]
    lo, hi = 2.0**-e, 2.0**e
    if metric not in CENTRED:
        return q == 0 or lo <= q <= hi
    if q == 0:
        return m == 0 or lo <= m <= hi
    return lo <= q <= hi and m <= 2.0**k * q


def check_limit(q, metric, what="X"):
    """ValueError when squared distances of data of size ``q`` leave float64."""
    lo, hi = 2.0**-LIMIT_EXP, 2.0**LIMIT_EXP
    if q == 0 or lo <= q <= hi:
        return
    how = "overflow" if not q < hi else "underflow"
    size = (
        "spread (largest feature range)"
        if metric in CENTRED
        else "largest absolute value"
    )
    raise ValueError(
        f"{what}'s {size} is {q:.3g}: its squared distances {how} float64. "
        f"somkit trains on data whose {size} is 0 or between {lo:.2g} and "
        f"{hi:.2g} (any offset, any dtype); rescale {what}."
    )


def _quick_holds(X, dtype, metric):
    """True when ``dtype`` surely holds X, from two fast global reductions.

    The global min and max bound the spread from above, the per-feature
    spread of a few thousand evenly spaced rows bounds it from below, so a
    True answer is exact; False only means "measure every feature" (the
    per-feature pass is slower: the reduction runs across rows).
    """
    from somkit._backends import input_kind

    if input_kind(X) != "array" or X.size == 0:
        return False
    g_lo, g_hi = (
        float(np.fmin.reduce(X, axis=None)),
        float(np.fmax.reduce(X, axis=None)),
    )
    with np.errstate(over="ignore", invalid="ignore"):
        m, spread = max(abs(g_lo), abs(g_hi)), g_hi - g_lo
    if not (math.isfinite(m) and math.isfinite(spread)):
        return False
    e, k = SAFE[np.dtype(dtype).name]
    if metric not in CENTRED:
        return m == 0 or 2.0**-e <= m <= 2.0**e
    n = X.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n, 4096)).astype(np.int64))
    lo, hi = extent(np.asarray(X[rows]))
    low = float(np.max(hi - lo))  # the true spread is at least this
    return spread <= 2.0**e and low >= 2.0**-e and m <= 2.0**k * low


def choose_scaling(X, dtype, metric):
    """The :class:`Scaling` to train on, or None when X is used as given.

    Raises ValueError when the squared distances of X do not fit in float64.
    """
    if _quick_holds(X, dtype, metric):
        return None
    return scaling_for_extent(*extent(X), dtype, metric)


def scaling_for_extent(lo, hi, dtype, metric):
    """:func:`choose_scaling` from the per-feature ``(min, max)`` of the data."""
    q, m = _size(lo, hi, metric)
    if not math.isfinite(q):
        q = math.inf
    check_limit(q, metric)
    if _holds(q, m, dtype, metric):
        return None
    if metric in CENTRED:
        offset = lo + (hi - lo) / 2.0
        return Scaling(offset, 2.0 ** round(math.log2(q)) if q > 0 else 1.0)
    scale = 2.0 ** round(math.log2(q)) if q > 0 else 1.0
    return Scaling(None, scale, unit_rows=metric == "cosine")


def check_batch(X, scaling, dtype, metric):
    """ValueError when a later batch (``partial_fit``) leaves the map's range."""
    lo, hi = extent(X)
    if scaling is not None:
        lo = (lo - (0 if scaling.offset is None else scaling.offset)) / scaling.scale
        hi = (hi - (0 if scaling.offset is None else scaling.offset)) / scaling.scale
    q, m = _size(lo, hi, metric)
    # the batch's own spread may be 0 or small: the map's range is what counts
    e, _ = SAFE[np.dtype(dtype).name]
    if math.isfinite(m) and m <= 2.0 ** (e - 1):
        return
    raise ValueError(
        f"partial_fit: this batch reaches {m:.3g} in the map's computing units "
        f"({np.dtype(dtype).name} holds up to about {2.0 ** (e - 1):.2g}); the "
        "scaling was chosen on the first batch. Fit again on data that covers "
        "the full range, or use dtype='float64'."
    )
