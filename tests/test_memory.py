"""Memory on memmapped data: only chunk-sized temporaries, never N x n_units.

Issue 5 asks that fit, predict and the metrics on a 10,000,000 x 32 float32
memmap (1.3 GB) allocate at most 500 MB beyond the mapped file. The same
budget, scaled down: 40 bytes per row (a few per-sample outputs such as
``labels_`` and the distances behind ``outlier_threshold_``) plus 32 MB of
fixed chunk buffers, i.e. 432 MB at 10M rows. A copy of X (128 bytes per
row) or any (n_samples, n_units) block (400 bytes per row here) breaks it.
``benchmarks/run.py --memory`` measures the full-size case.
"""

import tracemalloc

import numpy as np
import pytest

from somkit import SOM, metrics

N_ROWS = 300_000
N_FEATURES = 32
FIXED = 32 * 2**20
PER_ROW = 40


@pytest.fixture(scope="module")
def memmap(tmp_path_factory):
    path = tmp_path_factory.mktemp("mm") / "X.npy"
    X = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(N_ROWS, N_FEATURES)
    )
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(8, N_FEATURES)).astype(np.float32)
    for a in range(0, N_ROWS, 100_000):
        b = min(a + 100_000, N_ROWS)
        X[a:b] = centers[rng.integers(0, 8, b - a)]
        X[a:b] += rng.standard_normal((b - a, N_FEATURES), dtype=np.float32)
    X.flush()
    del X
    return np.load(path, mmap_mode="r")


def _peak(call):
    """Peak bytes allocated (tracemalloc) while ``call`` runs, and its result."""
    tracemalloc.start()
    try:
        out = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out


def test_fit_predict_metrics_stay_within_the_scaled_budget(memmap):
    budget = PER_ROW * N_ROWS + FIXED
    som = SOM((10, 10), n_epochs=2, random_state=0)
    peak, _ = _peak(lambda: som.fit(memmap))
    assert peak < budget, f"fit allocated {peak / 2**20:.1f} MB"
    assert som.labels_.shape == (N_ROWS,)
    for name, call in [
        ("predict", lambda: som.predict(memmap)),
        ("quantization_error", lambda: metrics.quantization_error(som, memmap)),
        ("topographic_error", lambda: metrics.topographic_error(som, memmap)),
    ]:
        peak, _ = _peak(call)
        assert peak < budget, f"{name} allocated {peak / 2**20:.1f} MB"


def test_metrics_allocate_no_per_sample_arrays(memmap):
    """QE and TE are sums: chunk buffers only, independent of n_samples."""
    som = SOM((10, 10), n_epochs=1, random_state=0).fit(memmap[:20_000])
    for fn in (metrics.quantization_error, metrics.topographic_error):
        peak, value = _peak(lambda fn=fn: fn(som, memmap))
        assert peak < FIXED, f"{fn.__name__} allocated {peak / 2**20:.1f} MB"
        assert np.isfinite(value)


def test_chunked_metrics_match_per_sample_computation(memmap):
    """The chunked QE/TE equal the per-sample definitions on the same map."""
    X = np.asarray(memmap[:5000])
    som = SOM((6, 7), n_epochs=2, random_state=0).fit(X)
    idx, dist, idx2 = som._bmu(X, second=True)
    np.testing.assert_allclose(metrics.quantization_error(som, X), dist.mean())
    for kind in ("edges", "diagonal"):
        bad = ~som.grid_.are_adjacent(idx, idx2, kind=kind)
        assert metrics.topographic_error(som, X, adjacency=kind) == pytest.approx(
            bad.mean()
        )
    w = np.random.default_rng(1).uniform(0, 2, len(X))
    np.testing.assert_allclose(
        metrics.quantization_error(som, X, sample_weight=w),
        np.average(dist, weights=w),
    )
