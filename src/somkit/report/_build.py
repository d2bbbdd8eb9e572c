"""Building the report: one analysis, then the page and its two tables."""

from __future__ import annotations

import datetime
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from somkit.report._figures import CAPTIONS, MAX_PLANES, SECTION_IDS, TITLES
from somkit.report._html import esc, page, section, table
from somkit.report._stats import TE_LIMIT


@dataclass
class Analysis:
    """Everything the page and the tables show, computed once."""

    model: object
    som: object
    data: object
    X: np.ndarray  # the data in the map's space
    stats: dict
    outlier: np.ndarray
    class_names: list | None
    class_codes: np.ndarray | None
    clustering: object
    profiles: object
    findings: list
    # the rows as the model takes them, when ``data`` is their numeric view
    # (text columns one-hot encoded); None when they are the same
    raw: object = None


def as_dataset(model, data, labels=None, ids=None, feature_names=None):
    """``data`` as a :class:`somkit._data.Dataset`.

    ``data`` is a Dataset, or the feature matrix (array-like or DataFrame)
    with optional ``labels`` and ``ids`` (one per row) and
    ``feature_names`` (default: the frame's columns, else the model's
    names, else ``x0``, ``x1``, ...).
    """
    from somkit._data import Dataset
    from somkit._model import feature_names as model_names

    if isinstance(data, Dataset):
        if labels is not None or ids is not None or feature_names is not None:
            raise TypeError(
                "labels, ids and feature_names go with a feature matrix; a Dataset "
                "carries its own."
            )
        return data
    from somkit._encode import encodes_text

    columns = getattr(data, "columns", None)
    X = np.asarray(data, dtype=object if encodes_text(model) else np.float64)
    if X.ndim != 2:
        raise ValueError(f"data must be 2-D (n_samples, n_features), got {X.shape}.")
    n, p = X.shape
    names = feature_names
    if names is None and columns is not None:
        names = [str(c) for c in columns]
    if names is None:
        names = model_names(model)
    if names is None or len(names) != p:
        if feature_names is not None:
            raise ValueError(
                f"feature_names has {len(feature_names)} names for {p} features."
            )
        names = [f"x{j}" for j in range(p)]
    extra = {}
    for key, values in (("labels", labels), ("ids", ids)):
        if values is None:
            continue
        values = np.asarray(values, dtype=object).ravel()
        if len(values) != n:
            raise ValueError(f"{key} has {len(values)} values for {n} rows of data.")
        extra[key] = values
    return Dataset(
        X,
        [str(s) for s in names],
        columns is not None or feature_names is not None,
        labels=extra.get("labels"),
        label_name="label" if labels is not None else None,
        ids=extra.get("ids"),
        id_name=getattr(ids, "name", None) or ("id" if ids is not None else None),
        source=type(data).__name__,
    )


