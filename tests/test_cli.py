"""The ``somkit`` command: data readers, every command, every error path.

Commands run in-process through click's CliRunner and, for the entry points,
as real subprocesses (``python -m somkit`` and the installed script).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from somkit import load
from somkit._data import (
    DataError,
    load_data,
    load_for_model,
)
from somkit._model import unwrap
from somkit.cli import cli

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SCRIPT = Path(sys.executable).with_name("somkit")


def _iris():
    data = load_iris()
    return data.data, data.target_names[data.target]


def write_csv(path, X, names, labels=None, label_name="species", delimiter=","):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        if names is not None:
            w.writerow(list(names) + ([label_name] if labels is not None else []))
        for i, row in enumerate(X):
            w.writerow(
                [repr(float(v)) for v in row]
                + ([labels[i]] if labels is not None else [])
            )
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y = _iris()
    out = {"dir": d, "X": X, "y": y}
    out["csv"] = write_csv(d / "iris.csv", X, FEATURES, y)
    out["plain"] = write_csv(d / "plain.csv", X, None)
    out["tsv"] = write_csv(d / "iris.tsv", X, FEATURES, y, delimiter="\t")
    # The same table with the columns in another order and an id column.
    order = [3, 0, 2, 1]
    path = d / "shuffled.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", *[FEATURES[j] for j in order], "species"])
        for i in range(len(X)):
            w.writerow([f"row{i}", *[repr(float(X[i, j])) for j in order], y[i]])
    out["shuffled"] = path
    return out


@pytest.fixture(scope="module")
def model(files):
    """A small map trained through the CLI (standard scaling, named columns)."""
    path = files["dir"] / "model.npz"
    res = CliRunner().invoke(
        cli,
        [
            "fit",
            str(files["csv"]),
            "-o",
            str(path),
            "--grid",
            "5x6",
            "--epochs",
            "3",
            "--label-column",
            "species",
        ],
    )
    assert res.exit_code == 0, res.output
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_error(res, *fragments):
    """One ``error:`` line ends stderr, exit status 2, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    # progress lines may come first; the error is the one last line
    assert [ln for ln in lines if ln.startswith("error:")] == lines[-1:], res.stderr
    assert "Traceback" not in res.output
    for frag in fragments:
        assert frag in lines[-1], (frag, lines[-1])
    assert res.stdout == ""


# ------------------------------------------------------------------ readers
def test_read_csv_header_labels_and_tsv(files):
    X, y = files["X"], files["y"]
    for key in ("csv", "tsv"):
        d = load_data(files[key], label_column="species")
        assert d.feature_names == FEATURES and d.named
        np.testing.assert_array_equal(d.X, X)
        np.testing.assert_array_equal(d.labels, y)
        assert d.label_name == "species"


def test_read_headerless_csv_and_positions(files):
    d = load_data(files["plain"])
    assert not d.named and d.feature_names == ["x0", "x1", "x2", "x3"]
    np.testing.assert_array_equal(d.X, files["X"])
    d = load_data(files["plain"], columns="2,x3", label_column="0")
    np.testing.assert_array_equal(d.X, files["X"][:, 2:4])
    np.testing.assert_array_equal(d.labels, files["X"][:, 0])


def test_text_reader_without_pandas_matches(files, tmp_path, monkeypatch):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    spaces = tmp_path / "w.txt"
    spaces.write_text("1 2  3\n4 5 6\n")
    with_pandas = [load_data(files["tsv"], label_column="species"), load_data(spaces)]
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    without = [load_data(files["tsv"], label_column="species"), load_data(spaces)]
    for a, b in zip(with_pandas, without, strict=True):
        np.testing.assert_array_equal(a.X, b.X)
        assert a.feature_names == b.feature_names
    np.testing.assert_array_equal(without[0].labels, files["y"])
    with pytest.raises(DataError, match="line 3 has 1 fields, expected 2"):
        load_data(ragged)
    with pytest.raises(DataError, match="text column.*'species'"):
        load_data(files["csv"])


