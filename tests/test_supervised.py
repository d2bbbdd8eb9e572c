"""SOMClassifier and SOMRegressor: behaviour, references and model files."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import somkit
from somkit import SOMClassifier, SOMRegressor

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def test_classifier_learns_iris_and_predicts_from_the_winning_unit():
    clf = SOMClassifier(random_state=0).fit(IRIS_X, IRIS_Y)
    knn = KNeighborsClassifier().fit(IRIS_X, IRIS_Y)
    assert clf.score(IRIS_X, IRIS_Y) >= knn.score(IRIS_X, IRIS_Y) - 0.03
    # predict_proba is the class prototype (target block) of the BMU found on
    # the features alone
    W = clf.som_.codebook_[:, :4].astype(np.float64)
    d2 = ((IRIS_X[:, None, :] - W[None]) ** 2).sum(-1)
    bmu = d2.argmin(axis=1)
    np.testing.assert_array_equal(clf.apply(IRIS_X), bmu)
    P = clf.predict_proba(IRIS_X)
    np.testing.assert_allclose(P, clf.unit_proba_[bmu])
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    proto = np.clip(clf.som_.codebook_[:, 4:].astype(np.float64), 0, None)
    np.testing.assert_allclose(
        clf.unit_proba_, proto / proto.sum(axis=1, keepdims=True), rtol=1e-6
    )
    # the map's size follows the data and the number of classes
    assert clf.som_.grid_.n_units == pytest.approx(10 * np.sqrt(150), rel=0.15)


def test_n_neighbors_averages_the_nearest_units():
    clf = SOMClassifier(n_neighbors=3, random_state=0).fit(IRIS_X, IRIS_Y)
    W = clf.som_.codebook_[:, :4].astype(np.float64)
    d2 = ((IRIS_X[:, None, :] - W[None]) ** 2).sum(-1)
    near = np.argsort(d2, axis=1, kind="stable")[:, :3]
    np.testing.assert_allclose(
        clf.predict_proba(IRIS_X), clf.unit_proba_[near].mean(axis=1)
    )


def test_string_classes_and_sample_weight():
    y = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    clf = SOMClassifier(grid=(6, 6), random_state=0).fit(IRIS_X, y)
    assert set(clf.predict(IRIS_X)) <= set(clf.classes_)
    # a class of weight zero is never learned by any unit
    w = (y != "virginica").astype(float)
    clf = SOMClassifier(grid=(6, 6), random_state=0).fit(IRIS_X, y, sample_weight=w)
    assert clf.unit_proba_[:, 2].max() < 0.5
    assert "virginica" not in set(clf.predict(IRIS_X))


def test_target_weight_zero_is_an_unsupervised_map_labelled_afterwards():
    from somkit import SOM

    kw = dict(init="sample", random_state=0)
    clf = SOMClassifier(grid=(5, 5), target_weight=0.0, **kw).fit(IRIS_X, IRIS_Y)
    plain = SOM((5, 5), radius=clf.som_.radius, n_epochs=20, **kw)
    plain.fit(IRIS_X)
    np.testing.assert_allclose(clf.som_.codebook_[:, :4], plain.codebook_, atol=1e-5)


def test_regressor_single_and_multi_output():
    X, y = make_regression(400, 5, n_informative=5, noise=1.0, random_state=0)
    reg = SOMRegressor(random_state=0).fit(X, y)
    assert reg.predict(X).shape == (400,)
    assert reg.score(X, y) > 0.8
    Y = np.column_stack([y, -2 * y + 5])
    reg2 = SOMRegressor(random_state=0).fit(X, Y)
    P = reg2.predict(X)
    assert P.shape == (400, 2)
    # the two outputs are learned in their own units
    np.testing.assert_allclose(P[:, 1], -2 * P[:, 0] + 5, rtol=1e-4, atol=1e-3)
    # predictions are the mean target prototype of the 10 nearest units
    W = reg.som_.codebook_[:, :5].astype(np.float64)
    d2 = ((X[:, None, :] - W[None]) ** 2).sum(-1)
    near = np.argsort(d2, axis=1, kind="stable")[:, :10]
    np.testing.assert_allclose(reg.predict(X), reg.unit_target_[near].mean(axis=1))


def test_supervised_backends_agree():
    pytest.importorskip("torch")
    a = SOMClassifier(random_state=0).fit(IRIS_X, IRIS_Y)
    b = SOMClassifier(random_state=0, backend="torch", device="cpu")
    b.fit(IRIS_X, IRIS_Y)
    np.testing.assert_allclose(a.som_.codebook_, b.som_.codebook_, atol=1e-4)
    np.testing.assert_array_equal(a.predict(IRIS_X), b.predict(IRIS_X))
    c = SOMClassifier(random_state=0, algorithm="online").fit(IRIS_X, IRIS_Y)
    assert c.score(IRIS_X, IRIS_Y) > 0.9


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_save_load_round_trip(tmp_path, kind):
    y = np.array(["a", "b", "c"])[IRIS_Y]
    est = SOMClassifier(random_state=0) if kind == "classifier" else SOMRegressor()
    target = y if kind == "classifier" else IRIS_X[:, 0] * 2
    model = make_pipeline(StandardScaler(), est).fit(IRIS_X, target)
    back = somkit.load(somkit.save(model, tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.predict(IRIS_X), model.predict(IRIS_X))
    if kind == "classifier":
        np.testing.assert_allclose(
            back.predict_proba(IRIS_X), model.predict_proba(IRIS_X)
        )
    bare = somkit.load(somkit.save(model[-1], tmp_path / "bare.npz"))
    assert type(bare) is type(est)
    assert bare.get_params() == model[-1].get_params()


def test_plots_and_metrics_see_the_features_part_of_the_map():
    from somkit._model import unwrap

    model = make_pipeline(StandardScaler(), SOMClassifier(random_state=0))
    model.fit(IRIS_X, IRIS_Y)
    som, prefix = unwrap(model)
    Xs = prefix.transform(IRIS_X)
    np.testing.assert_array_equal(som.predict(Xs), model[-1].apply(Xs))
    assert som.codebook_.shape[1] == 4
    assert somkit.metrics.quantization_error(model, IRIS_X) > 0


def test_bad_parameters():
    with pytest.raises(ValueError, match="target_weight"):
        SOMClassifier(target_weight=-1).fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="n_neighbors"):
        SOMRegressor(n_neighbors=0).fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="metric"):
        SOMClassifier(metric="chebyshev").fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="Unknown label type"):
        SOMClassifier().fit(IRIS_X, IRIS_X[:, 0])


def test_supervised_plots():
    import matplotlib

    matplotlib.use("Agg")
    from somkit import plot

    y = np.array(["a", "b", "c"])[IRIS_Y]
    model = make_pipeline(StandardScaler(), SOMClassifier(grid=(5, 6), random_state=0))
    model.fit(IRIS_X, y)
    ax = plot.class_prototypes(model)
    faces = ax.collections[0].get_facecolors()
    clf = model[-1]
    np.testing.assert_allclose(faces[:, 3], clf.unit_proba_.max(axis=1))
    ax = plot.misclassified(model, IRIS_X, y)
    wrong = int((model.predict(IRIS_X) != y).sum())
    assert ax.get_title().startswith(f"{wrong} of 150")
    assert len(ax.collections[-1].get_offsets()) == wrong
    reg = SOMRegressor(grid=(4, 5), random_state=0).fit(IRIS_X, IRIS_X[:, :2])
    ax = plot.target_plane(reg, output=1)
    np.testing.assert_allclose(ax.collections[0].get_array(), reg.unit_target_[:, 1])
    with pytest.raises(ValueError, match="output"):
        plot.target_plane(reg, output=2)
    with pytest.raises(TypeError, match="SOMClassifier"):
        plot.class_prototypes(reg)


def test_cli_report_supervised(tmp_path):
    import re

    import pandas as pd
    from click.testing import CliRunner
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from somkit.cli import cli

    frame = pd.DataFrame(IRIS_X, columns=["a", "b", "c", "d"])
    frame["kind"] = np.array(["x", "y", "z"])[IRIS_Y]
    csv = tmp_path / "iris.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "rep"
    args = ["report", str(csv), "-o", str(out), "--label-column", "kind"]
    res = CliRunner().invoke(cli, [*args, "--supervised", "-q"])
    assert res.exit_code == 0, res.output
    page = (out / "index.html").read_text()
    shown = float(re.search(r"5-fold accuracy</td><td class=num>([0-9.]+)", page)[1])
    # the same cross-validation, run here on the saved model's recipe
    model = somkit.load(out / "model.npz")
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ref = cross_val_score(model, IRIS_X, frame["kind"].to_numpy(), cv=cv).mean()
    assert shown == pytest.approx(ref, abs=5e-4)
    assert isinstance(model[-1], SOMClassifier)
    assert 'id="supervised"' in page and "Misclassified" in page
    res = CliRunner().invoke(cli, [*args[:4], "--supervised"])
    assert res.exit_code == 2 and "--supervised needs --label-column" in res.output
