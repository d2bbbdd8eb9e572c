"""Self-contained HTML reports of a trained map, and the demo index page.

:func:`write_report` writes ``index.html``: one file with every figure
embedded as a base64 PNG (no scripts, no external links), so it can be sent
or archived as is. It holds the U-matrix, the expanded U-matrix, the hit
map, the component planes, the class map (when labels are given), pictures
per unit (for image data), the training history, the quality measures with
plain-words warnings, the parameters and a data summary; every figure has a
one-sentence caption for readers who never met a self-organizing map.

:func:`write_demo_index` writes the page linking the seed applications'
figures (``somkit demo``).
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
import time
import warnings
from pathlib import Path

import numpy as np

#: Topographic error above this: the map is folded.
TE_LIMIT = 0.1
#: Share of units that win no sample above which the report warns.
EMPTY_LIMIT = 0.5
#: Share of units farther from every sample than the outlier threshold.
FAR_LIMIT = 0.1
#: Rows used for trustworthiness (quadratic in the number of rows).
TRUST_ROWS = 2000
#: Component planes drawn at most.
MAX_PLANES = 36

CAPTIONS = {
    "umatrix": (
        "Each cell is one unit of the map, shaded by how far its prototype is "
        "from its neighbours' prototypes: light areas are groups of similar "
        "samples and dark bands are the borders between groups."
    ),
    "expanded": (
        "The same distances drawn in more detail: an extra cell between every "
        "pair of neighbouring units shows how far apart those two are, so "
        "borders between groups show up as dark lines."
    ),
    "hits": (
        "How many samples each unit represents (the samples for which it is "
        "the closest unit); empty cells are units no sample picked."
    ),
    "planes": (
        "One small map per input feature, coloured by the value of that feature "
        "in each unit's prototype (in the data's own units): features whose "
        "maps look alike are correlated."
    ),
    "labels": (
        "Markers show which classes land on each unit, larger for more "
        "samples: a map that separates the classes keeps each marker type in "
        "its own region."
    ),
    "images": (
        "Each cell shows one sample that the unit represents (the closest one), "
        "so you can see what each part of the map stands for; black cells are "
        "units no sample picked."
    ),
    "history": (
        "How training went, epoch by epoch: the average distance from samples "
        "to their unit (quantization error), the share of samples whose two "
        "closest units are not neighbours (topographic error) and the "
        "neighbourhood radius."
    ),
}

TITLES = {
    "umatrix": "U-matrix",
    "expanded": "Expanded U-matrix",
    "hits": "Hit map",
    "planes": "Component planes",
    "labels": "Class map",
    "images": "Samples on the map",
    "history": "Training history",
}

SECTION_IDS = {
    "umatrix": "umatrix",
    "expanded": "expanded-umatrix",
    "hits": "hits",
    "planes": "component-planes",
    "labels": "class-map",
    "images": "images",
    "history": "history",
}


# ------------------------------------------------------------------ figures
def close(fig):
    """Release a matplotlib figure (pyplot-managed or not)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def figure(model, kind, data=None, *, image_shape=None, features=None):
    """Draw one figure of ``model``; return the matplotlib Figure.

    Parameters
    ----------
    model : fitted SOM, or a Pipeline ending in one
        A Pipeline's earlier steps (the command line's scaling) are applied
        to the data and undone for the component planes.
    kind : {"umatrix", "expanded", "hits", "planes", "labels", "images", "history"}
    data : somkit._data.Dataset, optional
        Needed by "hits", "labels" (with labels) and "images".
    image_shape : tuple, optional
        Pixel shape of each row for "images".
    features : sequence of int, optional
        Which component planes to draw (default: all).
    """
    from somkit import plot

    som = model
    X = None if data is None else data.X
    if kind in ("hits", "labels", "images") and data is None:
        raise ValueError(f"the {kind!r} figure needs data.")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        if kind == "umatrix":
            ax = plot.umatrix(som)
        elif kind == "expanded":
            ax = plot.umatrix(som, expanded=True)
        elif kind == "hits":
            ax = plot.hits(som, X)
        elif kind == "planes":
            axes = plot.component_planes(som, features=features)
            ax = axes[0]
        elif kind == "labels":
            if data.labels is None:
                raise ValueError("the class map needs a label column.")
            ax = plot.labels(som, X, data.labels)
        elif kind == "images":
            if image_shape is None:
                raise ValueError("the 'images' figure needs image_shape.")
            pictures = data.X.reshape((data.n_samples, *image_shape))
            ax = plot.images(som, X, pictures)
        elif kind == "history":
            ax = plot.history(som)
        else:
            raise ValueError(f"kind must be one of {tuple(CAPTIONS)}, got {kind!r}.")
    fig = ax.figure
    if kind in TITLES and kind != "planes":
        ax.set_title(TITLES[kind])
    return fig


