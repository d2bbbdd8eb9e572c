"""Cytometry-like data with known populations (for tests, demos, benchmarks)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

# Raw-scale medians of the three expression levels (negative, dim, bright);
# with cofactor 5 they sit near 0.4, 2.5 and 4.8 after arcsinh.
_LEVELS = np.array([2.0, 30.0, 300.0])


def make_cytometry(
    n_cells=300_000,
    n_markers=20,
    n_populations=15,
    *,
    rare=(0.005, 0.003),
    n_lineages=4,
    cofactor=5.0,
    spillover=0.03,
    noise=3.0,
    spread=0.35,
    transform=True,
    random_state=None,
    out=None,
):
    """Cells drawn from populations organised in lineages, as in a cytometer.

    Each lineage founder gets a random pattern of negative / dim / bright
    markers; every further population is the child of an earlier one and
    differs from its parent in one or two markers (each moved to another
    level).
    Intensities are log-normal around the level of each marker, channels
    spill a share of their signal into the next channel, additive Gaussian
    background noise makes some values negative, and the result is
    arcsinh-transformed with ``cofactor`` (as mass-cytometry data are).
    The last ``len(rare)`` populations are rare children holding the given
    shares of the cells; the others share the rest at random.

    Parameters
    ----------
    n_cells : int, default=300_000
    n_markers : int, default=20
    n_populations : int, default=15
        Number of populations, ``n_lineages`` founders included.
    rare : sequence of float, default=(0.005, 0.003)
        Shares of the rare populations (each in (0, 0.5)).
    n_lineages : int, default=4
        Founder populations (independent random patterns).
    cofactor : float, default=5.0
        Cofactor of the arcsinh transform.
    spillover : float, default=0.03
        Share of each channel's signal that spills into the next channel.
    noise : float, default=3.0
        Standard deviation of the additive background noise (raw scale).
    spread : float, default=0.35
        Standard deviation of log intensities within a population.
    transform : bool, default=True
        Return arcsinh(raw / cofactor); False returns raw intensities.
    random_state : int, Generator or None, default=None
    out : ndarray of shape (n_cells, n_markers), default=None
        Array to fill (e.g. a ``numpy.memmap`` for data larger than memory;
        rows are written in blocks); None allocates a float32 array.

    Returns
    -------
    X : ndarray of shape (n_cells, n_markers), float32
    y : ndarray of shape (n_cells,), int64
        Population of each cell; the rare ones are the last ``len(rare)``.

    Examples
    --------
    >>> from somkit.cytometry import make_cytometry
    >>> X, y = make_cytometry(2000, 10, 6, n_lineages=2, random_state=0)
    >>> X.shape, sorted(set(y.tolist())) == list(range(6))
    ((2000, 10), True)
    """
    for name, value, low in (
        ("n_cells", n_cells, 1),
        ("n_markers", n_markers, 2),
        ("n_populations", n_populations, 1),
        ("n_lineages", n_lineages, 1),
    ):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    rare = tuple(float(r) for r in rare)
    if any(not 0 < r < 0.5 for r in rare) or sum(rare) >= 1:
        raise ValueError(f"rare must hold shares in (0, 0.5), got {rare!r}.")
    if n_lineages + len(rare) > n_populations:
        raise ValueError(
            "n_populations must be at least n_lineages + len(rare), got "
            f"{n_populations} < {n_lineages} + {len(rare)}."
        )
    for name, value in (
        ("cofactor", cofactor),
        ("spread", spread),
        ("noise", noise),
        ("spillover", spillover),
    ):
        if not isinstance(value, Real) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    if not cofactor > 0:
        raise ValueError(f"cofactor must be > 0, got {cofactor!r}.")
    rng = np.random.default_rng(random_state)

    patterns = _patterns(rng, n_populations, n_lineages, n_markers, len(rare))
    n_common = n_populations - len(rare)
    common = rng.dirichlet(np.full(n_common, 4.0)) * (1.0 - sum(rare))
    shares = np.concatenate([common, rare])
    counts = _counts(shares, n_cells, rng)
    y = np.repeat(np.arange(n_populations), counts)
    rng.shuffle(y)

    log_mu = np.log(_LEVELS)[patterns]  # (n_populations, n_markers)
    if out is None:
        X = np.empty((n_cells, n_markers), dtype=np.float32)
    elif getattr(out, "shape", None) != (n_cells, n_markers):
        raise ValueError(
            f"out must have shape {(n_cells, n_markers)}, got "
            f"{getattr(out, 'shape', None)}."
        )
    else:
        X = out
    mix = np.eye(n_markers) + spillover * np.eye(n_markers, k=1)
    step = 1 << 18
    for a in range(0, n_cells, step):
        yb = y[a : a + step]
        raw = np.exp(log_mu[yb] + spread * rng.standard_normal((yb.size, n_markers)))
        raw = raw @ mix + noise * rng.standard_normal((yb.size, n_markers))
        X[a : a + step] = np.arcsinh(raw / cofactor) if transform else raw
    return X, y.astype(np.int64)


def _patterns(rng, n_populations, n_lineages, n_markers, n_rare):
    """Level (0, 1, 2) of every marker in every population, all distinct."""
    levels = np.empty((n_populations, n_markers), dtype=np.int64)
    seen = set()
    for p in range(n_populations):
        for _ in range(1000):
            if p < n_lineages:
                row = rng.choice(3, size=n_markers, p=[0.5, 0.2, 0.3])
            else:
                # Rare populations branch off the largest lineages' founders;
                # the others off any earlier population.
                parent = rng.integers(n_lineages if p >= n_populations - n_rare else p)
                row = levels[parent].copy()
                for m in rng.choice(n_markers, size=rng.integers(1, 3), replace=False):
                    row[m] = (row[m] + rng.integers(1, 3)) % 3
            if row.tobytes() not in seen:
                break
        else:  # pragma: no cover - only for tiny marker counts
            raise ValueError("n_markers is too small for distinct populations.")
        seen.add(row.tobytes())
        levels[p] = row
    return levels


def _counts(shares, n_cells, rng):
    """Integer cell counts proportional to ``shares`` summing to ``n_cells``."""
    counts = np.floor(shares * n_cells).astype(np.int64)
    rest = n_cells - counts.sum()
    if rest:
        counts[rng.choice(counts.size, size=rest, replace=False, p=shares)] += 1
    return counts
