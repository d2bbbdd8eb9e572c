"""Self-contained HTML reports of a trained map, and the demo index page.

:func:`write_report` writes three files into a folder:

* ``index.html``: one page that needs nothing else (figures embedded as
  PNG, style and script inline, no network): quality measures with
  plain-words warnings, an interactive map (hover a unit for a summary,
  click it for its samples, prototype and classes, colour it by any measure
  or feature, find an ID), the clusters of the units with what sets each
  apart, the U-matrix, hit map, component planes, class map, training
  history, the parameters and a data summary; every figure has a
  one-sentence caption for readers who never met a self-organizing map;
* ``rows.csv``: where every input row landed (unit, grid position,
  cluster, distance, outlier flag, label);
* ``clusters.csv``: each cluster's mean and spread of every feature.

It takes a fitted SOM or a Pipeline ending in one, and the data as a
feature matrix (with ``labels`` and ``ids``) or a
:class:`somkit._data.Dataset`. :func:`build_report` returns the page's
text only. :func:`write_demo_index` writes the page linking the seed
applications' figures (``somkit demo``).

Examples
--------
>>> import tempfile
>>> from sklearn.datasets import load_wine
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from somkit import SOM
>>> from somkit.report import write_report
>>> X, y = load_wine(return_X_y=True, as_frame=True)
>>> model = make_pipeline(StandardScaler(), SOM("auto", random_state=0)).fit(X)
>>> path = write_report(model, X, tempfile.mkdtemp(), labels=y, n_clusters=3)
>>> path.name
'index.html'
"""

from somkit.report._build import build_report, write_report
from somkit.report._demo import write_demo_index
from somkit.report._figures import CAPTIONS, MAX_PLANES, close, figure
from somkit.report._stats import (
    EMPTY_LIMIT,
    FAR_LIMIT,
    TE_LIMIT,
    TRUST_ROWS,
    diagnose,
    fit_warnings,
    map_statistics,
)

__all__ = [
    "CAPTIONS",
    "EMPTY_LIMIT",
    "FAR_LIMIT",
    "MAX_PLANES",
    "TE_LIMIT",
    "TRUST_ROWS",
    "build_report",
    "close",
    "diagnose",
    "figure",
    "fit_warnings",
    "map_statistics",
    "write_demo_index",
    "write_report",
]
