"""Reading the data and training a model from the command line's options.

Shared by fit, predict, plot and report: :func:`read_training_data` and
:func:`read_model_data` read a table with the data options and tell the
user what was guessed, left out or missing; :func:`train` builds and fits
the model (one-hot step for text columns, scaler, SOM).
"""

from __future__ import annotations

import sys
import time
import warnings

import click
import numpy as np

from somkit._train import TrainingInterrupted
from somkit.cli._options import grid_text, is_terminal, say


class PlainProgress:
    """Training progress as plain lines (when stderr is not a terminal)."""

    def __init__(self, n_samples):
        self.n_samples = n_samples

    def __call__(self, som, epoch, logs):
        te = logs.get("topographic_error")
        rows = logs.get("rows")
        sub = f"  {rows:,} rows" if rows is not None and rows < self.n_samples else ""
        click.echo(
            f"epoch {epoch}/{logs['n_epochs']}  radius {logs['radius']:.3g}{sub}  "
            f"QE {logs['quantization_error']:.4g}  "
            f"TE {te if te is None else format(te, '.3f')}  "
            f"({logs['seconds']:.2f} s)",
            err=True,
        )


#: Options consumed by the readers (popped from a command's options).
READ_OPTIONS = ("sep", "decimal")
COLUMN_OPTIONS = ("columns", "exclude", "label_column")
#: Every option that says how a data file is read (a checkpoint keeps them).
DATA_OPTIONS = (*READ_OPTIONS, *COLUMN_OPTIONS, "categorical", "missing")


def _pop(opts, names):
    return {k: opts.pop(k, None) for k in names}


def _notes(quiet, dataset):
    for note in dataset.notes:
        say(quiet, f"note: {dataset.source}: {note}")


def read_training_data(path, opts, id_column=None):
    """The training Dataset of ``path`` under the data options in ``opts``.

    Pops the data options from ``opts``; prints the reader's notes and how
    many values were missing; drops rows without any observed feature (with
    a count). ``opts["missing"]`` and ``opts["quiet"]`` stay for training.
    """
    from somkit._data import drop_empty_rows, load_data, missing_summary

    quiet = opts.get("quiet", False)
    dataset = load_data(
        path,
        id_column=id_column,
        categorical=opts.pop("categorical"),
        missing=opts["missing"],
        **_pop(opts, COLUMN_OPTIONS),
        **_pop(opts, READ_OPTIONS),
    )
    _notes(quiet, dataset)
    values, rows, cols = missing_summary(dataset)
    if values:
        shown = ", ".join(repr(c) for c in cols[:6]) + (
            ", ..." if len(cols) > 6 else ""
        )
        say(
            quiet,
            f"note: {values} value(s) missing in {rows} of {dataset.n_samples} "
            f"row(s) (column(s) {shown}); training on each row's observed values "
            "(--missing ignore)",
        )
    dataset, empty = drop_empty_rows(dataset)
    if empty:
        say(quiet, f"note: skipped {empty} row(s) with no observed feature")
    if dataset.n_samples == 0:
        from somkit.cli._app import CliError

        raise CliError(f"{path}: no row has an observed feature.")
    return dataset


def read_model_data(
    path,
    model,
    opts,
    label_column=None,
    id_column=None,
    quiet=False,
    skip_empty=True,
):
    """The Dataset of ``path`` for a trained ``model`` (the read options and,
    when present in ``opts``, the column options; popped). Rows without any
    observed feature are skipped with a count unless ``skip_empty`` is
    False (predict answers them with empty cells)."""
    from somkit._data import drop_empty_rows, load_for_model

    columns = _pop(opts, COLUMN_OPTIONS)
    label_column = columns.pop("label_column") or label_column
    dataset = load_for_model(
        path,
        model,
        label_column=label_column,
        id_column=id_column,
        **columns,
        **_pop(opts, READ_OPTIONS),
    )
    _notes(quiet, dataset)
    if skip_empty:
        dataset, empty = drop_empty_rows(dataset)
        if empty:
            say(quiet, f"note: skipped {empty} row(s) with no observed feature")
    return dataset


