"""The report's interactive map driven in headless Chromium (selenium).

Checks what a reader does: click a unit and compare the details panel with
rows.csv (count, IDs, classes) and with the saved model (prototype), switch
the colouring, hover for the tooltip and search an ID.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")


def browser():
    if not (CHROMIUM.exists() and DRIVER.exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium/chromedriver are missing (.ci/run)")
        pytest.skip("needs Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1200",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(DRIVER)), options=opts)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """A report trained by the command line on a table with ids and labels
    (some labels missing)."""
    from somkit.cli import cli

    d = tmp_path_factory.mktemp("browser")
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [6, 0, 3], [0, 6, -3]], dtype=float)
    X = np.vstack([c + rng.normal(0, 1, (150, 3)) for c in centres])
    y = np.repeat(["a", "b", "c"], 150).astype(object)
    y[rng.choice(450, 20, replace=False)] = ""
    ids = [f"s{i:04d}" for i in rng.permutation(450)]
    with open(d / "blobs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample", "u", "v", "w", "kind"])
        for i in range(450):
            w.writerow([ids[i], *X[i].round(5), y[i]])
    res = CliRunner().invoke(
        cli,
        [
            "report",
            str(d / "blobs.csv"),
            "-o",
            str(d / "rep"),
            "--id-column",
            "sample",
            "--label-column",
            "kind",
            "--grid",
            "4x4",
            "--epochs",
            "4",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    return d / "rep"


def test_click_colour_hover_and_search(report_dir):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from somkit import load
    from somkit._model import to_data_units
    from somkit.report._figures import lut

    with open(report_dir / "rows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_unit = {}
    for r in rows:
        per_unit.setdefault(int(r["bmu"]), []).append(r)
    big = max(per_unit, key=lambda u: len(per_unit[u]))
    assert len(per_unit[big]) > 50  # so the "and N more" branch is checked
    W = to_data_units(load(report_dir / "model.npz"))

    driver = browser()
    try:
        driver.get((report_dir / "index.html").resolve().as_uri())
        cells = driver.find_elements(By.CSS_SELECTOR, "#som-map [data-unit]")
        assert [int(c.get_attribute("data-unit")) for c in cells] == list(range(16))

        # click: the details panel against rows.csv and the model
        target = driver.find_element(By.CSS_SELECTOR, f'[data-unit="{big}"]')
        ActionChains(driver).move_to_element(target).click().perform()
        panel = driver.find_element(By.ID, "unit-details")
        assert panel.get_attribute("data-unit") == str(big)
        assert panel.find_element(By.ID, "detail-count").text == str(len(per_unit[big]))
        shown = panel.find_element(By.ID, "detail-ids").text.split(", ")
        assert shown == [r["id"] for r in per_unit[big]][:50]
        more = panel.find_element(By.ID, "detail-more").text
        assert more == f"and {len(per_unit[big]) - 50} more"
        classes = {}
        for tr in panel.find_elements(By.CSS_SELECTOR, "#detail-classes tr")[1:]:
            name, count = (td.text for td in tr.find_elements(By.TAG_NAME, "td"))
            classes[name] = int(count)
        expected = Counter(r["label"] or "missing" for r in per_unit[big])
        assert classes == dict(expected)
        proto = panel.find_elements(By.CSS_SELECTOR, "table")[0]
        values = {}
        for tr in proto.find_elements(By.TAG_NAME, "tr")[1:]:
            name, value = (td.text for td in tr.find_elements(By.TAG_NAME, "td"))
            values[name] = float(value)
        assert list(values) == ["u", "v", "w"]
        np.testing.assert_allclose(list(values.values()), W[big], rtol=1e-3, atol=1e-3)

        # hover: the tooltip names the unit
        other = (big + 5) % 16
        ActionChains(driver).move_to_element(cells[other]).perform()
        tip = driver.find_element(By.ID, "unit-tooltip")
        assert tip.is_displayed()
        assert tip.text.startswith(
            f"unit {other} (row {other // 4}, column {other % 4})"
        )

        # switch the colouring: hits use the Blues scale, min to max
        before = [c.get_attribute("fill") for c in cells]
        Select(driver.find_element(By.ID, "color-by")).select_by_value("hits")
        hits = np.array([len(per_unit.get(u, [])) for u in range(16)])
        scale = lut("Blues")
        span = (hits.max() - hits.min()) or 1
        want = [scale[round((h - hits.min()) / span * 63)] for h in hits]
        after = [c.get_attribute("fill") for c in cells]
        assert after == want and after != before
        assert "samples per unit" in driver.find_element(By.ID, "map-legend").text
        Select(driver.find_element(By.ID, "color-by")).select_by_value("cluster")
        clusters = {}
        for r in rows:
            clusters[int(r["bmu"])] = r["cluster"]
        fills = [c.get_attribute("fill") for c in cells]
        for u, v in clusters.items():  # one colour per cluster
            same = [w for w, c in clusters.items() if c == v]
            assert {fills[w] for w in same} == {fills[u]}
        Select(driver.find_element(By.ID, "color-by")).select_by_value("class")
        legend = driver.find_element(By.ID, "map-legend").text
        assert "missing" in legend and "a" in legend

        # search an ID: the unit of a row far down the table
        row = rows[-7]
        box = driver.find_element(By.ID, "id-search")
        box.send_keys(row["id"], Keys.ENTER)
        result = driver.find_element(By.ID, "search-result").text
        assert re.search(rf"\bunit {row['bmu']}\b", result), result
        assert panel.get_attribute("data-unit") == row["bmu"]
        found = driver.find_element(By.CSS_SELECTOR, f'[data-unit="{row["bmu"]}"]')
        assert "found" in found.get_attribute("class")
        box.clear()
        box.send_keys("no-such-id", Keys.ENTER)
        assert "no row" in driver.find_element(By.ID, "search-result").text

        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
