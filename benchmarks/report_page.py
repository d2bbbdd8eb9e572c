"""The report page: screenshots on the wine table and its size at 200,000 rows.

Runs ``somkit report`` as a user would, drives the page in headless
Chromium (selenium + Debian's chromium-driver) and writes into ``--out``:

* ``wine-after.png``: the whole page at half size;
* ``wine-after-explorer.png``: the interactive map, coloured by majority
  class, with a unit clicked (details panel) and the tooltip;
* ``wine-after-clusters.png``: the clusters section;
* ``results.md`` / ``results.json``: page and table sizes and timings for
  the wine table and for a 200,000-row table (with and without an ID
  column).

Usage::

    PYTHONPATH=src python benchmarks/report_page.py --out benchmarks/report

The "before" screenshot (``wine-before.png``, whole page at half size) is
the report of ``main`` at 0957b87 (before issue 15) on the same table
without its ID column (that report had no ``--id-column``), taken with
``chromium --headless --screenshot``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def somkit(*args):
    tic = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "somkit", *map(str, args), "-q"],
        check=True,
        env={"MPLBACKEND": "Agg", **__import__("os").environ},
    )
    return time.perf_counter() - tic


def wine_csv(path):
    from sklearn.datasets import load_wine

    d = load_wine(as_frame=True)
    frame = d.frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map(lambda c: f"cultivar_{c + 1}")
    frame.insert(0, "wine_id", [f"W{i:03d}" for i in range(len(frame))])
    frame.to_csv(path, index=False)


def big_csv(path, n, with_ids):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (5, 8))
    k = rng.integers(0, 5, n)
    X = centres[k] + rng.normal(0, 1, (n, 8))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [*(["row_id"] if with_ids else []), *[f"f{j}" for j in range(8)], "group"]
        )
        for i in range(n):
            ident = [f"R{i:07d}"] if with_ids else []
            w.writerow([*ident, *np.round(X[i], 4).tolist(), f"g{k[i]}"])


def sizes(folder):
    text = (folder / "index.html").read_text()
    start = text.index('id="som-data">') + len('id="som-data">')
    data = text[start : text.index("</script>", start)]
    payload = json.loads(data)
    return {
        "page_bytes": (folder / "index.html").stat().st_size,
        "embedded_png_bytes": sum(
            len(p) for p in re.findall(r"data:image/png;base64,([^\"]+)", text)
        ),
        "map_data_bytes": len(data),
        "ids_in_page": sum(len(u) for u in payload["ids"]),
        "id_cap_per_unit": payload["idCap"],
        "rows_csv_bytes": (folder / "rows.csv").stat().st_size,
        "units": len(payload["hits"]),
    }


def half(path):
    """Shrink a screenshot to half its size (a whole page, for the record)."""
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB").resize((img.width // 2, img.height // 2))
    small.save(path, optimize=True)


def screenshots(page, out):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,2000",
        "--hide-scrollbars",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(page.resolve().as_uri())
        Select(driver.find_element(By.ID, "color-by")).select_by_value("class")
        hits = json.loads(
            driver.find_element(By.ID, "som-data").get_attribute("textContent")
        )["hits"]
        busiest = int(np.argmax(hits))
        cell = driver.find_element(By.CSS_SELECTOR, f'[data-unit="{busiest}"]')
        explorer = driver.find_element(By.ID, "explorer")
        driver.execute_script("arguments[0].scrollIntoView()", explorer)
        ActionChains(driver).move_to_element(cell).click().perform()
        driver.save_screenshot(str(out / "wine-after-explorer.png"))
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, height + 100)
        driver.execute_script("window.scrollTo(0, 0)")
        full = out / "wine-after.png"
        driver.save_screenshot(str(full))
        half(full)
        section = driver.find_element(By.ID, "clusters")
        driver.execute_script("arguments[0].scrollIntoView()", section)
        section.screenshot(str(out / "wine-after-clusters.png"))
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/report"))
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wine_csv(tmp / "wine.csv")
        seconds = somkit(
            "report",
            tmp / "wine.csv",
            "-o",
            tmp / "wine",
            "--id-column",
            "wine_id",
            "--label-column",
            "cultivar",
        )
        results["wine"] = {
            "rows": 178,
            "seconds": round(seconds, 1),
            **sizes(tmp / "wine"),
        }
        screenshots(tmp / "wine" / "index.html", args.out)
        for with_ids in (True, False):
            name = f"{args.rows}_rows_" + ("ids" if with_ids else "row_numbers")
            big_csv(tmp / "big.csv", args.rows, with_ids)
            opts = ["--label-column", "group"]
            if with_ids:
                opts += ["--id-column", "row_id"]
            seconds = somkit("report", tmp / "big.csv", "-o", tmp / name, *opts)
            results[name] = {
                "rows": args.rows,
                "seconds": round(seconds, 1),
                **sizes(tmp / name),
            }
            print(name, results[name], flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    keys = [
        "rows",
        "units",
        "page_bytes",
        "embedded_png_bytes",
        "map_data_bytes",
        "ids_in_page",
        "id_cap_per_unit",
        "rows_csv_bytes",
        "seconds",
    ]
    lines = ["| table | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
