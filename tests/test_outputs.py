"""What somkit writes and prints: atomic files, refused outputs, safe cells.

Each case was reproduced on an earlier main: outputs that replaced their
inputs, a temp file that followed a planted link, formula cells, raw
terminal escapes, orphan temp files after SIGKILL, and a half-replaced
estimator after an interrupted refit.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris

from somkit import SOM, load
from somkit._atomic import atomic_write
from somkit.cli import cli

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def write_csv(path, X, names, extra=None):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names + ([extra[0]] if extra else []))
        for i, row in enumerate(X):
            w.writerow([repr(float(v)) for v in row] + ([extra[1][i]] if extra else []))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("out")
    X = load_iris().data
    data = write_csv(d / "iris.csv", X, FEATURES)
    model = d / "m.npz"
    result = CliRunner().invoke(
        cli, ["fit", str(data), "-o", str(model), "--grid", "4x4", "-q"]
    )
    assert result.exit_code == 0, result.output
    return {"dir": d, "X": X, "csv": data, "model": model}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ---------------------------------------------------- outputs vs inputs
def test_predict_refuses_to_overwrite_its_data_or_model(files, tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes(files["csv"].read_bytes())
    model = tmp_path / "m.npz"
    model.write_bytes(files["model"].read_bytes())
    before = data.read_bytes(), model.read_bytes()
    for target in (data, model, tmp_path / "." / "d.csv"):
        result = run("predict", model, data, "-o", target)
        assert result.exit_code == 2, result.output
        assert "error:" in result.output and "input" in result.output
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    assert run("predict", model, data, "-o", link).exit_code == 2
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    assert run("predict", model, hard, "-o", data).exit_code == 2
    assert (data.read_bytes(), model.read_bytes()) == before


def test_fit_refuses_to_overwrite_its_data(tmp_path):
    X = load_iris().data
    path = tmp_path / "data.npz"
    np.savez(path, X=X)
    before = path.read_bytes()
    result = run("fit", path, "-o", path, "--grid", "3x3", "-q")
    assert result.exit_code == 2 and "input" in result.output
    assert path.read_bytes() == before


def test_report_refuses_to_write_its_model_over_the_data(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    data = out / "model.npz"  # data named like the model the report writes
    np.savez(data, X=load_iris().data)
    before = data.read_bytes()
    result = run("report", data, "-o", out, "--grid", "3x3", "-q")
    assert result.exit_code == 2 and "input" in result.output, result.output
    assert data.read_bytes() == before


# -------------------------------------------------------- atomic writes
def test_atomic_write_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.txt"
    # the names earlier versions used for their temp files
    for name in (".out.txt.tmp", "out.txt.tmp", "out.tmp"):
        (tmp_path / name).symlink_to(victim)
    with atomic_write(target, "w") as fh:
        fh.write("new")
    assert victim.read_text() == "precious"
    assert target.read_text() == "new" and not target.is_symlink()


def test_atomic_write_replaces_a_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.txt"
    target.symlink_to(victim)
    with atomic_write(target, "w") as fh:
        fh.write("new")
    assert victim.read_text() == "precious" and target.read_text() == "new"


def test_atomic_write_cleans_up_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target, "wb") as fh:
        fh.write(b"partial")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_report_temp_file_is_not_a_planted_link(files, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (".index.html.tmp", "index.html.tmp"):
        (out / name).symlink_to(victim)
    result = run("report", files["csv"], "-o", out, "--grid", "3x3", "-q")
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious"


_KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    from somkit._atomic import atomic_write
    with atomic_write(sys.argv[1], "wb") as fh:
        fh.write(b"x" * (8 << 20))
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
    """
)


def test_sigkill_during_a_save_leaves_no_orphan(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"old")
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE, str(target)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert target.read_bytes() == b"old"


# -------------------------------------------------------- formula cells
HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)"]
HARMLESS = ["-5", "+3.25", "-1e-5", "plain", "a=b", "x"]


def test_predict_writes_formula_cells_quoted_safe(files, tmp_path):
    X = files["X"][:10]
    ids = HOSTILE + HARMLESS
    data = write_csv(tmp_path / "d.csv", X, FEATURES, ("id", ids))
    out = tmp_path / "p.csv"
    result = run("predict", files["model"], data, "--id-column", "id", "-o", out)
    assert result.exit_code == 0, result.output
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = [r["id"] for r in rows]
    assert got[: len(HOSTILE)] == ["'" + h for h in HOSTILE]
    assert got[len(HOSTILE) :] == HARMLESS
    raw = tmp_path / "raw.csv"
    result = run(
        "predict", files["model"], data, "--id-column", "id", "-o", raw, "--raw-cells"
    )
    with open(raw, newline="") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == ids


def test_predict_header_cells_quoted_safe(files, tmp_path):
    X = files["X"][:5]
    data = write_csv(tmp_path / "d.csv", X, FEATURES, ("=HYPERLINK(1)", list("abcde")))
    result = run("predict", files["model"], data, "--id-column", "=HYPERLINK(1)")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("'=HYPERLINK(1)")


