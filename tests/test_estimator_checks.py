"""scikit-learn's estimator checks.

No expected failures are declared except one, for the online SOM only: the
sequential rule presents samples one at a time in a random order, so a sample
of weight 2 (one step of twice the size) cannot give the same map as the same
sample presented twice at two random moments of the epoch.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from somkit import SOM

ESTIMATORS = [
    SOM(grid=(3, 4), n_epochs=3, random_state=0),
    SOM(grid=(4, 3), topology="hex", periodic=True, n_epochs=3, random_state=0),
    SOM(grid=(3, 3), algorithm="online", n_epochs=2, random_state=0),
    SOM(grid=(3, 3), metric="cosine", n_epochs=3, random_state=0),
    SOM(grid=(2, 2, 2), metric="manhattan", neighborhood="bubble", random_state=0),
    SOM(grid=(3, 3), missing="ignore", n_epochs=3, random_state=0),
]


def _expected_failures(est):
    if est.algorithm == "online":
        return {
            "check_sample_weight_equivalence_on_dense_data": (
                "online steps are sequential and randomly ordered: weight 2 is one "
                "double step, not two single steps at random times"
            )
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
