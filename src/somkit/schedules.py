"""Decay schedules for ``SOM(radius=..., learning_rate=...)`` (public)."""

from somkit._schedules import (
    Constant,
    ExponentialDecay,
    InverseDecay,
    LinearDecay,
    Piecewise,
    Schedule,
    StepDecay,
)

__all__ = [
    "Constant",
    "ExponentialDecay",
    "InverseDecay",
    "LinearDecay",
    "Piecewise",
    "Schedule",
    "StepDecay",
]
