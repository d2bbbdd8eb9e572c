#!/usr/bin/env python3
"""Holes in the data: what ``SOM(missing="ignore")`` costs and how well it fills.

Two measurements, written to ``benchmarks/results_missing.md`` / ``.json``:

1. **Cost of the masked fit.** The same map trained on complete data
   (``missing="error"``) and on the same data with 5% of the values removed
   at random (``missing="ignore"``), interleaved run by run after an untimed
   warm-up of both, for the batch, minibatch and online rules; also the
   complete data with ``missing="ignore"`` (the price of the flag alone).
   The masked BMU search is one GEMM of ``[X0 | M]`` (twice the inner
   dimension of the plain one) plus the exact distance of the winner, so
   the batch fit should cost well under 2.5x the plain fit. When XPySom is
   installed (the fastest peer in ``results.md``), its fit on the complete
   data is timed in the same run for scale; no fast peer trains on holes.
2. **Imputation quality** on breast-cancer (569 x 30, standardised with the
   complete data's mean and deviation) with 10/20/30% of the values removed
   at random, five draws each: RMSE of ``somkit.impute`` on the removed
   values against column-mean imputation and scikit-learn's KNNImputer
   (k=5), and the quantization error on the complete data of the map
   trained with holes vs the same map trained on the complete data.

Run with the benchmark environment::

    PYTHONPATH=src .venv-bench/bin/python benchmarks/missing.py
    PYTHONPATH=src .venv-bench/bin/python benchmarks/missing.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
HOLES = 0.05

# name: samples, features, map, epochs
WORKLOADS = {
    "breast-cancer": dict(n=569, d=30, grid=(20, 20), epochs=100),
    "blobs-50k": dict(n=50_000, d=64, grid=(40, 40), epochs=10),
    "blobs-1m": dict(n=1_000_000, d=32, grid=(30, 30), epochs=5),
}
QUICK = {"breast-cancer": dict(epochs=10), "blobs-50k": dict(n=5000, epochs=2)}
ALGORITHMS = ("batch", "minibatch", "online")
# the 1M-row workload: the batch rule only (the others take minutes per run)
RULES = {"blobs-1m": ("batch",)}


def make_data(name, spec):
    from sklearn import datasets

    if name == "breast-cancer":
        X = datasets.load_breast_cancer().data
    else:
        X, _ = datasets.make_blobs(
            n_samples=spec["n"], n_features=spec["d"], centers=20, random_state=SEED
        )
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.ascontiguousarray(X, dtype=np.float32)


def with_holes(X, frac, seed):
    """X with ``frac`` of its values set to NaN (no row left empty)."""
    rng = np.random.default_rng(seed)
    Xh = X.copy()
    Xh[rng.random(X.shape) < frac] = np.nan
    empty = np.isnan(Xh).all(axis=1)
    Xh[empty, 0] = X[empty, 0]
    return Xh


def som_params(spec, algorithm):
    rows, cols = spec["grid"]
    return dict(
        grid=spec["grid"],
        radius=(max(rows, cols) / 2.0, 1.0),
        algorithm=algorithm,
        n_epochs=spec["epochs"],
        random_state=SEED,
    )


def timed(fit):
    """(wall seconds, CPU seconds of this process) of one call."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    fit()
    return time.perf_counter() - t0, time.process_time() - c0


def xpysom_fit(X, spec):
    """XPySom's batch fit on the complete data, or None when not installed."""
    try:
        from xpysom import XPySom
    except ImportError:
        return None
    # the common protocol's settings, from run.py (one definition)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run

    som = XPySom(**run.xpysom_params(spec["grid"], X.shape[1], np))

    def fit():
        som.pca_weights_init(X)
        som.train(X, spec["epochs"], verbose=False)

    return fit


