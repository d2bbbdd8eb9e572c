"""Packaging tells the truth: declared lower bounds install together and work.

The slow test builds a fresh virtual environment with exactly the lower
bounds of pyproject.toml (binary wheels only), installs somkit without
dependencies, and trains, predicts, saves and loads a map there. README's
development section shows how to run it by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def lower_bounds():
    """``name==version`` for every runtime dependency's lower bound."""
    pins = []
    for req in _pyproject()["project"]["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9A-Za-z.]*)", req.strip())
        assert m, f"runtime dependency without a plain lower bound: {req!r}"
        pins.append(f"{m.group(1)}=={m.group(2)}")
    return pins


def test_metadata_is_spdx_and_extras_are_unpinned():
    project = _pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    assert (ROOT / "LICENSE").is_file()
    assert "BSD 3-Clause" in (ROOT / "LICENSE").read_text()
    for extra, reqs in project["optional-dependencies"].items():
        for req in reqs:
            assert "==" not in req, f"exact pin in extra {extra!r}: {req}"
    names = {p.split("==")[0].lower() for p in lower_bounds()}
    assert {"numpy", "scipy", "scikit-learn", "numba", "matplotlib"} <= names


SCRIPT = """
import numpy as np, sklearn, scipy, numba
from sklearn.datasets import load_iris
import somkit
from somkit import SOM, plot
X = load_iris().data
for algorithm in ("batch", "online", "minibatch"):
    som = SOM((5, 5), algorithm=algorithm, random_state=0).fit(X)
    assert som.quantization_error(X) < 0.6, algorithm
som.save("m.npz")
assert (somkit.load("m.npz").predict(X) == som.predict(X)).all()
plot.umatrix(som)
print("versions", np.__version__, scipy.__version__, sklearn.__version__,
      numba.__version__)
"""


@pytest.mark.slow
def test_declared_minimum_versions_install_together_and_train(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pins = lower_bounds()
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--only-binary=:all:", *pins],
        capture_output=True,
        text=True,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    own = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if own.returncode != 0:  # setuptools is not in a bare venv on every Python
        own = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
            capture_output=True,
            text=True,
            env=env,
        )
    assert own.returncode == 0, own.stderr[-2000:]
    run = subprocess.run(
        [str(py), "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(env, MPLBACKEND="Agg"),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    from packaging.version import Version

    got = [Version(v) for v in run.stdout.split()[1:3]]
    assert got == [Version(p.split("==")[1]) for p in pins[:2]]
