"""Real, messy tables through the command line and the Python API.

The Palmer penguins (PyPI ``palmerpenguins``, 344 rows, holes in five
columns, text columns species/island/sex) end to end, and one test per
option of the issue: separators and decimal commas, --exclude / --columns,
index-like columns, text and date columns, holes, labels with holes.
"""

import csv
import re

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from somkit import SOM, impute, load, plot
from somkit._data import DataError, label_counts, load_data, load_for_model
from somkit._encode import OneHotText
from somkit._labels import encode_labels
from somkit._model import feature_names, to_data_units, unwrap
from somkit.cli import cli

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(res):
    assert res.exit_code == 0, (res.output, res.stderr)
    return res


def error_line(res):
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and "Traceback" not in res.output
    return lines[-1]


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def penguins():
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def tables(tmp_path_factory, penguins):
    d = tmp_path_factory.mktemp("tables")
    paths = {"dir": d, "csv": d / "penguins.csv"}
    penguins.to_csv(paths["csv"], index=False)
    paths["eu"] = d / "penguins_eu.csv"
    penguins.to_csv(paths["eu"], sep=";", decimal=",", index=False)
    paths["indexed"] = d / "indexed.csv"
    penguins.to_csv(paths["indexed"])  # pandas' "Unnamed: 0" index column
    return paths


@pytest.fixture(scope="module")
def onehot_model(tables):
    """The penguins through ``somkit fit --categorical onehot``."""
    path = tables["dir"] / "onehot.npz"
    res = ok(
        run(
            "fit",
            tables["csv"],
            "-o",
            path,
            "--categorical",
            "onehot",
            "--grid",
            "6x7",
            "--epochs",
            "5",
        )
    )
    return path, res


# ------------------------------------------------------------ the penguins
def test_penguins_fit_with_onehot_records_the_encoding(penguins, onehot_model):
    path, res = onehot_model
    err = res.stderr
    # 19 holes in 11 rows: the counts come from the data, not from the code
    holes = penguins.drop(columns=["species", "island", "year"]).isna()
    assert f"{int(holes.sum().sum())} value(s) missing in " in err
    assert f"in {int(holes.any(axis=1).sum())} of 344 row(s)" in err
    assert "'species', 'island', 'sex' one-hot" in err
    model = load(path)
    enc = model.steps[0][1]
    assert isinstance(enc, OneHotText)
    assert enc.categories_ == [
        sorted(penguins[c].dropna().unique()) for c in ("species", "island", "sex")
    ]
    som, _ = unwrap(model)
    assert som.missing == "ignore" and som.n_features_in_ == 3 + 3 + 4 + 2 + 1
    names = feature_names(model)
    assert names[:3] == ["species=Adelie", "species=Chinstrap", "species=Gentoo"]
    # planes in data units: lengths in mm, one-hot columns as shares in [0, 1]
    W = to_data_units(model)
    assert W.shape == (42, 13)
    assert 30 < W[:, names.index("bill_length_mm")].mean() < 60
    assert (W[:, :3] > -0.05).all() and (W[:, :3] < 1.05).all()


def test_penguins_predict_applies_the_same_encoding(penguins, tables, onehot_model):
    path, _ = onehot_model
    out = tables["dir"] / "pred.csv"
    ok(run("predict", path, tables["csv"], "-o", out))
    rows = read_rows(out)
    assert len(rows) == 344
    # the loaded Pipeline on the raw frame answers the same
    model = load(path)
    np.testing.assert_array_equal(
        model.predict(penguins), [int(r["bmu"]) for r in rows]
    )
    # by hand: one-hot with holes as NaN, standardise, masked nearest unit
    som, prefix = unwrap(model)
    Z = prefix.transform(penguins)
    enc = prefix[0]
    block = np.full((344, 3), np.nan)
    for k, cat in enumerate(enc.categories_[2]):
        block[penguins["sex"].notna().to_numpy(), k] = (
            penguins["sex"].dropna() == cat
        ).to_numpy()
    np.testing.assert_array_equal(np.isnan(Z[:, 10:12]), np.isnan(block[:, :2]))
    D = np.array(
        [
            [
                np.sqrt(13 / np.sum(~np.isnan(z)) * np.nansum((z - w) ** 2))
                for w in som.codebook_
            ]
            for z in Z
        ]
    )
    np.testing.assert_array_equal(D.argmin(axis=1), [int(r["bmu"]) for r in rows])
    np.testing.assert_allclose(
        D.min(axis=1), [float(r["distance"]) for r in rows], rtol=1e-4
    )


