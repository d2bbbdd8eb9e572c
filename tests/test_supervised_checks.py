"""scikit-learn's estimator checks for SOMClassifier and SOMRegressor.

No expected failures are declared.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from somkit import SOMClassifier, SOMRegressor

ESTIMATORS = [
    SOMClassifier(n_epochs=5, random_state=0),
    SOMClassifier(grid=(3, 4), topology="hex", n_neighbors=3, random_state=0),
    SOMRegressor(n_epochs=5, random_state=0),
    SOMRegressor(grid=(4, 4), metric="euclidean", n_neighbors=2, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
