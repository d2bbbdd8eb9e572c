"""The ``somkit`` command: train, apply, plot, report and demo from a terminal.

Every command reads CSV/TSV, Parquet or NPY/NPZ data (see
:mod:`somkit._data`). Errors print one line starting with ``error:`` on
stderr and exit with status 2; ``--debug`` (anywhere on the command line, or
``SOMKIT_DEBUG=1``) prints the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import click
import numpy as np

from somkit._init import INITS
from somkit._kernels import METRICS
from somkit._neighborhood import KERNELS
from somkit._som import ALGORITHMS, BACKENDS

EXIT_ERROR = 2
_TOPOLOGIES = ("rect", "hex")
_METRICS = METRICS
_NEIGHBORHOODS = KERNELS
_ALGORITHMS = ALGORITHMS
_BACKENDS = BACKENDS
_INITS = INITS
_SCALES = ("none", "standard", "minmax")
_PLOT_KINDS = ("umatrix", "expanded", "hits", "planes", "labels", "images", "history")
_PLOT_FORMATS = (".png", ".svg", ".pdf")
# sklearn warns when a map fitted with column names gets a plain array; the
# CLI selects columns by name itself, so the warning says nothing here.
_NAMES_WARNING = "X does not have valid feature names"


class CliError(click.ClickException):
    """An error reported as one ``error:`` line with exit status 2."""

    exit_code = EXIT_ERROR


# -------------------------------------------------------------- parameters
class GridType(click.ParamType):
    """``ROWSxCOLS`` (e.g. 20x20), ``N`` (a chain), ``AxBxC`` or ``auto``."""

    name = "GRID"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple | int):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        parts = text.replace("*", "x").split("x")
        try:
            sides = tuple(int(p) for p in parts)
        except ValueError:
            sides = ()
        if not 1 <= len(sides) <= 3 or min(sides) < 1:
            self.fail(
                f"{value!r} is not a grid; use ROWSxCOLS (e.g. 20x20), N for a "
                "chain, AxBxC for 3-D, or 'auto'.",
                param,
                ctx,
            )
        return sides[0] if len(sides) == 1 else sides


class ScheduleType(click.ParamType):
    """A float (constant) or ``START,END`` (linear decay)."""

    name = "FLOAT|START,END"

    def convert(self, value, param, ctx):
        if isinstance(value, float | tuple):
            return value
        text = str(value).strip()
        if text.lower() == "auto":
            return None
        try:
            parts = tuple(float(p) for p in text.split(","))
        except ValueError:
            parts = ()
        if len(parts) not in (1, 2):
            self.fail(
                f"{value!r} is not a number or a START,END pair (e.g. 5,1).",
                param,
                ctx,
            )
        return parts[0] if len(parts) == 1 else parts


class ShapeType(click.ParamType):
    name = "HxW"

    def convert(self, value, param, ctx):
        try:
            shape = tuple(int(p) for p in str(value).lower().split("x"))
        except ValueError:
            shape = ()
        if len(shape) not in (2, 3) or min(shape) < 1:
            self.fail(f"{value!r} is not an image shape like 8x8 or 32x32x3.")
        return shape


GRID = GridType()
SCHEDULE = ScheduleType()
SHAPE = ShapeType()


def _data_options(f):
    f = click.option(
        "--label-column",
        metavar="NAME",
        help="Class column (any values): kept out of the features, used for the "
        "class map.",
    )(f)
    f = click.option(
        "--columns",
        metavar="A,B,C",
        help="Feature columns (names, or positions for files without a header); "
        "default: every column but the label column.",
    )(f)
    return f


def _training_options(f):
    options = [
        click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors."),
        click.option(
            "--dtype",
            type=click.Choice(("float32", "float64")),
            default="float32",
            show_default=True,
            help="Precision of the codebook.",
        ),
        click.option("--device", metavar="DEV", help="Torch device (cpu, cuda, ...)."),
        click.option(
            "--backend",
            type=click.Choice(_BACKENDS),
            default="auto",
            show_default=True,
            help="Array backend.",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Random seed (initialisation and shuffling).",
        ),
        click.option(
            "--scale",
            type=click.Choice(_SCALES),
            default="standard",
            show_default=True,
            help="Feature scaling before training (stored in the model and applied "
            "by later commands): zero mean and unit variance, or [0, 1].",
        ),
        click.option(
            "--init",
            type=click.Choice(_INITS),
            default="pca",
            show_default=True,
            help="Codebook initialisation.",
        ),
        click.option(
            "--batch-size", type=click.IntRange(min=1), help="Rows per chunk/minibatch."
        ),
        click.option(
            "--learning-rate",
            type=SCHEDULE,
            default="0.5,0.01",
            show_default=True,
            help="Online/minibatch step size: a float or START,END.",
        ),
        click.option(
            "--radius",
            type=SCHEDULE,
            help="Neighbourhood radius in grid units: a float or START,END "
            "(default: a quarter of the longest side down to 1.5; 0 = winner only).",
        ),
        click.option(
            "--algorithm",
            type=click.Choice(_ALGORITHMS),
            default="batch",
            show_default=True,
            help="Training rule.",
        ),
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Passes over the data.",
        ),
        click.option(
            "--neighborhood",
            type=click.Choice(_NEIGHBORHOODS),
            default="gaussian",
            show_default=True,
            help="Neighbourhood kernel.",
        ),
        click.option(
            "--metric",
            type=click.Choice(_METRICS),
            default="euclidean",
            show_default=True,
            help="Distance between samples and units.",
        ),
        click.option(
            "--periodic/--no-periodic",
            default=False,
            show_default=True,
            help="Wrap the map edges (toroid).",
        ),
        click.option(
            "--topology",
            type=click.Choice(_TOPOLOGIES),
            default="rect",
            show_default=True,
            help="Square or hexagonal cells.",
        ),
        click.option(
            "--grid",
            type=GRID,
            default="auto",
            show_default=True,
            help="Map size: ROWSxCOLS (e.g. 20x20), N (a chain), AxBxC (3-D) or "
            "'auto' (about 5*sqrt(n_samples) units shaped like the data).",
        ),
    ]
    for option in options:
        f = option(f)
    return _data_options(f)


# ----------------------------------------------------------------- helpers
def _say(quiet, message):
    if not quiet:
        click.echo(message, err=True)


def _grid_text(shape):
    return "x".join(str(s) for s in shape)


class _PlainProgress:
    """Training progress as plain lines (when stderr is not a terminal)."""

    def __init__(self, total):
        self.total = total

    def __call__(self, som, epoch, logs):
        te = logs.get("topographic_error")
        click.echo(
            f"epoch {epoch}/{self.total}  radius {logs['radius']:.3g}  "
            f"QE {logs['quantization_error']:.4g}  "
            f"TE {te if te is None else format(te, '.3f')}  "
            f"({logs['seconds']:.2f} s)",
            err=True,
        )


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _train(data, opts):
    """Scale, build and fit a SOM from the training options; return (som, s)."""
    from somkit import SOM
    from somkit._data import apply_scaler, fit_scaler

    quiet = opts["quiet"]
    scaler = fit_scaler(data.X, opts["scale"])
    X = apply_scaler(data.X, scaler)
    terminal = _is_terminal(sys.stderr)
    som = SOM(
        grid=opts["grid"],
        topology=opts["topology"],
        periodic=opts["periodic"],
        metric=opts["metric"],
        neighborhood=opts["neighborhood"],
        radius=opts["radius"],
        learning_rate=opts["learning_rate"],
        algorithm=opts["algorithm"],
        n_epochs=opts["epochs"],
        batch_size=opts["batch_size"],
        init=opts["init"],
        backend=opts["backend"],
        device=opts["device"],
        dtype=opts["dtype"],
        random_state=opts["seed"],
        verbose=1 if terminal and not quiet else 0,
        callbacks=None if terminal or quiet else [_PlainProgress(opts["epochs"])],
    )
    _say(
        quiet,
        f"training a SOM on {data.n_samples} samples x {data.n_features} features "
        f"from {data.source} ({opts['algorithm']}, {opts['epochs']} epochs, "
        f"scale={opts['scale']})",
    )
    tic = time.perf_counter()
    som.fit(X)
    seconds = time.perf_counter() - tic
    # Keep the model file free of run-time settings.
    som.set_params(verbose=0, callbacks=None)
    som.scaler_ = scaler
    if data.named:
        som.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    how = "chosen automatically" if opts["grid"] == "auto" else "as asked"
    qe = som.history_["quantization_error"][-1] if som.history_["epoch"] else None
    _say(
        quiet,
        f"grid {_grid_text(som.grid_.shape)} ({som.grid_.topology}, "
        f"{som.grid_.n_units} units, {how}); trained in {seconds:.2f} s"
        + (f"; last epoch QE {qe:.4g}" if qe is not None else ""),
    )
    return som, seconds


def _load_model(path):
    from somkit import load

    return load(path)


def _scaled(som, X):
    from somkit._data import apply_scaler

    return apply_scaler(X, getattr(som, "scaler_", None))


def _check_output_dir(path):
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CliError(f"{path} exists and is not a folder.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_parent(path):
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: folder {parent} does not exist.")


# ---------------------------------------------------------------- the group
class _Group(click.Group):
    """Turns every failure into one ``error:`` line (exit 2) unless --debug."""

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or os.environ.get("SOMKIT_DEBUG", "") not in ("", "0")
        args = [a for a in args if a != "--debug"]
        if not args:
            args = ["--help"]
        status = 0
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_NAMES_WARNING)
                status = super().main(
                    args, prog_name or "somkit", standalone_mode=False, **extra
                )
        except click.exceptions.Exit as exc:
            status = exc.exit_code
        except click.exceptions.Abort:
            click.echo("error: aborted.", err=True)
            status = 130
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "somkit"
            msg = exc.format_message().rstrip(".")
            msg = msg[:1].lower() + msg[1:]
            click.echo(f"error: {msg} (see '{where} --help').", err=True)
            status = exc.exit_code
        except KeyboardInterrupt:
            click.echo("error: interrupted.", err=True)
            status = 130
        except Exception as exc:  # noqa: BLE001 - every failure gets one line
            if debug:
                traceback.print_exc()
            click.echo(f"error: {_one_line(exc)}", err=True)
            status = EXIT_ERROR
        status = status if isinstance(status, int) else 0
        if standalone_mode:
            sys.exit(status)
        return status


def _one_line(exc):
    if isinstance(exc, click.ClickException):
        text = exc.format_message()
    elif isinstance(exc, ValueError | TypeError | OSError | ImportError | KeyError):
        text = str(exc) if not isinstance(exc, KeyError) else f"missing {exc}"
        if isinstance(exc, OSError) and exc.filename is not None:
            text = f"{exc.strerror or exc}: {exc.filename}"
        if isinstance(exc, ImportError | ModuleNotFoundError) and not text:
            text = f"missing module {exc.name}"
    else:
        text = (
            f"internal error ({type(exc).__name__}: {exc}); run with --debug for "
            "the traceback and please report it"
        )
    text = " ".join(str(text).split()) or type(exc).__name__
    return text


@click.group(
    name="somkit", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="somkit", prog_name="somkit")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    help="Show the full traceback on errors (also accepted after the command; "
    "or set SOMKIT_DEBUG=1).",
)
def cli():
    """Self-organizing maps from the command line.

    \b
    somkit fit data.csv -o model.npz        train a map
    somkit report data.csv -o report/       train and write an HTML report
    somkit predict model.npz data.csv       best-matching unit of each row
    somkit plot model.npz --kind umatrix -o umatrix.png
    somkit info model.npz                   what a model file holds
    somkit demo all -o demo-output/         the seed applications

    DATA is a .csv/.tsv/.txt (optionally .gz), .parquet, .npy or .npz file.
    """


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
@_training_options
def fit(data, output, **opts):
    """Train a map on DATA and save it to a model file.

    Shows a progress bar (QE and radius per epoch) on a terminal and plain
    lines otherwise. The feature scaling and column names are stored in the
    model, so predict/plot/report apply them to new data.
    """
    from somkit._data import load_data

    if not str(output).endswith(".npz"):
        raise CliError(f"model file must end in .npz, got {output!r}.")
    _check_parent(output)
    dataset = load_data(
        data, columns=opts.pop("columns"), label_column=opts.pop("label_column")
    )
    som, _ = _train(dataset, opts)
    som.save(output)
    _say(opts["quiet"], f"saved {output}")


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
@click.option(
    "--label-column",
    metavar="NAME",
    help="A class column to leave out of the features (copied to the output).",
)
def predict(model, data, output, id_column, label_column):
    """Best-matching unit of every row of DATA.

    Writes CSV with the unit's flat index (bmu), its grid coordinates (row,
    col; position on a chain; row, col, layer in 3-D) and the distance from
    the row to the unit, after the model's scaling.
    """
    import csv

    from somkit._data import load_for_model

    som = _load_model(model)
    dataset = load_for_model(data, som, label_column=label_column, id_column=id_column)
    X = _scaled(som, dataset.X)
    idx = som.predict(X)
    dist = -som.score_samples(X)
    coords = som.grid_.index_to_coords(idx)
    coords = np.asarray(coords).reshape(len(idx), -1)
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
        _check_parent(output)
    with click.open_file(output, "w", atomic=output != "-") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i in range(len(idx)):
            row = [col[i] for col in extra]
            row += [int(idx[i]), *(int(c) for c in coords[i]), f"{dist[i]:.6g}"]
            writer.writerow(row)
    if output != "-":
        click.echo(f"wrote {len(idx)} rows to {output}", err=True)


# -------------------------------------------------------------------- plot
def _image_shape(dataset, n_features, shape):
    from somkit._data import is_square

    if shape is not None:
        if int(np.prod(shape)) != n_features:
            raise CliError(
                f"--image-shape {_grid_text(shape)} has {int(np.prod(shape))} "
                f"pixels but the data has {n_features} features."
            )
        return shape
    if dataset.image_shape is not None:
        return dataset.image_shape
    if is_square(n_features):
        side = int(round(n_features**0.5))
        return (side, side)
    raise CliError(
        f"cannot tell the image shape of {n_features} features; give --image-shape HxW."
    )


def _start_agg():
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--kind",
    "-k",
    type=click.Choice(_PLOT_KINDS),
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
    help="Pixel shape of each row for kind images (default: square, or the "
    ".npy array's shape).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Figure file: .png, .svg or .pdf.",
)
@click.option("--dpi", type=click.IntRange(min=10), default=120, show_default=True)
def plot(model, kind, data, label_column, image_shape, output, dpi):
    """Draw one figure of a trained map.

    \b
    umatrix   distances between neighbouring units (light = clusters)
    expanded  U-matrix with a cell between every pair of neighbours
    hits      samples per unit (needs --data)
    planes    one map per feature, in the data's units
    labels    class markers per unit (needs --data and --label-column)
    images    a sample drawn as an image per unit (needs --data)
    history   quantization/topographic error and radius per epoch
    """
    suffix = Path(output).suffix.lower()
    if suffix not in _PLOT_FORMATS:
        raise CliError(f"figure file must end in .png, .svg or .pdf, got {output!r}.")
    _check_parent(output)
    _start_agg()
    from somkit import report

    som = _load_model(model)
    dataset = None
    if kind in ("hits", "labels", "images"):
        if data is None:
            raise CliError(f"--kind {kind} needs --data DATA.")
    if kind == "labels" and label_column is None:
        raise CliError("--kind labels needs --label-column NAME.")
    if data is not None:
        from somkit._data import load_for_model

        dataset = load_for_model(data, som, label_column=label_column)
    if kind == "images":
        image_shape = _image_shape(dataset, dataset.n_features, image_shape)
    fig = report.figure(som, kind, dataset, image_shape=image_shape)
    try:
        fig.savefig(output, dpi=dpi, bbox_inches="tight")
    finally:
        report.close(fig)
    click.echo(f"wrote {output}", err=True)


# ------------------------------------------------------------------ report
@cli.command("report")
@click.argument("data", type=click.Path(dir_okay=False))
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
@_training_options
def report_cmd(data, output, model, title, **opts):
    """Train a map on DATA (or use --model) and write an HTML report.

    OUTPUT/index.html is one self-contained file (figures embedded) with the
    U-matrix, expanded U-matrix, hit map, component planes, class map (with
    --label-column), training history, quality measures with plain-words
    warnings, the parameters and a data summary.
    """
    from somkit import report
    from somkit._data import load_data, load_for_model

    _start_agg()
    out = _check_output_dir(output)
    columns, label_column = opts.pop("columns"), opts.pop("label_column")
    seconds = None
    if model is not None:
        som = _load_model(model)
        if columns is not None:
            raise CliError(
                "--columns cannot be used with --model (the model's columns are used)."
            )
        dataset = load_for_model(data, som, label_column=label_column)
        model_path = None
    else:
        dataset = load_data(data, columns=columns, label_column=label_column)
        som, seconds = _train(dataset, opts)
        model_path = out / "model.npz"
        som.save(model_path)
    tic = time.perf_counter()
    path = report.write_report(
        som,
        dataset,
        out,
        title=title,
        train_seconds=seconds,
        model_file=model_path.name if model_path is not None else model,
    )
    _say(
        opts["quiet"],
        f"wrote {path} in {time.perf_counter() - tic:.1f} s"
        + (f" (model: {model_path})" if model_path is not None else ""),
    )


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
    _start_agg()
    out = _check_output_dir(output)
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
            reason = _one_line(exc)
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


# -------------------------------------------------------------------- info
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(model, as_json):
    """Show what a model file holds: format, grid, parameters, history."""
    som = _load_model(model)
    meta = _read_meta(model)
    scaler = getattr(som, "scaler_", None)
    names = getattr(som, "feature_names_in_", None)
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
        "scale": None if scaler is None else scaler.get("kind"),
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
        f"grid:        {_grid_text(g['shape'])} {g['topology']}"
        f"{', periodic' if g['periodic'] else ''} ({g['n_units']} units)",
        f"features:    {payload['n_features']}"
        + (
            f" ({', '.join(payload['feature_names'][:12])}"
            f"{', ...' if len(payload['feature_names']) > 12 else ''})"
            if payload["feature_names"]
            else ""
        ),
        f"scaling:     {payload['scale'] or 'none'}",
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


def _read_meta(path):
    with contextlib.suppress(Exception), np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["meta"][()]))
    return {}


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


def main(args=None):
    """Entry point of the ``somkit`` script."""
    return cli.main(args=args, prog_name="somkit")


if __name__ == "__main__":  # pragma: no cover
    main()


# The cytometry command (somkit.cytometry); its module imports only click.
from somkit.cytometry._cli import cytometry as _cytometry  # noqa: E402

cli.add_command(_cytometry)
