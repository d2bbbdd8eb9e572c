"""Numba's on-disk cache, on any install (read-only ones included).

The compiled kernels are cached next to their source (numba's default) so
later processes start fast. On a read-only install (a system package, a
container image, a read-only mount) with an unwritable home, numba cannot
cache there and ``cache=True`` would fail at import. :data:`CACHE` says
whether caching works here; when the usual places are unwritable, a private
per-user folder in the temporary directory (mode 0700, owned by the user)
is used instead, and when even that fails the kernels compile without a
cache (every process compiles them once) and :data:`NOTE` says why. Set
``NUMBA_CACHE_DIR`` to choose the folder yourself.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile

import numba

NOTE = ""


def _probe():  # pragma: no cover - compiled only to find a cache locator
    return 0


def _can_cache():
    try:
        numba.njit(cache=True)(_probe)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return False
    return True


def _private_folder():
    """A per-user folder in the temp directory, or None if it is not safe."""
    if not hasattr(os, "getuid"):
        return None
    path = os.path.join(tempfile.gettempdir(), f"numba-cache-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    safe = (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & 0o077
        and os.access(path, os.W_OK)
    )
    return path if safe else None


def _decide():
    global NOTE
    if _can_cache():
        return True
    folder = _private_folder()
    if folder is not None:
        numba.config.CACHE_DIR = folder
        if _can_cache():
            NOTE = f"numba cache in {folder} (the install folder is read-only)"
            logging.getLogger("somkit").info(NOTE)
            return True
        numba.config.CACHE_DIR = ""
    NOTE = (
        "numba cache disabled: the install folder, the home folder and the "
        "temporary folder are not writable; kernels compile in every process "
        "(set NUMBA_CACHE_DIR to a writable folder to keep them)"
    )
    logging.getLogger("somkit").info(NOTE)
    return False


#: Whether the kernels' ``cache=`` option is on (see the module docstring).
CACHE = _decide()
