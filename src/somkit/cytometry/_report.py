"""The cytometry command's HTML report: one self-contained page.

Figures are PNGs embedded as base64 ``data:`` URIs; the page loads nothing
from anywhere (no scripts, fonts or style sheets from outside).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
th { background: #f3f3f3; } td.num { text-align: right; }
img { max-width: 100%; height: auto; }
.note { color: #666; font-size: 0.9em; }
.scroll { overflow-x: auto; }
"""


def _esc(value):
    return html.escape(str(value), quote=True)


def _png(fig, dpi=90):
    from somkit.report import close

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(png, alt):
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{png}">'


def _frame_table(frame, digits=2):
    """An HTML table of a DataFrame (index as the first column(s))."""
    index_names = [n if n is not None else "" for n in frame.index.names]
    head = "".join(f"<th>{_esc(h)}</th>" for h in index_names + list(frame.columns))
    rows = [f"<tr>{head}</tr>"]
    for key, values in zip(frame.index, frame.to_numpy(), strict=True):
        keys = key if isinstance(key, tuple) else (key,)
        cells = "".join(f"<td>{_esc(k)}</td>" for k in keys)
        for v in values:
            text = "" if not np.isfinite(v) else f"{v:.{digits}f}"
            cells += f'<td class="num">{text}</td>'
        rows.append(f"<tr>{cells}</tr>")
    return '<div class="scroll"><table>\n' + "\n".join(rows) + "\n</table></div>"


def _settings_table(settings):
    rows = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in settings.items()
    )
    return f"<table>{rows}</table>"


def write_report(flowsom, X_train, abundances, medians, directory, *, settings=None):
    """Write ``directory/index.html``: star plot, heatmap, tables, settings.

    Parameters
    ----------
    flowsom : fitted FlowSOM
    X_train : DataFrame or array
        Cells the model was trained on (sizes the stars, gives the medians
        of the heatmap).
    abundances : DataFrame
        Percent of each file's cells per metacluster (rows: files).
    medians : DataFrame
        Median marker levels per (file, metacluster).
    directory : str or Path
    settings : dict, default=None
        Name -> value pairs shown in the settings table.

    Returns
    -------
    Path of the written page.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from somkit import plot

    directory = Path(directory)
    star = plot.star_plot(flowsom, X_train)
    star_png = _png(star.figure)
    heat = plot.marker_heatmap(flowsom, X_train)
    heat_png = _png(heat.figure)
    n_files = abundances.shape[0]
    k = int(flowsom.n_clusters_)
    settings = dict(settings or {})
    body = [
        "<h1>FlowSOM clustering</h1>",
        f'<p class="note">{n_files} file(s), {k} metaclusters of '
        f"{flowsom.som_.grid_.n_units} units, markers: "
        f"{_esc(', '.join(map(str, flowsom.markers_)))}.</p>",
        "<h2>Star plot</h2>",
        '<p class="note">Units on their minimum spanning tree; node area = '
        "cells, star segments = marker levels (scaled over the units), "
        "background = metacluster.</p>",
        _img(star_png, "FlowSOM star plot"),
        "<h2>Markers per metacluster</h2>",
        _img(heat_png, "marker heatmap"),
        "<h2>Abundances (% of each file's cells)</h2>",
        _frame_table(abundances),
        "<h2>Median marker levels per file and metacluster</h2>",
        '<p class="note">On the transformed (arcsinh) scale; empty where a '
        "file has no cell in the metacluster.</p>",
        _frame_table(medians),
        "<h2>Settings</h2>",
        _settings_table(settings),
    ]
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<link rel="icon" href="data:,">\n'
        "<title>FlowSOM report</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    from somkit._atomic import atomic_write

    path = directory / "index.html"
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path
