"""``somkit fit``, ``somkit predict`` and ``somkit info``."""

from __future__ import annotations

import json

import click
import numpy as np

from somkit._atomic import check_outputs
from somkit._text import csv_cell, printable
from somkit.cli._app import CliError, cli
from somkit.cli._options import (
    check_parent,
    column_options,
    grid_text,
    say,
    training_options,
)
from somkit.cli._scale_options import fit_scale_options, predict_scale_options


def load_model(path):
    from somkit import load

    return load(path)


def unwrap(model):
    from somkit._model import unwrap

    return unwrap(model)


# --------------------------------------------------------------------- fit
@cli.command()
@click.argument("data", type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Model file to write (.npz).",
)
@click.option(
    "--id-column",
    metavar="NAME",
    help="A row id column: kept out of the features.",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    help="Save the run to this file (.npz) as it trains; 'somkit resume' "
    "continues it after a crash or a kill.",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Epochs between checkpoints.",
)
@training_options
@fit_scale_options
def fit(
    data,
    output,
    id_column,
    checkpoint,
    checkpoint_every,
    sample,
    stream,
    chunk_rows,
    scheduler,
    **opts,
):
    """Train a map on DATA and save it to a model file.

    Shows a progress bar (QE and radius per epoch) on a terminal and plain
    lines otherwise. The model file holds the preprocessing (one-hot step
    for text columns, feature scaling) and column names with the map (a
    scikit-learn Pipeline), so predict/plot/report and ``somkit.load`` apply
    them to new data. Holes are ignored by default (--missing). Ctrl-C
    finishes the current epoch, saves the map trained so far to OUTPUT and
    exits with status 130 (twice: abort at once). Big files are read in
    chunks (--stream), or trained on a uniform sample (--sample N) or on a
    dask cluster (--scheduler).
    """
    from somkit import save
    from somkit._checkpoint import Checkpoint
    from somkit.cli._scale import wants_stream
    from somkit.cli._scale_train import fit_at_scale
    from somkit.cli._training import (
        DATA_OPTIONS,
        interrupted_exit,
        planned_epochs,
        read_training_data,
        train,
    )

    for what, path in (("model", output), ("checkpoint", checkpoint)):
        if path is not None and not str(path).endswith(".npz"):
            raise CliError(f"{what} file must end in .npz, got {path!r}.")
        if path is not None:
            check_parent(path)
    check_outputs([output, checkpoint], [data])
    check_outputs([output], [checkpoint])
    at_scale = sample is not None or wants_stream(data, stream, scheduler)
    if at_scale and checkpoint is not None:
        raise CliError(
            "--checkpoint needs DATA read whole ('somkit resume' reads it again); "
            "drop --stream/--sample/--scheduler, or --checkpoint."
        )
    ck = None
    if checkpoint is not None:  # what 'somkit resume' needs to read DATA again
        reading = {k: opts[k] for k in DATA_OPTIONS}
        extra = {"options": reading, "id_column": id_column}
        ck = Checkpoint(checkpoint, checkpoint_every, extra=extra)
    if at_scale:
        model, interrupted = fit_at_scale(
            data,
            opts,
            id_column=id_column,
            sample=sample,
            chunk_rows=chunk_rows,
            scheduler=scheduler,
        )
    else:
        dataset = read_training_data(data, opts, id_column=id_column)
        model, _, interrupted = train(dataset, opts, checkpoint=ck)
    save(model, output)
    if interrupted:
        som = unwrap(model)[0]
        total = (
            planned_epochs(som, dataset.n_samples)
            if not at_scale
            else som.n_epochs or "the planned"
        )
        interrupted_exit(output, som, total, checkpoint)
    say(opts["quiet"], f"saved {output}")


