"""somkit: self-organizing maps that are fast, correct and easy to look at.

The public surface is small: :class:`SOM` (with :class:`Layer` for layered
maps), :class:`SOMClustering`, :class:`SOMClassifier`, :class:`SOMRegressor`,
:func:`load`, :func:`save`, :func:`umatrix`, :func:`reduce`, :func:`impute`,
:func:`read` (big files in row chunks), :func:`reservoir_sample` and the
submodules ``somkit.metrics``, ``somkit.plot``, ``somkit.neupy``,
``somkit.features``, ``somkit.schedules``. Everything is imported on first
use, so ``import somkit`` (and ``somkit --help``) stays light.
"""

__version__ = "0.1.0"

__all__ = [
    "SOM",
    "Layer",
    "SOMClassifier",
    "SOMClustering",
    "SOMRegressor",
    "__version__",
    "impute",
    "load",
    "read",
    "reduce",
    "reservoir_sample",
    "save",
    "umatrix",
]

_SUBMODULES = ("metrics", "plot", "neupy", "features", "schedules", "datasets", "apps")
_ATTRIBUTES = {
    "SOM": ("somkit._som", "SOM"),
    "SOMClustering": ("somkit._clustering", "SOMClustering"),
    "SOMClassifier": ("somkit._supervised", "SOMClassifier"),
    "SOMRegressor": ("somkit._supervised", "SOMRegressor"),
    "Layer": ("somkit._layers", "Layer"),
    "load": ("somkit._model", "load"),
    "save": ("somkit._model", "save"),
    "umatrix": ("somkit._umatrix", "umatrix"),
    "reduce": ("somkit._reduce", "reduce"),
    "impute": ("somkit._missing", "impute"),
    "read": ("somkit._chunks", "read"),
    "reservoir_sample": ("somkit._sample", "reservoir_sample"),
}


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"somkit.{name}")
    if name in _ATTRIBUTES:
        module, attr = _ATTRIBUTES[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'somkit' has no attribute {name!r}")


def __dir__():
    return sorted([*__all__, *_SUBMODULES])
