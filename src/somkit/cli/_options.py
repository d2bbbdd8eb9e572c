"""Option types and shared options of the ``somkit`` commands (light imports)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from somkit._registry import (
    ALGORITHMS,
    BACKENDS,
    CATEGORICAL,
    DTYPES,
    INITS,
    METRICS,
    MISSING,
    NEIGHBORHOODS,
    SCALES,
    TOPOLOGIES,
)
from somkit.cli._app import CliError

PLOT_KINDS = ("umatrix", "expanded", "hits", "planes", "labels", "images", "history")
PLOT_FORMATS = (".png", ".svg", ".pdf")


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


def read_options(f):
    """``--sep`` and ``--decimal``: how delimited text is read."""
    f = click.option(
        "--decimal",
        type=click.Choice([".", ","]),
        help="Decimal mark of the numbers (default: '.', or ',' when the file "
        "writes numbers so and its separator is not a comma).",
    )(f)
    f = click.option(
        "--sep",
        metavar="CHAR",
        help="Field separator of a text file (one character, or 'tab' / "
        "'space'); default: from the suffix, and a .csv separated by ';' is "
        "detected (with a note).",
    )(f)
    return f


def column_options(f):
    """``--columns``, ``--exclude`` and ``--label-column``, plus the read options."""
    f = click.option(
        "--label-column",
        metavar="NAME",
        help="Class column (any values; missing ones form the class 'missing'): "
        "kept out of the features, used for the class map.",
    )(f)
    f = click.option(
        "--exclude",
        metavar="A,B",
        help="Columns never to use as features.",
    )(f)
    f = click.option(
        "--columns",
        metavar="A,B,C",
        help="Feature columns (names, or positions for files without a header); "
        "default: every column but the label and id columns and columns that "
        "look like a row index (named id, index, 'Unnamed: 0', ..., or a first "
        "column of unique, monotone integers; left out with a note).",
    )(f)
    return read_options(f)


def data_options(f):
    """The column options and how text columns and holes are treated."""
    f = click.option(
        "--missing",
        type=click.Choice(MISSING),
        default="ignore",
        show_default=True,
        help="Holes (empty cells, NA, NaN, ?): 'ignore' trains on each row's "
        "observed values (rows with none are skipped, with a count); 'error' "
        "refuses them.",
    )(f)
    f = click.option(
        "--categorical",
        type=click.Choice(CATEGORICAL),
        default="error",
        show_default=True,
        help="Text feature columns: refused by name ('error'), one 0/1 feature "
        "per category ('onehot', recorded in the model: predict and "
        "somkit.load encode new data the same way, unseen categories as all "
        "zeros), or left out ('drop').",
    )(f)
    return column_options(f)


def training_options(f):
    """Every option that configures the map and its training."""
    options = [
        click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors."),
        click.option(
            "--dtype",
            type=click.Choice(DTYPES),
            default="float32",
            show_default=True,
            help="Precision of the codebook.",
        ),
        click.option(
            "--device",
            metavar="DEV",
            help="Torch device (cpu, cuda, ...); implies the torch backend. "
            "Refused when the device is absent.",
        ),
        click.option(
            "--backend",
            type=click.Choice(BACKENDS),
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
            type=click.Choice(SCALES),
            default="standard",
            show_default=True,
            help="Feature scaling before training, stored in the model (a "
            "scikit-learn Pipeline) and applied by later commands and by "
            "somkit.load: zero mean and unit variance, or [0, 1].",
        ),
        click.option(
            "--init",
            type=click.Choice(INITS),
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
            "(default: the default schedule, see --epochs; 0 = winner only).",
        ),
        click.option(
            "--algorithm",
            type=click.Choice(ALGORITHMS),
            default="batch",
            show_default=True,
            help="Training rule.",
        ),
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=None,
            help="Epochs, each a pass over all the data (radius from a quarter "
            "of the longest side to 1.5). Default, with no --radius and the "
            "batch rule: 20 ordering epochs on random subsamples, then 2 over "
            "all the data down to radius 1 (1.5 with few rows per unit; 3 passes "
            "over the data in all); "
            "otherwise 10.",
        ),
        click.option(
            "--neighborhood",
            type=click.Choice(NEIGHBORHOODS),
            default="gaussian",
            show_default=True,
            help="Neighbourhood function.",
        ),
        click.option(
            "--metric",
            type=click.Choice(METRICS),
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
            type=click.Choice(TOPOLOGIES),
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
    return data_options(f)


# ----------------------------------------------------------------- helpers
def say(quiet, message):
    """``message`` on stderr (control characters escaped) unless ``quiet``."""
    from somkit._text import printable

    if not quiet:
        click.echo(printable(message), err=True)


def grid_text(shape):
    return "x".join(str(s) for s in shape)


def is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def check_output_dir(path):
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CliError(f"{path} exists and is not a folder.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_parent(path):
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: folder {parent} does not exist.")


def start_agg():
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
