"""``somkit plot``, ``somkit report`` and ``somkit demo``."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from somkit._atomic import check_outputs
from somkit.cli._app import CliError, cli, one_line
from somkit.cli._commands import load_model
from somkit.cli._options import (
    PLOT_FORMATS,
    PLOT_KINDS,
    SHAPE,
    check_output_dir,
    check_parent,
    grid_text,
    read_options,
    say,
    start_agg,
    training_options,
)
from somkit.cli._scale_options import fit_scale_options


# -------------------------------------------------------------------- plot
def _image_shape(dataset, n_features, shape):
    """The pixel shape of each row: --image-shape, else the .npy array's shape.

    Anything else is refused: a table's columns are not pixels just because
    their count is a square (4 features would make meaningless 2x2 images).
    """
    if shape is not None:
        if int(np.prod(shape)) != n_features:
            raise CliError(
                f"--image-shape {grid_text(shape)} has {int(np.prod(shape))} "
                f"pixels but the data has {n_features} features."
            )
        return shape
    if dataset.image_shape is not None:
        return dataset.image_shape
    side = int(round(n_features**0.5))
    hint = (
        f" (e.g. --image-shape {side}x{side} if each row is a square picture)"
        if side * side == n_features
        else ""
    )
    raise CliError(
        f"the {n_features} features of {dataset.source} do not form an image by "
        "themselves (only an N-D .npy array carries its image shape); give "
        f"--image-shape HxW{hint}."
    )


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--kind",
    "-k",
    type=click.Choice(PLOT_KINDS),
    default="umatrix",
    show_default=True,
    help="Which figure.",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="Data for hits, labels and images (scaled with the model's scaler).",
)
@click.option("--label-column", metavar="NAME", help="Class column (kind labels).")
@click.option(
    "--image-shape",
    type=SHAPE,
    help="Pixel shape of each row for kind images (default: the N-D .npy "
    "array's shape; required for tables).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Figure file: .png, .svg or .pdf.",
)
@click.option("--dpi", type=click.IntRange(min=10), default=120, show_default=True)
@read_options
def plot(model, kind, data, label_column, image_shape, output, dpi, **opts):
    """Draw one figure of a trained map.

    \b
    umatrix   distances between neighbouring units (light = clusters)
    expanded  U-matrix with a cell between every pair of neighbours
    hits      samples per unit (needs --data)
    planes    one map per feature, in the data's units
    labels    units shaded by majority class and purity (needs --data
              and --label-column)
    images    a sample drawn as an image per unit (needs --data; tables
              need --image-shape HxW)
    history   quantization/topographic error and radius per epoch
    """
    suffix = Path(output).suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise CliError(f"figure file must end in .png, .svg or .pdf, got {output!r}.")
    check_parent(output)
    check_outputs([output], [model, data])
    start_agg()
    from somkit import report
    from somkit._atomic import save_figure

    som = load_model(model)
    dataset = None
    if kind in ("hits", "labels", "images"):
        if data is None:
            raise CliError(f"--kind {kind} needs --data DATA.")
    if kind == "labels" and label_column is None:
        raise CliError("--kind labels needs --label-column NAME.")
    if data is not None:
        from somkit.cli._training import read_model_data

        dataset = read_model_data(data, som, opts, label_column=label_column)
    if kind == "images":
        image_shape = _image_shape(dataset, dataset.n_features, image_shape)
    fig = report.figure(som, kind, dataset, image_shape=image_shape)
    try:
        save_figure(fig, output, dpi=dpi, bbox_inches="tight")
    finally:
        report.close(fig)
    click.echo(f"wrote {output}", err=True)


# ------------------------------------------------------------------ report
@cli.command("report")
@click.argument("data", type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write (index.html and, when training, model.npz).",
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    help="Use this trained map instead of training one.",
)
@click.option("--title", help="Report title (default: from the data file name).")
@click.option(
    "--id-column",
    metavar="NAME",
    help="Row ID column (any values): kept out of the features, listed per unit "
    "in the page, searchable there and written to rows.csv (default: row "
    "numbers from 1).",
)
@click.option(
    "--clusters",
    "n_clusters",
    type=click.IntRange(min=1),
    help="Number of clusters of units (default: chosen from the clustering tree).",
)
@click.option(
    "--image-shape",
    type=SHAPE,
    help="Pixel shape of each row (e.g. 28x28): adds a picture per unit (an N-D "
    ".npy array brings its own).",
)
@click.option(
    "--supervised",
    is_flag=True,
    help="Train a SOMClassifier on the features and --label-column, and add "
    "its cross-validated accuracy, class prototypes and misclassified samples.",
)
@training_options
@fit_scale_options
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="When DATA is read in chunks (or trained on a --sample), the page "
    "and rows.csv describe a uniform sample of at most this many rows.",
)
def report_cmd(
    data,
    output,
    model,
    title,
    id_column,
    n_clusters,
    image_shape,
    supervised,
    max_rows,
    **opts,
):
    """Train a map on DATA (or use --model) and write an HTML report.

    \b
    OUTPUT/index.html  one self-contained page (no network): an interactive
                       map (hover, click a unit for its samples, colour by any
                       measure or feature, find an ID), clusters and what sets
                       each apart, U-matrix, hit map, component planes, class
                       map (with --label-column), training history, quality
                       with plain-words warnings, parameters, data summary
    OUTPUT/rows.csv    per input row: id, bmu, row, col, cluster, distance,
                       outlier flag (and label)
    OUTPUT/clusters.csv  per cluster and feature: mean, spread, difference
    """
    from somkit import report, save
    from somkit._model import unwrap
    from somkit.cli._scale import wants_stream
    from somkit.cli._scale_train import report_at_scale
    from somkit.cli._training import (
        interrupted_exit,
        planned_epochs,
        supervised_sections,
    )

    start_agg()
    out = check_output_dir(output)
    written = [out / n for n in ("index.html", "rows.csv", "clusters.csv")]
    written += [] if model is not None else [out / "model.npz"]
    check_outputs(written, [data, model])
    scale = {k: opts.pop(k) for k in ("sample", "chunk_rows", "scheduler")}
    stream = opts.pop("stream")
    if supervised and opts["label_column"] is None:
        raise CliError("--supervised needs --label-column NAME (the classes).")
    model_path = None
    if scale["sample"] is not None or wants_stream(data, stream, scale["scheduler"]):
        if supervised:
            raise CliError(
                "--supervised trains in memory; drop --sample/--stream/--scheduler "
                "(or --supervised)."
            )
        som, dataset, seconds = report_at_scale(
            data, model, opts, id_column=id_column, max_rows=max_rows, **scale
        )
        if model is None:
            model_path = out / "model.npz"
        title = title or f"{Path(data.split('::')[0]).name} ({dataset.source})"
        if image_shape is not None:
            image_shape = _image_shape(dataset, dataset.n_features, image_shape)
    else:
        som, dataset, seconds, image_shape, interrupted = _report_in_memory(
            data, model, id_column, supervised, image_shape, opts
        )
        if model is None:
            model_path = out / "model.npz"
            if interrupted:  # Ctrl-C: keep the map, skip the report
                save(som, model_path)
                trained = unwrap(som)[0]
                total = planned_epochs(trained, dataset.n_samples)
                interrupted_exit(model_path, trained, total)
    tic = time.perf_counter()
    # the report first: a failure leaves no model file behind it
    path = report.write_report(
        som,
        dataset,
        out,
        title=title,
        n_clusters=n_clusters,
        image_shape=image_shape,
        train_seconds=seconds,
        model_file=model_path.name if model_path is not None else model,
        sections=supervised_sections(som, dataset, supervised),
    )
    if model_path is not None:
        save(som, model_path)
    say(
        opts["quiet"],
        f"wrote {path} in {time.perf_counter() - tic:.1f} s"
        + (f" (model: {model_path})" if model_path is not None else ""),
    )


def _report_in_memory(data, model, id_column, supervised, image_shape, opts):
    """``(model, Dataset, train seconds, image shape, interrupted)``, read whole."""
    from somkit.cli._training import read_model_data, read_training_data, train

    if model is not None:
        som = load_model(model)
        if opts["columns"] is not None:
            raise CliError(
                "--columns cannot be used with --model (the model's columns are used)."
            )
        dataset = read_model_data(
            data, som, opts, id_column=id_column, quiet=opts["quiet"]
        )
    else:
        dataset = read_training_data(data, opts, id_column=id_column)
    if image_shape is not None:
        image_shape = _image_shape(dataset, dataset.n_features, image_shape)
    if model is not None:
        return som, dataset, None, image_shape, False
    som, seconds, interrupted = train(dataset, opts, supervised=supervised)
    return som, dataset, seconds, image_shape, interrupted


# -------------------------------------------------------------------- demo
@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME... | all")
@click.option(
    "-o",
    "--output",
    default="demo-output",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the figures and index.html.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quick", is_flag=True, help="Smaller data and fewer epochs (fast).")
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="deep-features only: your own folder of photos, one subfolder per class.",
)
def demo(names, output, seed, quick, images):
    """Run the seed applications and write their figures and an index.html.

    NAME is one of the applications (see 'somkit demo list') or 'all'.
    The deep-features application runs only when the somkit[deep] extra is
    installed; 'all' skips it with a note otherwise.
    """
    from somkit import apps, report

    present = list(apps.APPS)
    if names == ("list",):
        click.echo("\n".join(present))
        return
    run_all = "all" in names
    if run_all and len(names) > 1:
        raise CliError("give either 'all' or application names, not both.")
    chosen = present if run_all else list(dict.fromkeys(names))
    unknown = [n for n in chosen if n not in present]
    if unknown:
        raise CliError(
            f"unknown application(s) {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(present)} or all."
        )
    if images is not None and chosen != ["deep-features"]:
        raise CliError("--images applies to the deep-features application only.")
    start_agg()
    out = check_output_dir(output)
    entries, skipped = [], []
    for name in chosen:
        click.echo(f"{name}: running ...", err=True)
        tic = time.perf_counter()
        try:
            module = apps.APPS[name]
            extra = {} if images is None else {"images_dir": images}
            result = module.run(random_state=seed, quick=quick, **extra)
        except ImportError as exc:
            if not run_all:
                raise
            reason = one_line(exc)
            skipped.append((name, reason))
            click.echo(f"{name}: skipped ({reason})", err=True)
            continue
        seconds = time.perf_counter() - tic
        try:
            paths = result.save(out / name)
        finally:
            for fig in result.figures.values():
                report.close(fig)
        entries.append(
            (result, [p.relative_to(out).as_posix() for p in paths], seconds)
        )
        click.echo(f"{name}: {len(paths)} figure(s) in {seconds:.1f} s", err=True)
    index = report.write_demo_index(entries, out, skipped=skipped)
    click.echo(f"open {index}")
