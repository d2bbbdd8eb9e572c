"""Torch backend: the array kernels of :mod:`somkit._kernels` on torch tensors.

``make_backend(device)`` returns a :class:`TorchBackend` implementing the
backend interface (``somkit._backends._base.Backend``) on torch tensors on the
chosen device (default: ``"cuda"`` when available, else ``"cpu"``). During
training the codebook and the per-unit sums stay on the device; per-sample
results come back as numpy arrays:

* BMU search (:mod:`somkit._backends._torch_search`): one matmul per chunk
  on the codebook-mean-shifted expansion ``||w||^2 - 2 x.w`` (euclidean) or
  ``-x.w`` (dot, cosine on unit rows) shortlists units, and float64
  distances decide among those within the scores' rounding band (manhattan
  and chebyshev: float64 ``torch.cdist``), so the winner, its distance and
  the runner-up are those of exact arithmetic, as on the numpy backend;
  ties go to the lowest unit index (exact duplicate codebook rows are
  searched once). Chunks with holes (``missing="ignore"``) put the
  observed mask in the products as the numpy backend does
  (``somkit._kernels._search``), with the band of that product.
* Per-unit sums of the batch rule in float64: ``index_add_`` on GPUs,
  ``index_put_(accumulate=True)`` on CPU (the CPU ``index_add_`` is
  pathologically slow with several threads).
* Neighbourhood smoothing on the device: a dense kernel matrix on small maps,
  the gaussian axis by axis on rect grids, and on large maps (more than
  ``somkit._kernels.DENSE_UNITS`` units) only the pairs within the kernel's
  reach (sparse matrix on CPU, masked row blocks on GPU) or, for unbounded
  kernels, row blocks; never an ``n_units**2`` matrix there. Tensors given
  as X are used in place when already on the device in the right dtype.

Verification status: every test of this backend runs on the CPU against the
numpy backend; the ``gpu``-marked copies (``device="cuda"``) have not yet run
on a GPU, so CUDA behaviour and speed are not yet measured.

On a GPU the training data are uploaded once per backend object (one ``fit``)
and kept on the device while they fit in half of the free device memory, so
epochs do not re-upload them; otherwise chunks are streamed. Results match the
numpy backend within floating-point tolerance (BMUs and runner-ups: the same
units). Reduced-precision matmuls (TF32, ``torch.set_float32_matmul_precision``
below "highest") widen the rounding band to their precision: still exact, but
more units reach the float64 check.

On CPU the numpy backend is faster (about 2-3x in our runs). torch's OpenMP
threads spin-wait between operations, so on a shared or oversubscribed CPU
every torch operation can stall for a scheduler time slice; set
``OMP_WAIT_POLICY=PASSIVE`` (before torch is imported) or
``torch.set_num_threads(1)`` there. This module leaves those settings alone.

torch is imported only here, when the backend is chosen.
"""

from __future__ import annotations

import math

import numpy as np

from somkit import _kernels
from somkit._backends._base import Backend, take_rows
from somkit._backends._torch_layers import (
    LayeredCodebook,
    chunk_key,
    is_layered,
    prepare_rows,
)
from somkit._backends._torch_layers import pairwise as layered_pairwise
from somkit._backends._torch_ops import (
    DeviceGrid,
    masked_pairwise,
    normalize_rows,
    pairwise,
)
from somkit._backends._torch_search import Codebook as _Codebook
from somkit._grid import EPS as _EPS
from somkit._neighborhood import neighborhood, support

# Elements of a (chunk x n_units) score block on a GPU (float32: 256 MB) and
# on CPU (8 MB; torch's per-op overhead favours larger chunks than numpy's).
_GPU_BLOCK_ELEMENTS = 1 << 26
_CPU_BLOCK_ELEMENTS = 1 << 21
# Elements of a (units x n_units) kernel block when smoothing by row blocks
# (float64: 32 MB on CPU, 256 MB on a GPU).
_SMOOTH_BLOCK_ELEMENTS = 1 << 22
_GPU_SMOOTH_BLOCK_ELEMENTS = 1 << 25
# Share of the free device memory the cached training data may take.
_CACHE_SHARE = 0.5


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "backend='torch' needs PyTorch: pip install 'somkit[torch]'"
        ) from exc
    return torch


