"""FCS reading: the 17 files shipped with fcsparser's wheel, checked against
values published in fcsparser's own test suite and against FlowIO.

The files are fetched by `make fcs-testdata` into .venv/fcs-testdata (or the
folder in SOMKIT_FCS_TESTDATA). When they are missing the tests fail with a
message; SOMKIT_SKIP_FCS=1 turns that into a skip.
"""

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from somkit.cytometry import read_fcs, read_fcs_files

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SOMKIT_FCS_TESTDATA", ROOT / ".venv" / "fcs-testdata"))
FCS = DATA / "fcsparser" / "tests" / "data" / "FlowCytometers"

# file -> (events, channels); shapes as FlowIO reads them where it can.
READABLE = {
    "Cytek_xP5/Cytek_xP5.fcs": (23126, 8),
    "FACSCaliburHTS/Sample_Well_A02.fcs": (37395, 8),
    "FACS_Diva/facs_diva_test.fcs": (83411, 12),
    "Fortessa/FCS_3.0_Fortessa_PBS_Specimen_001_A1_A01.fcs": (11585, 11),
    "GuavaMuse/Guava Muse.fcs": (108, 10),
    "HTS_BD_LSR-II/HTS_BD_LSR_II_Mixed_Specimen_001_D6_D06.fcs": (14945, 11),
    "MiltenyiBiotec/FCS2.0/EY_2013-07-19_PBS_FCS_2.0_Custom_Without_Add_Well_A1.001.fcs": (  # noqa: E501
        10000,
        16,
    ),
    "MiltenyiBiotec/FCS3.0/FCS3.0_Custom_Compatible.fcs": (10000, 16),
    "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Custom_Add_Well_A1.001.fcs": (
        10000,
        19,
    ),
    "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Custom_Without_Add_Well_A1.001.fcs": (  # noqa: E501
        10000,
        19,
    ),
    "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs": (10000, 19),
    "MiltenyiBiotec/FCS3.1/SG_2014-09-26_Duplicate_Names.fcs": (8129, 9),
    "cyflow_cube_8/cyflow_cube_8.fcs": (725, 10),
    "fake_bitmask_error/fcs1_cleaned.lmd": (50000, 7),
    "fake_large_fcs/fake_large_fcs.fcs": (11585, 11),
}
CORRUPT = ["corrupted/corrupted.fcs", "cytek-nl-2000/sample_header.fcs"]

# First rows published in fcsparser 0.2.8's test suite (tests/test_fcs_reader.py).
REFERENCE_ROWS = {
    "MiltenyiBiotec/FCS2.0/EY_2013-07-19_PBS_FCS_2.0_Custom_Without_Add_Well_A1.001.fcs": [  # noqa: E501
        1.60764902830123901367e-03,
        1.46554875373840332031e00,
        2.03116130828857421875e00,
        3.60766235351562500000e02,
    ],
    "MiltenyiBiotec/FCS3.0/FCS3.0_Custom_Compatible.fcs": [
        4.99655876159667968750e01,
        -1.78884857177734375000e02,
        3.53545867919921875000e02,
        -6.63189687500000000000e04,
    ],
    "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs": [
        1.2572854e-05,
        3.3333333e-04,
        3.3333333e-04,
        8.3999999e-02,
        6.2567286e-02,
    ],
    "HTS_BD_LSR-II/HTS_BD_LSR_II_Mixed_Specimen_001_D6_D06.fcs": [
        -2.85312500e04,
        1.0e01,
        0.0,
        7.00149963378906250000e02,
    ],
    "Fortessa/FCS_3.0_Fortessa_PBS_Specimen_001_A1_A01.fcs": [
        1.31284997558593750000e03,
        5.6e02,
        1.53640968750000000000e05,
    ],
    "fake_large_fcs/fake_large_fcs.fcs": [1.31284998e03, 5.6e02, 1.53640969e05],
    "Cytek_xP5/Cytek_xP5.fcs": [0.0, 286.0, 164.0, 154.0, 54.0, 470.0, 1023.0, 770.0],
    "fake_bitmask_error/fcs1_cleaned.lmd": [528.0] * 7,
    "GuavaMuse/Guava Muse.fcs": [481.9313, 7.5, 84.225601, 7.5, 395.87415],
}