# ------------------------------------------------------------------ resume
@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Model file to write (.npz).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def resume(checkpoint, data, output, quiet):
    """Continue a run saved by 'somkit fit --checkpoint' and save the model.

    DATA must be the data of the run (checked); the columns, preprocessing
    and parameters are the run's own. The result is the map the
    uninterrupted run would have given; checkpoints keep going to
    CHECKPOINT. Ctrl-C saves the map so far, as for fit.
    """
    import sys
    import warnings

    from somkit import SOM, save
    from somkit._checkpoint import read_checkpoint
    from somkit._train import TrainingInterrupted
    from somkit.cli._options import is_terminal
    from somkit.cli._training import (
        PlainProgress,
        interrupted_exit,
        read_training_data,
    )

    if not str(output).endswith(".npz"):
        raise CliError(f"model file must end in .npz, got {output!r}.")
    check_parent(output)
    check_outputs([output], [data, checkpoint])
    ck = read_checkpoint(checkpoint)
    extra = ck["extra"]
    opts = {**extra.get("options", {}), "quiet": quiet}
    dataset = read_training_data(data, opts, id_column=extra.get("id_column"))
    terminal = is_terminal(sys.stderr)
    total = ck["total_epochs"]
    say(quiet, f"resuming {checkpoint} at epoch {ck['epoch']} of {total}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=TrainingInterrupted)
        model = SOM.resume(
            checkpoint,
            dataset.X,
            verbose=1 if terminal and not quiet else 0,
            callbacks=None if terminal or quiet else [PlainProgress(dataset.n_samples)],
        )
    som = unwrap(model)[0]
    som.set_params(verbose=0, callbacks=None, backend="auto", device=None)
    if dataset.named:
        first = model.steps[0][1] if hasattr(model, "steps") else model
        first.feature_names_in_ = np.asarray(dataset.feature_names, dtype=object)
    save(model, output)
    if som.n_iter_ < total:
        interrupted_exit(output, som, total, checkpoint)
    say(quiet, f"saved {output}")


# ----------------------------------------------------------------- predict
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", nargs=-1, required=True, metavar="DATA...")
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write: CSV, or Parquet when it ends in .parquet ('-' = CSV on "
    "standard output, the default). Several inputs go into one file with a "
    "source column.",
)
@click.option("--id-column", metavar="NAME", help="Copy this column to the output.")
@click.option(
    "--raw-cells",
    is_flag=True,
    help="Write text cells as they are, even those a spreadsheet would run "
    "as a formula (by default they get a leading ').",
)
@column_options
@predict_scale_options
def predict(model, data, output, id_column, label_column, raw_cells, **opts):
    """Best-matching unit of every row of DATA (files or quoted globs).

    Writes the unit's flat index (bmu), its grid coordinates (row, col;
    position on a chain; row, col, layer in 3-D) and the distance from the
    row to the unit, after the model's preprocessing. A class column
    (--label-column) is copied to the output. Rows with holes are placed by
    their observed values (a model trained with --missing ignore); rows with
    no observed feature get empty cells. Several inputs (or a glob such as
    "data/*.parquet") go into one output with a source column, or one
    output each with --output-dir. Big files, Parquet output and several
    inputs are handled chunk by chunk, in bounded memory, on the local cores
    or on a dask cluster (--scheduler).
    """
    from somkit.cli._scale import expand_inputs, predict_files, wants_stream

    scale = {k: opts.pop(k) for k in SCALE_KEYS}
    inputs = expand_inputs(data)
    if scale["output_dir"] is not None and output is not None:
        raise CliError("give either -o/--output or --output-dir, not both.")
    output = "-" if output is None and scale["output_dir"] is None else output
    parquet = output is not None and output.lower().endswith((".parquet", ".pq"))
    streamed = [wants_stream(p, scale["stream"], scale["scheduler"]) for p in inputs]
    if len(inputs) > 1 or scale["output_dir"] or parquet or any(streamed):
        if opts["columns"] is not None or opts["exclude"] is not None:
            raise CliError(
                "--columns/--exclude: files read in chunks (several inputs, "
                "Parquet output, --output-dir, --stream, --scheduler) give the "
                "model's own feature columns; drop them."
            )
        predict_files(
            model,
            inputs,
            output=output,
            id_column=id_column,
            label_column=label_column,
            quiet=False,
            load_model=load_model,
            sep=opts["sep"],
            decimal=opts["decimal"],
            raw_cells=raw_cells,
            **{k: v for k, v in scale.items() if k != "stream"},
        )
        return
    opts["label_column"] = label_column
    _predict_in_memory(model, inputs[0], output, id_column, raw_cells, opts)


#: The options of predict at scale (see ``cli._scale_options``).
SCALE_KEYS = ("output_dir", "fmt", "chunk_rows", "scheduler", "stream")


def _predict_in_memory(model, data, output, id_column, raw_cells, opts):
    """One small file read whole, to CSV."""
    import csv

    from somkit._atomic import atomic_write
    from somkit._model import unwrap
    from somkit.cli._scale import assign
    from somkit.cli._training import read_model_data

    check_outputs([output], [model, data])
    model = load_model(model)
    som, _ = unwrap(model)
    dataset = read_model_data(data, model, opts, id_column=id_column, skip_empty=False)
    n = dataset.n_samples
    idx, dist, pred = assign(model, som, dataset.X)
    keep = idx >= 0
    coords = som.grid_.index_to_coords(np.maximum(idx, 0))
    coords = np.asarray(coords).reshape(n, -1)
    names = {1: ["position"], 2: ["row", "col"], 3: ["row", "col", "layer"]}[
        som.grid_.ndim
    ]
    header = []
    extra = []
    if dataset.ids is not None:
        header.append(dataset.id_name)
        extra.append(dataset.ids)
    if dataset.labels is not None:
        header.append(dataset.label_name)
        extra.append(dataset.labels)
    header += ["bmu", *names, "distance"]
    if pred is not None:  # a supervised map: its class or target too
        header.append("prediction")
    if output != "-":
        check_parent(output)

    def write(fh):
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([csv_cell(h, raw_cells) for h in header])
        for i in range(n):
            row = [
                "" if _blank(col[i]) else csv_cell(col[i], raw_cells) for col in extra
            ]
            if keep[i]:
                row += [int(idx[i]), *(int(c) for c in coords[i]), f"{dist[i]:.6g}"]
            else:  # no observed feature: no unit
                row += [""] * (2 + coords.shape[1])
            if pred is not None:
                row.append("" if pred[i] is None else csv_cell(pred[i], raw_cells))
            writer.writerow(row)

    if output == "-":
        with click.open_file("-", "w") as fh:
            write(fh)
    else:
        with atomic_write(output, "w", encoding="utf-8", newline="") as fh:
            write(fh)
    if output != "-":
        empty = int((~keep).sum())
        click.echo(
            f"wrote {n} rows to {output}"
            + (f" ({empty} with no observed feature, left empty)" if empty else ""),
            err=True,
        )


# -------------------------------------------------------------------- info
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(model, as_json):
    """Show what a model file holds: format, grid, parameters, history."""
    from somkit._io import read_meta
    from somkit._model import feature_names, preprocessing, unwrap

    loaded = load_model(model)
    som, _ = unwrap(loaded)
    meta = read_meta(model)
    names = feature_names(loaded)
    params = {
        k: _jsonable(v)
        for k, v in som.get_params(deep=False).items()
        if k not in ("callbacks", "verbose")
    }
    payload = {
        "file": str(model),
        "format": meta.get("format"),
        "format_version": meta.get("format_version"),
        "somkit_version": meta.get("somkit_version"),
        "grid": {
            "shape": list(som.grid_.shape),
            "topology": som.grid_.topology,
            "periodic": bool(som.grid_.periodic),
            "n_units": int(som.grid_.n_units),
        },
        "n_features": int(som.n_features_in_),
        "feature_names": None if names is None else [str(n) for n in names],
        "scale": preprocessing(loaded),
        "trained_on": som.fit_backend_,
        "n_epochs_run": int(som.n_iter_),
        "parameters": params,
        "history": {k: list(v) for k, v in som.history_.items()},
    }
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    g = payload["grid"]
    lines = [
        f"model file:  {model}",
        f"format:      {payload['format']} version {payload['format_version']} "
        f"(written by somkit {payload['somkit_version']})",
        f"grid:        {grid_text(g['shape'])} {g['topology']}"
        f"{', periodic' if g['periodic'] else ''} ({g['n_units']} units)",
        f"features:    {payload['n_features']}"
        + (
            f" ({', '.join(payload['feature_names'][:12])}"
            f"{', ...' if len(payload['feature_names']) > 12 else ''})"
            if payload["feature_names"]
            else ""
        ),
        f"scaling:     {payload['scale']}",
        f"trained on:  {payload['trained_on']}",
        f"epochs run:  {payload['n_epochs_run']}",
        "parameters:",
    ]
    lines += [f"  {k} = {v}" for k, v in params.items()]
    hist = payload["history"]
    if hist.get("epoch"):
        lines.append("history:")
        lines.append(
            f"  {'epoch':>5} {'radius':>8} {'QE':>10} {'TE':>7} {'seconds':>8}"
        )
        for i, e in enumerate(hist["epoch"]):
            te = hist["topographic_error"][i]
            lines.append(
                f"  {e:>5} {hist['radius'][i]:>8.3g} "
                f"{hist['quantization_error'][i]:>10.4g} "
                f"{'-' if te is None else format(te, '.3f'):>7} "
                f"{hist['seconds'][i]:>8.3f}"
            )
    click.echo("\n".join(printable(line) for line in lines))


def _blank(value):
    return value is None or (isinstance(value, float) and value != value)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
