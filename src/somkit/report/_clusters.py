"""Clusters of the map's units and what sets each one apart.

The units are clustered with :class:`somkit.SOMClustering`'s method
(:func:`somkit._clustering.cluster_map`: ward linkage of the prototypes of
the units holding data, the number of clusters at the largest gap of the
linkage tree unless given); each sample takes its unit's cluster. A
cluster's profile is computed on its samples in the data's own units: mean
and standard deviation of every feature, and the standardized difference
``(mean in the cluster - mean of the other samples) / standard deviation of
the feature over all samples``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: |standardized difference| from which a feature "sets a cluster apart".
NOTABLE = 0.5
#: Features named per cluster in words.
WORDS_FEATURES = 4
#: Feature rows of the mean/spread table in the page (all go to clusters.csv).
TABLE_FEATURES = 100


@dataclass
class Profiles:
    """Per-cluster numbers (see the module docstring)."""

    unit_labels: np.ndarray  # (n_units,)
    labels: np.ndarray  # (n_samples,)
    n_clusters: int
    sizes: np.ndarray  # samples per cluster
    units: np.ndarray  # units per cluster
    mean: np.ndarray  # (k, n_features), original units
    std: np.ndarray
    mean_rest: np.ndarray
    diff: np.ndarray  # standardized difference
    class_counts: np.ndarray | None  # (k, n_classes)
    automatic: bool


def cluster_units(som, hits, n_clusters=None):
    """The fitted :class:`SOMClustering` of the map's units (no training).

    Raises ValueError when ``n_clusters`` exceeds the units holding data.
    """
    from somkit._clustering import cluster_map

    used = int(np.sum(np.asarray(hits) > 0))
    if n_clusters is not None and not 1 <= n_clusters <= used:
        raise ValueError(
            f"n_clusters must be between 1 and the {used} units that hold data, "
            f"got {n_clusters}."
        )
    return cluster_map(som, hits, n_clusters=n_clusters)


def profiles(X, bmu, est, class_codes=None, n_classes=0):
    """:class:`Profiles` of the clusters of ``est`` on ``X`` (original units)."""
    X = np.asarray(X, dtype=np.float64)
    unit_labels = np.asarray(est.unit_labels_)
    labels = unit_labels[bmu]
    k = int(est.n_clusters_)
    p = X.shape[1]
    sizes = np.bincount(labels, minlength=k)
    units = np.bincount(unit_labels, minlength=k)
    mean = np.full((k, p), np.nan)
    std = np.full((k, p), np.nan)
    rest = np.full((k, p), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        spread = np.nanstd(X, axis=0)
        for c in range(k):
            inside = labels == c
            if inside.any():
                mean[c] = np.nanmean(X[inside], axis=0)
                std[c] = np.nanstd(X[inside], axis=0)
            if (~inside).any():
                rest[c] = np.nanmean(X[~inside], axis=0)
    safe = np.where(spread > 0, spread, np.inf)
    diff = np.nan_to_num((mean - rest) / safe, nan=0.0)
    counts = None
    if class_codes is not None:
        flat = labels * n_classes + np.asarray(class_codes)
        counts = np.bincount(flat, minlength=k * n_classes).reshape(k, n_classes)
    return Profiles(
        unit_labels=unit_labels,
        labels=labels,
        n_clusters=k,
        sizes=sizes,
        units=units,
        mean=mean,
        std=std,
        mean_rest=rest,
        diff=diff,
        class_counts=counts,
        automatic=est.n_clusters is None,
    )


def _num(v):
    """Four significant digits, without an exponent below a million."""
    if not np.isfinite(v):
        return "n/a"
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return f"{float(f'{v:.4g}'):.12g}"
    return f"{v:.3e}"


def distinguishing(prof, c, limit=WORDS_FEATURES):
    """Indices of the features that most set cluster ``c`` apart
    (|standardized difference| >= :data:`NOTABLE`), largest first."""
    d = prof.diff[c]
    order = np.argsort(-np.abs(d), kind="stable")
    return [int(j) for j in order[:limit] if abs(d[j]) >= NOTABLE]


def describe(prof, feature_names, class_names=None):
    """One plain-words paragraph per cluster (list of str)."""
    n = int(prof.sizes.sum())
    out = []
    for c in range(prof.n_clusters):
        size = int(prof.sizes[c])
        text = (
            f"Cluster {c + 1}: {size} samples ({size / max(n, 1):.0%}) on "
            f"{int(prof.units[c])} units."
        )
        if prof.class_counts is not None and size:
            row = prof.class_counts[c]
            top = int(np.argmax(row))
            text += (
                f" Mostly {class_names[top]} ({int(row[top])} of {size}, "
                f"{row[top] / size:.0%})."
            )
        picked = distinguishing(prof, c)
        if prof.n_clusters == 1:
            text += " There is one cluster: nothing to compare it with."
        elif not picked:
            text += (
                " No feature sets it apart by more than half a standard deviation "
                "from the other samples."
            )
        else:
            parts = []
            for j in picked:
                d = prof.diff[c, j]
                parts.append(
                    f"{'high' if d > 0 else 'low'} {feature_names[j]} (mean "
                    f"{_num(prof.mean[c, j])} vs {_num(prof.mean_rest[c, j])} "
                    f"elsewhere, {d:+.1f} SD)"
                )
            text += " Set apart by " + ", ".join(parts) + "."
        out.append(text)
    return out


def csv_rows(prof, feature_names):
    """Rows of ``clusters.csv``: one per (cluster, feature), with a header."""
    rows = [
        (
            "cluster",
            "n_samples",
            "n_units",
            "feature",
            "mean",
            "std",
            "mean_elsewhere",
            "standardized_difference",
        )
    ]
    for c in range(prof.n_clusters):
        for j, name in enumerate(feature_names):
            rows.append(
                (
                    c + 1,
                    int(prof.sizes[c]),
                    int(prof.units[c]),
                    name,
                    _g(prof.mean[c, j]),
                    _g(prof.std[c, j]),
                    _g(prof.mean_rest[c, j]),
                    _g(prof.diff[c, j]),
                )
            )
    return rows


def _g(v):
    return "" if not np.isfinite(v) else f"{float(v):.6g}"


def section_html(prof, feature_names, class_names=None):
    """The clusters section's text and tables (HTML, without the figure)."""
    from somkit.report._html import esc, table

    k = prof.n_clusters
    how = (
        "chosen automatically (the largest gap between merge heights of the "
        "clustering tree)"
        if prof.automatic
        else "as asked"
    )
    parts = [
        f"<p>The units fall into <b>{k}</b> cluster{'s' if k != 1 else ''} "
        f"({how}; set it with <code>--clusters K</code> or "
        "<code>n_clusters=</code>). Each sample belongs to the cluster of its "
        "closest unit. Means and spreads are in the data's own units; a "
        "standardized difference is the cluster's mean minus the other samples' "
        "mean, in standard deviations of the feature (|d| of 0.5 or more is "
        "named).</p>"
    ]
    parts.append(
        "<ul>"
        + "".join(
            f"<li>{esc(t)}</li>" for t in describe(prof, feature_names, class_names)
        )
        + "</ul>"
    )
    if prof.class_counts is not None:
        rows = []
        for c in range(k):
            row = prof.class_counts[c]
            rows.append((f"cluster {c + 1}", int(prof.sizes[c]), *map(int, row)))
        parts.append("<h3>Class mix</h3>")
        parts.append(
            table(
                rows,
                header=("cluster", "samples", *class_names),
                numeric=tuple(range(1, 2 + len(class_names))),
            )
        )
    rows = []
    for c in range(k):
        for j in distinguishing(prof, c, limit=5):
            rows.append(
                (
                    f"cluster {c + 1}",
                    feature_names[j],
                    float(prof.mean[c, j]),
                    float(prof.mean_rest[c, j]),
                    round(float(prof.diff[c, j]), 2),
                )
            )
    if rows:
        parts.append("<h3>Distinguishing features</h3>")
        parts.append(
            table(
                rows,
                header=(
                    "cluster",
                    "feature",
                    "mean in cluster",
                    "mean elsewhere",
                    "standardized difference",
                ),
                numeric=(2, 3, 4),
            )
        )
    shown = min(len(feature_names), TABLE_FEATURES)
    rows, classes = [], []
    for j in range(shown):
        cells = [feature_names[j]]
        marks = [None]
        for c in range(k):
            cells.append(f"{_num(prof.mean[c, j])} ± {_num(prof.std[c, j])}")
            d = prof.diff[c, j]
            marks.append("hi" if d >= 0.8 else "lo" if d <= -0.8 else None)
        rows.append(cells)
        classes.append(marks)
    parts.append("<h3>Mean ± standard deviation of each feature per cluster</h3>")
    parts.append(
        table(
            rows,
            header=("feature", *(f"cluster {c + 1}" for c in range(k))),
            numeric=tuple(range(1, k + 1)),
            classes=classes,
        )
    )
    note = (
        "Blue cells: at least 0.8 SD above the other samples; orange: 0.8 SD "
        "below. Every feature of every cluster is in clusters.csv."
    )
    if shown < len(feature_names):
        note = f"First {shown} of {len(feature_names)} features shown. " + note
    parts.append(f'<p class="note">{esc(note)}</p>')
    return "\n".join(parts)
