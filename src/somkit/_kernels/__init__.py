"""Array kernels of the numpy backend, one module per concern.

* :mod:`._threads` threads, BLAS state and buffers kept across passes;
* :mod:`._distances` chunking and dense sample-unit distances;
* :mod:`._numba` compiled per-row loops (BMU top-2, distances, sums);
* :mod:`._search` the BMU search and the passes over the data;
* :mod:`._tolerance` the rounding bands of the exact top-2 search;
* :mod:`._layered` the same for layered maps (a ``LayerMetric`` instead of a
  metric name); its entry points take either and are the ones exported here;
* :mod:`._moments` chunked weighted mean and covariance;
* :mod:`._smooth` neighbourhood smoothing of per-unit values;
* :mod:`._online` the sequential (online) rule;
* :mod:`._tail` an exact upper quantile in one streaming pass.

Pure functions on arrays: no validation, no estimator state. The numpy
backend (``somkit._backends.numpy``) exposes them through the backend
interface; nothing else should need to import them.
"""

from somkit._kernels._distances import (
    chunk_rows,
    iter_chunks,
    normalize_rows,
)
from somkit._kernels._layered import (
    as_chunk,
    batch_sums,
    bmu,
    bmu_stats,
    distances,
    minibatch_sums,
    pairwise_distances,
)
from somkit._kernels._moments import (
    chunk_moments,
    merge_moments,
    moments,
    observed_sums,
    pair_sums,
)
from somkit._kernels._search import Codebook, Factored, te_limit
from somkit._kernels._smooth import DENSE_UNITS, smooth
from somkit._kernels._tail import Tail
from somkit._kernels._threads import (
    blas_single_thread,
    n_workers,
    reuse_buffers,
    thread_cap,
)
from somkit._kernels._tolerance import masked_tolerance, score_tolerance

__all__ = [
    "DENSE_UNITS",
    "Codebook",
    "Factored",
    "Tail",
    "as_chunk",
    "batch_sums",
    "blas_single_thread",
    "bmu",
    "bmu_stats",
    "chunk_moments",
    "chunk_rows",
    "distances",
    "iter_chunks",
    "masked_tolerance",
    "merge_moments",
    "minibatch_sums",
    "moments",
    "n_workers",
    "normalize_rows",
    "observed_sums",
    "pair_sums",
    "pairwise_distances",
    "reuse_buffers",
    "score_tolerance",
    "smooth",
    "te_limit",
    "thread_cap",
]
