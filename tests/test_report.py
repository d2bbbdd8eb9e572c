"""The HTML report: numbers, warnings, sections, embedded figures, and a real
browser opening the report and the demo page (Debian chromium, headless)."""

from __future__ import annotations

import base64
import html
import io
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline

from somkit import SOM
from somkit._data import Dataset
from somkit.report import (
    CAPTIONS,
    build_report,
    fit_warnings,
    map_statistics,
    write_demo_index,
    write_report,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1200,2400",
    "--hide-scrollbars",
]


def iris_data(labels=True):
    X, y = load_iris(return_X_y=True)
    names = ["sl", "sw", "pl", "pw"]
    names_y = np.array(["setosa", "versicolor", "virginica"])[y]
    return Dataset(
        X,
        names,
        True,
        labels=names_y if labels else None,
        label_name="species" if labels else None,
        source="iris.csv",
    )


def fitted(data, scale="standard", **kw):
    """The model the command line trains: a scaler (unless "none"), then a SOM."""
    from somkit.cli._training import make_scaler

    kw = {"grid": (5, 6), "n_epochs": 3, "random_state": 0, **kw}
    scaler = make_scaler(scale)
    model = SOM(**kw) if scaler is None else make_pipeline(scaler, SOM(**kw))
    return model.fit(data.X)


def sections(text):
    return re.findall(r'<section id="([^"]+)">', text)


def embedded_pngs(text):
    return [
        base64.b64decode(s)
        for s in re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    ]


# ------------------------------------------------------------------ numbers
def test_map_statistics_against_brute_force():
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(0, 0.05, (60, 2)), rng.normal(5, 0.05, (60, 2))]
    som = SOM(10, n_epochs=5, random_state=0).fit(X)
    s = map_statistics(som, X)
    W = som.codebook_.astype(np.float64)
    D = np.linalg.norm(X[:, None, :] - W[None], axis=2)
    np.testing.assert_array_equal(s["hits"], np.bincount(D.argmin(1), minlength=10))
    assert s["empty_units"] == int(np.sum(s["hits"] == 0))
    assert s["quantization_error"] == pytest.approx(D.min(1).mean(), rel=1e-5)
    assert s["far_units"] == int(np.sum(D.min(0) > som.outlier_threshold_))
    # units strung between the two blobs are far from all data
    assert s["far_units"] >= 1
    pos = som.grid_.positions[:, 0]
    order = np.argsort(D, axis=1)[:, :2]
    te = np.mean(np.abs(pos[order[:, 0]] - pos[order[:, 1]]) > 1 + 1e-9)
    assert s["topographic_error"] == pytest.approx(te)
    assert 0.0 <= s["trustworthiness"] <= 1.0


def _stats(te=0.0, empty=0, far=0, n_units=100):
    return {
        "topographic_error": te,
        "empty_units": empty,
        "far_units": far,
        "n_units": n_units,
    }


def test_warning_thresholds():
    assert fit_warnings(_stats()) == []
    assert fit_warnings(_stats(te=0.1, empty=50, far=10)) == []
    (w,) = fit_warnings(_stats(te=0.15))
    assert "folded" in w and "15%" in w
    (w,) = fit_warnings(_stats(empty=51))
    assert "51 of 100 units (51%)" in w and "empty" in w
    (w,) = fit_warnings(_stats(far=11))
    assert "11 of 100 units" in w and "far from all data" in w
    assert len(fit_warnings(_stats(te=0.5, empty=90, far=50))) == 3
    assert fit_warnings({**_stats(far=None), "far_units": None}) == []


def test_real_maps_trigger_each_warning():
    rng = np.random.default_rng(0)
    X = rng.random((300, 2))
    d = Dataset(X, ["a", "b"], True, source="u.csv")
    folded = SOM((8, 8), init="random", radius=0.0, n_epochs=2, random_state=0).fit(X)
    text = build_report(folded, d)
    assert "The map is folded" in text
    small = Dataset(X[:40], ["a", "b"], True, source="s.csv")
    big = SOM((20, 20), n_epochs=3, random_state=0).fit(small.X)
    notes = fit_warnings(map_statistics(big, small.X))
    assert any(w.startswith("Most units are empty: 3") for w in notes)
    good = SOM((4, 4), n_epochs=10, random_state=0).fit(X)
    text = build_report(good, d)
    assert "No problems found" in text and 'class="warning"' not in text


# --------------------------------------------------------------------- HTML
def test_report_has_every_section_and_valid_embedded_images(tmp_path):
    import matplotlib.image

    data = iris_data()
    som = fitted(data, topology="hex", grid=(6, 5))
    path = write_report(
        som, data, tmp_path / "rep", train_seconds=0.5, model_file="m.npz"
    )
    assert path == tmp_path / "rep" / "index.html"
    text = path.read_text()
    assert sections(text) == [
        "summary",
        "warnings",
        "quality",
        "explorer",
        "clusters",
        "umatrix",
        "expanded-umatrix",
        "hits",
        "component-planes",
        "class-map",
        "history",
        "parameters",
        "data",
        "files",
    ]
    pngs = embedded_pngs(text)
    assert len(pngs) == 7
    for png in pngs:
        img = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0.01
    for caption in CAPTIONS.values():
        if caption != CAPTIONS["images"]:
            assert html.escape(caption) in text
    # self-contained: nothing to fetch (links only to the two tables beside it)
    assert not re.search(r'(src|href)="(?!data:|#|rows\.csv"|clusters\.csv")', text)
    assert re.findall(r"<script[^>]*>", text) == [
        '<script type="application/json" id="som-data">',
        "<script>",
    ]
    for word in ("quantization error", "topographic error", "trustworthiness"):
        assert word in text
    assert "6x5" in text and "hex" in text and "standard" in text
    assert "setosa" in text and "species" in text  # class counts
    # data summary in original units (iris petal length max 6.9)
    assert re.search(r"<td>pl</td><td class=\"num\">1</td>.*?6\.9</td>", text)


