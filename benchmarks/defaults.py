"""Each library as a user would run it: its own defaults (run.py's "defaults"
protocol).

run.py's common protocol matches every library's settings (radius from half
the grid to 1 everywhere, the workload's epochs, XPySom with
``std_coeff=1.0``). This module adds the protocol a user meets first:

* ``somkit_default``: ``SOM(grid, random_state=0)``, nothing else set;
* ``xpysom_default``: XPySom as its README trains it: PCA initialisation,
  sigma from half the grid to 1 and learning rate 0.5 to 0.01 with linear
  decay, its default ``std_coeff=0.5``, 10 epochs;
* ``minisom_random_20``: MiniSom ``train_random`` with sigma from half the
  grid to 1 (linear), learning rate 0.5 to 0 (linear), PCA initialisation,
  20 epochs' worth of single-sample steps.

XPySom's and MiniSom's adapters are run.py's (fit_xpysom with std_coeff=0.5,
fit_minisom at 20 epochs); somkit's is here. Each returns the dict of
run.py's adapters (codebook, seconds, cpu_seconds, work, params).
"""

from __future__ import annotations

import time

SEED = 0
#: epochs of the fixed-epoch protocols (None: the library's own default)
EPOCHS = {"somkit_default": None, "xpysom_default": 10, "minisom_random_20": 20}


def _clock(call):
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = call()
    return time.perf_counter() - t0, time.process_time() - c0, out


def fit_somkit_default(X, grid, epochs, frac):
    """``SOM(grid, random_state=0).fit(X)``; ``epochs``/``frac`` unused
    (the default schedule is the subject, so it is never shortened)."""
    import numpy as np

    from somkit import SOM

    som = SOM(grid, random_state=SEED)
    wall, cpu, _ = _clock(lambda: som.fit(X))
    hist = som.history_
    n = len(X)
    rows = hist.get("rows") or [n] * len(hist["epoch"])
    full = sum(1 for r in rows if r >= n)
    # PCA init from all rows: two passes (mean, covariance); the default
    # schedule initialises from its subsample when it draws one
    init = 0 if min(rows) < n else 2
    return dict(
        codebook=np.asarray(som.codebook_),
        seconds=wall,
        cpu_seconds=cpu,
        work=1.0,
        epochs=len(rows),
        full_epochs=full,
        # the PCA init's passes, epochs over every row, the labels_ pass
        full_passes=init + full + 1,
        row_passes=init + sum(rows) / n + 1,
        params=dict(
            protocol="defaults",
            schedule=getattr(som, "schedule_", None),
            radius=[round(r, 3) for r in hist["radius"]],
            rows=rows,
            timed="SOM.fit: init + epochs + final labels_ pass",
        ),
    )


def headline(doc, ordered, fmt):
    """Markdown lines: somkit's defaults against XPySom's and MiniSom's."""
    L = [
        "## Defaults: somkit `SOM(grid)` against XPySom's own protocol",
        "",
        "somkit with nothing but the grid and the seed set; XPySom with its "
        "README's protocol (PCA init, sigma half the grid -> 1 and learning "
        "rate 0.5 -> 0.01 linear, default std_coeff=0.5, 10 epochs); MiniSom "
        "train_random at 20 epochs (sigma half the grid -> 1). **passes** = "
        "somkit's passes over every row: the PCA initialisation's (2 when it "
        "reads all rows), the epochs over every row and the final labels_ pass "
        "(rows read in all, in passes over the data, in brackets). **CPU-time "
        "ratio**: the same ratio in CPU seconds (both libraries use both cores; "
        "less sensitive to other jobs than wall time). Targets: "
        "TE8 <= 0.05; blobs: QE within 1% of XPySom's or lower in at most 1/3 "
        "of its time; breast-cancer and digits: QE below MiniSom's.",
        "",
        "| workload | somkit s | QE | TE8 | passes | XPySom s | QE | TE8 "
        "| time ratio | CPU-time ratio | QE ratio | MiniSom 20 ep QE | TE8 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in ordered(doc):
        by = {r["lib"]: r for r in w["results"]}
        sk = by.get("somkit_default", {})
        xp = by.get("xpysom_default", {})
        ms = by.get("minisom_random_20", {})
        if not sk and not xp:
            continue
        ratio = (
            sk["full_s"] / xp["full_s"]
            if sk.get("full_s") and xp.get("full_s")
            else None
        )
        qe = sk["qe"] / xp["qe"] if sk.get("qe") and xp.get("qe") else None
        cpu = None
        if sk.get("cpu_seconds") and xp.get("cpu_seconds") and xp.get("work") == 1:
            cpu = sk["cpu_seconds"] / xp["cpu_seconds"]
        passes = (
            f"{sk['full_passes']} ({fmt(sk.get('row_passes'), '.2f')})"
            if sk.get("full_passes") is not None
            else "—"
        )
        L.append(
            f"| {w['name']} | {fmt(sk.get('full_s'), '.3g')} "
            f"| {fmt(sk.get('qe'), '.4f')} | {fmt(sk.get('te8'), '.3f')} | {passes} "
            f"| {fmt(xp.get('full_s'), '.3g')} | {fmt(xp.get('qe'), '.4f')} "
            f"| {fmt(xp.get('te8'), '.3f')} | {fmt(ratio, '.2f')} "
            f"| {fmt(cpu, '.2f')} | {fmt(qe, '.4f')} | {fmt(ms.get('qe'), '.4f')} "
            f"| {fmt(ms.get('te8'), '.3f')} |"
        )
    L.append("")
    return L
