"""Torch array helpers of the torch backend (pure functions of tensors).

Every function takes the ``torch`` module as its first argument, so this
module imports torch only through its caller
(:mod:`somkit._backends.torch`). Rows with holes (NaN) are measured over
their observed features as in :func:`somkit._kernels._numba.masked_distance`.
"""

from __future__ import annotations

import numpy as np

from somkit._grid import EPS as _EPS


def normalize_rows(torch, A):
    """Rows at unit L2 norm, norms taken in float64 (zero rows stay zero).

    Holes (NaN) stay holes; the norm is over the observed entries.
    """
    norms = torch.sqrt((A.double() * A.double()).nansum(dim=1))
    norms = torch.where(norms == 0, torch.ones_like(norms), norms)
    return A / norms.to(A.dtype)[:, None]


def distinct_rows(torch, W):
    """Distinct rows of W ordered by first occurrence, and the index maps.

    Returns ``(W, None)`` when all rows differ; else ``(Wu, (first, second))``
    with ``Wu[u] = W[first[u]]``, ``first`` increasing, and ``second[u]`` the
    second-lowest unit holding row u (-1 if none).
    """
    m = W.shape[0]
    if m < 2:
        return W, None
    uniq, inv = torch.unique(W, dim=0, return_inverse=True)
    k = uniq.shape[0]
    if k == m:
        return W, None
    units = torch.arange(m, device=W.device)

    def lowest(groups, members):
        out = torch.full((k,), m, dtype=torch.int64, device=W.device)
        return out.scatter_reduce_(0, groups, members, "amin")

    first = lowest(inv, units)
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(k, device=W.device)
    inv = rank[inv]
    first = first[order]
    others = units != first[inv]
    second = lowest(inv[others], units[others])
    second = torch.where(second == m, torch.full_like(second, -1), second)
    return W[first], (first, second)


