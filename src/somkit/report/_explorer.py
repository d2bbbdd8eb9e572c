"""The interactive map of the report: inline SVG, per-unit data, small script.

The map is drawn in SVG with one ``<use>`` element per unit carrying
``data-unit="<flat unit index>"``; the script (``explorer.js``, inlined)
colours it, shows a tooltip on hover, fills ``#unit-details`` on click and
finds the unit of an ID. Everything is in the page: no server, no network.

To keep the page light only per-unit data is embedded (prototypes, counts,
clusters, class counts), never a per-row array, except the IDs of the
samples, grouped by unit: all of them while their text fits in
:data:`ID_BUDGET` bytes, else the first IDs of each unit (at least
:data:`SHOWN_IDS`), and the page says how many rows the search covers.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

#: IDs listed in the details panel per unit.
SHOWN_IDS = 50
#: Bytes of ID text embedded for the search box at most (beyond
#: SHOWN_IDS per unit).
ID_BUDGET = 1_000_000
#: Prototype values embedded at most (n_units * n_features).
VALUE_BUDGET = 250_000


def _round(a, digits=4):
    """Values as JSON-ready floats with ``digits`` significant digits."""
    out = []
    for v in np.asarray(a, dtype=np.float64).ravel().tolist():
        out.append(float(f"{v:.{digits}g}") if np.isfinite(v) else None)
    return out


def _svg(grid):
    """The map as SVG text: one ``<use>`` per unit, in unit order."""
    from somkit.plot._cells import cell_vertices, unit_xy

    xy = unit_xy(grid)
    cell = cell_vertices(np.zeros((1, 2)), grid.topology, 1.0)[0]
    verts = cell_vertices(xy, grid.topology, 1.0).reshape(-1, 2)
    lo, hi = verts.min(axis=0) - 0.05, verts.max(axis=0) + 0.05
    w, h = hi - lo
    shape = " ".join(f"{x:.4f},{y:.4f}" for x, y in cell)
    uses = "".join(
        f'<use data-unit="{u}" href="#cell" x="{x:.4g}" y="{y:.4g}"/>'
        for u, (x, y) in enumerate(xy.tolist())
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{lo[0]:.3f} {lo[1]:.3f} '
        f'{w:.3f} {h:.3f}" role="img" aria-label="the map, one cell per unit">'
        f'<defs><polygon id="cell" points="{shape}"/></defs>'
        f'<g id="units" fill="#ddd">{uses}</g></svg>'
    )


def _ids_by_unit(ids, bmu, n_units):
    """Per unit, the IDs of its samples in input order (as str or int)."""
    order = np.argsort(bmu, kind="stable")
    bounds = np.searchsorted(bmu[order], np.arange(n_units + 1))
    ids = np.asarray(ids, dtype=object)[order]
    as_int = all(isinstance(v, int | np.integer) for v in ids[: min(len(ids), 1000)])
    if as_int and all(isinstance(v, int | np.integer) for v in ids):
        values = [int(v) for v in ids]
    else:
        values = ["" if v is None else str(v) for v in ids]
    return [values[bounds[u] : bounds[u + 1]] for u in range(n_units)]


def _cap_ids(per_unit):
    """``(lists, cap)``: the IDs kept per unit within :data:`ID_BUDGET`.

    ``cap`` is None when every ID is kept.
    """
    sizes = [[len(json.dumps(v)) + 1 for v in unit] for unit in per_unit]
    if sum(map(sum, sizes)) <= ID_BUDGET:
        return per_unit, None
    lo, hi = SHOWN_IDS, max(len(u) for u in per_unit)
    while lo < hi:  # largest cap within the budget (at least SHOWN_IDS)
        mid = (lo + hi + 1) // 2
        if sum(sum(s[:mid]) for s in sizes) <= ID_BUDGET:
            lo = mid
        else:
            hi = mid - 1
    return [unit[:lo] for unit in per_unit], lo


def explorer_data(model, data, stats, prof, umatrix, class_names, class_codes):
    """The JSON-ready dict the script reads (see the module docstring)."""
    from somkit._labels import majority, unit_class_counts
    from somkit._model import to_data_units, unwrap
    from somkit.plot._classes import class_colors, cluster_colors
    from somkit.report._figures import lut
    from somkit.report._rows import row_ids

    som, _ = unwrap(model)
    grid = som.grid_
    n_units = grid.n_units
    W = to_data_units(model)
    in_data_units = W is not None
    if W is None:
        W = np.asarray(som.codebook_, dtype=np.float64)
    names = list(data.feature_names)
    n_feat = max(1, min(len(names), VALUE_BUDGET // max(n_units, 1)))
    bmu = stats["bmu"]
    per_unit, cap = _cap_ids(_ids_by_unit(row_ids(data), bmu, n_units))
    out = {
        "shape": list(grid.shape) if grid.ndim == 2 else [1, grid.shape[0]],
        "topology": grid.topology,
        "hits": stats["hits"].tolist(),
        "umatrix": _round(umatrix),
        "cluster": prof.unit_labels.tolist(),
        "clusterColors": [_hex(c) for c in cluster_colors(prof.n_clusters)],
        "features": names[:n_feat],
        "nFeatures": len(names),
        "inDataUnits": in_data_units,
        "protos": [_round(W[:, j]) for j in range(n_feat)],
        "ids": per_unit,
        "idCap": cap,
        "shownIds": SHOWN_IDS,
        "idName": data.id_name or "row number",
        "nRows": int(data.n_samples),
        "luts": {
            "umatrix": lut("bone_r"),
            "hits": lut("Blues"),
            "feature": lut("viridis"),
        },
    }
    if class_names is not None:
        counts = unit_class_counts(bmu, class_codes, n_units, len(class_names))
        top, purity = majority(counts)
        out["classes"] = list(class_names)
        out["classColors"] = [_hex(c) for c in class_colors(len(class_names))]
        out["majority"] = top.tolist()
        out["purity"] = _round(purity, 3)
        out["classCounts"] = [
            [[int(c), int(row[c])] for c in np.flatnonzero(row)] for row in counts
        ]
    return out


def _hex(rgba, strength=1.0):
    """A colour as #rrggbb, mixed with white (``strength`` < 1 lightens)."""
    rgb = [1.0 - strength * (1.0 - float(v)) for v in rgba[:3]]
    return "#" + "".join(f"{round(255 * v):02x}" for v in rgb)


