"""Backends and the one resolver every entry point goes through.

``resolve(backend, X, device=..., algorithm=...)`` picks the backend for a
call to ``fit``, ``partial_fit``, ``predict``, ``transform``, ``score``,
``score_samples``, ``decision_function``, the metrics and the plots:

* ``backend="auto"``: a dask array goes to the dask backend, a torch tensor
  on an accelerator (or an explicit ``device``) to the torch backend, all
  other input (numpy arrays, memmaps, frames, CPU tensors) to numpy;
* a stream of chunks (``SOM.fit_stream``) goes to the streaming backend,
  which runs the numpy kernels chunk by chunk (``"auto"`` or ``"numpy"``);
* ``backend="numpy"`` / ``"torch"`` / ``"dask"``: that backend, or a
  ValueError saying why it cannot take this call and what would work:
  a device needs torch, dask input needs the dask backend, a rule the
  backend does not run (online on torch or dask) is refused, an absent
  device (``"cuda"`` without CUDA) is refused, and so is
  ``missing="ignore"`` on a backend that cannot measure rows with holes
  (every backend here can). Nothing is ever run elsewhere than asked.

Output follows input: per-sample results are numpy arrays for in-memory
input (numpy or torch) and lazy dask arrays for dask input.
"""

from __future__ import annotations

from somkit._registry import BACKENDS, MISSING, check_choice

__all__ = ["input_kind", "resolve"]


def input_kind(X):
    """ "dask", "torch", "stream" or "array" (anything numpy can read)."""
    if getattr(type(X), "_somkit_stream", False):
        return "stream"
    mod = type(X).__module__
    if mod.startswith("dask"):
        return "dask"
    if mod.startswith("torch"):
        return "torch"
    return "array"


def resolve(backend="auto", X=None, *, device=None, algorithm=None, missing="error"):
    """The backend object for one call (see the module docstring).

    Parameters
    ----------
    backend : {"auto", "numpy", "torch", "dask"}
    X : array-like, torch tensor, dask array or None
        The call's input (None: decide from ``backend`` and ``device`` only).
    device : str or None
        Torch device string; only the torch backend takes one.
    algorithm : str or None
        Training rule that must be supported.
    missing : {"error", "ignore"}
        The map's handling of holes: "ignore" needs a backend that
        ``supports_missing`` and makes its passes treat NaN as holes.

    Returns
    -------
    Backend

    Examples
    --------
    >>> import numpy as np
    >>> resolve("auto", np.zeros((2, 2))).name
    'numpy'
    >>> resolve("numpy", device="cuda")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device='cuda' needs backend='torch' (or 'auto'); ...
    """
    check_choice("backend", backend, BACKENDS)
    check_choice("missing", missing, MISSING)
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be a string or None, got {device!r}.")
    kind = input_kind(X)
    if kind == "stream":
        return _stream_backend(backend, device, algorithm, missing)
    name = backend
    if name == "auto":
        if kind == "dask":
            name = "dask"
        elif device is not None:
            name = "torch"
        elif kind == "torch" and X.device.type != "cpu":
            # CPU tensors train faster on the numpy kernels
            name = "torch"
        else:
            name = "numpy"
    if device is not None and name != "torch":
        raise ValueError(
            f"device={device!r} needs backend='torch' (or 'auto'); "
            f"backend={name!r} computes on the CPU with {name}."
        )
    if kind == "dask" and name != "dask":
        raise ValueError(
            f"X is a dask array but backend={name!r}; use backend='dask' (or "
            "'auto') to compute on its blocks, or pass X.compute() for an "
            "in-memory computation."
        )
    if name == "numpy":
        from somkit._backends.numpy import NumpyBackend

        be = NumpyBackend()
    elif name == "torch":
        from somkit._backends.torch import make_backend

        if device is None and kind == "torch":
            device = str(X.device)
        be = make_backend(device)
    else:
        from somkit._backends.dask import make_backend

        be = make_backend()
    if algorithm is not None and algorithm not in be.algorithms:
        if kind == "dask":
            hint = (
                f"use algorithm in {be.algorithms} on dask input, or train on "
                "an in-memory array (X.compute()) with backend='numpy'"
            )
        else:
            hint = f"use backend='numpy' for algorithm={algorithm!r}"
        raise ValueError(
            f"algorithm={algorithm!r} is not available on the {name} backend, "
            f"which runs {be.algorithms}; {hint}."
        )
    if missing == "ignore":
        if not be.supports_missing:
            raise ValueError(
                f"missing='ignore' is not available on the {name} backend (it "
                "cannot measure rows with holes); use backend='numpy', 'torch' "
                "or 'dask', or fill the holes first."
            )
        be.masked = True
    return be


def _stream_backend(backend, device, algorithm, missing):
    """The streaming backend for a stream of chunks, or why not."""
    if backend not in ("auto", "numpy") or device is not None:
        asked = f"device={device!r}" if device is not None else f"backend={backend!r}"
        raise ValueError(
            f"a stream of chunks is computed with the numpy kernels chunk by "
            f"chunk; {asked} cannot take it. Use backend='auto' or 'numpy' "
            "with fit_stream, or fit a dask array (backend='dask') to compute "
            "on a cluster."
        )
    from somkit._backends.stream import make_backend

    be = make_backend()
    if algorithm is not None and algorithm not in be.algorithms:
        raise ValueError(
            f"algorithm={algorithm!r} is not available on a stream of chunks, "
            f"which runs {be.algorithms}; the online rule needs the rows in "
            "memory: use fit with backend='numpy'."
        )
    be.masked = missing == "ignore"  # chunks with holes, numpy kernels
    return be
