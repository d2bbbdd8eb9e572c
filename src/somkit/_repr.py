"""The estimator's base classes and its compact HTML summary for Jupyter.

A fitted :class:`somkit.SOM` shows itself in a notebook as a small table
(grid, data, training, last quality numbers, radius schedule) beside a
thumbnail of its U-matrix drawn in inline SVG; an unfitted one keeps
scikit-learn's estimator diagram. Nothing heavy is imported.
"""

from __future__ import annotations

import html

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)

#: Size of the U-matrix thumbnail (pixels, longest side).
THUMB_PX = 160


def _thumbnail(som):
    """The U-matrix as inline SVG (grey: light = close neighbours)."""
    from somkit._umatrix import umatrix

    grid = som.grid_
    if grid.ndim > 2:
        return ""
    U = np.asarray(umatrix(som), dtype=np.float64).ravel()
    span = float(np.ptp(U)) or 1.0
    level = 1.0 - (U - U.min()) / span  # 1 = light
    pos = np.asarray(grid.positions, dtype=np.float64)
    if grid.ndim == 1:
        pos = np.stack([np.zeros(len(pos)), pos[:, 0]], axis=1)
    hexed = grid.topology == "hex"
    x, y = pos[:, 1], pos[:, 0]
    w, h = x.max() + 1.0 + 0.5 * hexed, y.max() + 1.0
    scale = THUMB_PX / max(w, h)
    cells = []
    for u in range(grid.n_units):
        g = round(40 + 215 * float(level[u]))
        cells.append(
            f'<rect x="{x[u] * scale:.1f}" y="{y[u] * scale:.1f}" '
            f'width="{scale:.1f}" height="{scale * (0.87 if hexed else 1):.1f}" '
            f'fill="rgb({g},{g},{g})"/>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * scale:.0f}" '
        f'height="{h * scale:.0f}" style="flex:none" role="img" '
        'aria-label="U-matrix">' + "".join(cells) + "</svg>"
    )


def summary_html(som):
    """The compact HTML summary of a fitted SOM."""
    from somkit.report._stats import radius_words

    grid = som.grid_
    hist = getattr(som, "history_", {}) or {}

    def last(key):
        values = [v for v in hist.get(key) or [] if v is not None]
        return f"{values[-1]:.4g}" if values else "n/a"

    names = getattr(som, "feature_names_in_", None)
    feats = f"{som.n_features_in_}"
    if names is not None:
        shown = ", ".join(str(n) for n in list(names)[:6])
        feats += f" ({shown}{', ...' if len(names) > 6 else ''})"
    rows = [
        (
            "grid",
            f"{'x'.join(map(str, grid.shape))} {grid.topology}"
            f"{', periodic' if grid.periodic else ''} ({grid.n_units} units)",
        ),
        ("features", feats),
        (
            "training",
            f"{som.algorithm}, {som.n_iter_} epochs, {som.metric}, on "
            f"{getattr(som, 'fit_backend_', 'numpy')}",
        ),
        ("radius", radius_words(som)),
        (
            "last epoch",
            f"QE {last('quantization_error')}, TE {last('topographic_error')}",
        ),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return (
        "<div style='display:flex;gap:1em;align-items:flex-start'>"
        + _thumbnail(som)
        + f"<div><b>SOM</b> (fitted)<table>{body}</table>"
        "<small>somkit.report.write_report(model, X, folder) writes the full "
        "report.</small></div></div>"
    )


class SOMBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """scikit-learn bases of :class:`somkit.SOM`, plus its notebook summary."""

    def _repr_html_(self):
        if not hasattr(self, "codebook_"):
            return super()._repr_html_()
        return summary_html(self)

    def _repr_mimebundle_(self, **kwargs):
        if not hasattr(self, "codebook_"):
            return super()._repr_mimebundle_(**kwargs)
        return {"text/plain": repr(self), "text/html": summary_html(self)}
