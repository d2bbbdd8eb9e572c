"""`somkit cytometry`: outputs, their agreement with the library, the report,
errors, and a light `somkit --help`."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from somkit.cli import main  # noqa: E402
from somkit.cytometry import load_flowsom, make_cytometry, read_fcs  # noqa: E402


def _write_fcs(path, data, names):
    """A minimal FCS 3.1 file of float32 events (independent of the reader)."""
    n, p = data.shape
    keys = {"$BYTEORD": "1,2,3,4", "$DATATYPE": "F", "$MODE": "L", "$NEXTDATA": "0"}
    keys.update({"$PAR": str(p), "$TOT": str(n)})
    for i, name in enumerate(names, start=1):
        keys.update({f"$P{i}N": f"Ch{i}", f"$P{i}S": name, f"$P{i}B": "32"})
        keys.update({f"$P{i}E": "0,0", f"$P{i}R": "262144"})
    payload = data.astype("<f4").tobytes()
    for _ in range(2):  # offsets change the TEXT length: settle them
        text = "|" + "|".join(f"{k}|{v}" for k, v in keys.items()) + "|"
        start = 58 + len(text)
        keys["$BEGINDATA"], keys["$ENDDATA"] = str(start), str(start + len(payload) - 1)
    text = "|" + "|".join(f"{k}|{v}" for k, v in keys.items()) + "|"
    start = 58 + len(text)
    header = "FCS3.1    " + "".join(
        f"{v:>8}" for v in (58, start - 1, start, start + len(payload) - 1, 0, 0)
    )
    Path(path).write_bytes(header.encode() + text.encode() + payload)


@pytest.fixture(scope="module")
def fcs_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fcs")
    X, y = make_cytometry(12_000, 6, 5, rare=(0.01,), n_lineages=3, random_state=0)
    raw = np.sinh(X) * 5  # back to intensities for cofactor 5
    names = ["CD3", "CD4", "CD8", "CD19", "CD56", "CD14"]
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(X)), 3)):
        data = np.c_[raw[part], np.arange(part.size)]  # a Time channel too
        _write_fcs(folder / f"s{i}.fcs", data, [*names, "Time"])
        paths.append(folder / f"s{i}.fcs")
    return paths, names


def _run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    status = exc.value.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_written_files_read_back(fcs_files):
    paths, names = fcs_files
    df = read_fcs(paths[0])
    assert list(df.columns) == [*names, "Time"]
    assert len(df) == 4000


def test_cli_outputs_agree_with_the_library(fcs_files, tmp_path, capsys):
    paths, names = fcs_files
    out = tmp_path / "out"
    status, stdout, err = _run(
        [
            "cytometry",
            *map(str, paths),
            "-o",
            str(out),
            "--clusters",
            "5",
            "--sample",
            "6000",
            "--seed",
            "3",
            "--grid",
            "6x6",
        ],
        capsys,
    )
    assert status == 0, err
    assert "training on 6000 cells" in stdout
    for name in (
        "model.npz",
        "abundances.csv",
        "unit_abundances.csv",
        "medians.csv",
        "index.html",
    ):
        assert (out / name).is_file(), name
    ab = pd.read_csv(out / "abundances.csv", index_col=0)
    assert list(ab.index) == [p.name for p in paths]
    assert ab.shape == (3, 5)
    np.testing.assert_allclose(ab.sum(axis=1), 100, atol=1e-3)
    units = pd.read_csv(out / "unit_abundances.csv", index_col=0)
    assert units.shape == (3, 36)
    med = pd.read_csv(out / "medians.csv", index_col=[0, 1])
    assert list(med.columns) == names  # Time left out by default
    model = load_flowsom(out / "model.npz")
    assert model.markers_ == names
    # Every cell of every file: recompute the tables from the saved model.
    for p in paths:
        cells = read_fcs(p)
        lab = model.predict(cells)
        share = 100 * np.bincount(lab, minlength=5) / len(lab)
        np.testing.assert_allclose(ab.loc[p.name].to_numpy(), share, atol=1e-4)
        Xm = np.arcsinh(cells[names].to_numpy(np.float64) / 5)
        for c in range(5):
            if (lab == c).any():
                np.testing.assert_allclose(
                    med.loc[(p.name, c)].to_numpy(),
                    np.median(Xm[lab == c], axis=0),
                    rtol=1e-4,
                    atol=1e-4,
                )
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)=["']https?:""", page)
    assert "<script" not in page
    assert "Abundances" in page and p.name in page


def test_cli_same_seed_same_tables(fcs_files, tmp_path, capsys):
    paths, _ = fcs_files
    tables = []
    for run in ("a", "b"):
        out = tmp_path / run
        status, _, err = _run(
            [
                "cytometry",
                *map(str, paths),
                "-o",
                str(out),
                "--clusters",
                "4",
                "--sample",
                "3000",
                "--seed",
                "1",
                "--grid",
                "5x5",
                "--quiet",
            ],
            capsys,
        )
        assert status == 0, err
        tables.append((out / "abundances.csv").read_text())
    assert tables[0] == tables[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--clusters", "zero"], "not an int"),
        (["--markers", "CD3,CD99"], "no channel 'CD99'"),
        (["--grid", "10"], "ROWSxCOLS"),
        (["--cofactor", "0"], "cofactor"),
    ],
)
def test_cli_errors_are_one_line(fcs_files, tmp_path, capsys, extra, message):
    paths, _ = fcs_files
    status, _, err = _run(
        ["cytometry", str(paths[0]), "-o", str(tmp_path / "o"), *extra], capsys
    )
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert message in lines[0]


def test_cli_refuses_a_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "bad.fcs"
    bad.write_bytes(b"FCS3.0" + b" " * 4 + b"       1" * 6 + b"garbage")
    status, _, err = _run(["cytometry", str(bad), "-o", str(tmp_path / "o")], capsys)
    assert status == 2 and err.startswith("error:") and "bad.fcs" in err


def test_help_lists_the_command_and_stays_light():
    code = (
        "import sys, somkit; before = set(sys.modules); "
        "import somkit.cytometry._cli; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "heavy = new & {'pandas', 'sklearn', 'scipy', 'matplotlib', 'numba', 'torch'}; "
        "print(sorted(heavy))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    res = subprocess.run(
        [sys.executable, "-m", "somkit", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "cytometry" in res.stdout


def test_outputs_atomic_and_formula_safe(fcs_files, tmp_path, capsys):
    """Planted links at old temp names are not followed; marker names that a
    spreadsheet would run are written quoted-safe in every table."""
    paths, names = fcs_files
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("index.html.tmp", "abundances.csv.tmp", "medians.csv.tmp"):
        (out / name).symlink_to(victim)
    hostile = tmp_path / "=cmd.fcs"
    X = read_fcs(paths[0]).to_numpy()
    _write_fcs(hostile, X, ["=HYPERLINK(1)", *names[1:], "Time"])
    status, _, err = _run(
        ["cytometry", str(hostile), "-o", str(out), "--clusters", "3"]
        + ["--grid", "4x4", "--seed", "0"],
        capsys,
    )
    assert status == 0, err
    assert victim.read_text() == "precious"
    for table in out.glob("*.csv"):
        text = table.read_text()
        assert "\n=" not in text and ",=" not in text and not text.startswith("=")
        assert "'=HYPERLINK(1)" in text or "'=cmd.fcs" in text
