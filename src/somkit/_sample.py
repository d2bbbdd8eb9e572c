"""A uniform (or weighted) random sample of rows in one streaming pass.

Reservoir sampling by random keys (Efraimidis and Spirakis 2006): every
row gets the key ``log(u) / w`` (``u`` uniform in (0, 1), ``w`` its weight,
1 by default) and the sample is the ``n`` rows with the largest keys. With
equal weights each set of ``n`` rows is equally likely; with weights, rows
are drawn one after another with probability proportional to weight,
without replacement. The keys are drawn row after row from one generator,
so the sample depends on the seed and the data, not on how the rows are
split into chunks. Memory: the ``n`` kept rows and one chunk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Reservoir", "reservoir_sample"]


class Reservoir:
    """The running sample of :func:`reservoir_sample`.

    Parameters
    ----------
    size : int
        Rows to keep.
    rng : numpy.random.Generator

    Examples
    --------
    >>> res = Reservoir(3, np.random.default_rng(0))
    >>> res.add(np.arange(10.0)[:, None])
    >>> res.rows().shape, res.seen
    ((3, 1), 10)
    """

    def __init__(self, size, rng):
        self.size = int(size)
        self.rng = rng
        self.seen = 0
        self.count = 0
        self.keys = np.empty(self.size)
        self.index = np.empty(self.size, dtype=np.int64)
        self.data = None
        self.extras = None

    def add(self, X, weights=None, extras=None):
        """Offer the rows of one chunk (and per-row ``extras``, e.g. labels)."""
        n = len(X)
        u = self.rng.random(n)
        with np.errstate(divide="ignore"):
            keys = np.log1p(-u)  # log of a uniform on (0, 1]
            if weights is not None:
                w = np.asarray(weights, dtype=np.float64)
                keys = np.where(w > 0, keys / np.where(w > 0, w, 1.0), -np.inf)
        index = self.seen + np.arange(n)
        self.seen += n
        X = np.asarray(X)
        if self.data is None:
            self.data = np.empty((self.size, *X.shape[1:]), dtype=X.dtype)
            if extras is not None:
                extras = np.asarray(extras)
                self.extras = np.empty((self.size, *extras.shape[1:]), extras.dtype)
        take = np.flatnonzero(keys > -np.inf)
        # fill the free slots first, in stream order
        fill = take[: self.size - self.count]
        if len(fill):
            self._put(
                np.arange(self.count, self.count + len(fill)),
                fill,
                keys,
                index,
                X,
                extras,
            )
            self.count += len(fill)
        rest = take[len(fill) :]
        if not len(rest):
            return
        # then each remaining row that beats the weakest key takes its slot
        rest = rest[keys[rest] > self.keys.min()]
        if not len(rest):
            return
        both = np.concatenate([self.keys, keys[rest]])
        keep = np.argpartition(-both, self.size - 1)[: self.size]
        new = np.sort(keep[keep >= self.size]) - self.size
        stays = np.zeros(self.size, dtype=bool)  # (a mask: setdiff1d hashes)
        stays[keep[keep < self.size]] = True
        slots = np.flatnonzero(~stays)
        self._put(slots, rest[new], keys, index, X, extras)

    def _put(self, slots, rows, keys, index, X, extras):
        self.keys[slots] = keys[rows]
        self.index[slots] = index[rows]
        self.data[slots] = X[rows]
        if self.extras is not None:
            self.extras[slots] = np.asarray(extras)[rows]

    def _order(self):
        return np.argsort(self.index[: self.count], kind="stable")

    def rows(self):
        """The kept rows, in the order they came in."""
        if self.data is None:
            return np.empty((0, 0))
        return self.data[: self.count][self._order()]

    def kept(self):
        """``(row numbers, rows, extras)`` of the sample, in stream order."""
        order = self._order()
        extras = None if self.extras is None else self.extras[: self.count][order]
        return self.index[: self.count][order], self.rows(), extras


def reservoir_sample(chunks, n, random_state=None):
    """A uniform random sample of ``n`` rows from chunks, in one pass.

    Parameters
    ----------
    chunks : iterable or callable
        Row chunks (arrays of shape (rows, n_features), or ``(X, weights)``
        pairs for a weighted sample), or a callable returning an iterator of
        them (e.g. :func:`somkit.read`).
    n : int
        Rows to draw. Fewer come back when the chunks hold fewer rows (of
        positive weight).
    random_state : int, Generator or None
        Seed: the same seed and data give the same sample, however the rows
        are split into chunks.

    Returns
    -------
    ndarray of shape (min(n, rows), n_features)
        The sampled rows, in the order they appear in the stream.

    Examples
    --------
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> chunks = [X[:4], X[4:]]
    >>> a = reservoir_sample(chunks, 3, random_state=0)
    >>> b = reservoir_sample([X[:7], X[7:]], 3, random_state=0)
    >>> a.shape, bool((a == b).all())
    ((3, 2), True)
    """
    from numbers import Integral

    if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}.")
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    else:
        rng = np.random.default_rng(random_state)
    res = Reservoir(n, rng)
    for item in chunks() if callable(chunks) else chunks:
        X, w = item if isinstance(item, tuple) else (item, None)
        if len(X):
            res.add(X, w)
    if not res.count:
        raise ValueError("the chunks hold no rows (of positive weight).")
    return res.rows()