def _png_base64(fig, dpi=100):
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------ numbers
def map_statistics(som, X, random_state=0):
    """Quality numbers of ``som`` on (already scaled) ``X``.

    Returns a dict: quantization_error, topographic_error, trustworthiness
    (None when there are too few rows; computed on at most
    :data:`TRUST_ROWS` rows), trust_rows, hits (per unit), empty_units,
    far_units (units farther from every sample than the map's outlier
    threshold; None for the "dot" metric), n_units.
    """
    from somkit import metrics

    X = np.asarray(X)
    n = X.shape[0]
    n_units = som.grid_.n_units
    bmu = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    nearest = np.full(n_units, np.inf)
    step = max(1, min(n, 2**22 // max(n_units, 1)))
    for a in range(0, n, step):
        D = np.asarray(som.transform(X[a : a + step]), dtype=np.float64)
        bmu[a : a + step] = np.argmin(D, axis=1)
        dist[a : a + step] = D[np.arange(len(D)), bmu[a : a + step]]
        np.minimum(nearest, D.min(axis=0), out=nearest)
    hits = np.bincount(bmu, minlength=n_units)
    te = float(metrics.topographic_error(som, X)) if n_units > 1 else None
    trust, trust_rows = None, min(n, TRUST_ROWS)
    if trust_rows > 10:
        rows = np.arange(n)
        if n > TRUST_ROWS:
            rng = np.random.default_rng(random_state)
            rows = np.sort(rng.choice(n, TRUST_ROWS, replace=False))
        trust = float(metrics.trustworthiness(som, X[rows], n_neighbors=5))
    far = None
    threshold = getattr(som, "outlier_threshold_", None)
    if som.metric != "dot" and threshold is not None:
        far = int(np.sum(nearest > threshold))
    return {
        "quantization_error": float(dist.mean()),
        "topographic_error": te,
        "trustworthiness": trust,
        "trust_rows": trust_rows,
        "hits": hits,
        "empty_units": int(np.sum(hits == 0)),
        "far_units": far,
        "outlier_threshold": threshold,
        "n_units": n_units,
        "n_samples": n,
    }


def fit_warnings(stats):
    """Plain-words warnings about a poorly fitting map (list of str)."""
    out = []
    te = stats["topographic_error"]
    if te is not None and te > TE_LIMIT:
        out.append(
            f"The map is folded: for {te:.0%} of the samples the two closest units "
            f"are not neighbours on the map (more than {TE_LIMIT:.0%}). Nearby "
            "places on the map then do not always mean similar data. Train for "
            "more epochs, start with a larger radius, or use a smaller grid."
        )
    n_units = stats["n_units"]
    empty = stats["empty_units"]
    if n_units > 1 and empty / n_units > EMPTY_LIMIT:
        out.append(
            f"Many units are empty: {empty} of {n_units} units ({empty / n_units:.0%}"
            ") are the closest unit of no sample. The map is large for this much "
            "data; a smaller grid gives a clearer picture."
        )
    far = stats["far_units"]
    if far is not None and n_units > 1 and far / n_units > FAR_LIMIT:
        out.append(
            f"{far} of {n_units} units ({far / n_units:.0%}) are far from all data: "
            "every sample is farther from them than 99% of the samples are from "
            "their own unit. They sit in empty space between groups of data (or "
            "training stopped too early), so those parts of the map stand for no "
            "real samples."
        )
    return out


# --------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
  sans-serif; margin: 0 auto; max-width: 1100px; padding: 1.5em; color: #222;
  line-height: 1.45; background: #fff; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.sub { color: #666; margin-top: 0; }
nav a { margin-right: 0.8em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.95em; max-width: 60em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warning { background: #fff4e5; border-left: 5px solid #f0a030;
  padding: 0.6em 1em; margin: 0.6em 0; }
.ok { background: #eef8ee; border-left: 5px solid #4a4; padding: 0.6em 1em; }
.note { color: #666; font-size: 0.9em; }
"""


def _esc(value):
    return html.escape(str(value), quote=True)


def _fmt(value, digits=4):
    if value is None:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_fmt(v, digits) for v in value) + ")"
    return str(value)


def _table(rows, header=None, numeric=(1,)):
    """An HTML table; columns whose index is in ``numeric`` align right."""
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{_esc(_fmt(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _page(title, body):
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _figure_html(kind, png, note=""):
    sid = SECTION_IDS[kind]
    extra = f' <span class="note">{_esc(note)}</span>' if note else ""
    return (
        f'<section id="{sid}">\n<h2>{_esc(TITLES[kind])}</h2>\n<figure>\n'
        f'<img alt="{_esc(TITLES[kind])}" src="data:image/png;base64,{png}">\n'
        f"<figcaption>{_esc(CAPTIONS[kind])}{extra}</figcaption>\n</figure>\n"
        "</section>"
    )


def build_report(
    model,
    data,
    *,
    title=None,
    train_seconds=None,
    model_file=None,
    image_shape=None,
    random_state=0,
):
    """The report's HTML text (see :func:`write_report`)."""
    from somkit._data import is_square, label_counts, summary
    from somkit._model import preprocessing, to_map_space, unwrap

    tic = time.perf_counter()
    som, _ = unwrap(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        X = to_map_space(model, data.X)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        stats = map_statistics(som, X, random_state=random_state)
    grid = som.grid_
    title = title or f"Self-organizing map of {Path(data.source).name or 'data'}"
    notes = fit_warnings(stats)

    # Figures ---------------------------------------------------------------
    kinds = ["umatrix", "expanded", "hits", "planes"]
    if data.labels is not None:
        kinds.append("labels")
    if image_shape is None and data.image_shape is not None:
        image_shape = data.image_shape
    if image_shape is not None:
        kinds.append("images")
    if som.history_.get("epoch"):
        kinds.append("history")
    flat = grid.ndim <= 2
    figures = []
    skipped = []
    for kind in kinds:
        if not flat and kind not in ("history",):
            skipped.append(kind)
            continue
        note = ""
        features = None
        if kind == "planes" and som.n_features_in_ > MAX_PLANES:
            features = list(range(MAX_PLANES))
            note = f"(the first {MAX_PLANES} of {som.n_features_in_} features)"
        png = _png_base64(
            figure(model, kind, data, image_shape=image_shape, features=features)
        )
        figures.append(_figure_html(kind, png, note))
    seconds = time.perf_counter() - tic

    # Text -------------------------------------------------------------------
    parts = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="sub">{_esc(grid.topology)} grid of '
        f"{_esc('x'.join(map(str, grid.shape)))} units"
        f"{', periodic' if grid.periodic else ''}, "
        f"{'trained on' if train_seconds is not None else 'shown with'} "
        f"{data.n_samples} samples with {data.n_features} features. Generated "
        f"{_esc(datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))} by somkit.</p>",
    ]
    nav = ["summary", "warnings", "quality"] + [
        SECTION_IDS[k] for k in kinds if k not in skipped
    ]
    nav += ["parameters", "data"]
    parts.append(
        "<nav>" + " ".join(f'<a href="#{s}">{_esc(s)}</a>' for s in nav) + "</nav>"
    )
    parts.append(
        '<section id="summary">\n<h2>What this is</h2>\n<p>A self-organizing map '
        "places a grid of units in the data so that every sample has a closest "
        "unit and neighbouring units stand for similar samples. The figures "
        "below look at the same grid in different ways: where the groups and "
        "borders are, how many samples each unit stands for, and what each "
        "feature looks like across the map.</p>\n</section>"
    )
    if notes:
        body = "\n".join(f'<p class="warning">{_esc(w)}</p>' for w in notes)
    else:
        body = (
            '<p class="ok">No problems found: the map is not folded, few units '
            "are empty and no large part of it lies away from the data.</p>"
        )
    parts.append(f'<section id="warnings">\n<h2>Warnings</h2>\n{body}\n</section>')

    q = stats
    trust_note = (
        f" (on {q['trust_rows']} of {q['n_samples']} rows)"
        if q["trustworthiness"] is not None and q["trust_rows"] < q["n_samples"]
        else ""
    )
    quality_rows = [
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
            f"map (0 = no folds; above {TE_LIMIT} the map is folded)",
        ),
        (
            "trustworthiness",
            q["trustworthiness"],
            "1 = samples that are close on the map are also close in the data"
            + trust_note,
        ),
        ("empty units", q["empty_units"], f"of {q['n_units']} units win no sample"),
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
    ]
    if train_seconds is not None:
        quality_rows.append(("training time (s)", train_seconds, ""))
    quality_rows.append(("report figures time (s)", seconds, ""))
    parts.append(
        '<section id="quality">\n<h2>Quality</h2>\n'
        + _table(quality_rows, header=("measure", "value", "meaning"))
        + "\n</section>"
    )
    parts.extend(figures)
    if skipped:
        parts.append(
            '<p class="note">A 3-D map has no flat drawing; its map figures are '
            "left out.</p>"
        )

    params = som.get_params(deep=False)
    param_rows = [
        (k, v) for k, v in params.items() if k not in ("callbacks", "verbose")
    ]
    param_rows += [
        ("grid used", "x".join(map(str, grid.shape))),
        ("epochs run", som.n_iter_),
        ("scaling", preprocessing(model)),
        ("trained on", getattr(som, "fit_backend_", "numpy")),
    ]
    if model_file is not None:
        param_rows.append(("model file", str(model_file)))
    parts.append(
        '<section id="parameters">\n<h2>Parameters</h2>\n'
        + _table(param_rows, header=("parameter", "value"), numeric=())
        + "\n</section>"
    )

    data_rows = [
        ("file", data.source),
        ("samples", data.n_samples),
        ("features", data.n_features),
    ]
    if data.label_name is not None:
        data_rows.append(("label column", data.label_name))
    data_html = _table(data_rows, numeric=())
    stats_rows = summary(data, limit=50)
    data_html += "\n<h3>Features (original units)</h3>\n" + _table(
        stats_rows,
        header=("feature", "min", "mean", "std", "max"),
        numeric=(1, 2, 3, 4),
    )
    if data.n_features > len(stats_rows):
        data_html += (
            f'<p class="note">First {len(stats_rows)} of {data.n_features} '
            "features shown.</p>"
        )
    if data.labels is not None:
        counts = label_counts(data.labels)
        data_html += "\n<h3>Classes</h3>\n" + _table(
            counts[:100], header=("class", "samples")
        )
    if image_shape is None and is_square(data.n_features) and data.n_features >= 16:
        data_html += (
            '<p class="note">If each row is an image, `somkit plot --kind images` '
            "draws one per unit.</p>"
        )
    parts.append(f'<section id="data">\n<h2>Data</h2>\n{data_html}\n</section>')
    return _page(title, "\n".join(parts))


def write_report(model, data, directory, **kwargs):
    """Write ``directory/index.html`` for ``model`` on ``data``; return its path.

    Parameters
    ----------
    model : fitted SOM, or a Pipeline ending in one
        A Pipeline's earlier steps are applied to ``data``.
    data : somkit._data.Dataset
        The data to describe (its features in original units, labels if any).
    directory : str or Path
        Created if missing.
    **kwargs
        title, train_seconds, model_file, image_shape, random_state (see
        :func:`build_report`).

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import load_iris
    >>> from somkit import SOM
    >>> from somkit._data import Dataset
    >>> X, y = load_iris(return_X_y=True)
    >>> som = SOM((5, 6), n_epochs=3, random_state=0).fit(X)
    >>> data = Dataset(X, ["a", "b", "c", "d"], True, labels=y, label_name="y")
    >>> path = write_report(som, data, tempfile.mkdtemp())
    >>> path.name
    'index.html'
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    from somkit._atomic import atomic_write

    text = build_report(model, data, **kwargs)
    path = directory / "index.html"
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


# --------------------------------------------------------------- demo page
def write_demo_index(entries, directory, skipped=()):
    """Write ``directory/index.html`` linking the demo figures.

    Parameters
    ----------
    entries : list of (AppResult, list of str, float)
        Each application's result, its figure paths relative to
        ``directory`` and its run time in seconds.
    directory : str or Path
    skipped : list of (name, reason)
        Applications that could not run (e.g. a missing extra).

    Returns
    -------
    path : Path
    """
    directory = Path(directory)
    parts = [
        "<h1>somkit demo</h1>",
        '<p class="sub">The seed applications of somkit: what self-organizing '
        "maps do on small, well-known data sets. Each section shows the figures "
        "one application made, what they show and the numbers it measured.</p>",
    ]
    if entries:
        parts.append(
            "<nav>"
            + " ".join(
                f'<a href="#{_esc(r.name)}">{_esc(r.name)}</a>' for r, _, _ in entries
            )
            + "</nav>"
        )
    for result, paths, seconds in entries:
        section = [
            f'<section id="{_esc(result.name)}">',
            f"<h2>{_esc(result.title)}</h2>",
        ]
        if result.text:
            for para in str(result.text).split("\n\n"):
                section.append(f"<p>{_esc(para.strip())}</p>")
        rows = [(k, v) for k, v in result.metrics.items()]
        rows.append(("run time (s)", float(seconds)))
        section.append(_table(rows, header=("measure", "value")))
        for rel in paths:
            stem = Path(rel).stem
            section.append(
                f'<figure><a href="{_esc(rel)}"><img src="{_esc(rel)}" '
                f'alt="{_esc(result.name)}: {_esc(stem)}"></a>'
                f"<figcaption>{_esc(stem.replace('_', ' '))}</figcaption></figure>"
            )
        section.append("</section>")
        parts.append("\n".join(section))
    if skipped:
        items = "".join(
            f"<li><b>{_esc(name)}</b>: {_esc(reason)}</li>" for name, reason in skipped
        )
        parts.append(
            f'<section id="skipped">\n<h2>Not run</h2>\n<ul>{items}</ul>\n</section>'
        )
    path = directory / "index.html"
    from somkit._atomic import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(_page("somkit demo", "\n".join(parts)))
    return path
