"""The seed applications: one module per application, shared by the CLI and examples.

``APPS`` maps each ``somkit demo NAME`` to its module (each has ``run()``).
"""

from __future__ import annotations

import importlib

_MODULES = {
    "iris": "iris",
    "moons": "moons",
    "grid-types": "grid_types",
    "breast-cancer": "breast_cancer",
    "digits": "digits",
    "reduce": "reduce",
    "deep-features": "deep_features",
}


def available():
    """Names of the applications whose module is present."""
    names = []
    for name, mod in _MODULES.items():
        if importlib.util.find_spec(f"somkit.apps.{mod}") is not None:
            names.append(name)
    return names


def get(name):
    """The module of application ``name``."""
    if name not in _MODULES:
        raise ValueError(f"unknown application {name!r}; choose from {list(_MODULES)}.")
    return importlib.import_module(f"somkit.apps.{_MODULES[name]}")


class _Apps(dict):
    """Lazy name -> module mapping (imports a module on first access)."""

    def __missing__(self, name):
        mod = get(name)
        self[name] = mod
        return mod

    def __iter__(self):
        return iter(available())

    def keys(self):
        return available()

    def __contains__(self, name):
        return name in available()

    def __len__(self):
        return len(available())


APPS = _Apps()
