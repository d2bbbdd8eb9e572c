"""The supervised part of an HTML report (``somkit report --supervised``).

One self-contained ``<section>``: cross-validated accuracy of the model
(a ``SOMClassifier``, or a Pipeline ending in one, refitted on each fold
with its preprocessing) beside the k-nearest-neighbours baseline under the
same preprocessing, then the class map and the misclassified samples.
:func:`somkit.report.build_report` places it before the data summary.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

__all__ = ["cross_validated", "supervised_section"]

#: Folds of the cross-validation (fewer when a class has fewer samples).
FOLDS = 5


def cross_validated(model, X, y, random_state=0):
    """Stratified k-fold accuracy of ``model`` and of k-NN under its scaling.

    Returns a dict: ``folds`` (k, 0 when a class has a single sample),
    ``accuracy`` (per fold), ``knn`` (per fold), ``train_accuracy``.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    _, counts = np.unique(np.asarray(y), return_counts=True)
    k = int(min(FOLDS, counts.min()))
    out = {"folds": k, "accuracy": [], "knn": [], "train_accuracy": None}
    out["train_accuracy"] = float(model.score(X, y))
    if k < 2:
        out["folds"] = 0
        return out
    cv = StratifiedKFold(k, shuffle=True, random_state=random_state)
    out["accuracy"] = cross_val_score(clone(model), X, y, cv=cv).tolist()
    steps = getattr(model, "steps", None)
    knn = KNeighborsClassifier()
    if steps and len(steps) > 1:
        knn = Pipeline([*clone(model)[:-1].steps, ("knn", knn)])
    out["knn"] = cross_val_score(knn, X, y, cv=cv).tolist()
    return out


def _png(fig):
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mean_sd(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def supervised_section(model, data, *, random_state=0):
    """HTML ``<section id="supervised">`` for a fitted supervised model.

    Parameters
    ----------
    model : fitted SOMClassifier, or a Pipeline ending in one
    data : somkit._data.Dataset
        Its ``labels`` are the classes the model was trained on.
    """
    import matplotlib.pyplot as plt

    from somkit import plot

    y = np.asarray(data.labels)
    cv = cross_validated(model, data.X, y, random_state=random_state)
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    rows = [
        ("classes", str(len(est.classes_)), ""),
        (
            "units",
            str(est.som_.grid_.n_units),
            "x".join(map(str, est.som_.grid_.shape)),
        ),
        ("training accuracy", f"{cv['train_accuracy']:.3f}", "on the data it learned"),
    ]
    if cv["folds"]:
        rows += [
            (
                f"{cv['folds']}-fold accuracy",
                _mean_sd(cv["accuracy"]),
                "stratified, shuffled; the model refitted on each fold",
            ),
            (
                "k-NN baseline",
                _mean_sd(cv["knn"]),
                "KNeighborsClassifier() with the same scaling, same folds",
            ),
        ]
    else:
        rows.append(("cross-validation", "skipped", "a class has a single sample"))
    table = "\n".join(
        f"<tr><td>{html.escape(a)}</td><td class=num>{html.escape(b)}</td>"
        f"<td>{html.escape(c)}</td></tr>"
        for a, b, c in rows
    )
    figs = []
    for title, draw in (
        (
            "Class prototypes (shade: probability of the unit's majority class)",
            plot.class_prototypes,
        ),
        (
            "Misclassified training samples at their unit",
            lambda m, ax: plot.misclassified(m, data.X, y, ax=ax),
        ),
    ):
        fig, ax = plt.subplots(figsize=(7, 6))
        draw(model, ax=ax)
        figs.append(
            f"<figure><img alt='{html.escape(title)}' "
            f"src='data:image/png;base64,{_png(fig)}'>"
            f"<figcaption>{html.escape(title)}</figcaption></figure>"
        )
    return (
        '<section id="supervised">\n<h2>Supervised map</h2>\n'
        "<table><tr><th>measure</th><th>value</th><th>meaning</th></tr>\n"
        f"{table}\n</table>\n" + "\n".join(figs) + "\n</section>"
    )