def test_read_parquet_npy_npz(files, tmp_path):
    import pandas as pd

    X, y = files["X"], files["y"]
    frame = pd.DataFrame(X, columns=FEATURES).assign(species=y)
    frame.to_parquet(tmp_path / "iris.parquet")
    d = load_data(tmp_path / "iris.parquet", label_column="species")
    assert d.feature_names == FEATURES
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.labels, y)

    imgs = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    np.save(tmp_path / "imgs.npy", imgs)
    d = load_data(tmp_path / "imgs.npy")
    assert d.X.shape == (5, 6) and d.image_shape == (2, 3) and not d.named
    np.testing.assert_array_equal(d.X, imgs.reshape(5, 6))

    np.savez(tmp_path / "d.npz", X=X, y=np.arange(150) % 3)
    d = load_data(tmp_path / "d.npz", label_column="y")
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.labels, np.arange(150) % 3)
    np.savez(tmp_path / "two.npz", a=X, b=X)
    with pytest.raises(DataError, match="which array holds the features"):
        load_data(tmp_path / "two.npz")


def test_non_numeric_and_missing_values_are_refused_by_name(files, tmp_path):
    with pytest.raises(DataError, match="text column.*'species'.*onehot"):
        load_data(files["csv"])
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,c\n1,2,3\n4,,6\n7,8,x9\n")
    with pytest.raises(DataError, match="text column.*'c' .*'x9'"):
        load_data(path)
    with pytest.raises(DataError, match=r"missing .* 'b' .*row\(s\) 2.*ignore"):
        load_data(path, columns="a,b", missing="error")
    d = load_data(path, columns="a,b")  # holes kept as NaN by default
    np.testing.assert_array_equal(np.isnan(d.X), [[0, 0], [0, 1], [0, 0]])
    with pytest.raises(DataError, match="no column 'zz' for --columns"):
        load_data(path, columns="a,zz")


def test_cli_model_gives_the_python_answers_on_raw_columns(tmp_path):
    """somkit.load of a CLI model takes raw columns and answers like the CLI."""
    from sklearn.datasets import load_wine

    pd = pytest.importorskip("pandas")
    data = load_wine()
    names = [n.replace("/", "_") for n in data.feature_names]
    X = pd.DataFrame(data.data, columns=names)
    path = write_csv(tmp_path / "wine.csv", data.data, names)
    model_path = tmp_path / "wine.npz"
    res = run("fit", path, "-o", model_path, "--grid", "6x6", "--epochs", "5", "-q")
    assert res.exit_code == 0, res.output
    res = run("predict", model_path, path, "-o", tmp_path / "p.csv")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    model = load(model_path)
    som, prefix = unwrap(model)
    assert type(prefix[0]).__name__ == "StandardScaler"
    # the same rows, the same units and distances, from the raw mg/L columns
    np.testing.assert_array_equal(model.predict(X), [int(r["bmu"]) for r in rows])
    np.testing.assert_allclose(
        -model.score_samples(X), [float(r["distance"]) for r in rows], rtol=1e-5
    )
    # an independent reference: scale by hand, nearest codebook row
    Xs = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    D = np.linalg.norm(Xs[:, None, :] - som.codebook_[None].astype(float), axis=2)
    np.testing.assert_array_equal(model.predict(X), D.argmin(axis=1))
    # the training rows are typical: at most 1% flagged as outliers
    assert np.mean(model.decision_function(X) < 0) <= 0.011
    assert list(model.feature_names_in_) == names


