#!/usr/bin/env python3
"""Which linear initialisation orders maps best? (writes results_init.md)

Variants of the PCA initialisation, each trained with somkit's default
schedule on run.py's workloads (rect and hex grids, seeds 0-2 where the
subsample makes the seed matter) and through the seed applications (their
own explicit settings):

* ``std``: somkit's default, the SOM Toolbox's ``som_lininit``: unit
  positions normalised to [-1, 1] per grid axis, times the leading principal
  components scaled by their standard deviations, the longest grid axis
  along the first component, around the data mean;
* ``unit``: MiniSom's ``pca_weights_init``: the same with unit-length
  components (+-1 data unit whatever the spread);
* ``half``: ``std`` at half the spread (+-0.5 standard deviation);
* ``geometric``: ``std`` with the grid's own aspect kept (hex rows are
  sqrt(3)/2 apart, so a square hex grid spans less along the rows);
* ``xpysom``: what XPySom 1.0.7's ``pca_weights_init`` computes: it indexes
  *rows* of ``np.linalg.eig``'s eigenvector matrix (whose eigenvectors are
  its columns), so its plane is spanned by two orthonormal but otherwise
  arbitrary directions, +-1 data unit around the origin.

Run with the benchmark environment (about half an hour on two cores)::

    PYTHONPATH=src .venv-bench/bin/python benchmarks/init_study.py
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

VARIANTS = ("std", "unit", "half", "geometric", "xpysom")
WORKLOADS = {
    "blobs-50k": (dict(data="blobs", n=50_000, d=64), (40, 40)),
    "blobs-784": (dict(data="blobs", n=20_000, d=784), (30, 30)),
    "digits": (dict(data="digits"), (30, 30)),
    "breast-cancer": (dict(data="breast_cancer"), (20, 20)),
}


def patch(variant):
    """Make ``somkit._init.pca_factors`` compute ``variant``."""
    import somkit._init as init

    original = getattr(init, "_original_pca_factors", init.pca_factors)
    init._original_pca_factors = original

    def factors(X, grid, sample_weight, backend):
        mean, coords, comps = original(X, grid, sample_weight, backend)
        if variant == "unit":
            comps = comps / np.linalg.norm(comps, axis=1, keepdims=True)
        elif variant == "half":
            comps = comps * 0.5
        elif variant == "geometric":
            pos = grid.positions
            extent = np.ptp(pos, axis=0)
            axes = [a for a in np.argsort(-extent, kind="stable") if extent[a] > 0]
            axes = axes[: coords.shape[1]]
            big = extent[axes[0]]
            coords = np.stack(
                [(2 * (pos[:, a] - pos[:, a].min()) - extent[a]) / big for a in axes],
                axis=1,
            )
        elif variant == "xpysom":
            Xd = np.asarray(X, dtype=np.float64)
            vals, vecs = np.linalg.eig(np.cov(Xd.T))
            order = np.argsort(-vals.real)
            rows = [vecs[order[k]].real for k in range(coords.shape[1])]
            mean, comps = np.zeros_like(mean), np.stack(rows)
        return mean, coords, comps

    init.pca_factors = factors


def workload_rows(name, topology):
    from run import make_data

    from somkit import SOM, metrics

    spec, grid = WORKLOADS[name]
    X = make_data(spec)
    seeds = (0, 1, 2) if len(X) > 5000 else (0,)
    adjacency = "diagonal" if topology == "rect" else "edges"
    out = []
    for variant in VARIANTS:
        patch(variant)
        qe, te = [], []
        for seed in seeds:
            som = SOM(grid, topology=topology, random_state=seed).fit(X)
            qe.append(metrics.quantization_error(som, X))
            te.append(metrics.topographic_error(som, X, adjacency))
        out.append(
            dict(
                case=f"{name} {topology} (default schedule, seeds {len(seeds)})",
                variant=variant,
                qe=float(np.mean(qe)),
                te=float(np.mean(te)),
                te_range=[float(min(te)), float(max(te))],
            )
        )
        print(out[-1], flush=True)
    return out


def app_rows():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from somkit.apps import breast_cancer, digits, grid_types, moons

    out = []
    for variant in VARIANTS:
        patch(variant)
        cases = [
            ("breast-cancer app", breast_cancer.run(), "qe", "te"),
            ("digits app", digits.run(), "qe", "te"),
        ]
        gt = grid_types.run()
        cases += [
            ("grid-types app rect", gt, "qe_rect", "te_rect"),
            ("grid-types app hex", gt, "qe_hex", "te_hex"),
        ]
        mo = moons.run()
        qe_key = next(
            k for k in mo.metrics if k.startswith("qe_radius") and k != "qe_radius0"
        )
        cases.append(("moons app", mo, qe_key, None))
        for case, res, qk, tk in cases:
            out.append(
                dict(
                    case=case,
                    variant=variant,
                    qe=float(res.metrics[qk]),
                    te=None if tk is None else float(res.metrics[tk]),
                    purity=res.metrics.get("purity"),
                )
            )
            print(out[-1], flush=True)
        plt.close("all")
    return out


CONCLUSION = """\
## Conclusion