# ------------------------------------------------------------ printing
def test_info_escapes_control_characters(tmp_path):
    X = load_iris().data
    names = ["\x1b[31mred\x1b[0m", "bell\x07", "new\nline", "ok"]
    data = write_csv(tmp_path / "d.csv", X, names)
    model = tmp_path / "m.npz"
    assert run("fit", data, "-o", model, "--grid", "3x3", "-q").exit_code == 0
    result = run("info", model)
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b[31mred\\x1b[0m" in result.output and "new\\nline" in result.output
    js = run("info", model, "--json").output
    assert "\x1b" not in js


def test_error_lines_escape_control_characters(tmp_path):
    bad = tmp_path / "d.csv"
    bad.write_text("a,b\n1,\x1b[2Jx\n")
    result = run("fit", bad, "-o", tmp_path / "m.npz", "-q")
    assert result.exit_code == 2 and "\x1b" not in result.output


# --------------------------------------------------------- refits
class Stop(Exception):
    pass


def _stop_at(epoch):
    def cb(som, e, logs):
        if e == epoch:
            raise Stop

    return cb


@pytest.mark.parametrize("error", [Stop, KeyboardInterrupt])
def test_failed_refit_leaves_the_previous_map(tmp_path, error):
    X = load_iris().data
    som = SOM((5, 5), random_state=0, n_epochs=3).fit(X)
    before = {k: v for k, v in vars(som).items() if k.endswith("_")}
    W = som.codebook_.copy()
    hist = {k: list(v) for k, v in som.history_.items()}

    def boom(s, e, logs):
        if e == 2:
            raise error

    som.set_params(grid=(10, 10), callbacks=[boom])
    with pytest.raises(error):
        som.fit(X[:, :3])
    assert set(k for k in vars(som) if k.endswith("_")) == set(before)
    assert som.grid_.n_units == 25 and som.n_features_in_ == 4
    np.testing.assert_array_equal(som.codebook_, W)
    assert som.history_ == hist
    som.set_params(callbacks=None)
    som.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(load(tmp_path / "m.npz").codebook_, W)
    # partial_fit too
    som.set_params(callbacks=[boom])
    for _ in range(2):
        try:
            som.partial_fit(X)
        except error:
            pass
    assert som.grid_.n_units == som.codebook_.shape[0]


def test_interrupted_first_fit_leaves_an_unfitted_estimator():
    X = load_iris().data

    def boom(s, e, logs):
        raise KeyboardInterrupt

    som = SOM((4, 4), callbacks=[boom])
    with pytest.raises(KeyboardInterrupt):
        som.fit(X)
    assert not [k for k in vars(som) if k.endswith("_")]


# ----------------------------------------------------------- wide data
def test_auto_grid_and_pca_init_fast_on_wide_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.npy"
    np.save(path, rng.standard_normal((300, 5000)))
    tic = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "somkit",
            "fit",
            str(path),
            "-o",
            str(tmp_path / "m.npz"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    seconds = time.perf_counter() - tic
    assert seconds < 10, seconds


def test_wide_leading_components_match_a_dense_reference():
    from somkit._backends import resolve
    from somkit._init import leading_components

    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3000)) * np.linspace(3, 0.5, 3000)
    X[:, :2] *= 4
    w = rng.uniform(0.5, 2, size=len(X))
    for sw in (None, w):
        mean, evals, evecs = leading_components(X, sw, 2, resolve("numpy", X))
        ww = np.ones(len(X)) if sw is None else sw
        m = ww @ X / ww.sum()
        # reference: the SVD of the weighted, centred data (LAPACK gesdd)
        _, sv, vt = np.linalg.svd(
            (X - m) * np.sqrt(ww / ww.sum())[:, None], full_matrices=False
        )
        np.testing.assert_allclose(mean, m, atol=1e-10)
        np.testing.assert_allclose(evals, sv[:2] ** 2, rtol=1e-6)
        for k in range(2):
            assert abs(abs(evecs[:, k] @ vt[k]) - 1) < 1e-6


# ----------------------------------------------------- read-only install
_RO = textwrap.dedent(
    """
    import numpy as np
    import somkit
    from somkit import SOM
    som = SOM((3, 3), random_state=0, algorithm="online").fit(np.random.rand(50, 3))
    print("ok", som.codebook_.shape)
    """
)


def test_import_on_a_read_only_install(tmp_path):
    import shutil

    import somkit

    root = tmp_path / "ro"
    shutil.copytree(
        os.path.dirname(somkit.__file__),
        root / "somkit",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("NUMBA_CACHE_DIR", None)
    cmd = [sys.executable, "-c", _RO]
    if os.geteuid() == 0:
        # root writes anywhere: make the copy and the home read-only mounts
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare to make a read-only mount as root")
        script = " && ".join(
            f"mount --bind {p} {p} && mount -o remount,bind,ro {p}"
            for p in (root, home)
        )
        probe = subprocess.run(
            ["unshare", "-m", "sh", "-c", f"{script} && true"], capture_output=True
        )
        if probe.returncode != 0:
            pytest.skip("cannot make read-only mounts here")
        cmd = ["unshare", "-m", "sh", "-c", f'{script} && exec "$@"', "sh", *cmd]
    else:
        for p in (root, home):
            for d, _, fs in os.walk(p):
                for f in fs:
                    os.chmod(os.path.join(d, f), 0o444)
                os.chmod(d, 0o555)
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        for d, _, _ in os.walk(tmp_path):
            os.chmod(d, 0o755)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok (9, 3)" in out.stdout