def masked_cdist(torch, C, nan, W, metric, block_elements=1 << 24):
    """Manhattan / chebyshev scores over each row's observed features.

    Feature blocks of an (rows, units, features) difference tensor; the
    manhattan sum is left unscaled (the per-row rescaling does not change
    the ranking).
    """
    n, d = C.shape
    m = W.shape[0]
    C0 = torch.where(nan, torch.zeros((), dtype=C.dtype, device=C.device), C)
    M = (~nan).to(C.dtype)
    S = torch.zeros((n, m), dtype=C.dtype, device=C.device)
    step = max(1, block_elements // max(n * m, 1))
    for a in range(0, d, step):
        b = min(a + step, d)
        diff = (C0[:, None, a:b] - W[None, :, a:b]).abs() * M[:, None, a:b]
        if metric == "manhattan":
            S += diff.sum(dim=2)
        else:
            S = torch.maximum(S, diff.amax(dim=2))
    return S


def masked_winner(torch, Cd, Wi, nan, metric):
    """Float64 distances of rows with holes to their units (observed only)."""
    seen = (~nan).sum(dim=1).double()
    scale = Cd.shape[1] / seen.clamp(min=1)
    zero = torch.zeros((), dtype=Cd.dtype, device=Cd.device)
    C0 = torch.where(nan, zero, Cd)
    Wo = torch.where(nan, zero, Wi)
    diff = C0 - Wo
    if metric == "euclidean":
        out = torch.sqrt((diff * diff).sum(dim=1) * scale)
    elif metric == "cosine":
        wn = torch.sqrt((Wo * Wo).sum(dim=1))
        cos = (C0 * Wo).sum(dim=1) / wn.clamp(min=1e-300)
        out = torch.where(wn > 0, (1.0 - cos).clamp(min=0.0), torch.ones_like(wn))
    elif metric == "dot":
        out = -(C0 * Wo).sum(dim=1) * scale
    elif metric == "manhattan":
        out = diff.abs().sum(dim=1) * scale
    else:
        out = diff.abs().amax(dim=1)
    return torch.where(seen > 0, out, torch.full_like(out, float("nan")))


class DeviceGrid:
    """Grid geometry on the device: positions, wrapped distances, adjacency."""

    def __init__(self, torch, grid, device):
        self.torch = torch
        self.grid = grid
        self.device = device
        self.positions = torch.as_tensor(grid.positions, device=device)
        self.period = torch.as_tensor(grid.period, device=device)
        self._dense = None
        self._axes = {}
        self._pairs = None

    def _delta(self, a, b, period):
        d = (a - b).abs()
        if self.grid.periodic:
            d = self.torch.minimum(d, period - d)
        return d

    def adjacent(self, i, j, limit=1.0):
        """Whether units i and j are distinct and at most ``limit`` apart.

        ``limit=1`` is ``Grid.are_adjacent`` with edges, sqrt(2) with diagonals.
        """
        P = self.positions
        d = self._delta(P.index_select(0, i), P.index_select(0, j), self.period)
        dist = self.torch.sqrt((d * d).sum(dim=1))
        return (dist > _EPS) & (dist <= limit + _EPS)

    def distances(self, start=0, stop=None):
        """Grid distances from units ``start:stop`` to every unit (float64)."""
        p = self.positions[start:stop]
        d2 = None
        for k in range(self.grid.ndim):
            dk = self._delta(
                p[:, k : k + 1], self.positions[None, :, k], self.period[k]
            )
            d2 = dk * dk if d2 is None else d2 + dk * dk
        return self.torch.sqrt(d2)

    def dense_distances(self):
        if self._dense is None:
            self._dense = self.distances()
        return self._dense

    def axis_distances(self, size):
        """|i - j| along one rect axis of ``size`` units (wrapped if periodic)."""
        if size not in self._axes:
            c = np.arange(size, dtype=np.float64)
            dk = np.abs(c[:, None] - c[None, :])
            if self.grid.periodic:
                dk = np.minimum(dk, size - dk)
            self._axes[size] = self.torch.as_tensor(dk, device=self.device)
        return self._axes[size]

    def pairs_within(self, reach):
        """(pairs (2, n), distances) of units within ``reach``.

        Cached for the largest reach asked so far: radii shrink during
        training, so later epochs only filter the cached pairs.
        """
        t = self.torch
        if self._pairs is None or reach > self._pairs[0]:
            i, j, d = self.grid.offsets_within(reach)
            idx = t.as_tensor(np.stack([i, j]), device=self.device)
            self._pairs = (reach, idx, t.as_tensor(d, device=self.device))
        _, idx, dist = self._pairs
        if reach < self._pairs[0]:
            keep = dist <= reach + _EPS
            idx, dist = idx[:, keep], dist[keep]
        return idx, dist


def pairwise(torch, C, W, metric):
    """Dense float64 distances of the rows of C to the rows of W."""
    if metric == "euclidean":
        shift = W.mean(dim=0)
        Cs, Ws = C - shift, W - shift
        d2 = (Cs * Cs).sum(dim=1)[:, None] - 2 * (Cs @ Ws.T) + (Ws * Ws).sum(dim=1)
        return d2.clamp(min=0).sqrt()
    if metric == "cosine":
        return (1.0 - normalize_rows(torch, C) @ normalize_rows(torch, W).T).clamp(
            min=0.0
        )
    if metric == "dot":
        return -(C @ W.T)
    p = 1.0 if metric == "manhattan" else float("inf")
    return torch.cdist(C, W, p=p)


def masked_pairwise(torch, C, nan, W, metric):
    """:func:`_pairwise` of rows with holes, over their observed features."""
    zero = torch.zeros((), dtype=C.dtype, device=C.device)
    M = (~nan).to(C.dtype)
    seen = M.sum(dim=1)
    scale = (C.shape[1] / seen.clamp(min=1))[:, None]
    if metric == "euclidean":
        shift = W.mean(dim=0)
        X0 = torch.where(nan, zero, C - shift)
        Ws = W - shift
        d2 = (X0 * X0).sum(dim=1)[:, None] - 2 * (X0 @ Ws.T) + M @ (Ws * Ws).T
        out = (d2.clamp(min=0) * scale).sqrt()
    elif metric == "cosine":
        X0 = torch.where(nan, zero, normalize_rows(torch, C))
        Wn = normalize_rows(torch, W)
        wn = M @ (Wn * Wn).T
        cos = (X0 @ Wn.T) / wn.clamp(min=1e-300).sqrt()
        out = torch.where(wn > 0, (1.0 - cos).clamp(min=0.0), torch.ones_like(wn))
    elif metric == "dot":
        out = -(torch.where(nan, zero, C) @ W.T) * scale
    else:
        out = masked_cdist(torch, C, nan, W, metric)
        if metric == "manhattan":
            out = out * scale
    return torch.where(seen[:, None] > 0, out, torch.full_like(out, float("nan")))