def analyse(model, data, *, n_clusters=None, random_state=0):
    """The :class:`Analysis` of ``model`` on the Dataset ``data``."""
    from somkit._encode import encoded_dataset
    from somkit._labels import encode_labels
    from somkit._model import to_map_space, unwrap
    from somkit.report._clusters import cluster_units, profiles
    from somkit.report._stats import diagnose, map_statistics

    som, _ = unwrap(model)
    n_in = int(getattr(model, "n_features_in_", som.n_features_in_))
    if data.n_features != n_in:
        raise ValueError(
            f"data has {data.n_features} features, the model was trained on {n_in}."
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        X = np.asarray(to_map_space(model, data.X))
        stats = map_statistics(som, X, random_state=random_state)
    threshold = getattr(som, "outlier_threshold_", None)
    outlier = np.zeros(data.n_samples, dtype=bool)
    if threshold is not None:
        outlier = stats["distance"] > threshold
    names = codes = None
    if data.labels is not None:
        names, codes = encode_labels(data.labels)
    raw, data = data, encoded_dataset(model, data)  # text as 0/1 features
    est = cluster_units(som, stats["hits"], n_clusters)
    prof = profiles(data.X, stats["bmu"], est, codes, len(names or ()))
    return Analysis(
        model=model,
        som=som,
        data=data,
        X=X,
        stats=stats,
        outlier=outlier,
        class_names=names,
        class_codes=codes,
        clustering=est,
        profiles=prof,
        findings=diagnose(stats, som, X),
        raw=raw if raw is not data else None,
    )


# ---------------------------------------------------------------- sections
def _figure_html(kind, png, note="", extra=""):
    note = f' <span class="note">{esc(note)}</span>' if note else ""
    body = (
        f'<figure>\n<img alt="{esc(TITLES[kind])}" src="data:image/png;base64,{png}">'
        f"\n<figcaption>{esc(CAPTIONS[kind])}{note}</figcaption>\n</figure>{extra}"
    )
    return section(SECTION_IDS[kind], TITLES[kind], body)


def _quality_html(a, train_seconds, seconds):
    q = a.stats
    trust_note = (
        f" (on {q['trust_rows']} of {q['n_samples']} rows)"
        if q["trustworthiness"] is not None and q["trust_rows"] < q["n_samples"]
        else ""
    )
    n_out = int(a.outlier.sum())
    rows = [
        (
            "quantization error",
            q["quantization_error"],
            "average distance from a sample to its closest unit (scaled data; "
            "lower = units closer to the data)",
        ),
        (
            "topographic error",
            q["topographic_error"],
            "share of samples whose two closest units are not neighbours on the "
            f"map, counting {q['adjacency']} as neighbours (0 = no folds; above "
            f"{TE_LIMIT} the map is folded)",
        ),
        (
            "trustworthiness",
            q["trustworthiness"],
            "1 = samples that are close on the map are also close in the data"
            + trust_note,
        ),
        (
            "empty units",
            f"{q['empty_units']} ({q['empty_units'] / q['n_units']:.0%})",
            f"of {q['n_units']} units win no sample",
        ),
        (
            "units far from all data",
            q["far_units"],
            "units farther from every sample than the outlier threshold",
        ),
        (
            "outlier threshold",
            q["outlier_threshold"],
            "99% of the training samples are closer than this to their unit",
        ),
        (
            "outlying rows",
            f"{n_out} ({n_out / max(q['n_samples'], 1):.1%})",
            "rows farther from their unit than the outlier threshold "
            "(outlier = 1 in rows.csv)",
        ),
    ]
    if train_seconds is not None:
        rows.append(("training time (s)", train_seconds, ""))
    rows.append(("report figures time (s)", seconds, ""))
    return section(
        "quality", "Quality", table(rows, header=("measure", "value", "meaning"))
    )


def _parameters_html(a, model_file):
    from somkit._model import preprocessing
    from somkit.report._stats import radius_words

    som = a.som
    rows = []
    for k, v in som.get_params(deep=False).items():
        if k in ("callbacks", "verbose"):
            continue
        rows.append((k, radius_words(som) if k == "radius" else v))
    rows += [
        ("grid used", "x".join(map(str, som.grid_.shape))),
        ("epochs run", som.n_iter_),
        ("scaling", preprocessing(a.model)),
        ("trained on", getattr(som, "fit_backend_", "numpy")),
    ]
    if model_file is not None:
        rows.append(("model file", str(model_file)))
    return section(
        "parameters",
        "Parameters",
        table(rows, header=("parameter", "value"), numeric=()),
    )


def _data_html(a, image_shape):
    from somkit._data import is_square, summary

    data = a.data
    rows = [
        ("file", data.source),
        ("samples", data.n_samples),
        ("features", data.n_features),
    ]
    if data.label_name is not None:
        rows.append(("label column", data.label_name))
    if data.id_name is not None:
        rows.append(("id column", data.id_name))
    out = table(rows, numeric=())
    stats_rows = summary(data, limit=50)
    out += "\n<h3>Features (original units)</h3>\n" + table(
        stats_rows,
        header=("feature", "min", "mean", "std", "max"),
        numeric=(1, 2, 3, 4),
    )
    if data.n_features > len(stats_rows):
        out += (
            f'<p class="note">First {len(stats_rows)} of {data.n_features} '
            "features shown.</p>"
        )
    if a.class_names is not None:
        counts = np.bincount(a.class_codes, minlength=len(a.class_names))
        pairs = list(zip(a.class_names, counts.tolist(), strict=True))
        out += "\n<h3>Classes</h3>\n" + table(pairs[:100], header=("class", "samples"))
    if image_shape is None and is_square(data.n_features) and data.n_features >= 16:
        out += (
            '<p class="note">If each row is an image, `--image-shape HxW` '
            "draws one per unit.</p>"
        )
    return section("data", "Data", out)


def _files_html(a):
    cols = "id, bmu, row, col, cluster, distance, outlier"
    if a.data.labels is not None:
        cols += ", label"
    id_words = (
        f"the values of the column {a.data.id_name!r}"
        if a.data.id_name
        else "the row number (1 = first data row)"
    )
    body = (
        '<ul><li><a href="rows.csv">rows.csv</a>: one line per input row, in '
        f"input order: {esc(cols)}. The id is {esc(id_words)}; bmu is the flat "
        "index of the closest unit (row-major); clusters count from 1.</li>"
        '<li><a href="clusters.csv">clusters.csv</a>: per cluster and feature, '
        "the mean, standard deviation, mean of the other samples and "
        "standardized difference (original units).</li></ul>"
    )
    return section("files", "Tables", body)


# -------------------------------------------------------------------- page
def _render(a, *, title, train_seconds, model_file, image_shape, files, sections=()):
    from somkit import _umatrix
    from somkit.report._clusters import section_html
    from somkit.report._explorer import explorer_html
    from somkit.report._figures import figure, png_base64
    from somkit.report._stats import all_clear

    tic = time.perf_counter()
    som, data, grid = a.som, a.data, a.som.grid_
    flat = grid.ndim <= 2
    kinds = ["clusters", "umatrix", "expanded", "hits", "planes"]
    if data.labels is not None:
        kinds.append("labels")
    if image_shape is not None:
        kinds.append("images")
    if som.history_.get("epoch"):
        kinds.append("history")
    if not flat:
        kinds = [k for k in kinds if k == "history"]
    figures = {}
    for kind in kinds:
        note, features = "", None
        if kind == "planes" and som.n_features_in_ > MAX_PLANES:
            features = list(range(MAX_PLANES))
            note = f"(the first {MAX_PLANES} of {som.n_features_in_} features)"
        fig = figure(
            a.model,
            kind,
            data if a.raw is None else a.raw,
            image_shape=image_shape,
            features=features,
            unit_labels=a.profiles.unit_labels,
        )
        figures[kind] = (png_base64(fig, fit=kind != "planes"), note)
    seconds = time.perf_counter() - tic

    title = title or f"Self-organizing map of {Path(data.source).name or 'data'}"
    parts = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(grid.topology)} grid of '
        f"{esc('x'.join(map(str, grid.shape)))} units"
        f"{', periodic' if grid.periodic else ''}, "
        f"{'trained on' if train_seconds is not None else 'shown with'} "
        f"{data.n_samples} samples with {data.n_features} features. Generated "
        f"{esc(datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))} by somkit.</p>",
    ]
    nav = ["summary", "warnings", "quality"]
    nav += ["explorer"] if flat else []
    nav += ["clusters"] + [SECTION_IDS[k] for k in kinds if k != "clusters"]
    nav += ["supervised"] if sections else []
    nav += ["parameters", "data"] + (["files"] if files else [])
    parts.append(
        "<nav>" + " ".join(f'<a href="#{s}">{esc(s)}</a>' for s in nav) + "</nav>"
    )
    parts.append(
        section(
            "summary",
            "What this is",
            "<p>A self-organizing map places a grid of units in the data so that "
            "every sample has a closest unit and neighbouring units stand for "
            "similar samples. The sections below look at the same grid in "
            "different ways: groups of units (clusters) and what sets them apart, "
            "where the borders are, how many samples each unit stands for, and "
            "what each feature looks like across the map.</p>",
        )
    )
    if a.findings:
        body = "\n".join(f'<p class="warning">{esc(f.text)}</p>' for f in a.findings)
    else:
        body = f'<p class="ok">{esc(all_clear(a.stats))}</p>'
    parts.append(section("warnings", "Warnings", body))
    parts.append(_quality_html(a, train_seconds, seconds))
    script = ""
    if flat:
        U = _umatrix.umatrix(som)
        body, script = explorer_html(
            a.model, data, a.stats, a.profiles, U, a.class_names, a.class_codes
        )
        parts.append(section("explorer", "Explore the map", body))
    text = section_html(a.profiles, list(data.feature_names), a.class_names)
    if "clusters" in figures:
        png, _ = figures.pop("clusters")
        parts.append(_figure_html("clusters", png, extra="\n" + text))
    else:
        parts.append(section("clusters", "Clusters", text))
    for kind, (png, note) in figures.items():
        parts.append(_figure_html(kind, png, note))
    if not flat:
        parts.append(
            '<p class="note">A 3-D map has no flat drawing: its map figures and the '
            "interactive map are left out.</p>"
        )
    parts.extend(sections)
    parts.append(_parameters_html(a, model_file))
    parts.append(_data_html(a, image_shape))
    if files:
        parts.append(_files_html(a))
    return page(title, "\n".join(parts), script)