def test_load_for_model_picks_columns_by_name(files, model):
    som = load(model)
    d = load_for_model(files["shuffled"], som, label_column="species", id_column="id")
    assert d.feature_names == FEATURES
    np.testing.assert_array_equal(d.X, files["X"])
    assert d.ids[3] == "row3"
    five = write_csv(
        files["dir"] / "five.csv", np.c_[files["X"], files["X"][:, :1]], None
    )
    with pytest.raises(DataError, match="has 5 feature column.*trained on 4"):
        load_for_model(five, som)
    # named file lacking a model column
    with pytest.raises(
        DataError, match="lacks the model's feature column.*'sepal_width'"
    ):
        load_for_model(
            write_csv(
                files["dir"] / "three.csv",
                files["X"][:, [0, 2, 3]],
                [FEATURES[0], FEATURES[2], FEATURES[3]],
            ),
            som,
        )


# ---------------------------------------------------------------------- fit
def test_fit_stores_scaler_names_and_grid(files, model):
    loaded = load(model)
    som, prefix = unwrap(loaded)
    ref = StandardScaler().fit(files["X"])
    scaler = prefix[0]
    assert isinstance(scaler, StandardScaler)
    np.testing.assert_allclose(scaler.mean_, ref.mean_)
    np.testing.assert_allclose(scaler.scale_, ref.scale_)
    assert list(loaded.feature_names_in_) == FEATURES
    assert som.grid_.shape == (5, 6) and som.n_iter_ == 3
    assert som.callbacks is None and som.verbose == 0
    # run-time settings are not stored; where it trained is
    assert som.backend == "auto" and som.device is None
    assert som.fit_backend_ == "numpy"


