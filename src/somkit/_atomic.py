"""The one helper through which somkit writes files: all or nothing.

:func:`atomic_write` writes the new content to a temporary file in the
target's folder, flushes it to disk (``fsync``), renames it over the target
and syncs the folder; on any failure (an exception, Ctrl-C) the temporary
file is removed and an existing target is left untouched. The temporary
file never follows a link: on Linux it is an unnamed ``O_TMPFILE`` inode
that only gets a (fresh, exclusive) name once complete, so even SIGKILL
during a save leaves no orphan; elsewhere it is created by ``mkstemp``
(``O_CREAT | O_EXCL``, a random name). A link at the target itself is
replaced, never written through.

:func:`check_outputs` refuses an output path that resolves to one of the
inputs (same file through ``..``, symlinks or hard links), so a command
never replaces the data or the model it is reading.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def _umask_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _open_unnamed(directory):
    """An unnamed writable file in ``directory`` (Linux O_TMPFILE), or None."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError:  # the filesystem has no O_TMPFILE
        return None


def _link_unnamed(fd, directory, name):
    """Give the unnamed file a fresh name next to the target; return it.

    ``linkat(AT_SYMLINK_FOLLOW)`` on ``/proc/self/fd/N`` (a directory fd is
    passed so that Python calls ``linkat`` rather than ``link``); linking
    never replaces an existing name (EEXIST).
    """
    proc = os.open("/proc/self/fd", os.O_RDONLY)
    try:
        for _ in range(100):
            tmp = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
            try:
                os.link(str(fd), tmp, src_dir_fd=proc, follow_symlinks=True)
            except FileExistsError:
                continue
            return tmp
    finally:
        os.close(proc)
    raise FileExistsError(f"no free temporary name in {directory}")


def _sync_directory(directory):
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    directory = str(path.parent) if str(path.parent) else "."
    fd = _open_unnamed(directory)
    tmp = None
    if fd is None:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=directory
        )
        os.chmod(tmp, _umask_mode())
    try:
        kwargs = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, closefd=False, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fd)
        if tmp is None:
            tmp = _link_unnamed(fd, directory, path.name)
        os.replace(tmp, path)
        tmp = None
        _sync_directory(directory)
    finally:
        os.close(fd)
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def save_figure(fig, path, **kwargs):
    """``fig.savefig`` through :func:`atomic_write` (format from the suffix)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **kwargs)


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_outputs(outputs, inputs):
    """ValueError when an output path is one of the inputs.

    Paths are compared after resolving ``..`` and symlinks, and by file
    identity (hard links). ``"-"`` (standard output/input) is skipped.

    Examples
    --------
    >>> check_outputs(["out.csv"], ["data.csv"])
    >>> check_outputs(["./data.csv"], ["data.csv"])
    Traceback (most recent call last):
    ...
    ValueError: refusing to write ./data.csv: it is the input data.csv; choose \
another output path.
    """
    for out in outputs:
        if out is None or str(out) == "-":
            continue
        for src in inputs:
            if src is not None and str(src) != "-" and _same_file(out, src):
                raise ValueError(
                    f"refusing to write {out}: it is the input {src}; choose "
                    "another output path."
                )
