"""Rules shared by every entry point: default radius, automatic grid, generators.

``SOM``, ``SOMClustering``, ``reduce`` and the command line all size maps
and choose radii through these functions, so a map trained from Python and
one trained from the terminal on the same data are the same map.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

#: Final radius of :func:`default_radius` for ``SOM``: units stay close
#: enough to their neighbours that the map keeps its order.
END_RADIUS = 1.5
#: Units per square root of the number of samples for ``grid="auto"``, as in
#: the SOM Toolbox (``som_topol_struct``).
UNITS_PER_ROOT = 5.0


def default_radius(shape, end=END_RADIUS):
    """The radius schedule used when ``radius=None``.

    Linear decay from a quarter of the largest grid side (at least 1) to
    ``end`` grid units (or to the start value if that is smaller). With the
    PCA initialisation the map starts ordered, so a moderate start radius
    keeps it ordered while the small end radius lets units fit the data.

    Parameters
    ----------
    shape : tuple of int
        Grid shape.
    end : float, default=1.5
        Final radius (``SOMClustering`` and ``reduce`` use 0.5).

    Returns
    -------
    LinearDecay

    Examples
    --------
    >>> default_radius((20, 20))
    LinearDecay(start=5.0, end=1.5)
    """
    from somkit._schedules import LinearDecay

    start = max(max(shape) / 4.0, 1.0)
    return LinearDecay(start, min(float(end), start))


def grid_shape(
    n_samples,
    eigenvalues,
    *,
    units_per_root=UNITS_PER_ROOT,
    min_units=4,
    max_units=None,
    min_cols=1,
):
    """Grid shape for ``n_samples`` rows with the given leading eigenvalues.

    About ``units_per_root * sqrt(n_samples)`` units (clipped to
    ``[min_units, max_units]``); the two sides in the ratio of the standard
    deviations along the two leading principal components, the longer side
    first. One eigenvalue (one feature) gives a chain unless ``min_cols``
    asks for a 2-D map (then the sides are equal).

    Parameters
    ----------
    n_samples : float
        Number of samples (total sample weight when weights are given, so
        that weights act like repeated rows).
    eigenvalues : sequence of float
        The leading covariance eigenvalues, largest first (one or two).

    Examples
    --------
    >>> grid_shape(150, [4.0, 1.0])  # 61 units, sides about 2:1
    (11, 6)
    """
    munits = max(int(min_units), int(round(units_per_root * math.sqrt(n_samples))))
    if max_units is not None:
        munits = min(munits, int(max_units))
    ev = [max(float(v), 0.0) for v in eigenvalues]
    if len(ev) < 2 and min_cols <= 1:
        return (munits,)
    if len(ev) < 2 or ev[0] <= 0:
        ratio = 1.0
    else:
        ratio = math.sqrt(ev[0] / ev[1]) if ev[1] > 0 else float(munits)
    ratio = min(max(ratio, 1.0), float(munits))
    rows = max(1, int(round(math.sqrt(munits * ratio))))
    cols = max(int(min_cols), 1, int(round(munits / rows)))
    return (rows, cols) if cols > 1 else (rows,)


def make_rng(random_state, step=0):
    """A local numpy Generator from any ``random_state`` (never the global one).

    ``step`` separates the streams of successive ``partial_fit`` calls.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng([int(random_state.randint(2**31 - 1)), step])
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return np.random.default_rng([int(random_state), step])
    raise ValueError(
        "random_state must be None, an int, a RandomState or a Generator; got "
        f"{random_state!r}."
    )


def auto_grid(X, sample_weight=None, backend=None, **rule):
    """Grid shape chosen from the data, as in the SOM Toolbox.

    About ``5 * sqrt(n_samples)`` units (n_samples = total sample weight when
    weights are given, so weights act like repeated rows); the ratio of the
    two sides is the ratio of the standard deviations along the two leading
    principal components (largest side first). Only the two leading
    components are computed, so wide tables stay fast. ``rule`` is passed to
    :func:`somkit._rules.grid_shape`. Without a ``backend``, in-memory X
    with holes (NaN) gets one that measures around them.
    """
    import numpy as np

    from somkit._backends import input_kind, resolve
    from somkit._init import leading_components

    if backend is None:
        holes = input_kind(X) == "array" and bool(np.isnan(np.asarray(X)).any())
        backend = resolve("auto", X, missing="ignore" if holes else "error")
    n = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    k = min(2, X.shape[1])
    _, evals, _ = leading_components(X, sample_weight, k, backend)
    return grid_shape(n, list(evals[:k]), **rule)
