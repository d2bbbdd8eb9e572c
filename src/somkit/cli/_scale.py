"""The command line at scale: streaming reads, samples, many files, clusters.

``somkit predict`` assigns every row of one or several files, chunk by
chunk, to CSV or Parquet, on the local cores or on the cluster; the
helpers here (which files, whether to stream, the cluster) are shared with
training at scale (``fit``/``report``: :mod:`somkit.cli._scale_train`).
Imported only when a command runs.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import click
import numpy as np

from somkit.cli._app import CliError
from somkit.cli._options import check_parent, say

#: Files at least this big are streamed by default (``--stream`` auto).
STREAM_BYTES = 512 * 2**20
#: Suffixes that are always streamed (array stores, read in chunks only).
ALWAYS_STREAMED = (".zarr", ".h5", ".hdf5", ".he5")
#: Blocks assigned on a cluster at once (futures in flight) by predict.
IN_FLIGHT = 8
_GLOB_CHARS = set("*?[")


# ------------------------------------------------------------------ inputs
def expand_inputs(patterns):
    """Input paths: each pattern as given, or its glob matches (sorted)."""
    out = []
    for p in patterns:
        base = p.split("::")[0]
        if os.path.exists(base) or not _GLOB_CHARS & set(p):
            out.append(p)
            continue
        matches = sorted(glob.glob(p))
        if not matches:
            raise CliError(f"no file matches {p!r}.")
        out.extend(matches)
    if not out:
        raise CliError("give at least one data file.")
    return list(dict.fromkeys(out))


def wants_stream(path, stream, scheduler=None):
    """Whether ``path`` is read in chunks (``--stream`` given, or auto)."""
    from somkit._chunks import is_streamable

    base = str(path).split("::")[0]
    if stream is None:
        stream = (
            scheduler is not None
            or base.lower().endswith(ALWAYS_STREAMED)
            or (os.path.isfile(base) and os.path.getsize(base) >= STREAM_BYTES)
        )
    if stream and not is_streamable(base):
        raise CliError(
            f"{path}: cannot be read in chunks (use .parquet, .zarr, .h5, .npy or "
            ".csv), drop --stream/--scheduler to read it whole."
        )
    return stream


def connect(address):
    """A ``distributed.Client`` of the cluster at ``address`` (never starts one)."""
    try:
        import distributed
    except ImportError:
        raise CliError(
            "--scheduler needs dask.distributed: pip install 'somkit[dask]'."
        ) from None
    try:
        return distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise CliError(f"cannot reach the dask scheduler at {address}: {exc}") from None


# ----------------------------------------------------------------- predict
def grid_columns(som):
    return {1: ["position"], 2: ["row", "col"], 3: ["row", "col", "layer"]}[
        som.grid_.ndim
    ]


class ResultWriter:
    """Rows of results written chunk by chunk to CSV or Parquet, atomically.

    ``path`` "-" writes CSV to standard output. Parquet: one row group per
    chunk (pyarrow), so memory stays bounded by the chunk.
    """

    def __init__(self, path, fmt, raw_cells=False):
        self.path, self.fmt, self.raw_cells = path, fmt, raw_cells
        self.rows = 0
        self._stack = None
        self._writer = None

    def __enter__(self):
        import contextlib

        from somkit._atomic import atomic_write

        self._stack = contextlib.ExitStack()
        if self.path == "-":
            self._fh = self._stack.enter_context(click.open_file("-", "w"))
        elif self.fmt == "csv":
            self._fh = self._stack.enter_context(
                atomic_write(self.path, "w", encoding="utf-8", newline="")
            )
        else:
            self._fh = self._stack.enter_context(atomic_write(self.path, "wb"))
        return self

    def write(self, columns):
        """Append rows given as ``{name: 1-D array}`` (same order each call)."""
        n = len(next(iter(columns.values())))
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({k: _arrow(v) for k, v in columns.items()})
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._fh, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        else:
            import csv

            from somkit._text import csv_cell

            writer = csv.writer(self._fh, lineterminator="\n")
            if self.rows == 0:
                writer.writerow([csv_cell(c, self.raw_cells) for c in columns])
            cells = [_csv_cells(v, self.raw_cells) for v in columns.values()]
            writer.writerows(zip(*cells, strict=True))
        self.rows += n

    def __exit__(self, *exc):
        if self._writer is not None:
            try:
                self._writer.close()  # the Parquet footer
            except Exception as err:
                if exc[0] is None:
                    self._stack.__exit__(type(err), err, err.__traceback__)
                    raise
        return self._stack.__exit__(*exc)


def _arrow(values):
    import pyarrow as pa

    values = np.asarray(values)
    if values.dtype != object:
        return pa.array(values)
    cells = [None if _blank(v) else v for v in values.tolist()]
    try:
        return pa.array(cells)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: as text
        return pa.array([None if v is None else str(v) for v in cells])


def _blank(value):
    return value is None or (isinstance(value, float) and value != value)


def _csv_cells(values, raw_cells=False):
    """CSV cells; text a spreadsheet would run as a formula gets a leading '."""
    from somkit._text import csv_cell

    values = np.asarray(values)
    if values.dtype.kind == "f":
        return [f"{v:.6g}" if v == v else "" for v in values.tolist()]
    if values.dtype == object or values.dtype.kind == "U":
        return ["" if _blank(v) else csv_cell(v, raw_cells) for v in values.tolist()]
    return values.tolist()