def make_backend(device=None):
    """A torch backend on ``device`` (None: "cuda" if available, else "cpu").

    Parameters
    ----------
    device : str or None
        Any torch device string ("cpu", "cuda", "cuda:1", "mps", ...).

    Returns
    -------
    TorchBackend

    Examples
    --------
    >>> import numpy as np
    >>> be = make_backend("cpu")
    >>> idx, dist = be.bmu(np.array([[0.0, 1.0]]), np.eye(2), "euclidean")
    >>> idx.tolist(), dist.tolist()
    ([1], [0.0])
    """
    torch = _import_torch()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be a torch device string such as 'cpu' or 'cuda', "
            f"got {device!r}."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available to this torch build "
            f"({torch.__version__}); use device='cpu' or backend='numpy'."
        )
    if dev.type == "cuda" and dev.index is None:
        # "cuda" means the current device; pin it so tensors compare equal.
        dev = torch.device("cuda", torch.cuda.current_device())
    return TorchBackend(dev)


def _torch_dtype(torch, dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


class _UnitSums:
    """Per-unit float64 sums of a pass on the device (holes: per feature)."""

    def __init__(self, be, m, d):
        torch = be.torch
        self.be = be
        self.sums = torch.zeros((m, d), dtype=torch.float64, device=be._device)
        self.wsum = torch.zeros(m, dtype=torch.float64, device=be._device)
        self.wsum2 = None  # (m, d) weights of the rows with holes

    def add(self, idx, C, sw, masked):
        torch = self.be.torch
        Cd = C.double()
        nan = torch.isnan(Cd) if masked else None
        if nan is not None and bool(nan.any()):
            seen = (~nan).double()
            Cd = torch.where(nan, torch.zeros((), dtype=Cd.dtype, device=Cd.device), Cd)
            if sw is not None:
                seen = seen * sw[:, None]
            if self.wsum2 is None:
                self.wsum2 = torch.zeros_like(self.sums)
            self.be._add_rows(self.wsum2, idx, seen)
        elif sw is None:
            self.wsum += torch.bincount(idx, minlength=len(self.wsum)).double()
        else:
            self.be._add_rows(self.wsum, idx, sw)
        self.be._add_rows(self.sums, idx, Cd if sw is None else Cd * sw[:, None])

    def weights(self):
        """(n_units,) weights, or (n_units, n_features) once holes were seen."""
        if self.wsum2 is None:
            return self.wsum
        return self.wsum2 + self.wsum[:, None]


class TorchBackend(Backend):
    """The backend interface computed with torch on one device.

    One object caches the training data on its device (keyed by the identity
    and shape of ``X``, holding a reference so the key stays valid) and
    per-grid geometry; the estimator creates one per ``fit`` call.
    """

    name = "torch"
    algorithms = ("batch", "minibatch")
    supports_missing = True

    def __init__(self, device):
        self.torch = _import_torch()
        self._device = device
        self.device = str(device)
        self.is_gpu = device.type != "cpu"
        # Large maps, cut-off neighbourhoods. GPU: masked row blocks (no
        # index lists); CPU: a sparse matrix of the pairs within reach. (The
        # numpy backend convolves by FFT; all agree to rounding.)
        self.blocked_cutoff = self.is_gpu
        self._data = None  # (X, key, tensor)
        self._weights = None  # (sample_weight, tensor)
        self._grids = {}

    # ------------------------------------------------------- codebook arrays
    def asarray(self, W):
        return self._to_device(W)

    def to_numpy(self, A):
        if isinstance(A, self.torch.Tensor):
            return A.detach().cpu().numpy()
        return np.asarray(A)

    def concat(self, sums, wsum):
        wsum = wsum[:, None] if wsum.ndim == 1 else wsum
        return self.torch.cat([sums, wsum], dim=1)

    def float64(self, A):
        return self._to_device(A, self.torch.float64).clone()

    def numpy_dtype(self, A):
        return np.dtype(np.float64 if A.dtype == self.torch.float64 else np.float32)

    def cast(self, A, like):
        return A.to(like.dtype)

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)

    def clip_min(self, A, low):
        return A.clamp(min=low)

    def max(self, A):
        return float(A.max()) if A.numel() else 0.0

    def normalize_rows(self, A):
        return normalize_rows(self.torch, A)

    # ------------------------------------------------------------ transfers
    def _to_device(self, A, dtype=None):
        torch = self.torch
        if isinstance(A, torch.Tensor):
            A = A.detach()
            if dtype is not None:
                return A.to(self._device, dtype=dtype)
            return A.to(self._device)
        A = np.asarray(A)
        if not A.flags.writeable or not A.flags.c_contiguous:
            A = np.array(A, order="C")
        t = torch.from_numpy(A)
        return t.to(self._device, dtype=dtype, non_blocking=False)

    def _add_rows(self, out, idx, rows):
        """``out[idx[i]] += rows[i]`` (repeated indices accumulate)."""
        if self.is_gpu:
            out.index_add_(0, idx, rows)
        else:
            out.index_put_((idx,), rows, accumulate=True)

    def _dgrid(self, grid):
        g = self._grids.get(grid)
        if g is None:
            g = self._grids[grid] = DeviceGrid(self.torch, grid, self._device)
        return g

    def _rows(self, n_units, batch_size):
        if batch_size is not None:
            return int(batch_size)
        budget = _GPU_BLOCK_ELEMENTS if self.is_gpu else _CPU_BLOCK_ELEMENTS
        return int(min(max(budget // max(n_units, 1), 1024), 1 << 20))

    def _fits_on_device(self, nbytes):
        if not self.is_gpu:
            return False
        torch = self.torch
        try:
            free, _ = torch.cuda.mem_get_info(self._device)
        except Exception:  # non-CUDA accelerators: no cache
            return False
        return nbytes <= _CACHE_SHARE * free

    def _chunks(self, X, dtype, metric, rows):
        """Yield (start, stop, chunk on device in ``dtype``; cosine: unit rows)."""
        torch = self.torch
        tdt = _torch_dtype(torch, dtype)
        n = X.shape[0]
        key = (id(X), tuple(X.shape), np.dtype(dtype).name, chunk_key(metric))
        full = None
        if (
            isinstance(X, torch.Tensor)
            and X.device == self._device
            and X.dtype == tdt
            and not chunk_key(metric)
        ):
            full = X.detach()  # already where and what it needs to be
        elif self._data is not None and self._data[1] == key and self._data[0] is X:
            full = self._data[2]
        elif self._fits_on_device(n * X.shape[1] * np.dtype(dtype).itemsize):
            full = torch.empty((n, X.shape[1]), dtype=tdt, device=self._device)
            for a, b in _kernels.iter_chunks(n, 1 << 16):
                full[a:b] = self._chunk_from_host(X, a, b, dtype, metric, tdt)
            self._data = (X, key, full)
        for a, b in _kernels.iter_chunks(n, rows):
            if full is not None:
                yield a, b, full[a:b]
            else:
                yield a, b, self._chunk_from_host(X, a, b, dtype, metric, tdt)

    def _chunk_from_host(self, X, a, b, dtype, metric, tdt):
        torch = self.torch
        if isinstance(X, torch.Tensor):
            C = X[a:b].detach().to(self._device, dtype=tdt)
            return prepare_rows(torch, C, metric)
        return self._to_device(_kernels.as_chunk(X, a, b, dtype, metric), tdt)

    def _sample_weight(self, sample_weight):
        """Sample weights as a float64 device tensor (cached by identity)."""
        if sample_weight is None:
            return None
        if self._weights is not None and self._weights[0] is sample_weight:
            return self._weights[1]
        sw = self._to_device(np.asarray(sample_weight, dtype=np.float64))
        self._weights = (sample_weight, sw)
        return sw

    def _codebook(self, W, metric):
        """``W`` (numpy or tensor) prepared on the device, and its numpy dtype."""
        Wt = self._to_device(W)
        dtype = np.float64 if Wt.dtype == self.torch.float64 else np.float32
        kind = LayeredCodebook if is_layered(metric) else _Codebook
        return kind(self.torch, Wt, metric), dtype

    # ---------------------------------------------------- passes over data
    def bmu(self, X, W, metric, *, second=False, batch_size=None):
        """BMU, its distance and the runner-up of every row (numpy arrays)."""
        torch = self.torch
        with torch.no_grad():
            cb, dtype = self._codebook(W, metric)
            n = X.shape[0]
            idx = torch.empty(n, dtype=torch.int64, device=self._device)
            dist = torch.empty(n, dtype=torch.float64, device=self._device)
            idx2 = torch.empty_like(idx) if second else None
            rows = self._rows(cb.n_units, batch_size)
            for a, b, C in self._chunks(X, dtype, metric, rows):
                i1, i2, dist[a:b] = cb.search(C, second, masked=self.masked)
                idx[a:b] = i1
                if second:
                    idx2[a:b] = i2
            out = (self.to_numpy(idx), self.to_numpy(dist))
            if second:
                return (*out, self.to_numpy(idx2))
            return out

    def distances(self, X, W, metric, *, batch_size=None):
        """Distances to every unit, computed in float64 (as the numpy backend)."""
        torch = self.torch
        with torch.no_grad():
            cb, dtype = self._codebook(W, metric)
            single = str(X.dtype) in ("float32", "torch.float32")
            n = X.shape[0]
            D = np.empty((n, cb.n_units), dtype=np.float32 if single else np.float64)
            Wd = cb.W.double()
            rows = self._rows(cb.n_units, batch_size)
            for a, b, C in self._chunks(X, np.float64, metric, rows):
                nan = torch.isnan(C) if self.masked else None
                if nan is not None and bool(nan.any()):
                    Dc = masked_pairwise(torch, C, nan, Wd, metric)
                else:
                    pairs = layered_pairwise if is_layered(metric) else pairwise
                    Dc = pairs(torch, C, Wd, metric)
                D[a:b] = self.to_numpy(Dc)
            return D

    def _pass(self, X, W, metric, sample_weight, batch_size, grid, limit, sums):
        """One pass: QE/TE sums as device scalars, per-unit sums if asked."""
        torch = self.torch
        cb, dtype = self._codebook(W, metric)
        n, d = X.shape
        m = cb.n_units
        dev = self._device
        zero = torch.zeros((), dtype=torch.float64, device=dev)
        qe, te = zero.clone(), zero.clone()
        acc = _UnitSums(self, m, d) if sums else None
        sw_all = self._sample_weight(sample_weight)
        dg = self._dgrid(grid) if grid is not None and m > 1 else None
        rows = self._rows(m, batch_size)
        for a, b, C in self._chunks(X, dtype, metric, rows):
            i1, i2, dist = cb.search(C, second=dg is not None, masked=self.masked)
            sw = None if sw_all is None else sw_all[a:b]
            bad = None if dg is None else (~dg.adjacent(i1, i2, limit)).double()
            if sw is None:
                qe += dist.sum()
                if bad is not None:
                    te += bad.sum()
            else:
                qe += sw @ dist
                if bad is not None:
                    te += sw @ bad
            if sums:
                acc.add(i1, C, sw, self.masked)
        tot = float(n) if sw_all is None else float(sw_all.sum())
        stats = {"qe_sum": float(qe), "te_sum": float(te), "weight": tot}
        if not sums:
            return None, None, stats
        return acc.sums, acc.weights(), stats

    def stats(
        self,
        X,
        W,
        metric,
        *,
        sample_weight=None,
        grid=None,
        adjacency="edges",
        batch_size=None,
    ):
        limit = 1.0 if grid is None else _kernels.te_limit(grid, adjacency)
        with self.torch.no_grad():
            return self._pass(
                X, W, metric, sample_weight, batch_size, grid, limit, False
            )[2]

    def batch_sums(
        self,
        X,
        W,
        metric,
        sample_weight=None,
        *,
        batch_size=None,
        grid=None,
        factored=None,
    ):
        """Per-unit float64 sums of one batch pass, on the device."""
        with self.torch.no_grad():
            return self._pass(X, W, metric, sample_weight, batch_size, grid, 1.0, True)

    def take(self, X, rows, dtype, metric):
        torch = self.torch
        tdt = _torch_dtype(torch, dtype)
        if isinstance(X, torch.Tensor):
            idx = torch.as_tensor(rows, device=X.device)
            C = X.detach().index_select(0, idx).to(self._device, dtype=tdt)
            return prepare_rows(torch, C, metric)
        return self._to_device(
            _kernels.as_chunk(take_rows(X, rows), 0, len(rows), dtype, metric), tdt
        )

    def rows(self, X, rows):
        """Rows of X as a tensor on the device (in X's precision)."""
        torch = self.torch
        if isinstance(X, torch.Tensor):
            idx = torch.as_tensor(np.asarray(rows), device=X.device)
            return X.detach().index_select(0, idx).to(self._device)
        return self._to_device(take_rows(X, np.asarray(rows)))

    def minibatch_sums(self, C, W, metric, sample_weight, grid):
        """Sums of one minibatch on the device; QE/TE as device scalars."""
        torch = self.torch
        with torch.no_grad():
            kind = LayeredCodebook if is_layered(metric) else _Codebook
            cb = kind(torch, self._to_device(W), metric)
            m, d = cb.W.shape
            sw = self._to_device(np.asarray(sample_weight, dtype=np.float64))
            i1, i2, dist = cb.search(C, second=m > 1, masked=self.masked)
            qe = sw @ dist
            te = 0.0
            if m > 1:
                te = sw @ (~self._dgrid(grid).adjacent(i1, i2)).double()
            acc = _UnitSums(self, m, d)
            acc.add(i1, C, sw, self.masked)
            return acc.sums, acc.weights(), qe, te

    def smooth(self, grid, neighborhood_name, sigma, values):
        """Neighbourhood-weighted sums ``H @ values`` on the device.

        ``values`` is an (n_units, k) float64 tensor. As
        ``somkit._kernels.smooth``: the gaussian on rect grids axis by axis
        and a dense matrix up to ``somkit._kernels.DENSE_UNITS`` units; beyond
        that (where the numpy backend convolves by FFT) the pairs within the
        function's reach (the gaussian cut at 4 sigma; sparse on CPU, masked
        row blocks on a GPU) or row blocks for unbounded functions. Never a
        dense n_units^2 matrix on large maps.
        """
        torch = self.torch
        m = grid.n_units
        values = self._to_device(values, torch.float64)
        if sigma <= 0:
            return values.clone()
        dg = self._dgrid(grid)
        if neighborhood_name == "gaussian" and grid.topology == "rect":
            out = values.reshape(*grid.shape, -1)
            for axis, size in enumerate(grid.shape):
                hk = neighborhood("gaussian", dg.axis_distances(size), sigma)
                out = torch.movedim(
                    torch.tensordot(hk, out, dims=([1], [axis])), 0, axis
                )
            return out.reshape(values.shape)
        if m <= _kernels.DENSE_UNITS:
            return neighborhood(neighborhood_name, dg.dense_distances(), sigma) @ values
        reach = support(neighborhood_name, sigma)
        if math.isfinite(reach) and not self.blocked_cutoff:
            idx, dist = dg.pairs_within(reach)
            h = neighborhood(neighborhood_name, dist, sigma)
            H = torch.sparse_coo_tensor(idx, h, (m, m), check_invariants=True)
            return torch.sparse.mm(H, values)
        out = torch.empty_like(values)
        budget = _GPU_SMOOTH_BLOCK_ELEMENTS if self.is_gpu else _SMOOTH_BLOCK_ELEMENTS
        block = max(1, budget // m)
        for a in range(0, m, block):
            b = min(a + block, m)
            dist = dg.distances(a, b)
            h = neighborhood(neighborhood_name, dist, sigma)
            if math.isfinite(reach):
                h = h * (dist <= reach + _EPS)
            out[a:b] = h @ values
        return out

    def moments(self, X, sample_weight=None):
        """Weighted mean and covariance, accumulated in float64 on the device.

        Holes (``masked``): see :meth:`_masked_moments`.
        """
        torch = self.torch
        if self.masked:
            return self._masked_moments(X, sample_weight)
        with torch.no_grad():
            n, d = X.shape
            dev = self._device
            sw_all = self._sample_weight(sample_weight)
            s1 = torch.zeros(d, dtype=torch.float64, device=dev)
            for a, b, C in self._chunks(X, np.float64, "euclidean", 1 << 16):
                s1 += C.sum(dim=0) if sw_all is None else sw_all[a:b] @ C
            total = float(n) if sw_all is None else float(sw_all.sum())
            mean = s1 / total
            cov = torch.zeros((d, d), dtype=torch.float64, device=dev)
            for a, b, C in self._chunks(X, np.float64, "euclidean", 1 << 16):
                Cc = C - mean
                if sw_all is not None:
                    Cc = Cc * torch.sqrt(sw_all[a:b])[:, None]
                cov += Cc.T @ Cc
            return self.to_numpy(mean), self.to_numpy(cov / total)

    def _masked_moments(self, X, sample_weight=None):
        """Means over the observed values, covariances over the rows where
        both features are observed (``somkit._kernels.masked_moments``)."""
        torch = self.torch
        with torch.no_grad():
            d = X.shape[1]
            dev = self._device
            zero = torch.zeros((), dtype=torch.float64, device=dev)
            sw_all = self._sample_weight(sample_weight)
            s1 = torch.zeros(d, dtype=torch.float64, device=dev)
            n1 = torch.zeros(d, dtype=torch.float64, device=dev)
            for a, b, C in self._chunks(X, np.float64, "euclidean", 1 << 16):
                seen = (~torch.isnan(C)).double()
                C0 = torch.where(seen > 0, C, zero)
                w = None if sw_all is None else sw_all[a:b]
                s1 += C0.sum(dim=0) if w is None else w @ C0
                n1 += seen.sum(dim=0) if w is None else w @ seen
            mean = torch.where(n1 > 0, s1 / n1.clamp(min=1e-300), zero)
            cov = torch.zeros((d, d), dtype=torch.float64, device=dev)
            pairs = torch.zeros((d, d), dtype=torch.float64, device=dev)
            for a, b, C in self._chunks(X, np.float64, "euclidean", 1 << 16):
                seen = (~torch.isnan(C)).double()
                Cc = torch.where(seen > 0, C - mean, zero)
                if sw_all is not None:
                    root = torch.sqrt(sw_all[a:b])[:, None]
                    Cc, seen = Cc * root, seen * root
                cov += Cc.T @ Cc
                pairs += seen.T @ seen
            cov = torch.where(pairs > 0, cov / pairs.clamp(min=1e-300), zero)
            return self.to_numpy(mean), self.to_numpy(cov)


__all__ = ["TorchBackend", "make_backend"]
