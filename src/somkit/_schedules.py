"""Decay schedules for the neighbourhood radius and the learning rate.

A schedule maps training time ``t`` (in epochs, float for per-sample
advancement, 0-based) and the planned number of epochs to a value. Time runs
as the fraction ``f = t / max(total - 1, 1)``, so the last epoch gets the
``end`` value; past the plan the value stays at ``end`` (used by
``partial_fit`` streams that outlive ``n_epochs``).

Ranges the update rules can use (:func:`check_radius`, :func:`check_rate`):
a radius is 0 (winner only) or at least :data:`MIN_RADIUS` grid units (below
that every kernel is already winner-only, and ``sigma**2`` can underflow);
a learning rate of the online and minibatch rules lies in (0, 1] (a step
never overshoots its target), and a decaying schedule may end at 0.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

#: Smallest positive radius (grid units); the driver treats smaller values
#: on the way down to 0 as 0.
MIN_RADIUS = 0.01


class Schedule:
    """Base class: subclasses implement :meth:`at` on the fraction ``f``."""

    _fields: tuple[str, ...] = ()

    def __call__(self, t, total):
        """Value at time ``t`` (scalar or array of epochs) of a ``total``-epoch plan."""
        t = np.asarray(t, dtype=np.float64)
        f = np.clip(t / max(total - 1, 1), 0.0, 1.0)
        v = np.broadcast_to(np.asarray(self.at(f, t), dtype=np.float64), t.shape)
        return float(v) if v.ndim == 0 else v.copy()

    def at(self, f, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self):
        return {k: getattr(self, k) for k in self._fields}

    def bounds(self):
        """``(low, high)``: the range of values the schedule can take."""
        ends = [float(getattr(self, k)) for k in self._fields]
        return min(ends), max(ends)

    def to_dict(self):
        return {"kind": type(self).__name__, **self.params()}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(self.params().items())))

    def _check(self, name):
        for k in self._fields:
            v = getattr(self, k)
            if not isinstance(v, Real) or isinstance(v, bool):
                raise TypeError(f"{name}: {type(self).__name__}.{k} must be a number.")
            if not math.isfinite(v) or v < 0:
                raise ValueError(
                    f"{name}: {type(self).__name__}.{k} must be finite and >= 0, "
                    f"got {v!r}."
                )


class Constant(Schedule):
    """The same value at every step.

    Examples
    --------
    >>> Constant(2.0)(5, 10)
    2.0
    """

    _fields = ("value",)

    def __init__(self, value):
        self.value = value

    def at(self, f, t):
        return self.value


class LinearDecay(Schedule):
    """Straight line from ``start`` to ``end``.

    Examples
    --------
    >>> LinearDecay(5.0, 1.0)(2, 5)
    3.0
    """

    _fields = ("start", "end")

    def __init__(self, start, end):
        self.start = start
        self.end = end

    def at(self, f, t):
        return self.start + (self.end - self.start) * f


class ExponentialDecay(Schedule):
    """Geometric decay ``start * (end / start) ** f`` (linear if an end is 0).

    Examples
    --------
    >>> round(ExponentialDecay(4.0, 1.0)(1, 3), 6)
    2.0
    """

    _fields = ("start", "end")

    def __init__(self, start, end):
        self.start = start
        self.end = end

    def at(self, f, t):
        if self.start <= 0 or self.end <= 0:
            return self.start + (self.end - self.start) * f
        return self.start * (self.end / self.start) ** f


class InverseDecay(Schedule):
    """Hyperbolic decay ``start / (1 + a f)`` with ``a`` set to reach ``end``.

    Examples
    --------
    >>> InverseDecay(1.0, 0.25)(4, 5)
    0.25
    """

    _fields = ("start", "end")

    def __init__(self, start, end):
        self.start = start
        self.end = end

    def at(self, f, t):
        if self.end <= 0:
            return self.start * (1.0 - f)
        a = self.start / self.end - 1.0
        return self.start / (1.0 + a * f)


class StepDecay(Schedule):
    """NeuPy's stepwise decay: ``max(minimum, start - amount * (epoch // every))``.

    Epochs are counted from 1 as in NeuPy (``epoch = floor(t) + 1``).

    Examples
    --------
    >>> [StepDecay(3, every=2)(t, 10) for t in range(6)]
    [3.0, 2.0, 2.0, 1.0, 1.0, 0.0]
    """

    _fields = ("start", "every", "amount", "minimum")

    def __init__(self, start, every=1, amount=1.0, minimum=0.0):
        self.start = start
        self.every = every
        self.amount = amount
        self.minimum = minimum

    def at(self, f, t):
        epoch = np.floor(t) + 1
        return np.maximum(
            self.minimum, self.start - self.amount * (epoch // self.every)
        )

    def bounds(self):
        top = max(self.start, self.minimum)
        low = min(self.start, self.minimum) if self.amount > 0 else top
        return float(low), float(top)

    def _check(self, name):
        super()._check(name)
        if self.every < 1:
            raise ValueError(f"{name}: StepDecay.every must be >= 1.")


class Piecewise(Schedule):
    """Straight lines through ``(epochs[i], values[i])``, in epochs.

    Unlike the other schedules it is set in epochs, not as a fraction of the
    plan: before the first point and after the last the value stays at the
    first / last value. The default training schedule of ``SOM`` is one
    (see :func:`somkit._rules.auto_schedule`).

    Examples
    --------
    >>> s = Piecewise((0, 4, 5, 6), (10.0, 1.5, 1.5, 1.0))
    >>> [s(t, 7) for t in (0, 2, 4, 5, 6, 9)]
    [10.0, 5.75, 1.5, 1.5, 1.0, 1.0]
    """

    _fields = ("epochs", "values")

    def __init__(self, epochs, values):
        self.epochs = tuple(float(e) for e in epochs)
        self.values = tuple(float(v) for v in values)

    def at(self, f, t):
        return np.interp(t, self.epochs, self.values)

    def params(self):
        return {"epochs": list(self.epochs), "values": list(self.values)}

    def bounds(self):
        return min(self.values), max(self.values)

    def __eq__(self, other):
        return type(self) is type(other) and (self.epochs, self.values) == (
            other.epochs,
            other.values,
        )

    def __hash__(self):
        return hash((type(self).__name__, self.epochs, self.values))

    def _check(self, name):
        e, v = np.asarray(self.epochs), np.asarray(self.values)
        if len(e) == 0 or len(e) != len(v):
            raise ValueError(
                f"{name}: Piecewise needs as many epochs as values (at least one)."
            )
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(v)) and np.all(v >= 0)):
            raise ValueError(f"{name}: Piecewise values must be finite and >= 0.")
        if np.any(np.diff(e) < 0):
            raise ValueError(f"{name}: Piecewise epochs must not decrease.")


SCHEDULES = {
    cls.__name__: cls
    for cls in (
        Constant,
        LinearDecay,
        ExponentialDecay,
        InverseDecay,
        StepDecay,
        Piecewise,
    )
}


def schedule_from_dict(d):
    d = dict(d)
    cls = SCHEDULES.get(d.pop("kind", None))
    if cls is None:
        raise ValueError(f"unknown schedule in model file: {d!r}")
    return cls(**d)


def as_schedule(value, name, default):
    """Turn a user value (None, number, (start, end) or Schedule) into a Schedule.

    ``default`` is the Schedule used for ``None``.
    """
    if value is None and default is not None:
        sched = default
    elif isinstance(value, Schedule):
        sched = value
    elif isinstance(value, Real) and not isinstance(value, bool):
        sched = Constant(float(value))
    elif isinstance(value, tuple | list) and len(value) == 2:
        if not all(isinstance(v, Real) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{name} (start, end) must be two numbers, got {value!r}.")
        sched = LinearDecay(*(float(v) for v in value))
    else:
        raise ValueError(
            f"{name} must be None, a number, a (start, end) pair or a Schedule "
            f"(LinearDecay, ExponentialDecay, InverseDecay, StepDecay, Constant, "
            f"Piecewise); "
            f"got {value!r}."
        )
    sched._check(name)
    return sched


def check_radius(schedule, name="radius"):
    """ValueError unless every end of the schedule is 0 or >= MIN_RADIUS.

    Examples
    --------
    >>> check_radius(LinearDecay(3.0, 0.0))
    >>> check_radius(Constant(1e-300))
    Traceback (most recent call last):
    ...
    ValueError: radius must be 0 (winner only) or at least 0.01 grid units; \