def assign(model, som, X):
    """``(bmu, distance, prediction)`` of the rows of X.

    One BMU search after the model's preprocessing (predict and
    score_samples would be two). Rows with no observed feature get bmu -1
    and distance NaN (empty cells in the output). ``prediction`` is the
    class or target of a supervised map (SOMClassifier, SOMRegressor; None
    in empty rows), else None.
    """
    import warnings

    from somkit._model import _final, _is_supervised, to_map_space
    from somkit.cli._app import NAMES_WARNING

    with warnings.catch_warnings():  # also on dask workers
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        Xm = np.asarray(to_map_space(model, X))
        keep = ~np.isnan(Xm).all(axis=1)
        check_holes(som, Xm, keep)
        idx = np.full(len(Xm), -1, dtype=np.int64)
        dist = np.full(len(Xm), np.nan)
        if keep.all():
            idx[:], dist[:] = som._bmu(Xm)
        elif keep.any():
            idx[keep], dist[keep] = som._bmu(Xm[keep])
        pred = None
        if _is_supervised(_final(model)):
            # its own predict: it may average several nearest units
            pred = np.full(len(Xm), None, dtype=object)
            if keep.any():
                pred[keep] = list(model.predict(X[keep]))
    return idx, dist, pred


def check_holes(som, Xm, keep):
    """Refuse holes for a map trained with ``--missing error``, in CLI words."""
    if getattr(som, "missing", "error") != "error":
        return
    if np.isnan(Xm[keep]).any():
        raise CliError(
            "the data has rows with holes (missing values) but the model was "
            "trained with --missing error, so it cannot place them: fill them "
            "first, or train with --missing ignore (the default)."
        )


def result_columns(som, chunk, idx, dist, source=None, pred=None):
    """Output columns: [source], [id], [label], bmu, coords, distance, [prediction]."""
    cols = {}
    if source is not None:
        cols["source"] = np.full(len(idx), source, dtype=object)
    if chunk.ids is not None:
        cols[chunk.id_name] = chunk.ids
    if chunk.labels is not None:
        cols[chunk.label_name] = chunk.labels
    coords = np.asarray(som.grid_.index_to_coords(np.maximum(idx, 0)))
    coords = coords.reshape(len(idx), -1).astype(np.int64)
    empty = idx < 0  # no observed feature: empty cells
    blank = (lambda v: np.where(empty, None, v.astype(object))) if empty.any() else None
    cols["bmu"] = idx if blank is None else blank(idx)
    for j, name in enumerate(grid_columns(som)):
        cols[name] = coords[:, j] if blank is None else blank(coords[:, j])
    cols["distance"] = dist
    if pred is not None:
        cols["prediction"] = pred
    return cols


def open_for_model(
    path, model, *, id_column, label_column, chunk_rows, sep=None, decimal=None
):
    """A :class:`somkit._chunks.ChunkReader` of the model's feature columns.

    Models with a one-hot step for text columns take the file whole (the
    ``predict`` without ``--stream``).
    """
    from somkit._chunks import read
    from somkit._model import feature_names, unwrap

    som, prefix = unwrap(model)
    steps = getattr(prefix, "steps", [])
    if any(type(step).__name__ == "OneHotText" for _, step in steps):
        raise CliError(
            f"{path}: the model encodes text columns (--categorical onehot); "
            "read the file whole: drop --stream/--scheduler/--output-dir and "
            "give one input with a CSV output."
        )
    names = feature_names(model)
    reader = read(
        path,
        label_column=label_column,
        id_column=id_column,
        chunk_rows=chunk_rows,
        sep=sep,
        decimal=decimal,
    )
    if reader.named and names is not None:
        missing = [n for n in names if n not in reader.feature_names]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:8])
            raise CliError(f"{path}: lacks the model's feature column(s) {shown}.")
        reader = read(
            path,
            columns=names,
            label_column=label_column,
            id_column=id_column,
            chunk_rows=chunk_rows,
            sep=sep,
            decimal=decimal,
        )
    if reader.n_features != som.n_features_in_:
        raise CliError(
            f"{path}: has {reader.n_features} feature column(s) but the model was "
            f"trained on {som.n_features_in_}."
        )
    return reader


