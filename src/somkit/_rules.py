"""Rules shared by every entry point: default schedules, auto grid, generators.

``SOM``, ``SOMClustering``, ``reduce`` and the command line all size maps
and choose radii through these functions, so a map trained from Python and
one trained from the terminal on the same data are the same map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

#: Final radius of :func:`default_radius` for ``SOM``: units stay close
#: enough to their neighbours that the map keeps its order.
END_RADIUS = 1.5
#: Units per square root of the number of samples for ``grid="auto"``, as in
#: the SOM Toolbox (``som_topol_struct``).
UNITS_PER_ROOT = 5.0
#: Epochs when ``n_epochs=None`` but the default schedule does not apply.
FULL_EPOCHS = 10
#: The default schedule (:func:`auto_schedule`): ordering epochs on growing
#: random subsamples, then fine epochs over every row down to FINE_RADIUS.
ORDER_EPOCHS = 20
FINE_EPOCHS = 2
#: The fine epochs end at the smallest radius, at least FINE_RADIUS, whose
#: gaussian still averages about FINE_SAMPLES rows: 2 pi r^2 rows-per-unit.
FINE_RADIUS = 1.0
FINE_SAMPLES = 60.0
#: Rows of the largest ordering subsample: this many per unit, at least
#: SUBSAMPLE_MIN; the first is SUBSAMPLE_FIRST of it.
SUBSAMPLE_PER_UNIT = 4
SUBSAMPLE_MIN = 5000
SUBSAMPLE_FIRST = 0.125


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


@dataclass(frozen=True)
class AutoSchedule:
    """The default training plan: radius per epoch and rows per epoch."""

    radius: object  # somkit.schedules.Piecewise
    rows: tuple  # rows read by each epoch; n_samples = every row

    @property
    def n_epochs(self):
        return len(self.rows)

    @property
    def subsample(self):
        """Rows of the largest subsample (0 when every epoch reads all rows)."""
        n = self.rows[-1]
        return max((r for r in self.rows if r < n), default=0)


def auto_schedule(shape, n_samples):
    """The default schedule of ``SOM`` (``n_epochs=None, radius=None``).

    Rough-then-fine training, as in the SOM Toolbox's ``som_batchtrain``
    default (an ordering phase with a wide neighbourhood, then a fine-tuning
    phase with a narrow one), with the ordering on random subsamples:

    * ``ORDER_EPOCHS`` ordering epochs, the radius falling linearly from a
      quarter of the longest grid side (at least 1) to 1.5. A wide kernel
      averages over many samples per unit, so these epochs read a random
      subsample that grows geometrically from 1/8 of its final size to
      ``max(5000, 4 * n_units)`` rows;
    * ``FINE_EPOCHS`` epochs over every row, the radius falling from 1.5 to
      ``FINE_RADIUS`` (1.0): these fit the units to all the data. With few
      rows per unit a kernel that narrow would average too few samples and
      fold the map, so the end radius is the smallest one (from 1.0 to 1.5)
      whose gaussian spans ``2 pi r^2`` units holding ``FINE_SAMPLES`` (60)
      rows: 1.0 from about 10 rows per unit on, 1.5 below about 4.

    So a fit costs two passes over the data for training (plus the final
    pass that sets ``labels_``) however many rows there are. On data with
    no more rows than that subsample every epoch reads all rows (22 cheap
    epochs).

    Parameters
    ----------
    shape : tuple of int
        Grid shape.
    n_samples : int
        Rows of the training data.

    Returns
    -------
    AutoSchedule

    Examples
    --------
    >>> plan = auto_schedule((40, 40), 50_000)
    >>> plan.n_epochs, plan.rows[0], plan.rows[19], plan.rows[-2:]
    (22, 800, 6400, (50000, 50000))
    >>> [round(plan.radius(t, 22), 2) for t in (0, 19, 20, 21)]
    [10.0, 1.5, 1.5, 1.0]
    """
    from somkit._schedules import Piecewise

    start = max(max(shape) / 4.0, 1.0)
    mid = min(END_RADIUS, start)
    per_unit = max(int(n_samples), 1) / math.prod(shape)
    wide = math.sqrt(FINE_SAMPLES / (2 * math.pi * per_unit))
    end = min(max(FINE_RADIUS, wide), mid)
    last = ORDER_EPOCHS + FINE_EPOCHS - 1
    radius = Piecewise(
        (0, ORDER_EPOCHS - 1, ORDER_EPOCHS, last), (start, mid, mid, end)
    )
    n = int(n_samples)
    big = max(SUBSAMPLE_MIN, SUBSAMPLE_PER_UNIT * math.prod(shape))
    if n <= big:
        return AutoSchedule(radius, (n,) * (last + 1))
    small = math.ceil(SUBSAMPLE_FIRST * big)
    growth = (big / small) ** (1.0 / max(ORDER_EPOCHS - 1, 1))
    order = [min(big, round(small * growth**k)) for k in range(ORDER_EPOCHS)]
    order[-1] = big
    return AutoSchedule(radius, tuple(order) + (n,) * FINE_EPOCHS)


def fit_schedule(shape, n_samples, params):
    """``(radius schedule, epochs, rows per epoch or None)`` of one ``fit``.

    ``params`` holds ``SOM``'s "radius", "n_epochs", "schedule" and
    "algorithm". The default schedule (:func:`auto_schedule`) when
    ``schedule="auto"`` and ``radius``, ``n_epochs`` are None with the
    batch rule; otherwise exactly the given settings (``radius=None``:
    :func:`default_radius`, ``n_epochs=None``: ``FULL_EPOCHS``), every epoch
    on every row.

    Examples
    --------
    >>> p = dict(radius=(5, 1), n_epochs=None, schedule="auto", algorithm="batch")
    >>> fit_schedule((20, 20), 100, p)
    (LinearDecay(start=5.0, end=1.0), 10, None)
    """
    from somkit._schedules import as_schedule

    radius, n_epochs = params["radius"], params["n_epochs"]
    if (
        params["schedule"] == "auto"
        and radius is None
        and n_epochs is None
        and params["algorithm"] == "batch"
    ):
        plan = auto_schedule(shape, n_samples)
        return plan.radius, plan.n_epochs, plan.rows
    radius = as_schedule(radius, "radius", default_radius(shape))
    return radius, int(n_epochs or FULL_EPOCHS), None


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
    n = getattr(X, "total_weight", n)  # a stream of weighted chunks
    k = min(2, X.shape[1])
    _, evals, _ = leading_components(X, sample_weight, k, backend)
    return grid_shape(n, list(evals[:k]), **rule)
