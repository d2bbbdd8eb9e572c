"""Per-sample tables: metacluster abundances and median marker intensities."""

from __future__ import annotations

import numpy as np


def _groups(labels, files, n_clusters):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or (
        labels.size and labels.min() < 0
    ):
        raise ValueError("labels must be non-negative integers (metacluster or unit).")
    n = int(labels.max()) + 1 if labels.size else 0
    if n_clusters is None:
        n_clusters = n
    elif n_clusters < n:
        raise ValueError(
            f"n_clusters={n_clusters} is less than the largest label + 1 ({n})."
        )
    if files is None:
        files = np.zeros(labels.size, dtype=np.int64)
        names = ["all"]
    else:
        import pandas as pd

        cat = pd.Categorical(files)
        if len(cat) != labels.size:
            raise ValueError(
                f"files has {len(cat)} entries, labels {labels.size}; give one file "
                "per cell."
            )
        files, names = cat.codes.astype(np.int64), [str(c) for c in cat.categories]
    return labels, files, names, int(n_clusters)


def abundances(labels, files=None, *, n_clusters=None, percent=True):
    """Share of each file's cells in each cluster (rows: files; columns: clusters).

    Parameters
    ----------
    labels : array-like of int, shape (n_cells,)
        Metacluster (or unit) of every cell.
    files : array-like of shape (n_cells,), default=None
        Sample of every cell (file names); None: one row "all".
    n_clusters : int, default=None
        Number of columns (clusters absent from every file still get one).
    percent : bool, default=True
        Percentages (rows sum to 100); False gives counts.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from somkit.cytometry import abundances
    >>> abundances([0, 0, 1, 1, 1, 2], ["a", "a", "a", "b", "b", "b"]).round(1)
    cluster     0     1     2
    file
    a        66.7  33.3   0.0
    b         0.0  66.7  33.3
    """
    import pandas as pd

    labels, codes, names, k = _groups(labels, files, n_clusters)
    counts = np.zeros((len(names), k), dtype=np.int64)
    np.add.at(counts, (codes, labels), 1)
    values = counts.astype(np.float64)
    if percent:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(
            values * 100.0, totals, out=np.zeros_like(values), where=totals > 0
        )
    out = pd.DataFrame(values if percent else counts, index=names, columns=range(k))
    out.index.name, out.columns.name = "file", "cluster"
    return out


def marker_medians(X, labels, files=None, *, n_clusters=None, markers=None):
    """Median of every marker in every cluster of every file.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_cells, n_markers)
        Intensities (usually arcsinh-transformed).
    labels, files, n_clusters
        As in :func:`abundances`.
    markers : list of str, default=None
        Column names (default: the frame's columns, else "m0", "m1", ...).

    Returns
    -------
    DataFrame
        Rows: (file, cluster) for every file and every cluster, NaN where the
        file has no cell in the cluster; columns: markers.

    Examples
    --------
    >>> import numpy as np
    >>> from somkit.cytometry import marker_medians
    >>> X = np.array([[1.0], [3.0], [10.0], [20.0]])
    >>> marker_medians(X, [0, 0, 1, 1], ["a", "a", "a", "b"], markers=["CD3"])
                   CD3
    file cluster
    a    0         2.0
         1        10.0
    b    0         NaN
         1        20.0
    """
    import pandas as pd

    labels, codes, names, k = _groups(labels, files, n_clusters)
    if hasattr(X, "columns"):
        markers = [str(c) for c in X.columns] if markers is None else markers
        X = X.to_numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != labels.size:
        raise ValueError(
            f"X must have one row per cell ({labels.size}), got shape {X.shape}."
        )
    if markers is None:
        markers = [f"m{i}" for i in range(X.shape[1])]
    if len(markers) != X.shape[1]:
        raise ValueError(f"markers has {len(markers)} names for {X.shape[1]} columns.")
    frame = pd.DataFrame(X, columns=list(markers))
    frame["file"], frame["cluster"] = codes, labels
    med = frame.groupby(["file", "cluster"], sort=True).median()
    full = pd.MultiIndex.from_product(
        [range(len(names)), range(k)], names=["file", "cluster"]
    )
    med = med.reindex(full)
    med.index = med.index.set_levels(names, level="file")
    return med
