"""HTML building blocks of the report pages: style, escaping, tables."""

from __future__ import annotations

import html
import math

import numpy as np

CSS = """
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
td.hi { background: #e6f0ff; } td.lo { background: #fff0e6; }
.scroll { overflow-x: auto; }
.warning { background: #fff4e5; border-left: 5px solid #f0a030;
  padding: 0.6em 1em; margin: 0.6em 0; }
.ok { background: #eef8ee; border-left: 5px solid #4a4; padding: 0.6em 1em; }
.note { color: #666; font-size: 0.9em; }
#explorer .controls { display: flex; flex-wrap: wrap; gap: 0.6em 1.2em;
  align-items: center; margin: 0.5em 0; }
#explorer .panes { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
#som-map { flex: 1 1 560px; max-width: 680px; }
#som-map svg { width: 100%; height: auto; max-height: 80vh; display: block; }
#som-map [data-unit] { stroke: #fff; stroke-width: 0.03; cursor: pointer; }
#som-map [data-unit].picked { stroke: #d00; stroke-width: 0.12; }
#som-map [data-unit].found { stroke: #000; stroke-width: 0.12; }
#map-legend { font-size: 0.85em; margin-top: 0.3em; min-height: 2.2em; }
#map-legend .bar { height: 12px; border: 1px solid #ccc; }
#map-legend .ends { display: flex; justify-content: space-between; }
#map-legend .sw { display: inline-block; width: 0.9em; height: 0.9em;
  margin: 0 0.25em 0 0.8em; vertical-align: middle; border: 1px solid #999; }
#unit-details { flex: 1 1 320px; min-height: 8em; font-size: 0.92em;
  border: 1px solid #ddd; padding: 0.6em 0.9em; background: #fafafa; }
#unit-details table { font-size: 0.95em; }
#unit-details .ids { word-break: break-all; }
#unit-tooltip { position: fixed; pointer-events: none; background: #222;
  color: #fff; padding: 0.3em 0.6em; border-radius: 4px; font-size: 0.85em;
  display: none; z-index: 10; white-space: nowrap; }
"""


def esc(value):
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def fmt(value, digits=4):
    """A number (or other value) in short plain text; None -> "n/a"."""
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
        return "(" + ", ".join(fmt(v, digits) for v in value) + ")"
    return str(value)


def table(rows, header=None, numeric=(1,), classes=None):
    """An HTML table; columns whose index is in ``numeric`` align right.

    ``classes`` optionally gives a CSS class per cell (same shape as
    ``rows``; None for none).
    """
    out = ['<div class="scroll"><table>']
    if header:
        out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    for r, row in enumerate(rows):
        cells = []
        for i, v in enumerate(row):
            cls = ["num"] if i in numeric else []
            if classes is not None and classes[r][i]:
                cls.append(classes[r][i])
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{esc(fmt(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def page(title, body, script=""):
    """A complete HTML page (style inline; ``script`` appended to the body)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}\n{script}</body>\n</html>\n"
    )


def section(sid, title, body):
    return f'<section id="{sid}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'