def test_fit_auto_grid_progress_lines_and_quiet(files, tmp_path):
    out = tmp_path / "m.npz"
    res = run(
        "fit",
        files["plain"],
        "-o",
        out,
        "--epochs",
        "4",
        "--scale",
        "minmax",
        "--topology",
        "hex",
    )
    assert res.exit_code == 0, res.output
    model = load(out)
    som, prefix = unwrap(model)
    rows, cols = som.grid_.shape
    # about 5 * sqrt(150) = 61 units
    assert abs(rows * cols - 61) <= 6 and som.topology == "hex"
    assert f"grid {rows}x{cols}" in res.stderr and "chosen automatically" in res.stderr
    epochs = [ln for ln in res.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("QE" in ln and "radius" in ln for ln in epochs)
    assert isinstance(prefix[0], MinMaxScaler)
    assert not hasattr(model, "feature_names_in_")  # no header, no names
    res = run("fit", files["plain"], "-o", out, "--epochs", "2", "--quiet")
    assert res.exit_code == 0 and res.output == ""


def test_fit_options_reach_the_estimator(files, tmp_path):
    out = tmp_path / "m.npz"
    res = run(
        "fit",
        files["csv"],
        "-o",
        out,
        "--columns",
        "petal_length,petal_width",
        "--grid",
        "12",
        "--periodic",
        "--metric",
        "manhattan",
        "--algorithm",
        "online",
        "--epochs",
        "2",
        "--radius",
        "3,0.5",
        "--seed",
        "7",
        "--neighborhood",
        "bubble",
        "--scale",
        "none",
        "-q",
    )
    assert res.exit_code == 0, res.output
    som = load(out)
    assert som.grid_.shape == (12,) and som.grid_.periodic
    assert (som.metric, som.algorithm, som.neighborhood) == (
        "manhattan",
        "online",
        "bubble",
    )
    assert som.radius == (3.0, 0.5) and som.random_state == 7
    assert list(som.feature_names_in_) == ["petal_length", "petal_width"]
    assert unwrap(som)[1] is None  # --scale none: a bare SOM


# ------------------------------------------------------------------ predict
def test_predict_matches_the_model(files, model, tmp_path):
    som, _ = unwrap(load(model))
    out = tmp_path / "p.csv"
    res = run(
        "predict",
        model,
        files["shuffled"],
        "-o",
        out,
        "--id-column",
        "id",
        "--label-column",
        "species",
    )
    assert res.exit_code == 0, res.output
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "species", "bmu", "row", "col", "distance"]
    Xs = StandardScaler().fit_transform(files["X"])
    W = som.codebook_.astype(np.float64)
    D = np.linalg.norm(Xs[:, None, :] - W[None, :, :], axis=2)
    bmu = np.array([int(r["bmu"]) for r in rows])
    np.testing.assert_array_equal(bmu, D.argmin(axis=1))
    np.testing.assert_array_equal([int(r["row"]) for r in rows], bmu // 6)
    np.testing.assert_array_equal([int(r["col"]) for r in rows], bmu % 6)
    np.testing.assert_allclose(
        [float(r["distance"]) for r in rows], D.min(axis=1), rtol=1e-4, atol=1e-5
    )
    assert rows[5]["id"] == "row5" and rows[5]["species"] == "setosa"
    # default output: CSV on stdout
    res = run("predict", model, files["csv"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines()[0] == "bmu,row,col,distance"
    assert len(res.stdout.splitlines()) == 151


# --------------------------------------------------------------------- plot
@pytest.mark.parametrize(
    "kind, suffix, magic",
    [
        ("umatrix", ".png", b"\x89PNG"),
        ("expanded", ".svg", b"<?xml"),
        ("hits", ".pdf", b"%PDF"),
        ("planes", ".png", b"\x89PNG"),
        ("labels", ".png", b"\x89PNG"),
        ("history", ".png", b"\x89PNG"),
    ],
)
def test_plot_kinds(files, model, tmp_path, kind, suffix, magic):
    out = tmp_path / f"fig{suffix}"
    res = run(
        "plot",
        model,
        "--kind",
        kind,
        "--data",
        files["csv"],
        "--label-column",
        "species",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:5].startswith(magic)


def test_plot_images_from_npy(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.random((60, 4, 4))
    np.save(tmp_path / "imgs.npy", imgs)
    model_path = tmp_path / "m.npz"
    res = run(
        "fit",
        tmp_path / "imgs.npy",
        "-o",
        model_path,
        "--grid",
        "3x3",
        "--epochs",
        "2",
        "-q",
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "images.png"
    res = run(
        "plot",
        model_path,
        "--kind",
        "images",
        "--data",
        tmp_path / "imgs.npy",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    res = run(
        "plot",
        model_path,
        "--kind",
        "images",
        "--data",
        tmp_path / "imgs.npy",
        "--image-shape",
        "3x5",
        "-o",
        out,
    )
    assert_error(res, "--image-shape 3x5 has 15 pixels", "16 features")


# ------------------------------------------------------------------- report
def test_report_trains_and_reuses_a_model(files, model, tmp_path):
    res = run(
        "report",
        files["csv"],
        "-o",
        tmp_path / "r1",
        "--label-column",
        "species",
        "--grid",
        "4x5",
        "--epochs",
        "2",
    )
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r1" / "index.html").read_text()
    assert 'id="class-map"' in text and text.count("data:image/png;base64,") == 7
    assert unwrap(load(tmp_path / "r1" / "model.npz"))[0].grid_.shape == (4, 5)
    res = run(
        "report",
        files["shuffled"],
        "-o",
        tmp_path / "r2",
        "--model",
        model,
        "--label-column",
        "species",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r2" / "index.html").read_text()
    assert "5x6" in text and 'id="class-map"' in text
    assert not (tmp_path / "r2" / "model.npz").exists()


def test_report_id_column_clusters_and_rows_csv(files, model, tmp_path):
    """--id-column names rows.csv's ids (and is no feature); --clusters K gives
    K clusters; the rows are in input order with the model's BMUs."""
    out = tmp_path / "r"
    res = run(
        "report",
        files["shuffled"],
        "-o",
        out,
        "--model",
        model,
        "--label-column",
        "species",
        "--id-column",
        "id",
        "--clusters",
        "4",
        "-q",
    )
    assert res.exit_code == 0, res.output
    with open(out / "rows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [f"row{i}" for i in range(150)]
    import pandas as pd

    # same rows, in the model's column order
    bmu = load(model).predict(pd.DataFrame(files["X"], columns=FEATURES))
    assert [int(r["bmu"]) for r in rows] == bmu.tolist()
    assert [(int(r["row"]), int(r["col"])) for r in rows] == [
        divmod(int(b), 6) for b in bmu
    ]
    assert {r["cluster"] for r in rows} == {"1", "2", "3", "4"}
    assert [r["label"] for r in rows] == list(files["y"])
    text = (out / "index.html").read_text()
    assert "row17" in text and "<b>4</b> clusters" in text
    # training with an id column: it is not a feature
    res = run(
        "report",
        files["shuffled"],
        "-o",
        tmp_path / "t",
        "--id-column",
        "id",
        "--label-column",
        "species",
        "--grid",
        "3x3",
        "--epochs",
        "2",
        "-q",
    )
    assert res.exit_code == 0, res.output
    som = unwrap(load(tmp_path / "t" / "model.npz"))[0]
    assert som.n_features_in_ == 4
    res = run("report", files["csv"], "-o", tmp_path / "u", "--clusters", "0")
    assert res.exit_code == 2 and "--clusters" in res.output
    res = run(
        "report",
        files["csv"],
        "-o",
        tmp_path / "v",
        "--id-column",
        "nope",
        "--label-column",
        "species",
    )
    assert_error(res, "no column 'nope' for --id-column")


def test_tables_are_no_images_without_image_shape(files, model, tmp_path):
    """4 tabular features are not 2x2 pictures: --kind images refuses them
    unless --image-shape says so; the report takes --image-shape too."""
    res = run(
        "plot",
        model,
        "--kind",
        "images",
        "--data",
        files["csv"],
        "--label-column",
        "species",
        "-o",
        tmp_path / "i.png",
    )
    assert_error(res, "do not form an image", "--image-shape 2x2")
    res = run(
        "plot",
        model,
        "--kind",
        "images",
        "--data",
        files["csv"],
        "--label-column",
        "species",
        "--image-shape",
        "2x2",
        "-o",
        tmp_path / "i.png",
    )
    assert res.exit_code == 0, res.output
    common = ["--model", model, "--label-column", "species", "-q"]
    res = run("report", files["csv"], "-o", tmp_path / "a", *common)
    assert 'id="images"' not in (tmp_path / "a" / "index.html").read_text()
    res = run(
        "report", files["csv"], "-o", tmp_path / "b", *common, "--image-shape", "1x4"
    )
    assert res.exit_code == 0, res.output
    assert 'id="images"' in (tmp_path / "b" / "index.html").read_text()
    res = run(
        "report", files["csv"], "-o", tmp_path / "c", *common, "--image-shape", "3x3"
    )
    assert_error(res, "--image-shape 3x3 has 9 pixels", "4 features")


# --------------------------------------------------------------------- info
def test_info_text_and_json(model):
    res = run("info", model)
    assert res.exit_code == 0, res.output
    assert "version 3" in res.stdout and "5x6 rect (30 units)" in res.stdout
    assert "trained on:  numpy" in res.stdout
    assert "scaling:     standard" in res.stdout and "sepal_length" in res.stdout
    res = run("info", model, "--json")
    info = json.loads(res.stdout)
    assert info["format_version"] == 3 and info["grid"]["shape"] == [5, 6]
    assert info["feature_names"] == FEATURES and info["scale"] == "standard"
    assert len(info["history"]["quantization_error"]) == 3
    som, _ = unwrap(load(model))
    assert info["history"]["quantization_error"] == som.history_["quantization_error"]


# --------------------------------------------------------------------- demo
def test_demo_writes_figures_and_index(tmp_path, monkeypatch):
    """A stand-in application checks the demo plumbing independently of the apps."""
    import matplotlib.figure

    from somkit import apps
    from somkit.apps._base import AppResult

    class Fake:
        @staticmethod
        def run(random_state=0, quick=False):
            fig = matplotlib.figure.Figure()
            fig.add_subplot().plot([0, 1], [random_state, 1])
            return AppResult(
                "fake", "A <fake> app", {"line": fig}, {"qe": 0.25}, "Text."
            )

    class Broken:
        @staticmethod
        def run(random_state=0, quick=False):
            raise ImportError("needs the deep extra: pip install somkit[deep]")

    class Registry(dict):
        def __iter__(self):
            return iter(["fake", "broken"])

    monkeypatch.setattr(apps, "APPS", Registry(fake=Fake, broken=Broken))
    res = run("demo", "all", "-o", tmp_path / "d", "--seed", "3")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d" / "fake" / "line.png").read_bytes()[:4] == b"\x89PNG"
    text = (tmp_path / "d" / "index.html").read_text()
    assert 'src="fake/line.png"' in text and "A &lt;fake&gt; app" in text
    assert "0.25" in text and "broken" in text and "pip install somkit[deep]" in text
    assert res.stdout.strip() == f"open {tmp_path / 'd' / 'index.html'}"
    # named explicitly, a missing extra is an error
    assert_error(
        run("demo", "broken", "-o", tmp_path / "e"), "pip install somkit[deep]"
    )
    assert_error(
        run("demo", "nope", "-o", tmp_path / "e"), "unknown application", "'nope'"
    )
    assert_error(run("demo", "all", "fake", "-o", tmp_path / "e"), "either 'all'")


def test_demo_real_application(tmp_path):
    from somkit import apps

    if "iris" not in apps.APPS:
        pytest.skip("the iris application is not written yet")
    res = run("demo", "iris", "-o", tmp_path, "--quick")
    assert res.exit_code == 0, res.output
    pngs = sorted((tmp_path / "iris").glob("*.png"))
    assert pngs
    text = (tmp_path / "index.html").read_text()
    assert all(f'src="iris/{p.name}"' in text for p in pngs)


# ------------------------------------------------------------------- errors
def test_error_missing_data_file(tmp_path):
    assert_error(
        run("fit", tmp_path / "nope.csv", "-o", tmp_path / "m.npz"),
        "data file not found",
        "nope.csv",
    )


def test_error_bad_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5,6\n")
    assert_error(run("fit", bad, "-o", tmp_path / "m.npz"), "cannot parse as a table")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_error(run("fit", empty, "-o", tmp_path / "m.npz"), "empty")
    header_only = tmp_path / "h.csv"
    header_only.write_text("a,b\n")
    assert_error(run("fit", header_only, "-o", tmp_path / "m.npz"), "no data rows")


def test_error_non_numeric_column(files, tmp_path):
    assert_error(
        run("fit", files["csv"], "-o", tmp_path / "m.npz"),
        "text column(s) 'species'",
        "--label-column",
    )


def test_error_wrong_feature_count(files, model):
    renamed = write_csv(files["dir"] / "renamed.csv", files["X"], ["a", "b", "c", "d"])
    assert_error(
        run("predict", model, renamed),
        "lacks the model's feature column(s) 'sepal_length', 'sepal_width'",
    )
    som_path = files["dir"] / "plain_model.npz"
    assert (
        run(
            "fit",
            files["plain"],
            "-o",
            som_path,
            "--grid",
            "3x3",
            "--epochs",
            "1",
            "-q",
        ).exit_code
        == 0
    )
    three = write_csv(files["dir"] / "three.csv", files["X"][:, :3], None)
    assert_error(
        run("predict", som_path, three),
        "has 3 feature column(s) but the model was trained on 4",
    )


def test_error_unreadable_model(tmp_path, files):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    for args in (
        ("info", junk),
        ("predict", junk, files["csv"]),
        ("plot", junk, "-o", tmp_path / "f.png"),
    ):
        assert_error(run(*args), "not a readable somkit model file")
    assert_error(run("info", tmp_path / "absent.npz"), "model file not found")


def test_error_usage_and_options(files, model, tmp_path):
    assert_error(
        run("fit", files["plain"], "-o", tmp_path / "m.npz", "--grid", "20y"),
        "'--grid'",
        "ROWSxCOLS",
        "somkit fit --help",
    )
    assert_error(
        run("fit", files["plain"], "-o", tmp_path / "m.npz", "--bogus"),
        "no such option",
        "--bogus",
    )
    assert_error(run("fit", files["plain"]), "missing option", "-o")
    assert_error(run("frobnicate"), "no such command")
    assert_error(
        run("fit", files["plain"], "-o", tmp_path / "m.csv"), "must end in .npz"
    )
    assert_error(run("plot", model, "-o", tmp_path / "f.gif"), ".png, .svg or .pdf")
    assert_error(
        run("plot", model, "--kind", "hits", "-o", tmp_path / "f.png"),
        "--kind hits needs --data",
    )
    assert_error(
        run(
            "plot",
            model,
            "--kind",
            "labels",
            "--data",
            files["csv"],
            "-o",
            tmp_path / "f.png",
        ),
        "needs --label-column",
    )
    assert_error(
        run("fit", files["plain"], "-o", tmp_path / "no" / "dir" / "m.npz"),
        "does not exist",
    )
    # an estimator error (hex + periodic + odd rows) keeps to one line too
    assert_error(
        run(
            "fit",
            files["plain"],
            "-o",
            tmp_path / "m.npz",
            "--grid",
            "3x4",
            "--topology",
            "hex",
            "--periodic",
        ),
        "even number of rows",
    )


def test_help_documents_every_command():
    res = run("--help")
    assert res.exit_code == 0
    for cmd in ("fit", "predict", "plot", "report", "demo", "info"):
        assert cmd in res.stdout
        sub = run(cmd, "--help")
        assert sub.exit_code == 0 and "Usage: somkit " + cmd in sub.stdout
    fit_help = run("fit", "--help").stdout
    for opt in (
        "--grid",
        "--topology",
        "--periodic",
        "--metric",
        "--epochs",
        "--algorithm",
        "--scale",
        "--columns",
        "--label-column",
        "--seed",
        "--backend",
        "--quiet",
    ):
        assert opt in fit_help
    assert run().exit_code == 0  # no arguments: the help


# --------------------------------------------------------------- subprocess
def _proc(args, **kw):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("SOMKIT_DEBUG", None)
    return subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=120, **kw
    )


def test_python_m_somkit_fit_and_error(files, tmp_path):
    out = tmp_path / "m.npz"
    p = _proc(
        [
            sys.executable,
            "-m",
            "somkit",
            "fit",
            str(files["plain"]),
            "-o",
            str(out),
            "--grid",
            "4x4",
            "--epochs",
            "2",
        ]
    )
    assert p.returncode == 0, p.stderr
    assert "epoch 2/2" in p.stderr  # not a terminal: plain lines
    assert unwrap(load(out))[0].grid_.shape == (4, 4)
    p = _proc(
        [sys.executable, "-m", "somkit", "predict", str(out), str(tmp_path / "x.csv")]
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        f"error: data file not found: {str(tmp_path / 'x.csv')!r}."
    ]


def test_installed_script_and_debug_traceback(files, tmp_path):
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed (pip install -e .)")
    p = _proc([str(SCRIPT), "info", str(tmp_path / "absent.npz")])
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: model file not found")
    p = _proc([str(SCRIPT), "info", str(tmp_path / "absent.npz"), "--debug"])
    assert p.returncode == 2
    assert "Traceback (most recent call last)" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("error: model file not found")


def test_demo_images_option_only_for_deep_features(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    res = run("demo", "iris", "--images", photos, "-o", tmp_path / "out")
    assert_error(res, "--images", "deep-features")
    res = run("demo", "deep-features", "--images", tmp_path / "missing")
    assert res.exit_code == 2 and "does not exist" in res.stderr