def _check_image_shape(image_shape, data):
    if image_shape is None:
        return data.image_shape
    shape = tuple(int(s) for s in image_shape)
    if int(np.prod(shape)) != data.n_features:
        raise ValueError(
            f"image_shape {shape} has {int(np.prod(shape))} pixels but the data has "
            f"{data.n_features} features."
        )
    return shape


def build_report(
    model,
    data,
    *,
    labels=None,
    ids=None,
    feature_names=None,
    title=None,
    n_clusters=None,
    image_shape=None,
    train_seconds=None,
    model_file=None,
    random_state=0,
    sections=(),
):
    """The report's HTML text (see :func:`write_report` for the arguments)."""
    data = as_dataset(model, data, labels, ids, feature_names)
    a = analyse(model, data, n_clusters=n_clusters, random_state=random_state)
    return _render(
        a,
        title=title,
        train_seconds=train_seconds,
        model_file=model_file,
        image_shape=_check_image_shape(image_shape, data),
        files=False,
        sections=sections,
    )


def write_report(
    model,
    data,
    directory,
    *,
    labels=None,
    ids=None,
    feature_names=None,
    title=None,
    n_clusters=None,
    image_shape=None,
    train_seconds=None,
    model_file=None,
    random_state=0,
    sections=(),
):
    """Write the report of ``model`` on ``data`` into ``directory``.

    Three files: ``index.html`` (one self-contained page: figures, the
    interactive map, clusters and their profiles, quality measures with
    plain-words warnings, parameters, a data summary), ``rows.csv`` (where
    every row landed: id, bmu, row, col, cluster, distance, outlier,
    label) and ``clusters.csv`` (per cluster and feature: mean, standard
    deviation, standardized difference).

    Parameters
    ----------
    model : fitted SOM, or a Pipeline ending in one
        A Pipeline's earlier steps are applied to ``data``.
    data : array-like, DataFrame or somkit._data.Dataset
        The rows to describe, in the data's own units.
    directory : str or Path
        Created if missing.
    labels : array-like of shape (n_samples,), optional
        Class of each row (any values; None/NaN are the class "missing").
    ids : array-like of shape (n_samples,), optional
        ID of each row (default: row numbers from 1).
    feature_names : sequence of str, optional
        Default: the DataFrame's columns, else the model's.
    title : str, optional
    n_clusters : int, optional
        Number of clusters of units (default: chosen automatically).
    image_shape : tuple, optional
        Pixel shape of each row: adds a figure with a picture per unit.
    train_seconds : float, optional
        Shown in the quality table.
    model_file : str, optional
        Shown in the parameters table.
    random_state : int, default=0
        Picks the rows used for trustworthiness on large data.
    sections : sequence of str, default=()
        Extra HTML ``<section>`` elements placed before the parameters (the
        supervised part of ``somkit report --supervised``, see
        ``somkit._report_supervised``).

    Returns
    -------
    path : Path
        ``directory / "index.html"``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM
    >>> X, y = load_iris(return_X_y=True)
    >>> som = SOM((5, 6), n_epochs=3, random_state=0).fit(X)
    >>> path = write_report(som, X, tempfile.mkdtemp(), labels=y)
    >>> sorted(p.name for p in path.parent.iterdir())
    ['clusters.csv', 'index.html', 'rows.csv']
    """
    from somkit._atomic import atomic_write
    from somkit.report._clusters import csv_rows
    from somkit.report._rows import write_rows, write_table

    data = as_dataset(model, data, labels, ids, feature_names)
    image_shape = _check_image_shape(image_shape, data)
    a = analyse(model, data, n_clusters=n_clusters, random_state=random_state)
    text = _render(
        a,
        title=title,
        train_seconds=train_seconds,
        model_file=model_file,
        image_shape=image_shape,
        files=True,
        sections=sections,
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_rows(
        directory / "rows.csv",
        data,
        a.som.grid_,
        a.stats["bmu"],
        a.stats["distance"],
        a.outlier,
        a.profiles.labels,
    )
    write_table(
        directory / "clusters.csv", csv_rows(a.profiles, list(a.data.feature_names))
    )
    path = directory / "index.html"
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
