"""The command line at scale, training: ``fit``/``report`` on big files.

A file read in chunks (``fit_stream`` over a :class:`somkit._chunks.ChunkReader`
under the data options), a uniform reservoir sample of it (``--sample N``),
or a dask cluster (``--scheduler``). Imported only when a command runs.
"""

from __future__ import annotations

import time

import numpy as np

from somkit.cli._app import CliError
from somkit.cli._options import say
from somkit.cli._scale import connect, open_for_model


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

        def refused():
            for C in reader():
                if np.isnan(C).any():
                    raise CliError(
                        "the data has holes (missing values) and --missing "
                        "error refuses them: fill them first, or use --missing "
                        "ignore (the default)."
                    )
                yield C

        return refused
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
    if sample is None and opts.get("algorithm") == "online":
        how = "on a dask cluster" if scheduler is not None else "from chunks"
        raise CliError(
            f"--algorithm online needs the rows in memory and cannot train {how}: "
            "use --algorithm batch or minibatch, --sample N (train on a sample in "
            "memory) or --no-stream."
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