def test_unseen_categories_map_to_zeros(penguins, tables, onehot_model):
    path, _ = onehot_model
    model = load(path)
    odd = penguins.head(3).copy()
    odd["island"] = ["Atlantis", "Biscoe", None]
    Z = model[0].transform(odd)
    island = slice(3, 6)
    assert Z[0, island].tolist() == [0.0, 0.0, 0.0]  # unseen: all zeros
    assert Z[1, island].tolist() == [1.0, 0.0, 0.0]
    assert np.isnan(Z[2, island]).all()  # missing: holes
    odd_csv = tables["dir"] / "odd.csv"
    odd.to_csv(odd_csv, index=False)
    out = tables["dir"] / "odd_pred.csv"
    ok(run("predict", path, odd_csv, "-o", out))
    assert [int(r["bmu"]) for r in read_rows(out)] == model.predict(odd).tolist()


def test_penguins_report_with_onehot_and_sex_labels(penguins, tables, tmp_path):
    out = tmp_path / "report"
    ok(
        run(
            "report",
            tables["csv"],
            "-o",
            out,
            "--categorical",
            "onehot",
            "--label-column",
            "sex",
            "--grid",
            "5x6",
            "--epochs",
            "3",
            "-q",
        )
    )
    text = (out / "index.html").read_text()
    assert 'id="class-map"' in text
    n_missing = int(penguins["sex"].isna().sum())
    assert re.search(rf"<td>missing</td><td[^>]*>{n_missing}</td>", text)
    assert "bill_length_mm (2 missing)" in text
    assert (out / "model.npz").exists()
    # the model of the report is the encoding pipeline; sex is not a feature
    assert "sex=female" not in feature_names(load(out / "model.npz"))


def test_penguins_python_api_with_missing_ignore(penguins):
    X = penguins[NUMERIC]
    keep = X.notna().any(axis=1).to_numpy()  # 2 rows have no measurement
    model = make_pipeline(
        StandardScaler(), SOM((6, 6), missing="ignore", random_state=0)
    ).fit(X[keep])
    units = model.predict(X[keep])
    species = penguins["species"][keep].to_numpy()
    # the map separates the species: most units hold one species only
    purity = sum(
        np.max(np.unique(species[units == u], return_counts=True)[1])
        for u in np.unique(units)
    ) / len(units)
    assert purity > 0.9
    with pytest.raises(ValueError, match=r"no observed feature.*row\(s\) 3, 271"):
        model.predict(X)
    filled = impute(model, X[keep])
    assert not np.isnan(filled).any()


# ------------------------------------------------------- one bullet each
def test_sep_and_decimal_detected_and_given(penguins, tables, tmp_path):
    d = load_data(tables["eu"], exclude="species,island,sex")
    assert "';'-separated with decimal commas" in d.notes[0]
    np.testing.assert_allclose(d.X[:, 0], penguins["bill_length_mm"], equal_nan=True)
    # the same file read with explicit options gives the same numbers, no note
    e = load_data(tables["eu"], exclude="species,island,sex", sep=";", decimal=",")
    np.testing.assert_array_equal(np.isnan(e.X), np.isnan(d.X))
    np.testing.assert_allclose(e.X, d.X, equal_nan=True)
    assert e.notes == []
    tab = tmp_path / "t.txt"
    penguins[NUMERIC].to_csv(tab, sep="\t", decimal=",", index=False)
    t = load_data(tab, decimal=",")
    np.testing.assert_allclose(t.X, penguins[NUMERIC], equal_nan=True)
    with pytest.raises(DataError, match="--sep must be one character"):
        load_data(tab, sep="ab")
    # through every command: fit, predict, report
    model = tmp_path / "eu.npz"
    res = ok(
        run(
            "fit",
            tables["eu"],
            "-o",
            model,
            "--categorical",
            "drop",
            "--grid",
            "4x4",
            "--epochs",
            "2",
        )
    )
    assert "decimal commas" in res.stderr
    ok(
        run(
            "predict",
            model,
            tables["eu"],
            "-o",
            tmp_path / "p.csv",
            "--sep",
            ";",
            "--decimal",
            ",",
        )
    )
    assert len(read_rows(tmp_path / "p.csv")) == 344
    ok(
        run(
            "report",
            tables["eu"],
            "-o",
            tmp_path / "r",
            "--categorical",
            "drop",
            "--grid",
            "4x4",
            "--epochs",
            "2",
            "-q",
        )
    )