def cost_rows(names, repeat, quick):
    from somkit import SOM

    rows = []
    for name in names:
        spec = dict(WORKLOADS[name], **(QUICK.get(name, {}) if quick else {}))
        X = make_data(name, spec)
        Xh = with_holes(X, HOLES, SEED)
        algorithms = RULES.get(name, ALGORITHMS)
        for algorithm in algorithms:
            params = som_params(spec, algorithm)
            runs = {
                "complete": lambda p=params, X=X: SOM(**p).fit(X),
                "flag only": lambda p=params, X=X: SOM(missing="ignore", **p).fit(X),
                "5% holes": lambda p=params, X=Xh: SOM(missing="ignore", **p).fit(X),
            }
            peer = xpysom_fit(X, spec) if algorithm == "batch" else None
            if peer is not None:
                runs["xpysom complete"] = peer
            small = dict(spec, n=min(spec["n"], 500), epochs=1)
            for p in (som_params(small, algorithm),):  # warm-up: JIT, threads
                SOM(**p).fit(X[:500])
                SOM(missing="ignore", **p).fit(Xh[:500])
            times = {k: [] for k in runs}
            cpu = {k: [] for k in runs}
            for _ in range(repeat):  # interleaved: load hits every variant
                for key, fit in runs.items():
                    wall, used = timed(fit)
                    times[key].append(wall)
                    cpu[key].append(used)
            med = {k: statistics.median(v) for k, v in times.items()}
            med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
            ratios = [
                h / c for h, c in zip(times["5% holes"], times["complete"], strict=True)
            ]
            row = dict(
                workload=name,
                n=int(X.shape[0]),
                d=int(X.shape[1]),
                grid="x".join(map(str, spec["grid"])),
                epochs=spec["epochs"],
                algorithm=algorithm,
                seconds=med,
                cpu_seconds=med_cpu,
                ratio=med["5% holes"] / med["complete"],
                cpu_ratio=med_cpu["5% holes"] / med_cpu["complete"],
                paired_ratio=statistics.median(ratios),
                flag_ratio=med["flag only"] / med["complete"],
                holes=float(np.isnan(Xh).mean()),
                repeat=repeat,
            )
            rows.append(row)
            print(
                f"{name:14s} {algorithm:9s} complete {med['complete']:.3g} s, "
                f"5% holes {med['5% holes']:.3g} s: {row['ratio']:.2f}x "
                f"(paired {row['paired_ratio']:.2f}x, CPU {row['cpu_ratio']:.2f}x, "
                f"flag {row['flag_ratio']:.2f}x)"
                + (
                    f"; xpysom {med['xpysom complete']:.3g} s"
                    if "xpysom complete" in med
                    else ""
                ),
                flush=True,
            )
    return rows


def imputation_rows(draws):
    from sklearn.datasets import load_breast_cancer
    from sklearn.impute import KNNImputer, SimpleImputer

    from somkit import SOM, impute, metrics

    X = load_breast_cancer().data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    configs = {
        "somkit (grid auto)": dict(grid="auto"),
        "somkit (15x15, radius 4->1)": dict(grid=(15, 15), radius=(4.0, 1.0)),
    }
    rows = []
    for frac in (0.1, 0.2, 0.3):
        per = {}
        for seed in range(draws):
            Xh = with_holes(X, frac, seed)
            gaps = np.isnan(Xh)

            def rmse(filled, gaps=gaps):
                return float(np.sqrt(np.mean((filled[gaps] - X[gaps]) ** 2)))

            per.setdefault("column mean", []).append(
                rmse(SimpleImputer().fit_transform(Xh))
            )
            per.setdefault("KNNImputer (k=5)", []).append(
                rmse(KNNImputer().fit_transform(Xh))
            )
            for label, kw in configs.items():
                holed = SOM(missing="ignore", random_state=seed, **kw).fit(Xh)
                full = SOM(random_state=seed, **kw).fit(X)
                per.setdefault(label, []).append(rmse(impute(holed, Xh)))
                per.setdefault(label + " QE holes", []).append(
                    metrics.quantization_error(holed, X)
                )
                per.setdefault(label + " QE complete", []).append(
                    metrics.quantization_error(full, X)
                )
        row = {"holes": frac, "draws": draws}
        for key, values in per.items():
            row[key] = dict(mean=statistics.mean(values), sd=statistics.pstdev(values))
        mean_rmse = row["column mean"]["mean"]
        for label in configs:
            row[label]["vs_mean"] = 1.0 - row[label]["mean"] / mean_rmse
        rows.append(row)
        print(
            f"{int(frac * 100)}% holes: "
            + ", ".join(
                f"{k} {v['mean']:.3f}" for k, v in row.items() if isinstance(v, dict)
            ),
            flush=True,
        )
    return rows, list(configs)


def machine():
    import numpy
    import sklearn

    import somkit

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return dict(
        python=platform.python_version(),
        platform=platform.platform(),
        cpus=os.cpu_count(),
        load=load,
        versions={
            "somkit": somkit.__version__,
            "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__,
        },
    )


