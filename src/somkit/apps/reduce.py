"""reduce: label 100 digits picked by a SOM instead of 100 random ones.

``somkit.reduce`` trains a 10 x 10 map and keeps, for each unit, the real
sample nearest to it: 100 digits that cover every kind of handwriting in
proportion to how common it is. A classifier trained on those 100 labelled
digits beats one trained on 100 digits drawn at random, on average over
10 seeds (each seed: a new split into a pool and a test set, a new map and a
new random draw).
"""

from __future__ import annotations

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import figure

NAME = "reduce"
TITLE = "Data reduction: 100 SOM-picked digits vs 100 random digits"
CLASSIFIERS = ("1nn", "logistic")


def run(
    random_state=0,
    quick=False,
    n_picked=100,
    n_seeds=10,
    classifier="1nn",
    test_size=0.3,
    **som_kwargs,
):
    """Compare classifiers trained on SOM-picked and on random digits.

    Parameters
    ----------
    random_state : int, default=0
        First seed; seeds ``random_state .. random_state + n_seeds - 1`` are
        used.
    quick : bool, default=False
        Fewer epochs for each map (10 instead of 20).
    n_picked : int, default=100
        Digits to label (the map has that many units, as square as possible).
    n_seeds : int, default=10
    classifier : {"1nn", "logistic"}, default="1nn"
        One-nearest-neighbour, or a logistic regression, trained on the
        picked digits.
    test_size : float, default=0.3
        Share of the digits held out for testing in each seed.
    **som_kwargs
        Passed to :func:`somkit.reduce` (SOM parameters).

    Returns
    -------
    AppResult
        Figures ``picked`` (the digits picked by the first seed's map, in
        map order) and ``accuracy`` (per seed); metrics ``accuracy_som`` and
        ``accuracy_random`` (test accuracy averaged over the seeds),
        ``wins`` (seeds where the SOM pick scored higher), ``min_distinct``
        (smallest share of distinct picks), and the per-seed lists.

    Examples
    --------
    >>> from somkit.apps import reduce
    >>> m = reduce.run(quick=True, n_seeds=2).metrics
    >>> m["min_distinct"]
    1.0
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import somkit

    if classifier not in CLASSIFIERS:
        raise ValueError(
            f"classifier must be one of {CLASSIFIERS}, got {classifier!r}."
        )
    data = load_digits()
    X, y = data.data / 16.0, data.target
    if quick:
        som_kwargs.setdefault("n_epochs", 10)
    seeds = [random_state + s for s in range(n_seeds)]
    acc_som, acc_rnd, distinct = [], [], []
    first = None
    for seed in seeds:
        pool, test = train_test_split(
            np.arange(len(X)), test_size=test_size, random_state=seed, stratify=y
        )
        picked, som = somkit.reduce(
            X[pool], n_picked, random_state=seed, return_som=True, **som_kwargs
        )
        rng = np.random.default_rng(seed)
        random = rng.choice(len(pool), size=n_picked, replace=False)
        distinct.append(len(np.unique(picked)) / len(picked))
        for idx, out in ((picked, acc_som), (random, acc_rnd)):
            clf = _classifier(classifier).fit(X[pool[idx]], y[pool[idx]])
            out.append(float(clf.score(X[test], y[test])))
        if first is None:
            first = (pool[picked], som.grid_.shape)

    metrics = {
        "classifier": classifier,
        "n_picked": int(n_picked),
        "n_seeds": int(n_seeds),
        "accuracy_som": float(np.mean(acc_som)),
        "accuracy_random": float(np.mean(acc_rnd)),
        "wins": int(np.sum(np.array(acc_som) > np.array(acc_rnd))),
        "min_distinct": float(min(distinct)),
        "accuracy_som_per_seed": acc_som,
        "accuracy_random_per_seed": acc_rnd,
    }

    fig1, ax = figure(7, 7.4)
    ax.imshow(_mosaic(data.images[first[0]], first[1]), cmap="gray_r")
    ax.set_axis_off()
    ax.set_title(f"The {n_picked} digits picked by the map (map order)")
    fig2, ax = figure(7, 4)
    x = np.arange(n_seeds)
    ax.plot(x, acc_som, "o-", label=f"SOM-picked (mean {metrics['accuracy_som']:.3f})")
    ax.plot(x, acc_rnd, "s--", label=f"random (mean {metrics['accuracy_random']:.3f})")
    ax.set_xticks(x, [str(s) for s in seeds])
    ax.set_xlabel("seed")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{_NAMES[classifier]} trained on {n_picked} labelled digits")
    ax.legend()
    text = (
        f"A {_NAMES[classifier]} trained on the {n_picked} digits picked by "
        f"somkit.reduce scores {metrics['accuracy_som']:.3f} on held-out digits, "
        f"one trained on {n_picked} random digits {metrics['accuracy_random']:.3f} "
        f"(means over {n_seeds} seeds; the SOM pick wins {metrics['wins']} of "
        f"{n_seeds}). In every seed at least {metrics['min_distinct']:.0%} of the "
        "picks are distinct samples."
    )
    return AppResult(NAME, TITLE, {"picked": fig1, "accuracy": fig2}, metrics, text)


_NAMES = {"1nn": "1-nearest-neighbour classifier", "logistic": "logistic regression"}


def _classifier(name):
    if name == "1nn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=1)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=5000)


def _mosaic(images, shape, pad=1):
    """Images laid out on a grid (1-D shapes become one row), padded."""
    rows, cols = (1, shape[0]) if len(shape) == 1 else shape[:2]
    h, w = images.shape[1:3]
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad))
    for k, img in enumerate(images[: rows * cols]):
        r, c = divmod(k, cols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = img
    return out