``std`` (the SOM Toolbox's linear initialisation, somkit's default) stays the
default: under the default schedule it has the lowest or a tied-lowest QE on
every rect workload, and its TE is within the seed-to-seed range of the best
variant everywhere except digits/breast-cancer hex, where no variant wins
on both (geometric orders digits hex best and breast-cancer hex worst). Through
the seed applications' own settings it orders the breast-cancer and digits
maps best (TE 0.048 / 0.075 against 0.056-0.060 / 0.085-0.098 for ``unit``
and ``xpysom``). Unit-length and half-spread planes cost order on wide data
(blobs-784: TE 0.014-0.029 against 0.004). The observation that somkit
ordered blobs-50k better from XPySom's initialisation (TE8 0.043 against 0.059
under the former 10-epoch default) does not survive the default schedule
(0.039 against 0.041, within the seeds' range), and that initialisation is not
a principal plane at all (see ``xpysom`` above).
"""


def write(rows, path):
    L = [
        "# Linear initialisation study (benchmarks/init_study.py)",
        "",
        __doc__.split("Run with")[0].strip(),
        "",
        "QE and TE (8 neighbours on rect, 6 on hex; the apps report their own "
        "TE, 4/6 neighbours) of the trained maps; mean over seeds, TE range in "
        "brackets. Best QE and best TE per case in bold.",
        "",
        "| case | " + " | ".join(VARIANTS) + " |",
        "|---|" + "---|" * len(VARIANTS),
    ]
    cases = list(dict.fromkeys(r["case"] for r in rows))
    for case in cases:
        by = {r["variant"]: r for r in rows if r["case"] == case}
        best_qe = min(by[v]["qe"] for v in VARIANTS)
        tes = [by[v]["te"] for v in VARIANTS if by[v]["te"] is not None]
        best_te = min(tes) if tes else None
        cells = []
        for v in VARIANTS:
            r = by[v]
            qe = f"{r['qe']:.4f}"
            qe = f"**{qe}**" if r["qe"] == best_qe else qe
            if r["te"] is None:
                cells.append(f"QE {qe}")
                continue
            te = f"{r['te']:.4f}"
            te = f"**{te}**" if r["te"] == best_te else te
            rng = r.get("te_range")
            extra = f" ({rng[0]:.3f}-{rng[1]:.3f})" if rng and rng[0] != rng[1] else ""
            cells.append(f"QE {qe}, TE {te}{extra}")
        L.append(f"| {case} | " + " | ".join(cells) + " |")
    L += ["", CONCLUSION]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    if "--render" in sys.argv:  # rewrite the markdown from the json
        with open(os.path.join(HERE, "results_init.json")) as f:
            write(json.load(f), os.path.join(HERE, "results_init.md"))
        return
    t0 = time.perf_counter()
    rows = []
    for topology in ("rect", "hex"):
        for name in WORKLOADS:
            rows += workload_rows(name, topology)
    rows += app_rows()
    with open(os.path.join(HERE, "results_init.json"), "w") as f:
        json.dump(rows, f, indent=1)
    write(rows, os.path.join(HERE, "results_init.md"))
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
