"""The BMU search of the torch backend: scores on the device, exact top-2.

One matmul per chunk gives float32 scores (the codebook-mean-shifted
expansion ``||w||^2 - 2 x.w`` for euclidean, ``-x.w`` for dot and cosine on
unit rows); they only shortlist units. The ``TOP`` lowest scores of every
row are candidates; those within the rounding band of the runner-up's
score (:func:`somkit._kernels.score_tolerance`, the same band as the numpy
backend's) get float64 distances, and the best two by float64 distance win,
ties to the lowest unit index. Rows whose band holds more than ``TOP`` units
are searched again over every unit in float64. Manhattan and chebyshev
distances are computed in float64 throughout. So the winner, its distance
and the runner-up (topographic error) are those of exact arithmetic, as on
the numpy backend.

Chunks with holes (``missing="ignore"``) rank the units over each row's
observed features with the mask in the product, as the numpy backend does
(``somkit._kernels._search``), in the band of that product
(:func:`somkit._kernels.masked_tolerance`); the candidates' float64
distances are those of :func:`somkit._kernels._numba.masked_distance`.
"""

from __future__ import annotations

import numpy as np

from somkit._backends._torch_layers import best_two
from somkit._backends._torch_ops import (
    distinct_rows,
    masked_pairwise,
    masked_winner,
    normalize_rows,
)
from somkit._kernels import masked_tolerance, score_tolerance

#: Candidates per row taken from the scores before the float64 check.
TOP = 16
#: Elements of the (rows, candidates, n_features) float64 temporary: cache
#: sized on CPU (torch's elementwise work is memory bound there), large on
#: accelerators (fewer launches).
BLOCK_CPU = 1 << 18
BLOCK_DEVICE = 1 << 25


def _unit_roundoff(torch, W):
    """Unit roundoff of matmuls with ``W`` (TF32 / bfloat16 when allowed)."""
    if W.dtype == torch.float64:
        return float(np.finfo(np.float64).eps) / 2
    u = float(np.finfo(np.float32).eps) / 2
    if W.device.type == "cuda":
        precision = torch.get_float32_matmul_precision()
        if precision == "medium":
            u = 2.0**-8  # bfloat16
        elif precision == "high" or torch.backends.cuda.matmul.allow_tf32:
            u = 2.0**-11  # TF32
    return u


