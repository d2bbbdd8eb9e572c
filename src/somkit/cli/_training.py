"""Training a model from the command line's options (shared by fit and report)."""

from __future__ import annotations

import sys
import time

import click
import numpy as np

from somkit.cli._options import grid_text, is_terminal, say


class PlainProgress:
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


def train(data, opts, supervised=False):
    """Build and fit the model of the training options; return (model, seconds).

    The model is a Pipeline (scaler, then the SOM) unless ``--scale none``;
    the column names of a named file are recorded on its first step, as
    scikit-learn does for a frame, so ``somkit.load`` gives a model that
    takes the raw columns.
    """
    from sklearn.pipeline import Pipeline

    from somkit import SOM

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
        random_state=opts["seed"],
        verbose=1 if terminal and not quiet else 0,
        callbacks=None if terminal or quiet else [PlainProgress(opts["epochs"])],
    )
    if supervised:
        som = _classifier(opts)
    scaler = make_scaler(opts["scale"])
    model = som if scaler is None else Pipeline([("scale", scaler), ("som", som)])
    say(
        quiet,
        f"training a {type(som).__name__} on {data.n_samples} samples x "
        f"{data.n_features} features from {data.source} ({opts['algorithm']}, "
        f"{som.n_epochs} epochs, "
        f"scale={opts['scale']})",
    )
    tic = time.perf_counter()
    model.fit(data.X, *((data.labels,) if supervised else ()))
    seconds = time.perf_counter() - tic
    if supervised:
        som.set_params(backend="auto", device=None)
        som = som.som_
    # The model file holds no run-time settings: it predicts anywhere (the
    # backend that trained it is recorded in som.fit_backend_).
    som.set_params(verbose=0, callbacks=None, backend="auto", device=None)
    if data.named:
        first = model if scaler is None else scaler
        first.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    how = "chosen automatically" if opts["grid"] == "auto" else "as asked"
    qe = som.history_["quantization_error"][-1] if som.history_["epoch"] else None
    say(
        quiet,
        f"grid {grid_text(som.grid_.shape)} ({som.grid_.topology}, "
        f"{som.grid_.n_units} units, {how}); trained in {seconds:.2f} s on "
        f"{som.fit_backend_}" + (f"; last epoch QE {qe:.4g}" if qe is not None else ""),
    )
    return model, seconds
