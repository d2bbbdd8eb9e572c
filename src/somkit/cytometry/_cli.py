"""``somkit cytometry``: FlowSOM on FCS files from the command line.

Only click is imported here; everything heavy is imported when the command
runs, so that ``somkit --help`` stays fast.
"""

from __future__ import annotations

import click

_TIME_CHANNELS = ("time", "hdr-t")


class _Failure(click.ClickException):
    """One ``error:`` line, exit status 2."""

    exit_code = 2


def _clusters(value):
    text = str(value).strip().lower()
    if text in ("elbow", "cdf"):
        return text
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise click.BadParameter(f"{value!r} is not an int >= 1, 'elbow' or 'cdf'.")
    return k


def _grid(value):
    parts = str(value).lower().split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise click.BadParameter(f"{value!r} is not ROWSxCOLS (e.g. 10x10).")
    return shape


@click.command("cytometry")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder: model.npz, abundances.csv, unit_abundances.csv, "
    "medians.csv, index.html.",
)
@click.option(
    "--markers",
    metavar="M1,M2,...",
    help="Markers to cluster on (comma-separated, as read_fcs names them); "
    "default: every channel common to all files except time.",
)
@click.option(
    "--clusters",
    default="elbow",
    show_default=True,
    metavar="K|elbow|cdf",
    help="Number of metaclusters, or how to choose it.",
)
@click.option(
    "--cofactor",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="arcsinh cofactor (5 for mass cytometry, 150 for flow).",
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    help="Train on a random sample of N cells (from all files); default: all cells.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--grid", default="10x10", show_default=True, metavar="ROWSxCOLS")
@click.option(
    "--names",
    type=click.Choice(["marker", "channel"]),
    default="marker",
    show_default=True,
    help="Name channels by marker ($PnS, else $PnN) or by channel ($PnN).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Files assigned in parallel.",
)
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def cytometry(
    files, output, markers, clusters, cofactor, sample, seed, grid, names, jobs, quiet
):
    """FlowSOM clustering of FCS files: train, assign every cell, tabulate.

    \b
    Reads FILES (FCS 2.0/3.0/3.1), transforms the markers with
    arcsinh(x / cofactor), trains a FlowSOM model on all cells (or on a
    random sample of --sample N), assigns every cell of every file and writes
    OUTPUT/model.npz        the model (somkit.cytometry.load_flowsom)
    OUTPUT/abundances.csv   % of each file's cells per metacluster
    OUTPUT/unit_abundances.csv  % per SOM unit
    OUTPUT/medians.csv      median (arcsinh) marker level per file and metacluster
    OUTPUT/index.html       report: star plot, heatmap, tables
    """
    try:
        k = _clusters(clusters)
        shape = _grid(grid)
    except click.BadParameter as exc:
        raise _Failure(str(exc)) from None
    from somkit.cytometry._pipeline import run

    run(
        files,
        output,
        markers=None if markers is None else [m.strip() for m in markers.split(",")],
        n_clusters=k,
        cofactor=cofactor,
        sample=sample,
        seed=seed,
        grid=shape,
        names=names,
        jobs=jobs,
        echo=(lambda msg: None) if quiet else click.echo,
    )
