"""An upper quantile of per-row values in one streaming pass, exactly.

The outlier threshold of a map is the 99th (weighted) percentile of the
training rows' distances to their BMU. On a stream or a cluster the
distances are never gathered: each chunk keeps only the few largest values
that can still matter (those whose weight from the top does not yet exceed
the share above the quantile), and the kept tails of chunks merge the same
way. Memory: about ``(1 - q) * n`` values, never all n.
"""

from __future__ import annotations

import numpy as np


class Tail:
    """The largest values of a stream that can still be its ``q`` quantile.

    Parameters
    ----------
    q : float
        Percentile in [0, 100] (as for ``numpy.percentile``).
    total : float
        Total weight of the whole stream (rows, or summed sample weights),
        known beforehand.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random(1000)
    >>> t = Tail(99.0, len(x))
    >>> for a in range(0, 1000, 128):
    ...     t.add(x[a : a + 128])
    >>> t.result() == float(np.percentile(x, 99, method="inverted_cdf"))
    True
    """

    def __init__(self, q, total):
        self.q = float(q)
        self.total = float(total)
        # weight above the quantile, with a margin for rounding
        self.keep = (1.0 - self.q / 100.0) * self.total * (1 + 1e-9) + 1e-12
        self.values = np.empty(0)
        self.weights = np.empty(0)

    def add(self, values, weights=None):
        """Take the values (and weights) of one chunk; keep what can matter."""
        v = np.asarray(values, dtype=np.float64).ravel()
        w = np.ones(len(v)) if weights is None else np.asarray(weights, np.float64)
        self.merge((v, w))

    def merge(self, other):
        """Take another tail (``Tail`` or ``(values, weights)``)."""
        if isinstance(other, Tail):
            other = (other.values, other.weights)
        v = np.concatenate([self.values, other[0]])
        w = np.concatenate([self.weights, other[1]])
        pos = w > 0
        v, w = v[pos], w[pos]
        order = np.argsort(-v, kind="stable")
        v, w = v[order], w[order]
        # keep every value up to (and one past) the point where the weight
        # from the top exceeds the share above the quantile
        cut = int(np.searchsorted(np.cumsum(w), self.keep, side="right")) + 1
        self.values, self.weights = v[:cut], w[:cut]
        return self

    def state(self):
        """``(values, weights)``: what a chunk sends to be merged."""
        return self.values, self.weights

    def result(self):
        """The ``q`` percentile (``method="inverted_cdf"``) of everything added."""
        if not len(self.values):
            return 0.0
        below = max(self.total - float(self.weights.sum()), 0.0)
        v = np.concatenate([[self.values.min()], self.values[::-1]])
        w = np.concatenate([[below], self.weights[::-1]])
        return float(np.percentile(v, self.q, method="inverted_cdf", weights=w))