def test_exclude_and_columns_on_fit_report_predict(penguins, tables, tmp_path):
    d = load_data(tables["csv"], exclude="species, island,sex,year")
    assert d.feature_names == NUMERIC
    d = load_data(
        tables["csv"], columns="bill_length_mm,body_mass_g,year", exclude="year"
    )
    assert d.feature_names == ["bill_length_mm", "body_mass_g"]
    with pytest.raises(DataError, match="no column 'beak' for --exclude"):
        load_data(tables["csv"], exclude="beak")
    model = tmp_path / "m.npz"
    ok(
        run(
            "fit",
            tables["csv"],
            "-o",
            model,
            "--exclude",
            "species,island,sex,year",
            "--grid",
            "4x4",
            "--epochs",
            "2",
            "-q",
        )
    )
    assert feature_names(load(model)) == NUMERIC
    # predict picks the model's columns by name; it refuses to drop one
    ok(
        run(
            "predict",
            model,
            tables["csv"],
            "-o",
            tmp_path / "p.csv",
            "--exclude",
            "year",
        )
    )
    line = error_line(run("predict", model, tables["csv"], "--exclude", "body_mass_g"))
    assert "--exclude names the model's feature column(s) 'body_mass_g'" in line
    ok(
        run(
            "report",
            tables["csv"],
            "-o",
            tmp_path / "r",
            "--columns",
            ",".join(NUMERIC),
            "--grid",
            "4x4",
            "--epochs",
            "2",
            "-q",
        )
    )
    # unnamed files: --exclude picks the features by position
    plain = tmp_path / "plain.csv"
    np.savetxt(
        plain, np.c_[np.arange(5), np.ones((5, 4)) * [1, 2, 3, 4]], delimiter=","
    )
    m = load_data(plain, exclude="0")
    assert m.feature_names == ["x1", "x2", "x3", "x4"]


def test_index_and_id_columns_are_left_out(penguins, tables, tmp_path):
    d = load_data(tables["indexed"], categorical="drop")
    assert "Unnamed: 0" not in d.feature_names
    assert any("'Unnamed: 0' looks like a row index" in n for n in d.notes)
    # a first column of unique, increasing integers under any name
    numbered = tmp_path / "numbered.csv"
    penguins[NUMERIC].assign(n=np.arange(344) + 1000)[["n", *NUMERIC]].to_csv(
        numbered, index=False
    )
    d = load_data(numbered)
    assert d.feature_names == NUMERIC
    assert "unique, monotone integers" in d.notes[0]
    # ... kept when asked for by name, and not flagged when not monotone
    assert load_data(numbered, columns="n,bill_length_mm").feature_names == [
        "n",
        "bill_length_mm",
    ]
    # the CLI prints the note; --id-column keeps an id out of the features
    res = ok(
        run(
            "fit",
            tables["indexed"],
            "-o",
            tmp_path / "m.npz",
            "--categorical",
            "drop",
            "--grid",
            "3x3",
            "--epochs",
            "1",
        )
    )
    assert (
        "note: " in res.stderr and "'Unnamed: 0' looks like a row index" in res.stderr
    )
    ok(
        run(
            "fit",
            numbered,
            "-o",
            tmp_path / "m2.npz",
            "--id-column",
            "n",
            "--grid",
            "3x3",
            "--epochs",
            "1",
            "-q",
        )
    )
    assert feature_names(load(tmp_path / "m2.npz")) == NUMERIC


def test_text_columns_refused_by_name_dropped_or_encoded(tables, tmp_path):
    line = error_line(run("fit", tables["csv"], "-o", tmp_path / "m.npz"))
    assert "text column(s) 'species', 'island', 'sex'" in line
    assert "--categorical onehot" in line and "--categorical drop" in line
    d = load_data(tables["csv"], categorical="drop")
    assert d.feature_names == [*NUMERIC, "year"]
    assert "left out (--categorical drop)" in d.notes[-1]
    d = load_data(tables["csv"], categorical="onehot")
    assert d.text_columns == ["species", "island", "sex"] and d.X.dtype == object