@pytest.fixture(scope="module")
def fcs_dir():
    if not FCS.is_dir():
        if os.environ.get("SOMKIT_SKIP_FCS", "") not in ("", "0"):
            pytest.skip("SOMKIT_SKIP_FCS is set and the FCS test files are missing")
        pytest.fail(
            f"FCS test files not found in {FCS}: run `make fcs-testdata` (it takes "
            "the data files out of fcsparser's wheel), or set SOMKIT_FCS_TESTDATA "
            "to the folder holding fcsparser/tests/data."
        )
    return FCS


def test_at_least_12_real_files_read_with_the_right_shape(fcs_dir):
    read = 0
    for name, shape in READABLE.items():
        df = read_fcs(fcs_dir / name, linearize=False)
        assert df.shape == shape, name
        assert np.isfinite(df.to_numpy()).all(), name
        read += 1
    assert read >= 12


@pytest.mark.parametrize("name", sorted(REFERENCE_ROWS))
def test_first_rows_match_fcsparser_published_values(fcs_dir, name):
    row = read_fcs(fcs_dir / name, linearize=False).iloc[0].to_numpy()
    ref = np.asarray(REFERENCE_ROWS[name])
    np.testing.assert_allclose(row[: ref.size], ref, rtol=1e-6, atol=1e-9)


def test_values_match_flowio_where_flowio_reads(fcs_dir):
    flowio = pytest.importorskip("flowio")
    compared = 0
    for name in READABLE:
        try:
            with warnings.catch_warnings(), open(fcs_dir / name, "rb") as fh:
                warnings.simplefilter("ignore")
                # FlowIO needs this option for MACSQuant's off-by-one $ENDDATA.
                ref = flowio.FlowData(fh, ignore_offset_error=True)
                ref = np.asarray(ref.as_array(preprocess=False))
        except Exception:  # noqa: BLE001 - FlowIO cannot read some of them
            continue
        ours = read_fcs(fcs_dir / name, linearize=False).to_numpy()
        np.testing.assert_array_equal(ours.astype(np.float64), ref, err_msg=name)
        compared += 1
    assert compared >= 10


@pytest.mark.parametrize("name", CORRUPT)
def test_corrupt_files_are_refused(fcs_dir, name):
    with pytest.raises(ValueError, match="FCS"):
        read_fcs(fcs_dir / name)


def test_truncated_and_foreign_files_are_refused(fcs_dir, tmp_path):
    good = fcs_dir / READABLE_KEY_FORTESSA
    cut = tmp_path / "cut.fcs"
    cut.write_bytes(good.read_bytes()[:200_000])
    with pytest.raises(ValueError, match="truncated"):
        read_fcs(cut)
    text = tmp_path / "notes.fcs"
    text.write_bytes(b"FCS9.9    " + b"x" * 100)
    with pytest.raises(ValueError, match="version"):
        read_fcs(text)
    with pytest.raises(ValueError, match="not found"):
        read_fcs(tmp_path / "missing.fcs")


READABLE_KEY_FORTESSA = "Fortessa/FCS_3.0_Fortessa_PBS_Specimen_001_A1_A01.fcs"


def test_columns_are_named_by_marker_else_channel(fcs_dir):
    # Names published in fcsparser's tests for this FACSDiva file.
    path = fcs_dir / "FACS_Diva/facs_diva_test.fcs"
    pnn = ["Time", "FSC-A", "FSC-W", "SSC-A", "FITC-A", "PE-A", "PerCP-A"]
    pns = ["Time", "FSC-A", "FSC-W", "SSC-A", "CD20", "CD10", "CD45", "CD34"]
    assert list(read_fcs(path).columns[:8]) == pns
    assert list(read_fcs(path, names="channel").columns[:7]) == pnn
    assert read_fcs(path).attrs["channels"][:7] == pnn


def test_repeated_names_are_made_unique(fcs_dir):
    for name in READABLE:
        cols = list(read_fcs(fcs_dir / name).columns)
        assert len(set(cols)) == len(cols), name