def _prefetched(iterator):
    """The items of ``iterator``, the next one read in a thread meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    it = iter(iterator)
    with ThreadPoolExecutor(1, thread_name_prefix="somkit-read") as pool:
        pending = pool.submit(next, it, None)
        while True:
            item = pending.result()
            if item is None:
                return
            pending = pool.submit(next, it, None)
            yield item


def _labelled(reader, chunk):
    chunk.id_name, chunk.label_name = reader.id_name, reader.label_name
    return chunk


def local_results(model, som, reader, source):
    """Result columns chunk by chunk (the BMU search threads over the cores)."""
    for chunk in _prefetched(reader.chunks()):
        idx, dist, pred = assign(model, som, chunk.X)
        yield result_columns(som, _labelled(reader, chunk), idx, dist, source, pred)


def _assign_block(reader, i, model):
    from somkit._model import unwrap

    som, _ = unwrap(model)
    chunk = _labelled(reader, reader.read_block(i))
    idx, dist, pred = assign(model, som, chunk.X)
    return chunk, idx, dist, pred


def cluster_results(client, model_future, som, reader, source):
    """Result columns block by block, each read and assigned on a worker.

    At most ``IN_FLIGHT`` blocks are in flight; results are written in
    file order as they arrive.
    """
    from collections import deque

    n_blocks = len(reader.blocks())
    pending = deque()
    nxt = 0
    while nxt < n_blocks or pending:
        while nxt < n_blocks and len(pending) < IN_FLIGHT:
            pending.append(client.submit(_assign_block, reader, nxt, model_future))
            nxt += 1
        chunk, idx, dist, pred = pending.popleft().result()
        yield result_columns(som, chunk, idx, dist, source, pred)


def predict_files(
    model_path,
    inputs,
    *,
    output,
    output_dir,
    fmt,
    id_column,
    label_column,
    chunk_rows,
    scheduler,
    quiet,
    load_model,
    sep=None,
    decimal=None,
    raw_cells=False,
):
    """``somkit predict`` for streamed inputs (see the command's help)."""
    from somkit._atomic import check_outputs
    from somkit._model import unwrap

    if (output is None) == (output_dir is None):
        raise CliError("give either -o/--output or --output-dir.")
    model = load_model(model_path)
    som, _ = unwrap(model)
    readers = [
        open_for_model(
            p,
            model,
            id_column=id_column,
            label_column=label_column,
            chunk_rows=chunk_rows,
            sep=sep,
            decimal=decimal,
        )
        for p in inputs
    ]
    client = model_future = None
    if scheduler is not None:
        client = connect(scheduler)
        model_future = client.scatter(model, broadcast=True)
        for r in readers:
            if r.blocks() is None:
                raise CliError(
                    f"{r.path}: text files are read in order only; convert it to "
                    "Parquet to assign it on a cluster."
                )

    def results(reader, source):
        if client is not None:
            return cluster_results(client, model_future, som, reader, source)
        return local_results(model, som, reader, source)

    tic = time.perf_counter()
    try:
        if output_dir is not None:
            out_dir = Path(output_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            targets = _per_input_targets(inputs, out_dir, fmt)
            check_outputs(targets, [model_path, *[p.split("::")[0] for p in inputs]])
            for reader, target in zip(readers, targets, strict=True):
                with ResultWriter(str(target), fmt, raw_cells) as w:
                    for cols in results(reader, None):
                        w.write(cols)
                say(quiet, f"wrote {w.rows} rows to {target}")
        else:
            if output != "-":
                check_parent(output)
            out_fmt = (
                "parquet"
                if str(output).lower().endswith((".parquet", ".pq"))
                else "csv"
            )
            several = len(readers) > 1
            check_outputs([output], [model_path, *[p.split("::")[0] for p in inputs]])
            with ResultWriter(output, out_fmt, raw_cells) as w:
                for reader, path in zip(readers, inputs, strict=True):
                    for cols in results(reader, path if several else None):
                        w.write(cols)
            if output != "-":
                say(quiet, f"wrote {w.rows} rows to {output}")
    finally:
        if client is not None:
            client.close()
    say(quiet, f"assigned in {time.perf_counter() - tic:.1f} s")


def _per_input_targets(inputs, out_dir, fmt):
    """One output per input, named after it (``data.parquet`` -> ``data.csv``)."""
    full = [Path(p.split("::")[0]).name for p in inputs]
    names = [Path(n).stem if Path(n).suffix else n for n in full]
    if len(set(names)) != len(names):  # x.npy and x.zarr: keep the suffixes
        names = full
    if len(set(names)) != len(names):
        raise CliError(
            "--output-dir needs inputs with distinct file names; give -o FILE for "
            "one output with a source column instead."
        )
    ext = ".parquet" if fmt == "parquet" else ".csv"
    return [out_dir / f"{n}{ext}" for n in names]
