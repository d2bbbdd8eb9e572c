"""Options of the commands at scale (click only: ``somkit --help`` stays light)."""

from __future__ import annotations

import click


def _stream_flag(f):
    return click.option(
        "--stream/--no-stream",
        default=None,
        help="Read DATA in chunks, never whole (default: for files of 512 MB "
        "or more and Zarr/HDF5 arrays). Training then holds one chunk at a time "
        "and reads the file again every epoch.",
    )(f)


def _chunk_rows(f):
    return click.option(
        "--chunk-rows",
        type=click.IntRange(min=1),
        help="Rows per chunk when reading in chunks (default: about 4 million "
        "values; Parquet is read by row groups for a cluster).",
    )(f)


def _scheduler(what):
    def deco(f):
        return click.option(
            "--scheduler",
            metavar="ADDRESS",
            help=f"{what} on the running dask cluster at ADDRESS (e.g. "
            "tcp://host:8786); its workers read the file themselves, so it "
            "must be at the same path there. Nothing is started.",
        )(f)

    return deco


def fit_scale_options(f):
    """``--sample``, ``--stream``, ``--chunk-rows``, ``--scheduler`` (fit, report)."""
    f = _scheduler("Train")(f)
    f = _chunk_rows(f)
    f = _stream_flag(f)
    return click.option(
        "--sample",
        type=click.IntRange(min=1),
        metavar="N",
        help="Train on a uniform random sample of N rows drawn in one pass over "
        "the file (reservoir sampling; the same --seed gives the same rows).",
    )(f)


def predict_scale_options(f):
    """Several inputs' outputs, ``--stream``, ``--chunk-rows``, ``--scheduler``."""
    f = _scheduler("Assign the rows")(f)
    f = _chunk_rows(f)
    f = _stream_flag(f)
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(["csv", "parquet"]),
        default="csv",
        show_default=True,
        help="File format of the outputs written by --output-dir.",
    )(f)
    return click.option(
        "--output-dir",
        type=click.Path(file_okay=False),
        help="Write one output per input file into this folder, named after "
        "the input (instead of one -o file).",
    )(f)