def write_markdown(doc, path):
    lines = [
        "# Holes in the data: cost and imputation quality",
        "",
        f"Generated {doc['generated']} by `benchmarks/missing.py "
        f"{' '.join(doc['argv'])}`.",
        "",
        f"- Machine: {doc['machine']['platform']}, {doc['machine']['cpus']} CPUs, "
        f"Python {doc['machine']['python']}; 1-minute load "
        f"{doc['machine']['load']:.1f} at the start (a shared machine: other jobs "
        "ran, at times 3-4 times the CPUs in load).",
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in doc["machine"]["versions"].items()),
        "",
        "## Cost of the masked fit (5% of the values missing at random)",
        "",
        "Same data (standardised float32), same map and epochs; radius from "
        "max(rows, cols) / 2 down to 1, PCA initialisation, the whole `SOM.fit`"
        " timed. Median of the interleaved runs; **ratio** = 5% holes / "
        "complete (wall time), **paired** = median of the per-run ratios, "
        "**CPU** = the same ratio of CPU seconds (less sensitive to other jobs "
        "on a shared machine), **flag** = complete data with "
        '`missing="ignore"` / complete (the same computation: its distance '
        "from 1.00 shows the noise). Target: ratio <= 2.5x.",
        "",
        "| workload | rule | complete s | flag only s | 5% holes s | ratio | paired "
        "| CPU | flag | XPySom complete s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["cost"]:
        s = r["seconds"]
        peer = s.get("xpysom complete")
        lines.append(
            f"| {r['workload']} ({r['n']} x {r['d']}, {r['grid']}, {r['epochs']} ep) "
            f"| {r['algorithm']} | {s['complete']:.3g} | {s['flag only']:.3g} "
            f"| {s['5% holes']:.3g} | **{r['ratio']:.2f}x** | {r['paired_ratio']:.2f}x "
            f"| {r['cpu_ratio']:.2f}x | {r['flag_ratio']:.2f}x "
            f"| {'—' if peer is None else f'{peer:.3g}'} |"
        )
    labels = doc["imputation_configs"]
    lines += [
        "",
        "## Imputation on breast-cancer (569 x 30, z-scores)",
        "",
        "Values removed at random; RMSE over the removed values, in standard "
        "deviations of each feature (column-mean imputation is about 1). "
        f"Mean (sd) over {doc['imputation'][0]['draws']} draws; somkit's map is "
        '`SOM(missing="ignore", ...)`, 10 batch epochs, its prototypes filled '
        "in by `somkit.impute`. **vs mean** = how much lower than column-mean "
        "imputation (the bar: at least 30%). **QE** = quantization error on "
        "the complete data of the map trained with holes / the same map "
        "trained on the complete data.",
        "",
        "| holes | column mean | KNNImputer (k=5) | "
        + " | ".join(f"{lab} RMSE (vs mean) | QE holes / complete" for lab in labels)
        + " |",
        "|---|---|---|" + "---|---|" * len(labels),
    ]
    for r in doc["imputation"]:

        def cell(v):
            return f"{v['mean']:.3f} ({v['sd']:.3f})"

        parts = [
            f"{int(r['holes'] * 100)}%",
            cell(r["column mean"]),
            cell(r["KNNImputer (k=5)"]),
        ]
        for label in labels:
            parts.append(f"{cell(r[label])} (**{100 * r[label]['vs_mean']:.0f}%**)")
            parts.append(
                f"{r[label + ' QE holes']['mean']:.3f} / "
                f"{r[label + ' QE complete']['mean']:.3f}"
            )
        lines.append("| " + " | ".join(parts) + " |")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def main(argv=None):
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke test")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--no-imputation", action="store_true")
    args = parser.parse_args(argv)
    names = [n for n in args.workloads if not args.quick or n in QUICK]
    doc = dict(
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        argv=list(sys.argv[1:] if argv is None else argv),
        machine=machine(),
        cost=cost_rows(names, 1 if args.quick else args.repeat, args.quick),
    )
    if not args.no_imputation:
        doc["imputation"], doc["imputation_configs"] = imputation_rows(
            2 if args.quick else args.draws
        )
    out = os.path.join(HERE, "_scratch") if args.quick else HERE
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results_missing.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    if "imputation" in doc:
        write_markdown(doc, os.path.join(out, "results_missing.md"))
    print(f"wrote {out}/results_missing.json")


if __name__ == "__main__":
    main()
