"""Random generators saved and restored exactly (for checkpoints).

Training draws only from a local :class:`numpy.random.Generator` (made by
:func:`somkit._rules.make_rng`); its
``bit_generator.state`` is plain JSON (numbers and names), so a checkpoint
can store it and a resumed run continues the very same random stream.
"""

from __future__ import annotations

import numpy as np

#: Bit generators whose state a checkpoint may restore (numpy's own).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


def rng_state(rng):
    """The JSON-able state of ``rng`` (see :func:`rng_from_state`)."""
    return rng.bit_generator.state


def rng_from_state(state):
    """A Generator continuing the stream saved by :func:`rng_state`.

    Raises ValueError for anything but the state of one of numpy's bit
    generators.

    Examples
    --------
    >>> a = np.random.default_rng(1)
    >>> b = rng_from_state(rng_state(a))
    >>> bool(a.random() == b.random())
    True
    """
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise ValueError(f"unknown random generator state {name!r}")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ValueError(f"invalid random generator state ({exc})") from None
    return np.random.Generator(bit_generator)