def _json_for_script(obj):
    """JSON safe inside ``<script>``: no "<" can close the element."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def explorer_html(model, data, stats, prof, umatrix, class_names, class_codes):
    """``(section html, script html)`` of the interactive map."""
    from somkit._model import unwrap
    from somkit.report._html import esc

    som, _ = unwrap(model)
    payload = explorer_data(model, data, stats, prof, umatrix, class_names, class_codes)
    options = ['<option value="umatrix">U-matrix</option>']
    options.append('<option value="hits">hits (samples per unit)</option>')
    options.append('<option value="cluster">cluster</option>')
    if class_names is not None:
        options.append('<option value="class">majority class (paler = mixed)</option>')
    for j, name in enumerate(payload["features"]):
        options.append(f'<option value="feature:{j}">feature: {esc(name)}</option>')
    id_words = (
        f"the ID column {esc(data.id_name)!s}"
        if data.id_name
        else "the row number (1 = first data row)"
    )
    cover = ""
    if payload["idCap"] is not None:
        covered = sum(len(u) for u in payload["ids"])
        cover = (
            f" To keep the page light it holds the IDs of {covered} of "
            f"{data.n_samples} rows (the first {payload['idCap']} of each unit); "
            "rows.csv has every row."
        )
    values = ""
    if payload["nFeatures"] > len(payload["features"]):
        values = (
            f" Prototype values of the first {len(payload['features'])} of "
            f"{payload['nFeatures']} features are in the page."
        )
    units = "in the data's own units" if payload["inDataUnits"] else "scaled"
    body = f"""<p>Point at a unit to see its summary; click it for its samples,
prototype ({units}) and classes. Colour the map by any measure or feature, or
find where a sample landed by {id_words}.{cover}{values}</p>
<div class="controls">
<label>Colour by <select id="color-by">{"".join(options)}</select></label>
<label>Find <input id="id-search" type="search" size="18"
 placeholder="{esc(data.id_name or "row number")}"></label>
<button id="id-search-go" type="button">Find</button>
<span id="search-result" class="note"></span>
</div>
<div class="panes">
<div id="som-map">{_svg(som.grid_)}<div id="map-legend"></div></div>
<div id="unit-details"><p class="note">Click a unit to see its samples.</p></div>
</div>
<div id="unit-tooltip"></div>"""
    script = (
        '<script type="application/json" id="som-data">'
        + _json_for_script(payload)
        + "</script>\n<script>\n"
        + resources.files("somkit.report").joinpath("explorer.js").read_text("utf-8")
        + "</script>\n"
    )
    return body, script
