"""FlowSOM on somkit against saeyslab's `flowsom`, on cytometry-like data.

Run in the benchmark environment (it has `flowsom`, see README.md):

    .venv-bench/bin/python benchmarks/cytometry.py            # comparison (~3 min)
    .venv-bench/bin/python benchmarks/cytometry.py --scale    # + 10M x 30 run

Data: ``somkit.cytometry.make_cytometry`` (lineages whose children differ in
one or two markers, log-normal intensities, spill-over, background noise,
arcsinh with cofactor 5), 300,000 cells x 20 markers, 15 populations of
which two are rare (0.5% and 0.3%). Every variant runs in its own process
(benchmarks/run.py's ``run_child``), warmed up on 5,000 cells first (JIT,
thread pools), then timed on the full data once per seed; time is the median
over the seeds of the whole fit (map + metaclustering + labels of every
cell); flowsom's is its ``FlowSOM(...)`` call, which also builds its MuData
tables. Quality: adjusted Rand index against the true populations, and the
F1 score of each rare population under a one-to-one (Hungarian) matching of
populations to metaclusters; each variant asks for 15 metaclusters.

``--scale`` trains FlowSOM (10 x 10, 15 metaclusters) on 10,000,000 cells x
30 markers held in a memory-mapped .npy file and assigns every cell; it
reports time and peak RSS (VmHWM). Results go to results_cytometry.md/.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (benchmarks/run.py: child runner, machine info)

SCRATCH = os.path.join(run.SCRATCH, "cytometry")
N_CLUSTERS = 15
RARE = (13, 14)  # make_cytometry puts the rare populations last

# name -> (description, FlowSOM keyword arguments); None = the flowsom package
ONE_STAGE = {"subsample": None, "final_epochs": 0, "n_epochs": 10}
VARIANTS = {
    "flowsom": ("flowsom 0.2.2 (FlowSOM's online SOM, consensus)", None),
    "somkit": (
        "somkit FlowSOM defaults: ordering on 50k cells (radius q67 -> 0, 20 "
        "epochs), 3 radius-0 passes on all cells, consensus (average)",
        {},
    ),
    "somkit-online": (
        "FlowSOM's own rule on somkit: online, bubble, alpha 0.05 -> 0.01, all "
        "cells, 10 epochs, every unit metaclustered",
        dict(
            ONE_STAGE,
            algorithm="online",
            neighborhood="bubble",
            learning_rate=(0.05, 0.01),
            empty_units="cluster",
        ),
    ),
    "one-stage": (
        "ablation: batch map on all cells, 10 epochs, radius q67 -> 0",
        ONE_STAGE,
    ),
    "radius-1.5": (
        "ablation: radius ends at 1.5, no radius-0 passes",
        {"radius": "end1.5", "final_epochs": 0},
    ),
    "all-units": (
        "ablation: empty units metaclustered too (FlowSOM's way)",
        {"empty_units": "cluster"},
    ),
    "average": (
        "ablation: one average-linkage tree instead of consensus",
        {"metaclustering": "hierarchical", "linkage": "average"},
    ),
    "ward": (
        "ablation: one Ward tree instead of consensus",
        {"metaclustering": "hierarchical", "linkage": "ward"},
    ),
    "plain": (
        "plain somkit map (all cells, 10 epochs, radius 2.5 -> 1.5) + Ward",
        dict(
            ONE_STAGE,
            radius=(2.5, 1.5),
            metaclustering="hierarchical",
            linkage="ward",
        ),
    ),
}


# ------------------------------------------------------------------ children
def _somkit_kwargs(kwargs):
    from somkit.cytometry._flowsom import flowsom_radius

    kwargs = dict(kwargs)
    if kwargs.get("radius") == "end1.5":
        kwargs["radius"] = (flowsom_radius((10, 10)), 1.5)
    return kwargs


def _fit_somkit(X, seed, kwargs):
    from somkit.cytometry import FlowSOM

    fs = FlowSOM(n_clusters=N_CLUSTERS, random_state=seed, **_somkit_kwargs(kwargs))
    return np.asarray(fs.fit(X).labels_)


def _fit_flowsom(X, seed):
    import anndata as ad
    import flowsom as fs
    import pandas as pd
    from loguru import logger

    logger.remove()  # flowsom logs every step at DEBUG level
    names = [f"m{i}" for i in range(X.shape[1])]
    var = pd.DataFrame({"marker": names, "channel": names}, index=names)
    adata = ad.AnnData(X, var=var)
    model = fs.FlowSOM(
        adata, cols_to_use=list(range(X.shape[1])), n_clusters=N_CLUSTERS, seed=seed
    )
    return np.asarray(model.get_cell_data().obs["metaclustering"]).astype(np.int64)


def child(spec):
    import warnings

    warnings.filterwarnings("ignore")
    out = {"status": "ok"}
    try:
        X = np.load(os.path.join(SCRATCH, "X.npy"))
        name, seed = spec["variant"], int(spec["seed"])
        kwargs = VARIANTS[name][1]

        def fit(data, s):
            if kwargs is None:
                return _fit_flowsom(data, s)
            return _fit_somkit(data, s, kwargs)

        fit(X[:5000], seed)  # warm-up: JIT compilation, thread pools
        t0 = time.perf_counter()
        labels = fit(X, seed)
        out["seconds"] = time.perf_counter() - t0
        out["peak_rss_mb"] = run._status_mb("VmHWM")
        path = os.path.join(SCRATCH, f"labels-{name}-{seed}.npy")
        np.save(path, labels)
        out["labels"] = path
    except Exception as exc:  # noqa: BLE001 - reported in the table
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    with open(spec["result"], "w") as fh:
        json.dump(out, fh)


def scale_child(spec):
    """Train on a 10M x 30 memmap and assign every cell; time and peak RSS."""
    out = {"status": "ok"}
    try:
        from somkit.cytometry import FlowSOM

        X = np.load(spec["path"], mmap_mode="r")
        y = np.load(spec["labels"], mmap_mode="r")
        base = run._status_mb("VmHWM")
        t0 = time.perf_counter()
        fs = FlowSOM(n_clusters=N_CLUSTERS, random_state=0).fit(X)
        out["fit_seconds"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        pred = fs.predict(X)
        out["predict_seconds"] = time.perf_counter() - t1
        out["peak_rss_mb"] = run._status_mb("VmHWM")
        out["rss_before_mb"] = base
        from sklearn.metrics import adjusted_rand_score

        sub = np.random.default_rng(0).choice(len(y), 1_000_000, replace=False)
        out["ari_1m_subsample"] = float(adjusted_rand_score(y[sub], pred[sub]))
        out["cells"], out["markers"] = int(X.shape[0]), int(X.shape[1])
    except Exception as exc:  # noqa: BLE001
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    with open(spec["result"], "w") as fh:
        json.dump(out, fh)


# ------------------------------------------------------------------- scoring
def rare_f1(y, pred, pops=RARE):
    """F1 of each population in ``pops`` under a one-to-one matching."""
    from scipy.optimize import linear_sum_assignment

    ys, ps = np.unique(y), np.unique(pred)
    y_idx = np.searchsorted(ys, y)
    p_idx = np.searchsorted(ps, pred)
    both = np.zeros((ys.size, ps.size))
    np.add.at(both, (y_idx, p_idx), 1)
    F = 2 * both / (both.sum(1, keepdims=True) + both.sum(0, keepdims=True))
    rows, cols = linear_sum_assignment(-F)
    match = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    out = []
    for pop in pops:
        i = int(np.searchsorted(ys, pop))
        out.append(float(F[i, match[i]]) if i in match else 0.0)
    return out


def compare(args):
    from sklearn.metrics import adjusted_rand_score

    from somkit.cytometry import make_cytometry

    os.makedirs(SCRATCH, exist_ok=True)
    X, y = make_cytometry(args.cells, 20, 15, random_state=0)
    np.save(os.path.join(SCRATCH, "X.npy"), X)
    rows = []
    for name in args.variants:
        runs = []
        for seed in args.seeds:
            res, log = run.run_child(__file__, {"variant": name, "seed": seed}, 1800)
            if res.get("status") != "ok":
                res.setdefault("error", log[-2000:])
            if res.get("status") != "ok":
                print(f"{name} seed {seed}: {res.get('error')}", flush=True)
                runs = []
                break
            pred = np.load(res["labels"])
            f1 = rare_f1(y, pred)
            runs.append((res["seconds"], adjusted_rand_score(y, pred), f1, res))
            print(
                f"{name:14s} seed {seed}: {res['seconds']:7.2f} s  ARI "
                f"{runs[-1][1]:.3f}  rare F1 {f1[0]:.2f} / {f1[1]:.2f}",
                flush=True,
            )
        if not runs:
            rows.append({"variant": name, "status": "error"})
            continue
        rows.append(
            {
                "variant": name,
                "what": VARIANTS[name][0],
                "seconds": statistics.median(r[0] for r in runs),
                "ari_mean": float(np.mean([r[1] for r in runs])),
                "ari_min": float(np.min([r[1] for r in runs])),
                "rare_f1": [float(np.mean([r[2][i] for r in runs])) for i in range(2)],
                "rare_f1_mean": float(np.mean([np.mean(r[2]) for r in runs])),
                "peak_rss_mb": max(r[3]["peak_rss_mb"] for r in runs),
                "seeds": list(args.seeds),
            }
        )
    return rows


def scale(args):
    from somkit.cytometry import make_cytometry

    os.makedirs(SCRATCH, exist_ok=True)
    path = os.path.join(SCRATCH, "big.npy")
    n, d = args.scale_cells, 30
    t0 = time.perf_counter()
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    _, y = make_cytometry(n, d, 15, random_state=1, out=X)
    X.flush()
    del X
    np.save(os.path.join(SCRATCH, "big-labels.npy"), y.astype(np.int8))
    del y
    print(f"generated {n} x {d} in {time.perf_counter() - t0:.0f} s", flush=True)
    spec = {"path": path, "labels": os.path.join(SCRATCH, "big-labels.npy")}
    res, log = run.run_child(__file__, dict(spec, scale=True), 3600)
    if res.get("status") != "ok":
        print(log[-3000:])
    return res


def write(rows, big, args):
    from importlib import metadata

    doc = {"machine": run.machine(), "rows": rows, "scale": big}
    vers = {}
    for pkg in ("somkit", "flowsom", "numpy", "scikit-learn", "scipy", "numba"):
        try:
            vers[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            vers[pkg] = None
    doc["versions"] = vers
    stem = os.path.join(HERE, args.out)
    with open(stem + ".json", "w") as fh:
        json.dump(doc, fh, indent=1)
    m = doc["machine"]
    lines = [
        "# FlowSOM on somkit vs flowsom",
        "",
        f"Generated {m['when']} by `benchmarks/cytometry.py` "
        f"({' '.join(sys.argv[1:]) or 'no options'}).",
        f"Machine: {m.get('cpu', '?')} x {m['cores']} cores, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in vers.items() if v),
        "",
    ]
    if rows:
        ref = next(
            (r for r in rows if r["variant"] == "flowsom" and "seconds" in r), None
        )
        lines += [
            f"{args.cells} cells x 20 markers, 15 populations (rare: 0.5% and "
            f"0.3%), 15 metaclusters, seeds {', '.join(map(str, args.seeds))}; "
            "time = median over the seeds after a warm-up, ARI = mean (min), "
            "rare F1 = mean over the seeds.",
            "",
            "| variant | what | time s | speed-up vs flowsom | ARI mean (min) "
            "| F1 rare 0.5% | F1 rare 0.3% | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            if "seconds" not in r:
                lines.append(f"| {r['variant']} | error | | | | | | |")
                continue
            speed = f"{ref['seconds'] / r['seconds']:.1f}x" if ref else "-"
            lines.append(
                f"| {r['variant']} | {r['what']} | {r['seconds']:.2f} | {speed} | "
                f"{r['ari_mean']:.3f} ({r['ari_min']:.3f}) | {r['rare_f1'][0]:.2f} | "
                f"{r['rare_f1'][1]:.2f} | {r['peak_rss_mb']:.0f} |"
            )
    if big:
        lines += ["", "## 10 million cells x 30 markers (memory-mapped .npy)", ""]
        if big.get("status") == "ok":
            lines += [
                "| cells | markers | fit s | assign all s | peak RSS MB "
                "| RSS before fit MB | ARI (1M-cell subsample) |",
                "|---|---|---|---|---|---|---|",
                f"| {big['cells']} | {big['markers']} | {big['fit_seconds']:.1f} | "
                f"{big['predict_seconds']:.1f} | {big['peak_rss_mb']:.0f} | "
                f"{big['rss_before_mb']:.0f} | {big['ari_1m_subsample']:.3f} |",
            ]
        else:
            lines.append(f"failed: {big.get('error')}")
    with open(stem + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--cells", type=int, default=300_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--scale", action="store_true", help="also the 10M x 30 run")
    p.add_argument("--scale-only", action="store_true")
    p.add_argument("--scale-cells", type=int, default=10_000_000)
    p.add_argument("--out", default="results_cytometry")
    args = p.parse_args()
    if args.child:
        spec = json.loads(args.child)
        return scale_child(spec) if spec.get("scale") else child(spec)
    rows = [] if args.scale_only else compare(args)
    big = scale(args) if (args.scale or args.scale_only) else None
    write(rows, big, args)


if __name__ == "__main__":
    main()
