"""Small data sets for the demos and tests, built offline.

Every generator is self-contained and deterministic given ``random_state``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

__all__ = ["disc", "one_moon"]


def _check_count(name, value, minimum=1):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def disc(n=8000, radius=1.0, random_state=0):
    """Points drawn uniformly from a disc centred on the origin.

    The radius of a point is ``radius * sqrt(u)`` with ``u`` uniform on
    [0, 1), so the density is the same everywhere in the disc (plain uniform
    radii would crowd the centre).

    Parameters
    ----------
    n : int, default=8000
        Number of points.
    radius : float, default=1.0
        Radius of the disc.
    random_state : int, numpy Generator or None, default=0

    Returns
    -------
    X : ndarray of shape (n, 2), float64

    Examples
    --------
    >>> import numpy as np
    >>> X = disc(1000, radius=2.0)
    >>> X.shape, bool(np.all(np.hypot(X[:, 0], X[:, 1]) <= 2.0))
    ((1000, 2), True)
    """
    n = _check_count("n", n)
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}.")
    rng = np.random.default_rng(random_state)
    r = radius * np.sqrt(rng.uniform(size=n))
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.column_stack([r * np.cos(t), r * np.sin(t)])


def one_moon(n=200, noise=0.05, random_state=0):
    """The upper moon of scikit-learn's ``make_moons``: a noisy half circle.

    Points lie around the unit half circle ``(cos t, sin t)``, t in [0, pi],
    with Gaussian noise of standard deviation ``noise`` on each coordinate.

    Parameters
    ----------
    n : int, default=200
        Number of points.
    noise : float, default=0.05
        Standard deviation of the Gaussian noise.
    random_state : int or None, default=0
        Seed passed to ``make_moons``.

    Returns
    -------
    X : ndarray of shape (n, 2), float64

    Examples
    --------
    >>> X = one_moon(200)
    >>> X.shape, bool(X[:, 1].mean() > 0.5)
    ((200, 2), True)
    """
    from sklearn.datasets import make_moons

    n = _check_count("n", n)
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    if random_state is not None and not isinstance(random_state, Integral):
        raise ValueError(f"random_state must be an int or None, got {random_state!r}.")
    X, y = make_moons(n_samples=2 * n, noise=noise, random_state=random_state)
    return X[y == 0]
