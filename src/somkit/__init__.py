"""somkit: self-organizing maps that are fast, correct and easy to look at.

The public surface is small: :class:`SOM`, :class:`SOMClustering`,
:func:`load`, :func:`umatrix`, :func:`reduce` and the submodules
``somkit.metrics``, ``somkit.plot``, ``somkit.neupy``, ``somkit.features``,
``somkit.schedules``.
"""

from somkit._io import load
from somkit._som import SOM

__version__ = "0.1.0"

__all__ = ["SOM", "SOMClustering", "load", "reduce", "umatrix", "__version__"]


_SUBMODULES = ("metrics", "plot", "neupy", "features", "schedules", "datasets", "apps")


def __getattr__(name):
    # Parts written in their own modules, imported on first use, so that
    # `import somkit` stays light (no matplotlib, torch or dask).
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"somkit.{name}")
    if name == "SOMClustering":
        from somkit._clustering import SOMClustering

        return SOMClustering
    if name == "umatrix":
        from somkit._umatrix import umatrix

        return umatrix
    if name == "reduce":
        from somkit._reduce import reduce

        return reduce
    raise AttributeError(f"module 'somkit' has no attribute {name!r}")
