"""What ``somkit cytometry`` does, as a function: read, train, assign, write.

Memory stays bounded by the training cells plus one file per worker: the
files are read a first time for the training cells (all, or a random sample
drawn from every file in proportion to its size) and a second time, in
parallel threads, to assign every cell and reduce it to counts and medians.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

_TIME_CHANNELS = ("time", "hdr-t")


def run(
    files,
    output,
    *,
    markers=None,
    n_clusters="elbow",
    cofactor=5.0,
    sample=None,
    seed=0,
    grid=(10, 10),
    names="marker",
    jobs=2,
    echo=print,
):
    """Train FlowSOM on FCS files and write model, tables and report.

    Returns
    -------
    dict
        The fitted model ("model") and the tables ("abundances",
        "unit_abundances", "medians").
    """
    import pandas as pd

    from somkit.cytometry._fcs import fcs_columns
    from somkit.cytometry._flowsom import FlowSOM
    from somkit.cytometry._report import write_report

    start = time.perf_counter()
    paths = [Path(f) for f in files]
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder.")
    info = [fcs_columns(p, names=names) for p in paths]
    markers = _choose_markers(paths, [cols for cols, _ in info], markers)
    sizes = np.array([n for _, n in info], dtype=np.int64)
    labels = _file_labels(paths)
    rng = np.random.default_rng(seed)
    total = int(sizes.sum())
    if total == 0:
        raise ValueError("the files hold no cells.")
    if sample is None or sample >= total:
        take = [None] * len(paths)
    else:
        per_file = rng.multivariate_hypergeometric(sizes, sample)
        take = [
            np.sort(rng.choice(n, size=k, replace=False))
            for n, k in zip(sizes, per_file, strict=True)
        ]
    echo(
        f"{len(paths)} file(s), {total} cells; training on "
        f"{total if sample is None else min(sample, total)} cells, "
        f"{len(markers)} markers: {', '.join(markers)}"
    )
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        parts = list(
            pool.map(
                lambda a: _training_part(a[0], a[1], markers, names),
                zip(paths, take, strict=True),
            )
        )
    train = pd.concat(parts, ignore_index=True)
    del parts
    n_train = len(train)
    model = FlowSOM(
        n_clusters=n_clusters, grid=grid, cofactor=cofactor, random_state=seed
    ).fit(train)
    fitted = time.perf_counter()
    k, n_units = model.n_clusters_, model.som_.grid_.n_units
    echo(f"trained: {k} metaclusters of {n_units} units ({fitted - start:.1f} s)")

    def assign(path):
        from somkit.cytometry._fcs import read_fcs
        from somkit.cytometry._tables import abundances, marker_medians

        Xm = model.transform_markers(read_fcs(path, names=names)[markers])
        units = np.asarray(model.som_.predict(Xm))
        lab = model.unit_metaclusters_[units]
        return (
            abundances(lab, n_clusters=k).iloc[0].to_numpy(),
            abundances(units, n_clusters=n_units).iloc[0].to_numpy(),
            marker_medians(Xm, lab, n_clusters=k, markers=markers).to_numpy(),
        )

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(assign, paths))
    ab = pd.DataFrame([r[0] for r in results], index=labels, columns=range(k))
    unit_ab = pd.DataFrame(
        [r[1] for r in results], index=labels, columns=range(n_units)
    )
    for table, what in ((ab, "metacluster"), (unit_ab, "unit")):
        table.index.name, table.columns.name = "file", what
    med = pd.DataFrame(
        np.concatenate([r[2] for r in results]),
        index=pd.MultiIndex.from_product(
            [labels, range(k)], names=["file", "metacluster"]
        ),
        columns=markers,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.npz")
    for name, table in (
        ("abundances.csv", ab),
        ("unit_abundances.csv", unit_ab),
        ("medians.csv", med),
    ):
        _write_csv(table, out / name)
    settings = {
        "files": len(paths),
        "cells": total,
        "training cells": n_train,
        "markers": ", ".join(markers),
        "arcsinh cofactor": cofactor,
        "grid": f"{grid[0]}x{grid[1]}",
        "metaclusters": f"{k} (asked: {n_clusters})",
        "seed": seed,
        "training seconds": f"{fitted - start:.2f}",
        "assignment seconds": f"{time.perf_counter() - fitted:.2f}",
    }
    write_report(model, train, ab, med, out, settings=settings)
    echo(f"wrote {out}/index.html ({time.perf_counter() - start:.1f} s)")
    return {
        "model": model,
        "abundances": ab,
        "unit_abundances": unit_ab,
        "medians": med,
    }


def _choose_markers(paths, columns, markers):
    common = [c for c in columns[0] if all(c in cols for cols in columns[1:])]
    if markers is None:
        chosen = [c for c in common if c.lower() not in _TIME_CHANNELS]
        if not chosen:
            raise ValueError("the files share no channel to cluster on.")
        return chosen
    if not markers or any(not m for m in markers):
        raise ValueError("--markers must list channel names separated by commas.")
    for p, cols in zip(paths, columns, strict=True):
        missing = [m for m in markers if m not in cols]
        if missing:
            raise ValueError(
                f"{p}: has no channel {missing[0]!r}; its channels: {', '.join(cols)}."
            )
    if len(set(markers)) != len(markers):
        raise ValueError(f"--markers repeats a channel: {', '.join(markers)}.")
    return list(markers)


def _file_labels(paths):
    """Row labels of the tables: file names, or full paths when names repeat."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    full = [str(p) for p in paths]
    if len(set(full)) != len(full):
        raise ValueError("the same file is given twice.")
    return full


def _training_part(path, rows, markers, names):
    from somkit.cytometry._fcs import read_fcs

    df = read_fcs(path, names=names)[markers]
    if rows is not None:
        df = df.iloc[rows]
    return df.astype(np.float32).reset_index(drop=True)


def _write_csv(table, path):
    """``table`` as CSV through the atomic helper; text cells formula-safe."""
    from somkit._atomic import atomic_write
    from somkit._text import csv_cell

    table = table.rename(index=csv_cell, columns=csv_cell)
    for axis in (table.index, table.columns):
        axis.names = [csv_cell(n) for n in axis.names]
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, float_format="%.6g")