def test_several_data_sets_in_one_file(fcs_dir):
    path = fcs_dir / "GuavaMuse/Guava Muse.fcs"
    second = read_fcs(path, data_set=1)
    # fcsparser's published first row of the second data set
    ref = [59.691692, 2.0, 13.230962, 2.0, 258.7247, 2.0, 0.0, 1.7759138]
    np.testing.assert_allclose(second.iloc[0].to_numpy()[:8], ref, rtol=1e-6)
    assert len(second) != len(read_fcs(path))
    with pytest.raises(ValueError, match="data set"):
        read_fcs(path, data_set=4)


def test_log_channels_are_linearized(fcs_dir):
    path = fcs_dir / "FACSCaliburHTS/Sample_Well_A02.fcs"
    raw = read_fcs(path, linearize=False)
    lin = read_fcs(path)
    text = raw.attrs["fcs"]
    for i, col in enumerate(raw.columns, start=1):
        f1, f2 = (float(v) for v in text[f"$P{i}E"].split(","))
        r = float(text[f"$P{i}R"])
        expect = raw[col].to_numpy(np.float64)
        if f1 > 0:
            expect = (f2 or 1.0) * 10 ** (f1 * expect / r)
        np.testing.assert_allclose(lin[col].to_numpy(), expect, rtol=1e-12)
    assert (lin.iloc[:, 0] >= 1).all() and (lin.iloc[:, 0] <= 1e4).all()


def test_read_many_files_keeps_a_file_column(fcs_dir, tmp_path):
    names = [
        "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs",
        "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Custom_Add_Well_A1.001.fcs",
    ]
    df = read_fcs_files([fcs_dir / n for n in names], markers=["FSC-A", "SSC-A"])
    assert list(df.columns) == ["FSC-A", "SSC-A", "file"]
    assert df["file"].value_counts().to_dict() == {Path(n).name: 10000 for n in names}
    one = read_fcs(fcs_dir / names[1])
    np.testing.assert_array_equal(
        df.loc[df["file"] == Path(names[1]).name, "SSC-A"].to_numpy(), one["SSC-A"]
    )
    with pytest.raises(ValueError, match="channels differ"):
        read_fcs_files([fcs_dir / names[0], fcs_dir / READABLE_KEY_FORTESSA])
    with pytest.raises(ValueError, match="no channel 'CD99'"):
        read_fcs_files([fcs_dir / names[0]], markers=["CD99"])


def test_file_written_by_flowio_round_trips(tmp_path):
    flowio = pytest.importorskip("flowio")
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 3)).astype(np.float32) * 100
    path = tmp_path / "w.fcs"
    with open(path, "wb") as fh:
        flowio.create_fcs(
            fh, data.ravel(), ["FL1-A", "FL2-A", "FL3/A"], ["CD3", "", "CD8"]
        )
    df = read_fcs(path)
    assert list(df.columns) == ["CD3", "FL2-A", "CD8"]
    np.testing.assert_array_equal(df.to_numpy(), data)


def test_anndata_in_and_out(fcs_dir):
    pytest.importorskip("anndata")
    from somkit.cytometry import from_anndata, to_anndata

    name = "MiltenyiBiotec/FCS3.1/EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs"
    df = read_fcs_files([fcs_dir / name])
    adata = to_anndata(df)
    assert adata.shape == (10000, 19)
    assert list(adata.var_names) == [c for c in df.columns if c != "file"]
    back = from_anndata(adata)
    np.testing.assert_array_equal(back.drop(columns="file").to_numpy(), adata.X)
    assert (back["file"] == Path(name).name).all()


def test_copy_of_data_dir_is_not_needed(fcs_dir, tmp_path):
    # Reading does not depend on the folder layout: a copied file reads the same.
    src = fcs_dir / READABLE_KEY_FORTESSA
    dst = tmp_path / "copy.fcs"
    shutil.copy(src, dst)
    np.testing.assert_array_equal(read_fcs(dst).to_numpy(), read_fcs(src).to_numpy())
