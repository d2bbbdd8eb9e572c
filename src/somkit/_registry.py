"""Names of the options and their numeric ids, defined once (light to import).

The numba kernels take ids, the Python layers take names; both come from the
tuples below (the id of a name is its position), so the tables cannot drift
apart. This module imports nothing heavy: the command line uses it to build
its ``--help`` without importing scikit-learn, numba or torch.
"""

from __future__ import annotations

TOPOLOGIES = ("rect", "hex")
#: Distances between samples and units (``SOM(metric=...)``).
METRICS = ("euclidean", "cosine", "dot", "manhattan", "chebyshev")
#: Metrics whose BMU search is one matrix product (similarity, or the
#: expanded squared distance).
GEMM_METRICS = ("euclidean", "cosine", "dot")
#: Neighbourhood functions h(d, sigma) over grid distances.
NEIGHBORHOODS = (
    "gaussian",
    "bubble",
    "cut_gaussian",
    "mexican_hat",
    "triangle",
    "epanechnikov",
)
#: Neighbourhoods that are zero beyond sigma.
BOUNDED_NEIGHBORHOODS = ("bubble", "cut_gaussian", "triangle", "epanechnikov")
#: Distances of one layer of a layered map (``somkit.Layer(metric=...)``):
#: sqeuclidean is kohonen's "sumofsquares", tanimoto is for binary / one-hot
#: blocks.
LAYER_METRICS = ("sqeuclidean", "euclidean", "cosine", "manhattan", "tanimoto")
ALGORITHMS = ("batch", "online", "minibatch")
#: ``SOM(schedule=...)``: the default rough-then-fine plan, or every epoch
#: on every row.
SCHEDULES = ("auto", "full")
BACKENDS = ("auto", "numpy", "torch", "dask")
INITS = ("pca", "sample", "random")
DTYPES = ("float32", "float64")
ADJACENCIES = ("edges", "diagonal")
#: Handling of holes (NaN) in the data (``SOM(missing=...)``).
MISSING = ("error", "ignore")
#: Text columns on the command line: refused, one-hot encoded, or dropped.
CATEGORICAL = ("error", "onehot", "drop")
#: Feature scalings of the command line (stored in the model as a step).
SCALES = ("none", "standard", "minmax")


def _ids(names):
    return {name: i for i, name in enumerate(names)}


METRIC_ID = _ids(METRICS)
NEIGHBORHOOD_ID = _ids(NEIGHBORHOODS)
ALGORITHM_ID = _ids(ALGORITHMS)
LAYER_METRIC_ID = _ids(LAYER_METRICS)


def check_choice(name, value, allowed):
    """``value`` if it is one of ``allowed``, else a ValueError naming both.

    Examples
    --------
    >>> check_choice("metric", "cosine", METRICS)
    'cosine'
    """
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")
    return value
