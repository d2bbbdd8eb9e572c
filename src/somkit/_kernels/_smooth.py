"""Neighbourhood smoothing of per-unit values: ``H @ values`` without ``H``.

``H[j, k] = h(d(j, k))`` over grid distances. Small maps use the dense
matrix; large ones never form it: the gaussian on rect grids is applied axis
by axis (exact), every other case is a convolution over the grid by FFT.
"""

from __future__ import annotations

import math

import numpy as np

from somkit._neighborhood import neighborhood, support

#: Dense neighbourhood matrices are used up to this many units.
DENSE_UNITS = 2500


def _separable_gaussian(grid, sums, sigma):
    """Apply the gaussian axis by axis (exact for rect grids).

    Each axis is one matrix product on a view of the values (no transposed
    copies): ``(size x size) @ (size x rest)`` batched over the leading axes.
    """
    shape = tuple(grid.shape)
    out = np.ascontiguousarray(sums, dtype=np.float64)
    k = out.shape[1]
    for axis, size in enumerate(shape):
        c = np.arange(size, dtype=np.float64)
        dk = np.abs(c[:, None] - c[None, :])
        if grid.periodic:
            dk = np.minimum(dk, size - dk)
        hk = neighborhood("gaussian", dk, sigma)
        lead = math.prod(shape[:axis])
        rest = math.prod(shape[axis + 1 :]) * k
        out = np.matmul(hk, out.reshape(lead, size, rest)).reshape(sums.shape)
    return out


def _extent(size, reach):
    """Largest index offset along one grid axis that the function can reach."""
    if not np.isfinite(reach):
        return size - 1
    # hex rows are sqrt(3)/2 apart: index offsets reach 2/sqrt(3) further
    return min(size - 1, int(reach * 1.155) + 2)


def _image(grid, name, sigma, reach, fshape, parity=None):
    """The neighbourhood as an image over offsets, wrapped into an FFT of ``fshape``.

    ``image[o] = h(d(o))`` for every offset o within the grid's extent (and
    within ``reach``), stored at index ``o mod fshape``; for a hex grid the
    offsets start from rows of the given ``parity``.
    """
    axes = []
    for size in grid.shape:
        if grid.periodic:
            axes.append(np.arange(size))
        else:
            e = _extent(size, reach)
            axes.append(np.arange(-e, e + 1))
    mesh = np.meshgrid(*axes, indexing="ij")
    if grid.topology == "hex":
        dr, dc = mesh
        dy = dr * (math.sqrt(3) / 2)
        dx = dc + 0.5 * (((parity + dr) % 2) - parity)
        delta = [np.abs(dy), np.abs(dx)]
    else:
        delta = [np.abs(o).astype(np.float64) for o in mesh]
    if grid.periodic:
        delta = [np.minimum(t, p - t) for t, p in zip(delta, grid.period, strict=True)]
    dist = np.sqrt(sum(t * t for t in delta))
    h = neighborhood(name, dist, sigma)
    if np.isfinite(reach):
        h[dist > reach + 1e-9] = 0.0
    image = np.zeros(fshape)
    # distinct offsets land on distinct indices (fshape >= extent + size)
    image[tuple(np.mod(o, n) for o, n in zip(mesh, fshape, strict=True))] = h
    return image


def _fft_smooth(grid, name, sigma, values):
    """``H @ values`` as a convolution over the grid (rect or hex), by FFT.

    Exact up to FFT rounding (~1e-15 of the largest term); outputs whose reach
    holds no non-zero input row are exactly zero, as in the dense product.
    Hex grids are translation invariant per source-row parity, so they take
    one image per parity. Memory: O(n_units x k), never n_units^2.
    """
    from scipy import fft

    shape = grid.shape
    nd = len(shape)
    k = values.shape[1]
    reach = support(name, sigma)
    if grid.periodic:
        fshape = tuple(shape)
    else:
        fshape = tuple(
            fft.next_fast_len(size + _extent(size, reach), real=True) for size in shape
        )
    axes = tuple(range(nd))
    V = values.reshape(*shape, k)
    nonzero = np.any(values != 0, axis=1).reshape(shape).astype(np.float64)
    parities = (0, 1) if grid.topology == "hex" else (None,)
    acc = None
    cnt = None
    for p in parities:
        if p is None:
            Vp, Ip = V, nonzero
        else:
            rows = (np.arange(shape[0]) % 2 == p)[:, None]
            Vp = V * rows[..., None]
            Ip = nonzero * rows
        img = _image(grid, name, sigma, reach, fshape, parity=p)
        Kf = fft.rfftn(img, s=fshape, axes=axes)
        term = fft.rfftn(Vp, s=fshape, axes=axes) * Kf[..., None]
        mask = fft.rfftn((img != 0).astype(np.float64), s=fshape, axes=axes)
        hits = fft.rfftn(Ip, s=fshape, axes=axes) * mask
        acc = term if acc is None else acc + term
        cnt = hits if cnt is None else cnt + hits
    out = fft.irfftn(acc, s=fshape, axes=axes)
    counts = fft.irfftn(cnt, s=fshape, axes=axes)
    crop = tuple(slice(0, size) for size in shape)
    out = np.ascontiguousarray(out[crop]).reshape(values.shape)
    empty = counts[crop].reshape(-1) < 0.5
    out[empty] = 0.0
    return out


def smooth(grid, name, sigma, values):
    """Neighbourhood-weighted sums ``H @ values`` with ``H[j, k] = h(d(j, k))``.

    ``values`` is (n_units, k). Never forms a dense n_units^2 matrix on large
    maps (more than :data:`DENSE_UNITS` units): the gaussian on rect grids is
    applied axis by axis (exact); every other function and the hex gaussian
    (cut at 4 sigma, :data:`somkit._neighborhood.GAUSSIAN_CUTOFF`) is a
    convolution over the grid computed by FFT (per row parity on hex grids).
    """
    m = grid.n_units
    if sigma <= 0:
        return values.copy()
    if name == "gaussian" and grid.topology == "rect":
        return _separable_gaussian(grid, values, sigma)
    if m <= DENSE_UNITS:
        return neighborhood(name, grid.distances(), sigma) @ values
    return _fft_smooth(grid, name, sigma, np.asarray(values, dtype=np.float64))
