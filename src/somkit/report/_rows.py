"""``rows.csv``: where every input row landed on the map, in input order."""

from __future__ import annotations

import csv

import numpy as np

from somkit._text import csv_cell

#: Names of the grid coordinate columns, by number of grid dimensions (as
#: ``somkit predict`` writes them).
COORD_NAMES = {1: ("position",), 2: ("row", "col"), 3: ("row", "col", "layer")}


def row_ids(data):
    """The ID of each row: the id column's values, else row numbers from 1."""
    if data.ids is not None:
        return np.asarray(data.ids, dtype=object)
    return np.arange(1, data.n_samples + 1)


def coords(grid, bmu):
    """Grid coordinates of each BMU as columns."""
    return list(np.unravel_index(np.asarray(bmu), grid.shape))


def _text(v):
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        return repr(float(v)) if not float(v).is_integer() else str(int(v))
    if isinstance(v, np.generic):
        return str(v.item())
    return str(v)


def write_rows(path, data, grid, bmu, distance, outlier, clusters):
    """Write ``rows.csv`` at ``path`` (atomically).

    Columns: id (the ``--id-column`` values, else the row number from 1),
    bmu (flat index of the best-matching unit, row-major), row, col
    (position on a chain, row, col, layer on 3-D maps, as ``somkit
    predict``),
    cluster (from 1), distance (to the BMU, in the map's space), outlier
    (1 when the distance exceeds the map's outlier threshold) and, with
    labels, the label (empty for a missing one).
    """
    from somkit._atomic import atomic_write

    ids = row_ids(data)
    cols = coords(grid, bmu)
    header = ["id", "bmu", *COORD_NAMES[grid.ndim], "cluster", "distance", "outlier"]
    labels = data.labels
    if labels is not None:
        header.append("label")
        labels = np.asarray(labels, dtype=object)
    dist = [f"{d:.6g}" for d in np.asarray(distance, dtype=np.float64).tolist()]
    columns = [
        [csv_cell(_text(v)) for v in ids.tolist()],
        np.asarray(bmu).tolist(),
        *(c.tolist() for c in cols),
        (np.asarray(clusters) + 1).tolist(),
        dist,
        np.asarray(outlier, dtype=np.int8).tolist(),
    ]
    if labels is not None:
        columns.append([csv_cell(_text(v)) for v in labels.tolist()])
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*columns, strict=True))
    return path


def write_table(path, rows):
    """Write ``rows`` (header first) as CSV at ``path`` (atomically)."""
    from somkit._atomic import atomic_write

    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(
            [csv_cell(v) for v in row] for row in rows
        )
    return path