def test_date_columns_refused_with_a_hint(penguins, tmp_path):
    path = tmp_path / "dated.csv"
    dates = pd.date_range("2007-11-01", periods=344).strftime("%Y-%m-%d")
    penguins[NUMERIC].assign(when=dates).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'when' hold dates \(e.g. '2007-11-01'\)"):
        load_data(path)
    with pytest.raises(DataError, match="days since a start date.*--categorical"):
        load_data(path)
    assert load_data(path, categorical="drop").feature_names == NUMERIC


def test_holes_counted_refused_and_empty_rows(penguins, tables, tmp_path):
    cols = ",".join(NUMERIC)
    line = error_line(
        run(
            "fit",
            tables["csv"],
            "-o",
            tmp_path / "m.npz",
            "--columns",
            cols,
            "--missing",
            "error",
        )
    )
    assert "missing values in column(s) 'bill_length_mm'" in line
    assert "first data row(s) 4, 272" in line  # the two empty rows, 1-based
    model = tmp_path / "m.npz"
    res = ok(
        run(
            "fit",
            tables["csv"],
            "-o",
            model,
            "--columns",
            cols,
            "--grid",
            "4x4",
            "--epochs",
            "2",
        )
    )
    assert "8 value(s) missing in 2 of 344 row(s)" in res.stderr
    assert "skipped 2 row(s) with no observed feature" in res.stderr
    assert "training a SOM on 342 samples" in res.stderr
    out = tmp_path / "p.csv"
    res = ok(
        run("predict", model, tables["csv"], "-o", out, "--label-column", "species")
    )
    assert "2 with no observed feature, left empty" in res.stderr
    rows = read_rows(out)
    assert len(rows) == 344
    assert [i for i, r in enumerate(rows) if r["bmu"] == ""] == [3, 271]
    assert rows[3]["row"] == rows[3]["distance"] == "" and rows[3]["species"]
    loaded = load(model)
    keep = [i for i in range(344) if i not in (3, 271)]
    np.testing.assert_array_equal(
        loaded.predict(penguins[NUMERIC].iloc[keep]),
        [int(rows[i]["bmu"]) for i in keep],
    )


def test_missing_labels_are_their_own_class(penguins, tables, tmp_path):
    classes, inverse = encode_labels(penguins["sex"])
    assert classes == ["female", "male", "missing"]
    assert np.sum(inverse == 2) == penguins["sex"].isna().sum()
    counts = dict(label_counts(penguins["sex"].to_numpy()))
    assert counts["missing"] == 11 and counts["male"] == 168
    # mixed types: numbers and text in one column never fail to sort
    classes, _ = encode_labels([3, "b", 1.5, None, "a", float("nan")])
    assert classes == ["1.5", "3", "a", "b", "missing"]
    X = penguins[NUMERIC].dropna()
    som = make_pipeline(StandardScaler(), SOM((4, 4), random_state=0)).fit(X)
    ax = plot.labels(som, X, penguins.loc[X.index, "sex"].tolist())
    labels = [
        c.get_label()
        for c in ax.collections
        if c.get_label() in classes + ["female", "male"]
    ]
    assert labels[-1] == "missing"
    mixed = penguins.loc[X.index, "sex"].astype(object).to_numpy()
    mixed[:5] = 7  # a number among text
    plot.labels(som, X, mixed)
    # the CLI plot and report of the issue: --label-column sex with holes
    model = tmp_path / "m.npz"
    ok(
        run(
            "fit",
            tables["csv"],
            "-o",
            model,
            "--columns",
            ",".join(NUMERIC),
            "--grid",
            "4x4",
            "--epochs",
            "2",
            "-q",
        )
    )
    ok(
        run(
            "plot",
            model,
            "--kind",
            "labels",
            "--data",
            tables["csv"],
            "--label-column",
            "sex",
            "-o",
            tmp_path / "l.png",
        )
    )
    data = load_for_model(tables["csv"], load(model), label_column="sex")
    assert sum(label is None for label in data.labels) == 11


def test_a_failed_report_leaves_no_model_behind(tables, tmp_path, monkeypatch):
    from somkit import report

    def broken(*args, **kwargs):
        raise ValueError("figure failed")

    monkeypatch.setattr(report, "write_report", broken)
    out = tmp_path / "r"
    line = error_line(
        run(
            "report",
            tables["csv"],
            "-o",
            out,
            "--categorical",
            "drop",
            "--grid",
            "3x3",
            "--epochs",
            "1",
            "-q",
        )
    )
    assert "figure failed" in line
    assert not (out / "model.npz").exists()
