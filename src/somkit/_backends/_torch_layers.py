"""Layered maps on the torch backend: the combined distance on tensors.

The torch counterpart of :mod:`somkit._kernels._layered`: per active layer
one matmul (sqeuclidean and euclidean on the codebook-mean-shifted
expansion, cosine on unit blocks, tanimoto with the norms) or ``torch.cdist``
with p=1 (manhattan), summed with the layer coefficients. The lowest scores
of a row (``RECHECK`` of them) get float64 combined distances, which pick
the winner, the runner-up and the reported distance (lowest unit index on
ties). Imported by ``somkit._backends.torch`` only.
"""

from __future__ import annotations

from somkit._backends._torch_ops import normalize_rows
from somkit._kernels._layered import RECHECK
from somkit._layers import is_layered


def best_two(torch, dist, cand):
    """Per row, the two candidates with the lowest ``dist`` (ties: lowest id).

    ``dist`` (rows, k) float64, ``cand`` (rows, k) unit ids. Returns
    ``(i1, i2, d1, d2)``.
    """
    by_id, order = cand.sort(dim=1, stable=True)
    d = dist.gather(1, order)
    d, order = d.sort(dim=1, stable=True)
    ids = by_id.gather(1, order)
    if ids.shape[1] < 2:
        return ids[:, 0], ids[:, 0], d[:, 0], d[:, 0]
    return ids[:, 0], ids[:, 1], d[:, 0], d[:, 1]


class TorchRows:
    """What ``LayerMetric.constrain`` needs of a backend, for tensors."""

    def __init__(self, torch):
        self.torch = torch

    def normalize_rows(self, A):
        return normalize_rows(self.torch, A)


def chunk_key(metric):
    """What of ``metric`` changes a prepared chunk (cosine rows, layer blocks)."""
    if is_layered(metric):
        return metric if metric.has_cosine else False
    return metric == "cosine"


def prepare_rows(torch, C, metric):
    """A chunk as the search needs it: cosine unit rows, or unit layer blocks."""
    if is_layered(metric):
        return prepare(torch, C, metric)
    return normalize_rows(torch, C) if metric == "cosine" else C


def _cols(lm, k):
    c = lm.cols[k]
    return c if isinstance(c, slice) else c.tolist()


def prepare(torch, C, lm):
    """Chunk ``C`` with the blocks of its cosine layers at unit norm."""
    if not lm.has_cosine:
        return C
    C = C.clone()
    for k, metric in enumerate(lm.metrics):
        if metric == "cosine":
            c = _cols(lm, k)
            C[:, c] = normalize_rows(torch, C[:, c])
    return C


def _layer(torch, metric, A, B):
    """Distances of the rows of A to the rows of B in one layer (A's dtype)."""
    if metric == "manhattan":
        return torch.cdist(A, B, p=1.0)
    if metric == "cosine":
        return (1.0 - A @ B.T).clamp(min=0.0)
    dot = A @ B.T
    na = (A * A).sum(dim=1)[:, None]
    nb = (B * B).sum(dim=1)[None, :]
    if metric == "tanimoto":
        den = na + nb - dot
        ok = den > 0
        return torch.where(ok, 1.0 - dot / torch.where(ok, den, 1.0), 0.0)
    d2 = (na + nb - 2.0 * dot).clamp(min=0.0)
    return d2 if metric == "sqeuclidean" else d2.sqrt()


class LayeredCodebook:
    """A codebook on the device prepared for searches with a LayerMetric."""

    def __init__(self, torch, W, lm):
        self.torch = torch
        self.lm = lm
        self.W = lm.constrain(TorchRows(torch), W)
        self.n_units = W.shape[0]
        self.parts = []
        for k in lm.active:
            c = _cols(lm, k)
            B = self.W[:, c]
            metric = lm.metrics[k]
            mu = None
            if metric in ("sqeuclidean", "euclidean"):
                mu = B.double().mean(dim=0).to(B.dtype)
                B = B - mu
            self.parts.append((metric, float(lm.coef[k]), c, mu, B.contiguous()))

    def scores(self, C):
        """Combined distances of a prepared chunk to every unit (C's dtype)."""
        S = None
        for metric, a, c, mu, B in self.parts:
            Xc = C[:, c] if mu is None else C[:, c] - mu
            G = _layer(self.torch, metric, Xc, B)
            S = a * G if S is None else S.add_(G, alpha=a)
        return S

    def search(self, C, second=True, masked=False):
        """BMU, runner-up (or None) and float64 BMU distance of each row.

        The ``RECHECK`` lowest scores of a row get float64 combined distances,
        which decide (ties to the lowest unit), as on the numpy backend.
        ``masked`` is always False here: layered maps refuse holes.
        """
        torch = self.torch
        _, cand = self.scores(C).topk(min(RECHECK, self.n_units), dim=1, largest=False)
        dist = torch.stack(
            [self.winner_distance(C, cand[:, q]) for q in range(cand.shape[1])], 1
        )
        i1, i2, d1, _ = best_two(torch, dist, cand)
        return i1, i2 if second else None, d1

    def winner_distance(self, C, idx):
        Wi = self.W.index_select(0, idx).double()
        Cd = C.double()
        out = self.torch.zeros(C.shape[0], dtype=self.torch.float64, device=C.device)
        for metric, a, c, _, _ in self.parts:
            A, B = Cd[:, c], Wi[:, c]
            if metric in ("sqeuclidean", "euclidean"):
                d = ((A - B) ** 2).sum(dim=1)
                d = d if metric == "sqeuclidean" else d.sqrt()
            elif metric == "manhattan":
                d = (A - B).abs().sum(dim=1)
            elif metric == "cosine":
                d = (1.0 - (A * B).sum(dim=1)).clamp(min=0.0)
            else:
                dot = (A * B).sum(dim=1)
                den = (A * A).sum(dim=1) + (B * B).sum(dim=1) - dot
                ok = den > 0
                safe = self.torch.where(ok, den, 1.0)
                d = self.torch.where(ok, 1.0 - dot / safe, 0.0)
            out += a * d
        return out


def pairwise(torch, C, W, lm):
    """Dense float64 combined distances of the rows of C to the rows of W."""
    cb = LayeredCodebook(torch, W.double(), lm)
    return cb.scores(prepare(torch, C.double(), lm))


__all__ = [
    "LayeredCodebook",
    "TorchRows",
    "chunk_key",
    "is_layered",
    "normalize_rows",
    "pairwise",
    "prepare",
    "prepare_rows",
]