def test_report_without_labels_and_unusual_grids(tmp_path):
    data = iris_data(labels=False)
    text = build_report(fitted(data, scale="none", grid=7), data)
    assert "class-map" not in sections(text) and len(embedded_pngs(text)) == 6
    # 3-D maps: only the history can be drawn; clusters are still described
    text = build_report(fitted(data, grid=(2, 2, 2)), data)
    assert "umatrix" not in sections(text) and "history" in sections(text)
    assert "clusters" in sections(text) and "explorer" not in sections(text)
    assert "3-D map has no flat drawing" in text and "<script" not in text
    # images: a .npy of 4x4 pictures gets a units-as-pictures figure
    rng = np.random.default_rng(0)
    imgs = rng.random((50, 16))
    d = Dataset(
        imgs, [f"x{i}" for i in range(16)], False, image_shape=(4, 4), source="i.npy"
    )
    text = build_report(fitted(d, grid=(3, 3)), d)
    assert "images" in sections(text) and CAPTIONS["images"] in text
    # html in names is escaped
    d = Dataset(data.X, ["<u>", "b", "c", "d"], True, source="<x>.csv")
    text = build_report(fitted(d), d)
    assert "<u>" not in text and "<x>" not in text
    assert "&lt;u&gt;" in text and "&lt;x&gt;.csv" in text


def test_demo_index_links_figures(tmp_path):
    import matplotlib.figure

    from somkit.apps._base import AppResult

    fig = matplotlib.figure.Figure()
    fig.add_subplot().plot([0, 1])
    res = AppResult(
        "demo-a", "Title A", {"fig_one": fig}, {"x": 1.5, "s": "ok"}, "P1\n\nP2"
    )
    paths = res.save(tmp_path / "demo-a")
    rel = [p.relative_to(tmp_path).as_posix() for p in paths]
    path = write_demo_index([(res, rel, 0.1)], tmp_path, skipped=[("deep", "no torch")])
    text = path.read_text()
    assert sections(text) == ["demo-a", "skipped"]
    assert 'src="demo-a/fig_one.png"' in text and "<p>P1</p>" in text
    assert "1.5" in text and "no torch" in text


# ------------------------------------------------------------------ browser
def chromium():
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but /usr/bin/chromium is missing (.ci/run installs it)")
    pytest.skip(
        "Debian chromium (/usr/bin/chromium) is not installed: apt-get install chromium"
    )


def open_in_browser(html_path, tmp_path):
    """Load a page headless; return (console lines, screenshot pixels)."""
    import matplotlib.image

    shot = tmp_path / f"{html_path.parent.name}-shot.png"
    profile = tmp_path / f"profile-{html_path.parent.name}"
    proc = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            html_path.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return console, matplotlib.image.imread(shot)


def test_browser_detects_console_errors(tmp_path):
    """The console check itself can fail: a page with a script error."""
    page = tmp_path / "bad" / "index.html"
    page.parent.mkdir()
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        "<p>x</p><script>console.error('boom'); notDefined();</script></body></html>"
    )
    console, pixels = open_in_browser(page, tmp_path)
    assert any("boom" in ln for ln in console)
    assert any("notDefined" in ln for ln in console)
    # an almost empty page is (nearly) blank
    assert pixels[..., :3].std() < 0.05


def _check_page(page, tmp_path):
    console, pixels = open_in_browser(page, tmp_path)
    assert console == []
    rgb = pixels[..., :3]
    assert rgb.shape[0] >= 1000 and rgb.shape[1] >= 1000
    # the near-empty page of test_browser_detects_console_errors has std < 0.05
    assert rgb.std() > 0.05, "screenshot is blank"
    assert (rgb.mean(axis=2) < 0.9).mean() > 0.01, "hardly anything drawn"


@pytest.mark.parametrize("topology", ["rect", "hex"])
def test_browser_opens_report(tmp_path, topology):
    from somkit.cli import cli

    csv_path = tmp_path / "iris.csv"
    X, y = load_iris(return_X_y=True)
    lines = ["a,b,c,d,kind"] + [
        ",".join(map(str, r)) + f",k{t}" for r, t in zip(X, y, strict=True)
    ]
    csv_path.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(
        cli,
        [
            "report",
            str(csv_path),
            "-o",
            str(tmp_path / "report"),
            "--label-column",
            "kind",
            "--grid",
            "6x6",
            "--topology",
            topology,
            "--epochs",
            "3",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    _check_page(tmp_path / "report" / "index.html", tmp_path)


def test_browser_opens_demo_index(tmp_path):
    out = tmp_path / "demo-output"
    from somkit import apps

    names = [n for n in ("iris",) if n in apps.APPS]
    if not names:
        pytest.skip("no seed application written yet")
    from somkit.cli import cli

    res = CliRunner().invoke(cli, ["demo", *names, "--quick", "-o", str(out)])
    assert res.exit_code == 0, res.output
    page = out / "index.html"
    text = page.read_text()
    linked = re.findall(r'src="([^"]+)"', text)
    assert linked and all((out / p).is_file() for p in linked)
    _check_page(page, tmp_path)
