"""Torch backend: the array kernels of :mod:`somkit._kernels` on torch tensors.

``make_backend(device)`` returns an object with the functions of the numpy
backend (``bmu``, ``batch_sums``, ``batch_update``, ``minibatch_step``) taking
and returning numpy arrays; inside, the work runs on torch tensors on the
chosen device (``"cuda"`` when available, else ``"cpu"``):

* BMU search: one matmul per chunk on the codebook-mean-shifted expansion
  ``||w||^2 - 2 x.w`` (euclidean), ``-x.w`` (dot, cosine on unit rows), or
  ``torch.cdist`` with p=1 / p=inf (manhattan, chebyshev); ties go to the
  lowest unit index (``argmin`` returns the first minimum, and exact
  duplicate codebook rows are searched once); the winner's distance is
  recomputed exactly in float64.
* Per-unit sums of the batch rule in float64: ``index_add_`` on GPUs,
  ``index_put_(accumulate=True)`` on CPU (the CPU ``index_add_`` is
  pathologically slow with several threads).
* Neighbourhood smoothing on the device: a dense kernel matrix on small maps,
  the gaussian axis by axis on rect grids, and on large maps (more than
  ``somkit._kernels._DENSE_UNITS`` units) only the pairs within the kernel's
  reach (sparse matrix on CPU, masked row blocks on GPU) or, for unbounded
  kernels, row blocks; never an ``n_units**2`` matrix there. Tensors given
  as X are used in place when already on the device in the right dtype.

On a GPU the training data are uploaded once per backend object (one ``fit``)
and kept on the device while they fit in half of the free device memory, so
epochs do not re-upload them; otherwise chunks are streamed. Results match the
numpy backend within floating-point tolerance (BMU ties between nearly equal
float32 scores may resolve differently). TF32 matmuls
(``torch.backends.cuda.matmul.allow_tf32``) lower the precision of the BMU
search; leave them off for results that match the numpy backend.

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
from somkit._grid import _EPS
from somkit._neighborhood import KERNELS, support

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


def neighborhood(torch, name, d, sigma):
    """Kernel ``name`` on a tensor of grid distances (as ``_neighborhood``)."""
    sigma = float(sigma)
    if sigma <= 0:
        return (d <= 1e-9).to(d.dtype)
    if name == "gaussian":
        return torch.exp(-(d * d) / (2.0 * sigma * sigma))
    if name == "bubble":
        return (d <= sigma + 1e-9).to(d.dtype)
    if name == "cut_gaussian":
        return torch.exp(-(d * d) / (2.0 * sigma * sigma)) * (d <= sigma + 1e-9)
    if name == "mexican_hat":
        q = (d * d) / (sigma * sigma)
        return (1.0 - q) * torch.exp(-0.5 * q)
    if name == "triangle":
        return torch.clamp(1.0 - d / sigma, min=0.0)
    if name == "epanechnikov":
        return torch.clamp(1.0 - (d * d) / (sigma * sigma), min=0.0)
    raise ValueError(f"neighborhood must be one of {KERNELS}, got {name!r}.")


def _normalize_rows(torch, A):
    """Rows at unit L2 norm, norms taken in float64 (zero rows stay zero)."""
    norms = torch.sqrt((A.double() * A.double()).sum(dim=1))
    norms = torch.where(norms == 0, torch.ones_like(norms), norms)
    return A / norms.to(A.dtype)[:, None]


def _distinct_rows(torch, W):
    """Distinct rows of W ordered by first occurrence, and the index maps.

    Returns ``(W, None)`` when all rows differ; else ``(Wu, (first, second))``
    with ``Wu[u] = W[first[u]]``, ``first`` increasing, and ``second[u]`` the
    second-lowest unit holding row u (-1 if none).
    """
    m = W.shape[0]
    if m < 2:
        return W, None
    uniq, inv = torch.unique(W, dim=0, return_inverse=True)
    k = uniq.shape[0]
    if k == m:
        return W, None
    units = torch.arange(m, device=W.device)

    def lowest(groups, members):
        out = torch.full((k,), m, dtype=torch.int64, device=W.device)
        return out.scatter_reduce_(0, groups, members, "amin")

    first = lowest(inv, units)
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(k, device=W.device)
    inv = rank[inv]
    first = first[order]
    others = units != first[inv]
    second = lowest(inv[others], units[others])
    second = torch.where(second == m, torch.full_like(second, -1), second)
    return W[first], (first, second)


class _Codebook:
    """A codebook on the device prepared for BMU searches (see _kernels).

    Exact duplicate rows (common with bubble-like kernels on small data) are
    searched once and the win goes to the lowest unit holding the row, so the
    ties-to-lowest-index rule does not hinge on the matmul rounding identical
    columns identically.
    """

    def __init__(self, torch, W, metric):
        self.torch = torch
        self.metric = metric
        if metric == "cosine":
            W = _normalize_rows(torch, W)
        self.W = W
        self.n_units = W.shape[0]
        self.shift = None
        Wu, self._dups = _distinct_rows(torch, W)
        self.n_distinct = Wu.shape[0]
        self.Wu = Wu
        if metric == "euclidean":
            # Shift by the mean of all units (as the numpy backend).
            self.shift = W.double().mean(dim=0).to(W.dtype)
            Wus = Wu - self.shift
            self.Wt = (-2 * Wus).T.contiguous()
            self.bias = (Wus * Wus).sum(dim=1)
        else:
            self.Wt = (-Wu).T.contiguous()
            self.bias = None

    def search(self, C, second=True):
        """BMU, second-best unit (or None) and float64 BMU distance per row.

        Ties go to the lowest unit index; the distance is recomputed in
        float64 from the unshifted rows (exact differences of float32 values).
        """
        torch = self.torch
        metric = self.metric
        Cs = C - self.shift if self.shift is not None else C
        if metric in ("manhattan", "chebyshev"):
            p = 1.0 if metric == "manhattan" else float("inf")
            S = torch.cdist(C, self.Wu, p=p)
        elif metric == "euclidean":
            S = torch.addmm(self.bias, Cs, self.Wt)
        else:
            S = Cs @ self.Wt
        # argmin returns the first minimum: ties go to the lowest index.
        i1 = S.argmin(dim=1)
        i2 = None
        if second and self.n_distinct == 1:
            i2 = i1
        elif second:
            if self._dups is not None:
                v1 = S.gather(1, i1[:, None])[:, 0]
            S.scatter_(1, i1[:, None], float("inf"))
            i2 = S.argmin(dim=1)
            if self._dups is not None:
                v2 = S.gather(1, i2[:, None])[:, 0]
        if self._dups is not None:
            # Map distinct rows back to units: the best row's lowest unit
            # wins; the runner-up is the next unit holding the same row,
            # unless another row ties with the best and has a lower index.
            first, dup = self._dups
            if second:
                d = dup[i1]
                f2 = first[i2]
                if self.n_distinct > 1:
                    take_other = (d < 0) | ((v2 == v1) & (f2 < d))
                else:
                    take_other = d < 0
                i2 = torch.where(take_other, f2, d)
            i1 = first[i1]
        return i1, i2 if second else None, self._winner_distance(C, i1)

    def _winner_distance(self, C, idx):
        """Distance of each row to unit ``idx`` in float64."""
        Cd, Wi = C.double(), self.W.index_select(0, idx).double()
        if self.metric == "euclidean":
            return self.torch.linalg.vector_norm(Cd - Wi, dim=1)
        if self.metric == "cosine":
            return (1.0 - (Cd * Wi).sum(dim=1)).clamp(min=0.0)
        if self.metric == "dot":
            return -(Cd * Wi).sum(dim=1)
        if self.metric == "manhattan":
            return (Cd - Wi).abs().sum(dim=1)
        return (Cd - Wi).abs().amax(dim=1)


class _DeviceGrid:
    """Grid geometry on the device: positions, wrapped distances, adjacency."""

    def __init__(self, torch, grid, device):
        self.torch = torch
        self.grid = grid
        self.device = device
        self.positions = torch.as_tensor(grid.positions, device=device)
        self.period = torch.as_tensor(grid.period, device=device)
        self._dense = None
        self._axes = {}
        self._pairs = None

    def _delta(self, a, b, period):
        d = (a - b).abs()
        if self.grid.periodic:
            d = self.torch.minimum(d, period - d)
        return d

    def adjacent(self, i, j):
        """Whether units i and j are at grid distance 1 (``Grid.are_adjacent``)."""
        P = self.positions
        d = self._delta(P.index_select(0, i), P.index_select(0, j), self.period)
        dist = self.torch.sqrt((d * d).sum(dim=1))
        return (dist > _EPS) & (dist <= 1.0 + _EPS)

    def distances(self, start=0, stop=None):
        """Grid distances from units ``start:stop`` to every unit (float64)."""
        p = self.positions[start:stop]
        d2 = None
        for k in range(self.grid.ndim):
            dk = self._delta(
                p[:, k : k + 1], self.positions[None, :, k], self.period[k]
            )
            d2 = dk * dk if d2 is None else d2 + dk * dk
        return self.torch.sqrt(d2)

    def dense_distances(self):
        if self._dense is None:
            self._dense = self.distances()
        return self._dense

    def axis_distances(self, size):
        """|i - j| along one rect axis of ``size`` units (wrapped if periodic)."""
        if size not in self._axes:
            c = np.arange(size, dtype=np.float64)
            dk = np.abs(c[:, None] - c[None, :])
            if self.grid.periodic:
                dk = np.minimum(dk, size - dk)
            self._axes[size] = self.torch.as_tensor(dk, device=self.device)
        return self._axes[size]

    def pairs_within(self, reach):
        """(pairs (2, n), distances) of units within ``reach``.

        Cached for the largest reach asked so far: radii shrink during
        training, so later epochs only filter the cached pairs.
        """
        t = self.torch
        if self._pairs is None or reach > self._pairs[0]:
            i, j, d = self.grid.offsets_within(reach)
            idx = t.as_tensor(np.stack([i, j]), device=self.device)
            self._pairs = (reach, idx, t.as_tensor(d, device=self.device))
        _, idx, dist = self._pairs
        if reach < self._pairs[0]:
            keep = dist <= reach + _EPS
            idx, dist = idx[:, keep], dist[keep]
        return idx, dist


class TorchBackend:
    """The kernel interface of :mod:`somkit._kernels` computed with torch.

    Methods take and return numpy arrays. One object caches the training
    data on its device (keyed by the identity and shape of ``X``, holding a
    reference so the key stays valid) and per-grid geometry; the estimator
    creates one per ``fit`` call.
    """

    name = "torch"

    def __init__(self, device):
        self.torch = _import_torch()
        self.device = device
        self.is_gpu = device.type != "cpu"
        # Large maps, cut-off kernels. GPU: masked row blocks (no index
        # lists); CPU: a sparse matrix of the pairs within reach. (The numpy
        # backend convolves by FFT; all agree to rounding.)
        self.blocked_cutoff = self.is_gpu
        self._data = None  # (X, key, tensor)
        self._weights = None  # (sample_weight, tensor)
        self._grids = {}

    # ------------------------------------------------------------ transfers
    def _to_device(self, A, dtype=None):
        torch = self.torch
        if isinstance(A, torch.Tensor):
            A = A.detach()
            return (
                A.to(self.device, dtype=dtype)
                if dtype is not None
                else A.to(self.device)
            )
        A = np.asarray(A)
        if not A.flags.writeable or not A.flags.c_contiguous:
            A = np.array(A, order="C")
        t = torch.from_numpy(A)
        return t.to(self.device, dtype=dtype, non_blocking=False)

    def _add_rows(self, out, idx, rows):
        """``out[idx[i]] += rows[i]`` (repeated indices accumulate)."""
        if self.is_gpu:
            out.index_add_(0, idx, rows)
        else:
            out.index_put_((idx,), rows, accumulate=True)

    def _numpy(self, t):
        return t.detach().cpu().numpy()

    def _dgrid(self, grid):
        g = self._grids.get(grid)
        if g is None:
            g = self._grids[grid] = _DeviceGrid(self.torch, grid, self.device)
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
            free, _ = torch.cuda.mem_get_info(self.device)
        except Exception:  # non-CUDA accelerators: no cache
            return False
        return nbytes <= _CACHE_SHARE * free

    def _chunks(self, X, dtype, metric, rows):
        """Yield (start, stop, chunk on device in ``dtype``; cosine: unit rows)."""
        torch = self.torch
        tdt = _torch_dtype(torch, dtype)
        n = X.shape[0]
        key = (id(X), tuple(X.shape), np.dtype(dtype).name, metric == "cosine")
        full = None
        if (
            isinstance(X, torch.Tensor)
            and X.device == self.device
            and X.dtype == tdt
            and metric != "cosine"
        ):
            full = X.detach()  # already where and what it needs to be
        elif self._data is not None and self._data[1] == key and self._data[0] is X:
            full = self._data[2]
        elif self._fits_on_device(n * X.shape[1] * np.dtype(dtype).itemsize):
            full = torch.empty((n, X.shape[1]), dtype=tdt, device=self.device)
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
            C = X[a:b].detach().to(self.device, dtype=tdt)
            return _normalize_rows(torch, C) if metric == "cosine" else C
        return self._to_device(_kernels.as_chunk(X, a, b, dtype, metric), tdt)

    def _sample_weight(self, sample_weight, n):
        """Sample weights as a float64 device tensor (cached by identity)."""
        if sample_weight is None:
            return None
        if self._weights is not None and self._weights[0] is sample_weight:
            return self._weights[1]
        sw = self._to_device(np.asarray(sample_weight, dtype=np.float64))
        self._weights = (sample_weight, sw)
        return sw

    # ------------------------------------------------------------- kernels
    def bmu(self, X, W, metric, *, second=False, batch_size=None, dtype=None):
        """Best-matching units of all rows of X (see ``_kernels.bmu``)."""
        torch = self.torch
        dtype = np.asarray(W).dtype if dtype is None else np.dtype(dtype)
        with torch.no_grad():
            Wt = self._to_device(W, _torch_dtype(torch, dtype))
            cb = _Codebook(torch, Wt, metric)
            n = X.shape[0]
            idx = torch.empty(n, dtype=torch.int64, device=self.device)
            dist = torch.empty(n, dtype=torch.float64, device=self.device)
            idx2 = torch.empty_like(idx) if second else None
            rows = self._rows(cb.n_units, batch_size)
            for a, b, C in self._chunks(X, dtype, metric, rows):
                i1, i2, dist[a:b] = cb.search(C, second)
                idx[a:b] = i1
                if second:
                    idx2[a:b] = i2
            out = (self._numpy(idx), self._numpy(dist))
            if second:
                return (*out, self._numpy(idx2))
            return out

    def batch_sums(
        self, X, W, metric, sample_weight=None, *, batch_size=None, grid=None
    ):
        """Per-unit float64 sums of one batch pass (see ``_kernels.batch_sums``)."""
        torch = self.torch
        dtype = np.asarray(W).dtype
        with torch.no_grad():
            Wt = self._to_device(W, _torch_dtype(torch, dtype))
            cb = _Codebook(torch, Wt, metric)
            n, d = X.shape
            m = cb.n_units
            sums = torch.zeros((m, d), dtype=torch.float64, device=self.device)
            wsum = torch.zeros(m, dtype=torch.float64, device=self.device)
            zero = torch.zeros((), dtype=torch.float64, device=self.device)
            qe, te = zero.clone(), zero.clone()
            sw_all = self._sample_weight(sample_weight, n)
            dg = self._dgrid(grid) if grid is not None and m > 1 else None
            rows = self._rows(m, batch_size)
            for a, b, C in self._chunks(X, dtype, metric, rows):
                i1, i2, dist = cb.search(C, second=dg is not None)
                if sw_all is None:
                    self._add_rows(sums, i1, C.double())
                    wsum += torch.bincount(i1, minlength=m).double()
                    qe += dist.sum()
                    if dg is not None:
                        te += (~dg.adjacent(i1, i2)).sum().double()
                else:
                    sw = sw_all[a:b]
                    self._add_rows(sums, i1, C.double() * sw[:, None])
                    self._add_rows(wsum, i1, sw)
                    qe += sw @ dist
                    if dg is not None:
                        te += sw @ (~dg.adjacent(i1, i2)).double()
            tot = float(n) if sw_all is None else float(sw_all.sum())
            stats = {"qe_sum": float(qe), "te_sum": float(te), "weight": tot}
            return self._numpy(sums), self._numpy(wsum), stats

    def smooth(self, grid, kernel, sigma, values):
        """Neighbourhood-weighted sums ``H @ values`` on the device.

        ``values`` is an (n_units, k) float64 tensor. As ``_kernels.smooth``:
        the gaussian on rect grids axis by axis and a dense kernel matrix up
        to ``_kernels._DENSE_UNITS`` units; beyond that (where the numpy
        backend convolves by FFT) the pairs within the kernel's reach (the
        gaussian cut at 4 sigma; sparse on CPU, masked row blocks on a GPU)
        or row blocks for unbounded kernels. Never a dense n_units^2 matrix
        on large maps.
        """
        torch = self.torch
        m = grid.n_units
        if sigma <= 0:
            return values.clone()
        dg = self._dgrid(grid)
        if kernel == "gaussian" and grid.topology == "rect":
            out = values.reshape(*grid.shape, -1)
            for axis, size in enumerate(grid.shape):
                hk = neighborhood(torch, "gaussian", dg.axis_distances(size), sigma)
                out = torch.movedim(
                    torch.tensordot(hk, out, dims=([1], [axis])), 0, axis
                )
            return out.reshape(values.shape)
        if m <= _kernels._DENSE_UNITS:
            return neighborhood(torch, kernel, dg.dense_distances(), sigma) @ values
        reach = support(kernel, sigma)
        if math.isfinite(reach) and not self.blocked_cutoff:
            idx, dist = dg.pairs_within(reach)
            h = neighborhood(torch, kernel, dist, sigma)
            H = torch.sparse_coo_tensor(idx, h, (m, m), check_invariants=True)
            return torch.sparse.mm(H, values)
        out = torch.empty_like(values)
        budget = _GPU_SMOOTH_BLOCK_ELEMENTS if self.is_gpu else _SMOOTH_BLOCK_ELEMENTS
        block = max(1, budget // m)
        for a in range(0, m, block):
            b = min(a + block, m)
            dist = dg.distances(a, b)
            h = neighborhood(torch, kernel, dist, sigma)
            if math.isfinite(reach):
                h = h * (dist <= reach + _EPS)
            out[a:b] = h @ values
        return out

    def _smooth_sums(self, grid, kernel, sigma, sums, wsum):
        torch = self.torch
        both = torch.cat(
            [
                self._to_device(sums, torch.float64),
                self._to_device(wsum, torch.float64)[:, None],
            ],
            dim=1,
        )
        sm = self.smooth(grid, kernel, sigma, both)
        return sm[:, :-1], sm[:, -1]

    def batch_update(self, W, sums, wsum, grid, kernel, sigma, metric):
        """Kohonen's batch rule from per-unit sums (``_kernels.batch_update``)."""
        torch = self.torch
        W = np.asarray(W)
        with torch.no_grad():
            num, den = self._smooth_sums(grid, kernel, sigma, sums, wsum)
            ok = den.abs() > 1e-12 * max(float(np.max(wsum)), 1e-300)
            new = self._to_device(W, torch.float64).clone()
            new[ok] = num[ok] / den[ok, None]
            if metric == "cosine":
                new = _normalize_rows(torch, new)
            return self._numpy(new.to(_torch_dtype(torch, W.dtype)))

    def minibatch_step(self, W, C, sw, grid, kernel, sigma, lr, metric):
        """BMUs of one minibatch and the update they cause.

        Returns the new codebook (numpy) and the minibatch's weighted QE and
        TE sums for the codebook before the step (``_kernels.minibatch_step``).
        """
        torch = self.torch
        W = np.asarray(W)
        tdt = _torch_dtype(torch, W.dtype)
        with torch.no_grad():
            Wt = self._to_device(W, tdt)
            Ct = self._to_device(C, tdt)
            swt = self._to_device(np.asarray(sw, dtype=np.float64))
            cb = _Codebook(torch, Wt, metric)
            m, d = Wt.shape
            i1, i2, dist = cb.search(Ct, second=m > 1)
            qe = swt @ dist
            dg = self._dgrid(grid)
            te = swt @ (~dg.adjacent(i1, i2)).double() if m > 1 else None
            sums = torch.zeros((m, d + 1), dtype=torch.float64, device=self.device)
            rows = torch.cat([Ct.double(), torch.ones_like(swt)[:, None]], dim=1)
            self._add_rows(sums, i1, rows * swt[:, None])
            both = self.smooth(grid, kernel, sigma, sums)
            num, den = both[:, :-1], both[:, -1]
            Wd = Wt.double()
            Wd = Wd + lr * (num - den[:, None] * Wd) / den.clamp(min=1.0)[:, None]
            if metric == "cosine":
                Wd = _normalize_rows(torch, Wd)
            return (
                self._numpy(Wd.to(tdt)),
                float(qe),
                0.0 if te is None else float(te),
            )


__all__ = ["TorchBackend", "make_backend", "neighborhood"]