got Constant(value=1e-300).
    """
    if any(0 < v < MIN_RADIUS for v in schedule.bounds()):
        raise ValueError(
            f"{name} must be 0 (winner only) or at least {MIN_RADIUS} grid units; "
            f"got {schedule!r}."
        )


def check_rate(value, name="learning_rate"):
    """The learning-rate Schedule of ``value``, refused outside (0, 1].

    A decaying schedule may end at 0; the largest value must be in (0, 1].

    Examples
    --------
    >>> check_rate((0.5, 0.0))
    LinearDecay(start=0.5, end=0.0)
    >>> check_rate(3.0)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must lie in (0, 1] for the online and minibatch \
rules (a decaying schedule may end at 0); got 3.0.
    """
    message = (
        f"{name} must lie in (0, 1] for the online and minibatch rules (a "
        f"decaying schedule may end at 0); got {value!r}."
    )
    try:
        schedule = as_schedule(value, name, None)
    except ValueError:
        numbers = value if isinstance(value, tuple | list) else [value]
        if all(isinstance(v, Real) and not isinstance(v, bool) for v in numbers):
            raise ValueError(message) from None
        raise
    low, high = schedule.bounds()
    if not (low >= 0 and 0 < high <= 1):
        raise ValueError(message)
    return schedule


def effective_radius(sigma):
    """Radii below MIN_RADIUS (on a decay towards 0) act as 0: winner only."""
    if np.ndim(sigma) == 0:
        return 0.0 if float(sigma) < MIN_RADIUS else float(sigma)
    sigma = np.asarray(sigma, dtype=np.float64)
    return np.where(sigma < MIN_RADIUS, 0.0, sigma)