def make_scaler(kind):
    """The scikit-learn scaler of ``--scale`` (None for "none")."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    return {"none": None, "standard": StandardScaler(), "minmax": MinMaxScaler()}[kind]


def _classifier(opts):
    """The SOMClassifier of ``--supervised`` from the training options.

    The features layer takes the map metric (euclidean as its square, the
    sum of squares); ``--epochs`` left at its default keeps the classifier's.
    """
    from click.core import ParameterSource

    from somkit import SOMClassifier

    metric = {"euclidean": "sqeuclidean", "cosine": "cosine", "manhattan": "manhattan"}
    if opts["metric"] not in metric:
        raise click.UsageError(
            f"--metric {opts['metric']} has no supervised form; use one of "
            f"{', '.join(metric)}."
        )
    ctx = click.get_current_context(silent=True)
    default = ctx is not None and ctx.get_parameter_source("epochs") in (
        ParameterSource.DEFAULT,
        None,
    )
    extra = {} if default else {"n_epochs": opts["epochs"]}
    return SOMClassifier(
        grid=opts["grid"],
        metric=metric[opts["metric"]],
        topology=opts["topology"],
        periodic=opts["periodic"],
        neighborhood=opts["neighborhood"],
        radius=opts["radius"],
        learning_rate=opts["learning_rate"],
        algorithm=opts["algorithm"],
        batch_size=opts["batch_size"],
        init=opts["init"],
        backend=opts["backend"],
        device=opts["device"],
        dtype=opts["dtype"],
        random_state=opts["seed"],
        **extra,
    )


def supervised_sections(model, data, supervised):
    """The report sections of ``--supervised`` (none without it)."""
    if not supervised:
        return ()
    from somkit._report_supervised import supervised_section

    return (supervised_section(model, data),)


def train(data, opts, supervised=False, checkpoint=None, fit=None):
    """Build and fit the model of the training options.

    Returns ``(model, seconds, interrupted)``. The model is a Pipeline
    (one-hot step for text columns, scaler, then the SOM) unless it would be
    the SOM alone; the column names of a named file are recorded on its
    first step, as scikit-learn does for a frame, so ``somkit.load`` gives a
    model that takes the raw columns. ``checkpoint`` (a
    ``somkit._checkpoint.Checkpoint``) saves the run with its preprocessing
    steps; after Ctrl-C the map trained so far is kept and ``interrupted``
    is True. ``fit(model)`` replaces ``model.fit(data.X)`` for data not held
    in memory (``somkit.cli._scale_train``: chunks, a cluster).
    """
    from sklearn.pipeline import Pipeline

    from somkit import SOM
    from somkit._encode import OneHotText

    quiet = opts["quiet"]
    terminal = is_terminal(sys.stderr)
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
        missing=opts["missing"],
        random_state=opts["seed"],
        verbose=1 if terminal and not quiet else 0,
        callbacks=None
        if terminal or quiet
        else [PlainProgress(_known(data.n_samples))],
    )
    if supervised:
        som = _classifier(opts)
        from somkit._data import missing_summary

        if missing_summary(data)[0]:
            from somkit.cli._app import CliError

            raise CliError(
                "--supervised does not take missing values; fill or drop them "
                "first (--missing error lists where they are)."
            )
    scaler = make_scaler(opts["scale"])
    steps = []
    if data.text_columns:
        text = [data.feature_names.index(c) for c in data.text_columns]
        steps.append(("encode", OneHotText(columns=text)))
    if scaler is not None:
        steps.append(("scale", scaler))
    model = Pipeline([*steps, ("som", som)]) if steps else som
    encoded = ""
    if data.text_columns:
        encoded = f", text column(s) {', '.join(map(repr, data.text_columns))} one-hot"
    say(
        quiet,
        f"training a {type(som).__name__} on {data.n_samples} samples x "
        f"{data.n_features} features from {data.source} ({opts['algorithm']}, "
        f"{f'{som.n_epochs} epochs' if som.n_epochs else 'default schedule'}, "
        f"scale={opts['scale']}{encoded})",
    )
    fit_params = {}
    if checkpoint is not None:
        checkpoint.prefix = steps  # fitted in place before the map trains
        fit_params = {"som__checkpoint" if steps else "checkpoint": checkpoint}
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if fit is not None:
            fit(model)
        else:
            model.fit(data.X, *((data.labels,) if supervised else ()), **fit_params)
    seconds = time.perf_counter() - tic
    for w in caught:  # the scale warning, as a plain line
        if str(w.message).startswith("feature scales differ"):
            say(quiet, f"warning: {w.message}")
        elif not issubclass(w.category, TrainingInterrupted):  # said by the CLI
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if supervised:
        som.set_params(backend="auto", device=None)
        som = som.som_
    # The model file holds no run-time settings: it predicts anywhere (the
    # backend that trained it is recorded in som.fit_backend_).
    som.set_params(verbose=0, callbacks=None, backend="auto", device=None)
    if data.named:
        first = model.steps[0][1] if steps else model
        first.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    how = "chosen automatically" if opts["grid"] == "auto" else "as asked"
    qe = som.history_["quantization_error"][-1] if som.history_["epoch"] else None
    say(
        quiet,
        f"grid {grid_text(som.grid_.shape)} ({som.grid_.topology}, "
        f"{som.grid_.n_units} units, {how}); trained in {seconds:.2f} s on "
        f"{som.fit_backend_}" + (f"; last epoch QE {qe:.4g}" if qe is not None else ""),
    )
    if fit is not None:  # data not in memory: stopped early by Ctrl-C
        stopped = any(issubclass(w.category, TrainingInterrupted) for w in caught)
        return model, seconds, stopped
    return model, seconds, som.n_iter_ < planned_epochs(som, data.n_samples)


def _known(n_samples):
    """A row count, or infinity for data read in chunks whose size is unknown."""
    return n_samples if isinstance(n_samples, int | np.integer) else float("inf")


def planned_epochs(som, n_samples):
    """Epochs that fitting ``som`` on ``n_samples`` rows plans (its
    ``n_epochs``, or the default schedule's; see ``somkit._rules``)."""
    from somkit._rules import fit_schedule

    return fit_schedule(som.grid_.shape, n_samples, som.get_params())[1]


def interrupted_exit(output, som, total, checkpoint=None):
    """After Ctrl-C: say what was saved, then exit with status 130."""
    again = (
        f" (continue with: somkit resume {checkpoint} DATA -o MODEL)"
        if checkpoint
        else ""
    )
    say(
        False,
        f"interrupted after {som.n_iter_} of {total} epochs: saved the map "
        f"trained so far to {output}{again}",
    )
    raise click.exceptions.Exit(130)
