"""Choosing the map size: somkit.metrics.map_error and its scorer."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from somkit import SOM, metrics

GRIDS = [(4, 4), (8, 8), (16, 16), (32, 32)]


def _cube(n, seed):
    # three dimensions of uniform data: a 2-D map folds into the third
    return np.random.default_rng(seed).uniform(size=(n, 3))


def _reference(som, X, w=None):
    """QE / QE of the one-unit map at the mean + TE, in float64 loops."""
    w = np.ones(len(X)) if w is None else w
    W = som.codebook_.astype(np.float64)
    D = np.sqrt(((X[:, None, :] - W[None]) ** 2).sum(axis=2))
    order = np.argsort(D, axis=1, kind="stable")
    qe = w @ D[np.arange(len(X)), order[:, 0]] / w.sum()
    mean = w @ X / w.sum()
    qe1 = w @ np.linalg.norm(X - mean, axis=1) / w.sum()
    pos = som.grid_.positions
    gap = np.linalg.norm(pos[order[:, 0]] - pos[order[:, 1]], axis=1)
    te = w @ (np.abs(gap - 1.0) > 1e-9) / w.sum()
    return qe / qe1 + te


def test_map_error_matches_reference():
    X = _cube(300, 0)
    som = SOM((6, 7), random_state=0, dtype="float64").fit(X)
    assert metrics.map_error(som, X) == pytest.approx(_reference(som, X), rel=1e-12)
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(X))
    assert metrics.map_error(som, X, sample_weight=w) == pytest.approx(
        _reference(som, X, w), rel=1e-12
    )
    assert metrics.map_error_scorer(som, X) == -metrics.map_error(som, X)


def test_scorer_prefers_a_mid_sized_grid_where_the_largest_folds():
    # a grid search over sizes keeps one radius schedule; from radius 2 the
    # larger maps cannot unfold over three-dimensional data and fold
    X = _cube(450, 2)
    som = SOM(radius=(2.0, 0.5), n_epochs=10, random_state=0)
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        som, {"grid": GRIDS}, scoring=metrics.map_error_scorer, cv=cv
    ).fit(X)
    assert search.best_params_["grid"] in [(8, 8), (16, 16)]
    # the estimator's own score (minus the QE) takes the largest map ...
    plain = GridSearchCV(som, {"grid": GRIDS}, cv=cv).fit(X)
    assert plain.best_params_["grid"] == (32, 32)
    # ... which folds: on new data more samples have their two best units
    # apart (and its lower QE does not make up for it)
    new = _cube(2000, 9)
    big = clone(som).set_params(grid=(32, 32)).fit(X)
    best = clone(som).set_params(grid=search.best_params_["grid"]).fit(X)
    te_big = metrics.topographic_error(big, new)
    assert te_big > metrics.topographic_error(best, new) + 0.05
    assert metrics.map_error(big, new) > metrics.map_error(best, new)


def test_scorer_takes_a_pipeline():
    X = _cube(300, 3) * [1.0, 10.0, 100.0]
    model = make_pipeline(StandardScaler(), SOM((5, 5), random_state=0)).fit(X)
    som = model[-1]
    Z = model[:-1].transform(X)
    assert metrics.map_error_scorer(model, X) == pytest.approx(-_reference(som, Z))


def test_map_error_with_holes():
    # rows with holes: the one-unit map is the per-feature observed mean,
    # which one batch epoch of a one-unit map also reaches
    X = _cube(300, 4)
    X[np.random.default_rng(5).random(X.shape) < 0.15] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.5
    kw = dict(dtype="float64", missing="ignore", random_state=0)
    som = SOM((5, 6), **kw).fit(X)
    one = SOM(1, n_epochs=1, **kw).fit(X)
    np.testing.assert_allclose(one.codebook_[0], np.nanmean(X, axis=0))
    expected = metrics.quantization_error(som, X) / metrics.quantization_error(
        one, X
    ) + metrics.topographic_error(som, X)
    assert metrics.map_error(som, X) == pytest.approx(expected, rel=1e-12)
