"""``somkit fit``, ``somkit predict`` and ``somkit info``."""

from __future__ import annotations

import json

import click
import numpy as np

from somkit.cli._app import CliError, cli
from somkit.cli._options import (
    check_parent,
    column_options,
    grid_text,
    say,
    training_options,
)


def load_model(path):
    from somkit import load

    return load(path)


# --------------------------------------------------------------------- fit
@cli.command()
@click.argument("data", type=click.Path(dir_okay=False))
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
@training_options
def fit(data, output, id_column, **opts):
    """Train a map on DATA and save it to a model file.

    Shows a progress bar (QE and radius per epoch) on a terminal and plain
    lines otherwise. The model file holds the preprocessing (one-hot step
    for text columns, feature scaling) and column names with the map (a
    scikit-learn Pipeline), so predict/plot/report and ``somkit.load`` apply
    them to new data. Holes are ignored by default (--missing).
    """
    from somkit import save
    from somkit.cli._training import read_training_data, train

    if not str(output).endswith(".npz"):
        raise CliError(f"model file must end in .npz, got {output!r}.")
    check_parent(output)
    dataset = read_training_data(data, opts, id_column=id_column)
    model, _ = train(dataset, opts)
    save(model, output)
    say(opts["quiet"], f"saved {output}")


# ----------------------------------------------------------------- predict
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    default="-",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="CSV file to write ('-' = standard output, the default).",
)
@click.option("--id-column", metavar="NAME", help="Copy this column to the output.")
@column_options
def predict(model, data, output, id_column, **opts):
    """Best-matching unit of every row of DATA.

    Writes CSV with the unit's flat index (bmu), its grid coordinates (row,
    col; position on a chain; row, col, layer in 3-D) and the distance from
    the row to the unit, after the model's preprocessing. A class column
    (--label-column) is copied to the output. Rows with holes are placed by
    their observed values (a model trained with --missing ignore); rows with
    no observed feature get empty cells.
    """
    import csv

    from somkit._atomic import atomic_write
    from somkit._model import to_map_space, unwrap
    from somkit.cli._training import read_model_data

    model = load_model(model)
    som, _ = unwrap(model)
    dataset = read_model_data(data, model, opts, id_column=id_column, skip_empty=False)
    n = dataset.n_samples
    keep = ~np.isnan(to_map_space(model, dataset.X)).all(axis=1)
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if keep.any():
        idx[keep] = model.predict(dataset.X[keep])
        dist[keep] = -model.score_samples(dataset.X[keep])
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
    if output != "-":
        check_parent(output)

    def write(fh):
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i in range(n):
            row = ["" if _blank(col[i]) else col[i] for col in extra]
            if keep[i]:
                row += [int(idx[i]), *(int(c) for c in coords[i]), f"{dist[i]:.6g}"]
            else:  # no observed feature: no unit
                row += [""] * (2 + coords.shape[1])
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
    click.echo("\n".join(lines))


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
