"""The one helper through which somkit writes files: all or nothing.

:func:`atomic_write` writes to a fresh temporary file in the target folder
(created exclusively by ``mkstemp``, so it never follows a planted link),
flushes it to disk, gives it the usual umask-based permissions and renames
it over the target; on any failure the temporary file is removed and an
existing target is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """Open a temporary file that replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or Path
    mode : {"wb", "w"}
    encoding, newline : passed to ``open`` for text mode.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(target, "w") as fh:
    ...     _ = fh.write("done")
    >>> with open(target) as fh:
    ...     fh.read()
    'done'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}.")
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, _umask_mode())
        kwargs = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_figure(fig, path, **kwargs):
    """``fig.savefig`` through :func:`atomic_write` (format from the suffix)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **kwargs)