class Codebook:
    """A codebook on the device prepared for BMU searches.

    Exact duplicate rows (common with bubble-like kernels on small data) are
    searched once and the win goes to the lowest unit holding the row.
    """

    def __init__(self, torch, W, metric):
        self.torch = torch
        self.metric = metric
        if metric == "cosine":
            W = normalize_rows(torch, W)
        self.W = W
        self.n_units = W.shape[0]
        self.shift = None
        Wu, self._dups = distinct_rows(torch, W)
        self.n_distinct = Wu.shape[0]
        self.Wu = Wu
        self.Wu64 = Wu.double()
        self.tol = None
        self._masked = None  # (transposed squared rows, band): rows with holes
        if metric == "euclidean":
            # Shift by the mean of all units (as the numpy backend).
            self.shift = W.double().mean(dim=0).to(W.dtype)
            Wus = Wu - self.shift
            self.Wt = (-2 * Wus).T.contiguous()
            # squared norms rounded once from float64 (score_tolerance)
            self.bias = (Wus.double() ** 2).sum(dim=1).to(W.dtype)
        elif metric in ("cosine", "dot"):
            self.Wt = (-Wu).T.contiguous()
            self.bias = None
        if metric in ("euclidean", "cosine", "dot"):
            Ws = (Wu if self.shift is None else Wus).double()
            u = _unit_roundoff(torch, W)
            tol = score_tolerance(Ws.cpu().numpy(), u, self.shift is not None)
            self.tol = tol.tolist()

    def _distances(self, Cd, cand, nan=None):
        """float64 distances of each row of ``Cd`` to its candidates ``cand``.

        ``cand`` (rows, q) holds distinct-row ids; row blocks bound the
        (rows, q, n_features) temporary (``BLOCK_CPU`` / ``BLOCK_DEVICE``).
        ``nan``: the holes of ``Cd`` (distances over the observed features).
        """
        torch = self.torch
        n, q = cand.shape
        if nan is not None:
            cols = [
                masked_winner(torch, Cd, self.Wu64[cand[:, k]], nan, self.metric)
                for k in range(q)
            ]
            return torch.stack(cols, 1) if cols else Cd.new_empty((n, 0))
        out = torch.empty((n, q), dtype=torch.float64, device=Cd.device)
        block = BLOCK_CPU if Cd.device.type == "cpu" else BLOCK_DEVICE
        step = max(1, block // max(1, q * Cd.shape[1]))
        for a in range(0, n, step):
            Wi = self.Wu64[cand[a : a + step]]
            x = Cd[a : a + step, None, :]
            if self.metric == "euclidean":
                out[a : a + step] = torch.linalg.vector_norm(x - Wi, dim=2)
            else:
                out[a : a + step] = -(x * Wi).sum(dim=2)
        if self.metric == "cosine":
            out = (1.0 + out).clamp(min=0.0)
        return out

    def _exact_all(self, Cd, nan=None):
        """float64 distances of the rows of ``Cd`` to every distinct row.

        Manhattan and chebyshev by ``cdist``; the others by the float64
        expansion on shifted rows (relative error ~1e-13: below any tie
        that float32 data can make). ``nan``: holes of ``Cd``, measured
        over the observed features.
        """
        torch = self.torch
        W = self.Wu64
        if nan is not None:
            return masked_pairwise(torch, Cd, nan, W, self.metric)
        if self.metric in ("manhattan", "chebyshev"):
            p = 1.0 if self.metric == "manhattan" else float("inf")
            return torch.cdist(Cd, W, p=p)
        if self.metric == "euclidean":
            shift = W.mean(dim=0)
            Cs, Ws = Cd - shift, W - shift
            d2 = (Cs * Cs).sum(dim=1)[:, None] - 2 * (Cs @ Ws.T)
            return (d2 + (Ws * Ws).sum(dim=1)).clamp(min=0).sqrt()
        dot = Cd @ W.T
        return (1.0 - dot).clamp(min=0.0) if self.metric == "cosine" else -dot

    def _masked_scores(self, C, nan):
        """Scores of a chunk with holes and the rows they see (``X0``).

        euclidean: ``[x0 | mask] @ [-2 w; w^2]`` on shifted rows; dot:
        ``-x0.w``; cosine: ``-x0.w / |w_obs|`` (holes of ``x0`` at 0).
        Returns ``(S, X0, (b, c))`` with the band of
        :func:`somkit._kernels.masked_tolerance`.
        """
        torch = self.torch
        if self._masked is None:
            Ws = self.Wu64 if self.shift is None else self.Wu64 - self.shift.double()
            sq = (Ws * Ws).to(self.W.dtype).T.contiguous()
            u = _unit_roundoff(torch, self.W)
            band = masked_tolerance(Ws.cpu().numpy(), u, self.metric).tolist()
            self._masked = (sq, band)
        sq, band = self._masked
        M = (~nan).to(C.dtype)
        X0 = C if self.shift is None else C - self.shift
        X0 = torch.where(nan, torch.zeros((), dtype=C.dtype, device=C.device), X0)
        S = X0 @ self.Wt
        if self.metric == "euclidean":
            S = S.addmm_(M, sq)
        elif self.metric == "cosine":
            S = S / torch.sqrt((M @ sq).clamp(min=torch.finfo(C.dtype).tiny))
        return S, X0, band

    def _top2(self, C, second, nan=None):
        """Exact best and second-best distinct rows: ``(i1, i2, d1, d2)``.

        ``nan``: the holes of ``C`` (None when it has none).
        """
        torch = self.torch
        Cd = C.double()
        k = self.n_distinct
        if self.tol is None:  # manhattan, chebyshev: float64 throughout
            ids = torch.arange(k, device=C.device).expand(len(C), k)
            return best_two(torch, self._exact_all(Cd, nan), ids)
        if nan is not None:
            S, X0, (b, c) = self._masked_scores(C, nan)
            Cs = X0.double()
        else:
            if self.shift is not None:
                S = torch.addmm(self.bias, C - self.shift, self.Wt)
            else:
                S = C @ self.Wt
            b, c = self.tol
            Cs = Cd if self.shift is None else (C - self.shift).double()
        top = min(TOP, k)
        vals, cand = S.topk(top, dim=1, largest=False, sorted=True)
        low = vals[:, 1 if second and top > 1 else 0].double()
        limit = low + (b * torch.linalg.vector_norm(Cs, dim=1) + c)
        # the scores are sorted: the candidates of a row are a prefix
        inside = vals.double() <= limit[:, None]
        q = int(inside.sum(dim=1).max())
        dist = self._distances(Cd, cand[:, :q], nan)
        dist = torch.where(inside[:, :q], dist, torch.inf)
        i1, i2, d1, d2 = best_two(torch, dist, cand[:, :q])
        rows = inside[:, -1].nonzero()[:, 0]
        if top < k and rows.numel():  # more than TOP: every unit in float64
            ids = torch.arange(k, device=C.device).expand(len(rows), k)
            sub = None if nan is None else nan[rows]
            f1, f2, e1, e2 = best_two(torch, self._exact_all(Cd[rows], sub), ids)
            i1[rows], i2[rows], d1[rows], d2[rows] = f1, f2, e1, e2
        return i1, i2, d1, d2

    def search(self, C, second=True, masked=False):
        """BMU, second-best unit (or None) and float64 BMU distance per row.

        Ties go to the lowest unit index; distances are float64 from the
        unshifted rows (exact differences of float32 values). ``masked``:
        NaN entries of ``C`` are holes (observed features only).
        """
        torch = self.torch
        nan = torch.isnan(C) if masked else None
        if nan is not None and not bool(nan.any()):
            nan = None
        i1, i2, v1, v2 = self._top2(C, second, nan)
        if self._dups is not None:
            # Map distinct rows back to units: the best row's lowest unit
            # wins; the runner-up is the next unit holding the same row,
            # unless another row ties with the best and has a lower index.
            first, dup = self._dups
            if second:
                d = dup[i1]
                f2 = first[i2]
                if self.n_distinct > 1:
                    take_other = (d < 0) | ((v2 == v1) & (f2 < d))
                else:
                    take_other = d < 0
                i2 = torch.where(take_other, f2, d)
            i1 = first[i1]
        elif self.n_distinct == 1:
            i2 = i1
        return i1, i2 if second else None, v1
