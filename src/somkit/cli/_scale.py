"""The command line at scale: streaming reads, samples, many files, clusters.

``somkit fit``/``report`` train from a file read in chunks (``--stream``,
automatic for big files and Zarr/HDF5 arrays), on a reservoir sample
(``--sample N``) or on a dask cluster (``--scheduler``); ``somkit predict``
assigns every row of one or several files, chunk by chunk, to CSV or
Parquet, on the local cores or on the cluster. Imported only when a
command runs.
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
    """``(bmu, distance)`` of the rows of X after the model's preprocessing.

    One BMU search (predict and score_samples would be two). Rows with no
    observed feature get bmu -1 and distance NaN (empty cells in the output).
    """
    import warnings

    from somkit._model import to_map_space
    from somkit.cli._app import NAMES_WARNING

    with warnings.catch_warnings():  # also on dask workers
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        Xm = np.asarray(to_map_space(model, X))
    keep = ~np.isnan(Xm).all(axis=1)
    idx = np.full(len(Xm), -1, dtype=np.int64)
    dist = np.full(len(Xm), np.nan)
    if keep.all():
        idx[:], dist[:] = som._bmu(Xm)
    elif keep.any():
        idx[keep], dist[keep] = som._bmu(Xm[keep])
    return idx, dist


def result_columns(som, chunk, idx, dist, source=None):
    """Output columns of a chunk: [source], [id], [label], bmu, coords, distance."""
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
        idx, dist = assign(model, som, chunk.X)
        yield result_columns(som, _labelled(reader, chunk), idx, dist, source)


def _assign_block(reader, i, model):
    from somkit._model import unwrap

    som, _ = unwrap(model)
    chunk = _labelled(reader, reader.read_block(i))
    idx, dist = assign(model, som, chunk.X)
    return chunk, idx, dist


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
        chunk, idx, dist = pending.popleft().result()
        yield result_columns(som, chunk, idx, dist, source)


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


# ------------------------------------------------------------------- train
class StreamedData:
    """What ``cli._training.train`` says about data it does not hold."""

    text_columns = ()
    X = None

    def __init__(self, reader, n_samples, source):
        self.n_samples = n_samples
        self.n_features = reader.n_features
        self.feature_names = list(reader.feature_names)
        self.named = reader.named
        self.source = source


def training_reader(path, opts, *, id_column=None, chunk_rows=None):
    """The chunk reader of ``fit``/``report`` at scale, under the data options.

    Pops the column, read and text options from ``opts`` (``missing``
    stays for training). Numeric columns only: text columns are refused by
    name (``--categorical error``) or left out with a note (``drop``);
    ``onehot`` learns its categories from the whole table, so it trains in
    memory only. Columns named like a row index (id, index, Unnamed: 0,
    ...) are left out with a note, as when the file is read whole.
    """
    from somkit._chunks import read
    from somkit._data import _index_like, _split_spec

    quiet = opts.get("quiet", False)
    categorical = opts.pop("categorical", "error")
    if categorical == "onehot":
        raise CliError(
            "--categorical onehot learns the categories from the whole table; "
            "drop --stream/--sample/--scheduler to train in memory, or use "
            "--categorical drop."
        )
    columns = _split_spec(opts.pop("columns", None))
    exclude = _split_spec(opts.pop("exclude", None), "--exclude") or []
    kw = dict(
        columns=columns,
        label_column=opts.pop("label_column", None),
        id_column=id_column,
        chunk_rows=chunk_rows,
        sep=opts.pop("sep", None),
        decimal=opts.pop("decimal", None),
    )
    reader = read(path, exclude=exclude, **kw)
    for note in reader.notes:
        say(quiet, f"note: {path}: {note}")
    if reader.text_columns:
        shown = ", ".join(map(repr, reader.text_columns[:8]))
        if categorical == "error":
            raise CliError(
                f"{path}: text column(s) {shown}: leave them out with "
                "--categorical drop or --exclude, or encode them with "
                "--categorical onehot (in memory: without --stream/--sample/"
                "--scheduler)."
            )
        say(
            quiet,
            f"note: {path}: text column(s) {shown} left out (--categorical drop)",
        )
    index = []
    if columns is None and reader.named:
        index = [n for n in reader.feature_names if _index_like(n, None) is not None]
    if index:
        say(
            quiet,
            f"note: {path}: column(s) {', '.join(map(repr, index))} look like a "
            "row index (named like an index); left out of the features (name "
            "them in --columns to use them)",
        )
        reader = read(path, exclude=exclude + index, **kw)
    return reader


def observed_rows(reader, missing, quiet):
    """``reader()`` without the rows that have no observed feature.

    With ``--missing ignore`` such rows cannot be placed; they are skipped
    (counted on the first pass, with a note), as when the file is read
    whole. With ``--missing error`` every chunk is passed on as read.
    """
    if missing != "ignore":
        return reader
    passes = []

    def chunks():
        skipped = 0
        for C in reader():
            empty = np.isnan(C).all(axis=1)
            if empty.any():
                skipped += int(empty.sum())
                C = C[~empty]
            yield C
        if not passes and skipped:
            say(quiet, f"note: skipped {skipped} row(s) with no observed feature")
        passes.append(skipped)

    return chunks


def draw_sample(reader, n, seed, quiet):
    """A :class:`somkit._data.Dataset` of ``n`` rows drawn uniformly in one pass.

    Labels and ids (when the reader has them) come with their rows.
    """
    from somkit._chunks import Chunk
    from somkit._data import Dataset
    from somkit._sample import Reservoir

    tic = time.perf_counter()
    res = Reservoir(n, np.random.default_rng(seed))
    skipped = 0
    for c in reader.chunks():
        empty = np.isnan(c.X).all(axis=1)
        if empty.any():  # no observed feature: never drawn
            keep = ~empty
            skipped += int(empty.sum())
            c = Chunk(
                c.X[keep],
                None if c.labels is None else c.labels[keep],
                None if c.ids is None else c.ids[keep],
                c.start,
            )
        extras = None
        if c.labels is not None or c.ids is not None:
            extras = np.empty((len(c.X), 2), dtype=object)
            extras[:, 0] = c.labels if c.labels is not None else None
            extras[:, 1] = c.ids if c.ids is not None else None
        res.add(c.X, extras=extras)
    if not res.count:
        raise CliError(f"{reader.path}: the file has no data rows.")
    _, X, extras = res.kept()
    say(
        quiet,
        f"drew a uniform sample of {len(X)} of {res.seen} rows from "
        f"{reader.path} in {time.perf_counter() - tic:.1f} s (seed {seed})"
        + (f"; skipped {skipped} row(s) with no observed feature" if skipped else ""),
    )
    return Dataset(
        X=np.asarray(X, dtype=np.float64),
        feature_names=list(reader.feature_names),
        named=reader.named,
        labels=None if reader.label_name is None else extras[:, 0],
        label_name=reader.label_name,
        ids=None if reader.id_name is None else extras[:, 1],
        id_name=reader.id_name,
        source=f"{reader.path} (sample of {len(X)} of {res.seen} rows)",
    )


def _split_model(model):
    """``(scaler or None, som)`` of a model built by ``cli._training.train``."""
    from somkit._model import unwrap

    som, prefix = unwrap(model)
    if prefix is None:
        return None, som
    steps = prefix.steps if hasattr(prefix, "steps") else [("scale", prefix)]
    if len(steps) != 1:
        raise CliError(
            "reading in chunks supports numeric columns with one scaler; use "
            "--no-stream for this model."
        )
    return steps[0][1], som


def stream_fit(reader):
    """``fit(model)`` for ``train``: the scaler in one pass, then fit_stream.

    ``reader()`` gives the feature chunks (see :func:`observed_rows`).
    """

    def fit(model):
        scaler, som = _split_model(model)
        if scaler is not None:
            for C in reader():
                scaler.partial_fit(C)
            som.fit_stream(lambda: (scaler.transform(C) for C in reader()))
        else:
            som.fit_stream(reader)

    return fit


def cluster_fit(reader, client):
    """``fit(model)`` for ``train``: scaler statistics and training on the cluster."""

    def fit(model):
        import dask
        import dask.array as da

        scaler, som = _split_model(model)
        X = reader.to_dask()
        if scaler is not None:
            # holes (NaN) left out, as the scalers do
            lo, hi, mean, std = dask.compute(
                da.nanmin(X, 0), da.nanmax(X, 0), da.nanmean(X, 0), da.nanstd(X, 0)
            )
            # two rows with these statistics fit the scaler exactly
            if hasattr(scaler, "with_mean"):
                scaler.fit(np.stack([mean - std, mean + std]))
            else:
                scaler.fit(np.stack([lo, hi]))
            X = X.map_blocks(scaler.transform, dtype=X.dtype)
        som.fit(X)

    return fit


def train_from_file(reader, opts, *, sample, scheduler):
    """``fit``/``report`` at scale: ``(model, seconds, data, interrupted)``.

    On a uniform sample (``--sample``: ``data`` is that sample's Dataset),
    on a dask cluster (``--scheduler``), else from the chunks of ``reader``
    read again every epoch (``data`` None).
    """
    from somkit.cli._training import train

    if sample is not None and scheduler is not None:
        raise CliError(
            "--sample trains on the sample here; drop --scheduler (or --sample)."
        )
    quiet = opts["quiet"]
    if sample is not None:
        data = draw_sample(reader, sample, opts["seed"], quiet)
        model, seconds, stopped = train(data, opts)
        return model, seconds, data, stopped
    rows = reader.n_rows if reader.n_rows is not None else "all"
    if scheduler is not None:
        client = connect(scheduler)
        try:
            say(quiet, f"training on the dask cluster at {scheduler}")
            data = StreamedData(reader, rows, f"{reader.path} (on the cluster)")
            model, seconds, stopped = train(data, opts, fit=cluster_fit(reader, client))
        finally:
            client.close()
        return model, seconds, None, stopped
    data = StreamedData(reader, rows, f"{reader.path} (read in chunks)")
    chunks = observed_rows(reader, opts["missing"], quiet)
    model, seconds, stopped = train(data, opts, fit=stream_fit(chunks))
    return model, seconds, None, stopped


def fit_at_scale(path, opts, *, id_column, sample, chunk_rows, scheduler):
    """``somkit fit`` on a file read in chunks, sampled or on a cluster."""
    reader = training_reader(path, opts, id_column=id_column, chunk_rows=chunk_rows)
    model, _, _, stopped = train_from_file(
        reader, opts, sample=sample, scheduler=scheduler
    )
    return model, stopped


def report_at_scale(
    path, model_path, opts, *, id_column, max_rows, sample, chunk_rows, scheduler
):
    """``(model, Dataset, train seconds)`` of ``somkit report`` at scale.

    The page describes a uniform sample of at most ``max_rows`` rows (the
    training sample when it is that small), drawn in one pass.
    """
    from somkit import load

    quiet = opts["quiet"]
    if model_path is not None:
        if opts.get("columns") is not None or opts.get("exclude") is not None:
            raise CliError(
                "--columns/--exclude cannot be used with --model (the model's "
                "columns are used)."
            )
        model = load(model_path)
        reader = open_for_model(
            path,
            model,
            id_column=id_column,
            label_column=opts.pop("label_column"),
            chunk_rows=chunk_rows,
            sep=opts.pop("sep", None),
            decimal=opts.pop("decimal", None),
        )
        return model, draw_sample(reader, max_rows, opts["seed"], quiet), None
    reader = training_reader(path, opts, id_column=id_column, chunk_rows=chunk_rows)
    model, seconds, data, _ = train_from_file(
        reader, opts, sample=sample, scheduler=scheduler
    )
    if data is None or data.n_samples > max_rows:
        data = draw_sample(reader, max_rows, opts["seed"], quiet)
    return model, data, seconds
