#!/usr/bin/env python3
"""Supervised maps: somkit's SOMClassifier / SOMRegressor against SuSi and k-NN.

Run in the benchmark environment (it has SuSi, see README.md):

    .venv-bench/bin/python benchmarks/supervised.py

5-fold cross-validation (shuffled, seed 0; stratified for the classifiers)
of ``make_pipeline(StandardScaler(), estimator)`` with default settings and
one run per estimator (seed 0 where there is one):

* wine (178 x 13, 3 classes) and digits (1797 x 64, 10 classes): accuracy;
  ``KNeighborsClassifier()``, SuSi's ``SOMClassifier`` on 15 x 15, somkit's
  ``SOMClassifier()``;
* diabetes (442 x 10): R^2; ``KNeighborsRegressor(n_neighbors=10)``, SuSi's
  ``SOMRegressor`` on 15 x 15, somkit's ``SOMRegressor()``;
* ablations of somkit's defaults (rows marked "ablation").

Fit time: the median over the folds of the pipeline's ``fit`` (seconds),
after one untimed warm-up fit per estimator on the first fold (JIT, thread
pools). Results go to results_supervised.md / results_supervised.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))


def _estimators(task):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    from somkit import SOMClassifier, SOMRegressor

    rows = []
    if task == "classification":
        rows.append(("k-NN (KNeighborsClassifier())", lambda: KNeighborsClassifier()))
        try:
            import susi

            rows.append(
                (
                    f"SuSi {susi.__version__} SOMClassifier 15x15",
                    lambda: susi.SOMClassifier(n_rows=15, n_columns=15, random_state=0),
                )
            )
        except ImportError:
            print("SuSi is not installed: its rows are left out", file=sys.stderr)
        rows += [
            ("**somkit SOMClassifier()**", lambda: SOMClassifier(random_state=0)),
            (
                "ablation: n_neighbors=3",
                lambda: SOMClassifier(n_neighbors=3, random_state=0),
            ),
            (
                "ablation: radius ends at 1.5 (no fine-tuning phase)",
                _radius_ablation(SOMClassifier, 1.5),
            ),
            (
                "ablation: SOM Toolbox map size (5 sqrt(n) units)",
                _size_ablation(SOMClassifier, 5.0),
            ),
            (
                "ablation: target_weight=0 (unsupervised map, labelled after)",
                lambda: SOMClassifier(target_weight=0.0, random_state=0),
            ),
        ]
        return rows
    rows.append(
        (
            "k-NN (KNeighborsRegressor(n_neighbors=10))",
            lambda: KNeighborsRegressor(n_neighbors=10),
        )
    )
    try:
        import susi

        rows.append(
            (
                f"SuSi {susi.__version__} SOMRegressor 15x15",
                lambda: susi.SOMRegressor(n_rows=15, n_columns=15, random_state=0),
            )
        )
    except ImportError:
        pass
    rows += [
        ("**somkit SOMRegressor()**", lambda: SOMRegressor(random_state=0)),
        (
            "ablation: n_neighbors=1",
            lambda: SOMRegressor(n_neighbors=1, random_state=0),
        ),
        (
            "ablation: n_neighbors=5",
            lambda: SOMRegressor(n_neighbors=5, random_state=0),
        ),
        (
            "ablation: radius ends at 0.5 (the classifier's fine-tuning)",
            _radius_ablation(SOMRegressor, 0.5),
        ),
        (
            "ablation: target_weight=0 (unsupervised map, labelled after)",
            lambda: SOMRegressor(target_weight=0.0, random_state=0),
        ),
    ]
    return rows


def _auto_shape(X, units_per_root):
    """The auto grid of the supervised estimators for (standardised) X."""
    from somkit._rules import auto_grid

    n = len(X)
    return auto_grid(X, units_per_root=units_per_root, min_units=4, max_units=n)


def _radius_ablation(cls, end):
    """The default estimator with its radius ending at ``end`` instead of 0.5."""

    def make(X):
        shape = _auto_shape(X, cls._units_per_root)
        return cls(grid=shape, radius=(max(max(shape) / 4.0, 1.0), end), random_state=0)

    return make


def _size_ablation(cls, units_per_root):
    def make(X):
        return cls(grid=_auto_shape(X, units_per_root), random_state=0)

    return make


def _data(name):
    from sklearn import datasets

    loader = {
        "wine": datasets.load_wine,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }[name]
    return loader(return_X_y=True)


def _make(make, X):
    """A fresh estimator; factories of ablations see the standardised data."""
    import inspect

    from sklearn.preprocessing import StandardScaler

    if inspect.signature(make).parameters:
        return make(StandardScaler().fit_transform(X))
    return make()


def evaluate(name, task):
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data(name)
    if task == "classification":
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
        score = accuracy_score
    else:
        folds = list(KFold(5, shuffle=True, random_state=0).split(X))
        score = r2_score
    rows = []
    for label, make in _estimators(task):
        warm = make_pipeline(StandardScaler(), _make(make, X[folds[0][0]]))
        warm.fit(X[folds[0][0]], y[folds[0][0]])
        scores, times = [], []
        for tr, te in folds:
            model = make_pipeline(StandardScaler(), _make(make, X[tr]))
            tic = time.perf_counter()
            model.fit(X[tr], y[tr])
            times.append(time.perf_counter() - tic)
            scores.append(score(y[te], model.predict(X[te])))
        rows.append(
            {
                "estimator": label,
                "score": float(np.mean(scores)),
                "fold_scores": [float(s) for s in scores],
                "fit_seconds": float(statistics.median(times)),
            }
        )
        print(
            f"{name:9s} {label:60s} {rows[-1]['score']:.4f} "
            f"{rows[-1]['fit_seconds']:.3f}s",
            flush=True,
        )
    return rows


def _markdown(doc):
    lines = [
        "# Supervised maps: somkit vs SuSi and k-NN (benchmarks/supervised.py)",
        "",
        f"{doc['date']}, {doc['machine']}. 5-fold cross-validation (shuffled, seed "
        "0; stratified for classes) of StandardScaler + estimator with default "
        "settings, one run. Score: mean accuracy (wine, digits) or mean R^2 "
        "(diabetes) over the folds; fit s: median fit time of one fold "
        "(after a warm-up fit).",
        "",
    ]
    for name, metric in (
        ("wine", "accuracy"),
        ("digits", "accuracy"),
        ("diabetes", "R^2"),
    ):
        rows = doc["results"][name]
        base = rows[0]["score"]
        ref = rows[0]["estimator"].split(" ")[0]
        lines += [
            f"## {name}",
            "",
            f"| estimator | {metric} | vs {ref} | fit s |",
            "|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['estimator']} | {r['score']:.3f} | {r['score'] - base:+.3f} "
                f"| {r['fit_seconds']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main():
    import sklearn

    import somkit

    doc = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, somkit {somkit.__version__}",
        "results": {},
    }
    for name, task in (
        ("wine", "classification"),
        ("digits", "classification"),
        ("diabetes", "regression"),
    ):
        doc["results"][name] = evaluate(name, task)
    with open(os.path.join(HERE, "results_supervised.json"), "w") as fh:
        json.dump(doc, fh, indent=2)
    with open(os.path.join(HERE, "results_supervised.md"), "w") as fh:
        fh.write(_markdown(doc) + "\n")


if __name__ == "__main__":
    main()
