#!/usr/bin/env python3
"""GPU benchmark: somkit on CUDA against torchsom and XPySom (xp=cupy).

Trains the workloads of the CPU benchmark (same data, same maps, same epochs,
matched settings: rect grid, gaussian kernel, radius from max(rows, cols) / 2
down to 1, PCA initialisation) with

* somkit ``SOM(algorithm="batch" | "minibatch", backend="torch", device="cuda")``
  (numpy data in, so the upload to the GPU is inside the timed fit);
* torchsom ``SOM(..., device="cuda")`` (minibatches of 256, data already on
  the GPU);
* XPySom ``XPySom(..., xp=cupy)`` (batch rule on CuPy arrays).

Every (library, workload) pair runs in its own subprocess with a timeout and
a small warm-up (CUDA context, cuBLAS handles) before the timed call. The
parent scores every codebook with one implementation, :mod:`somkit.metrics`
(QE, TE with 4-neighbourhoods), and relates each time to the floor: one
float32 (N x D) @ (D x n_units) product per epoch on the same GPU.

Usage (an environment with torch built for CUDA; add cupy-cuda12x, xpysom
and torchsom for the peers; missing peers are reported, not fatal)::

    python benchmarks/gpu.py                      # all workloads
    python benchmarks/gpu.py --quick              # smoke test
    python benchmarks/gpu.py --libs somkit_batch,torchsom --workloads blobs-50k

Writes a markdown table to benchmarks/results_gpu.md (``--quick``:
benchmarks/_scratch/results_gpu_quick.md) and prints it. Without CUDA it
says so and exits with status 0. ``--device cpu`` runs the same script on the
CPU (XPySom on numpy), only to check the script itself.

Takes its data and torchsom's settings from benchmarks/run.py (the CPU
benchmark), so both benchmarks train on the same arrays.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH = os.path.join(HERE, "_scratch")
SEED = 0

LIBS = {
    "somkit_batch": "somkit batch map, backend='torch'",
    "somkit_minibatch": "somkit minibatch rule (256 per step), backend='torch'",
    "torchsom": "torchsom SOM.fit, minibatches of 256",
    "xpysom": "XPySom.train (batch rule), xp=cupy",
}
PEERS = ("torchsom", "xpysom")


def _cpu_benchmark():
    """benchmarks/run.py, whose workloads, data and settings this one shares."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run

    return run


# the workloads, and their --quick versions (a smoke test, not a result)
WORKLOADS = _cpu_benchmark().WORKLOADS
QUICK = _cpu_benchmark().QUICK


def make_data(spec):
    """The CPU benchmark's data, so both benchmarks train on the same arrays."""
    return _cpu_benchmark().make_data(spec)


# ------------------------------------------------------------------ children
def _sync(device):
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def fit_somkit(X, grid, epochs, device, algorithm):
    from somkit import SOM

    def som(n_epochs):
        return SOM(**_cpu_benchmark().somkit_params(grid, n_epochs, algorithm, device))

    som(1).fit(X[:512])  # warm-up: CUDA context, cuBLAS, kernels
    s = som(epochs)
    _sync(device)
    t0 = time.perf_counter()
    s.fit(X)
    _sync(device)
    seconds = time.perf_counter() - t0
    return s.codebook_, seconds, dict(train_seconds=float(sum(s.history_["seconds"])))


def fit_torchsom(X, grid, epochs, device):
    import torch
    from torchsom.core import SOM

    rows, cols = grid
    torch.manual_seed(SEED)
    Xt = torch.from_numpy(X).to(device)

    def make(n_epochs):
        return SOM(
            **_cpu_benchmark().torchsom_params(grid, X.shape[1], n_epochs, device)
        )

    warm = make(1)
    warm.initialize_weights(Xt[:512], mode="pca")
    warm.fit(Xt[:512], verbose=False)
    som = make(epochs)
    som.initialize_weights(Xt, mode="pca")
    _sync(device)
    t0 = time.perf_counter()
    som.fit(Xt, verbose=False)
    _sync(device)
    seconds = time.perf_counter() - t0
    W = som.weights.detach().cpu().numpy()
    return W.reshape(rows * cols, -1), seconds, dict(note="fit also computes QE/TE")


def fit_xpysom(X, grid, epochs, device):
    import numpy as np

    with contextlib.redirect_stdout(io.StringIO()):
        from xpysom import XPySom
    if device.startswith("cuda"):
        import cupy as xp
    else:
        xp = np
    rows, cols = grid

    def make():
        return XPySom(**_cpu_benchmark().xpysom_params(grid, X.shape[1], xp))

    def sync():
        if xp is not np:
            xp.cuda.Stream.null.synchronize()

    warm = make()
    warm.pca_weights_init(X[:512])
    warm.train(X[:512], 1)
    som = make()
    som.pca_weights_init(X)
    sync()
    t0 = time.perf_counter()
    som.train(X, epochs)
    sync()
    seconds = time.perf_counter() - t0
    W = som.get_weights()
    if xp is not np:
        W = xp.asnumpy(W)
    return np.asarray(W).reshape(rows * cols, -1), seconds, dict(xp=xp.__name__)


def gemm_floor(X, n_units, device):
    """Fastest float32 (N x D) @ (D x n_units) product on the device (data there)."""
    import torch

    g = torch.Generator().manual_seed(SEED)
    W = torch.randn(X.shape[1], n_units, generator=g).to(device)
    Xt = torch.from_numpy(X).to(device)
    torch.matmul(Xt, W)
    times = []
    for _ in range(7):
        _sync(device)
        t0 = time.perf_counter()
        torch.matmul(Xt, W)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def child(spec):
    """Run one measurement; write its result as JSON to spec['result']."""
    import numpy as np

    out = dict(status="error")
    try:
        wl = dict(WORKLOADS[spec["workload"]], **spec["overrides"])
        X = make_data(wl)
        device = spec["device"]
        if spec["lib"] == "floor":
            gemm = gemm_floor(X, wl["grid"][0] * wl["grid"][1], device)
            out.update(status="ok", gemm_s=gemm, seconds=gemm * wl["epochs"])
        else:
            fit = {
                "somkit_batch": lambda *a: fit_somkit(*a, "batch"),
                "somkit_minibatch": lambda *a: fit_somkit(*a, "minibatch"),
                "torchsom": fit_torchsom,
                "xpysom": fit_xpysom,
            }[spec["lib"]]
            W, seconds, extra = fit(X, tuple(wl["grid"]), wl["epochs"], device)
            np.save(spec["codebook"], np.asarray(W, dtype=np.float64))
            out.update(status="ok", seconds=seconds, **extra)
    except ImportError as e:
        out.update(status="missing", error=f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - report any failure of a peer
        out.update(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    with open(spec["result"], "w") as f:
        json.dump(out, f)


def spawn(spec, timeout):
    """Run one child in its own process group; return its result dict."""
    fd, codebook = tempfile.mkstemp(suffix=".npy", dir=SCRATCH)
    os.close(fd)
    out, log = _cpu_benchmark().run_child(
        __file__, dict(spec, codebook=codebook), timeout
    )
    if out["status"] == "ok" and os.path.getsize(codebook):
        import numpy as np

        out["codebook"] = np.load(codebook)
    if out["status"] not in ("ok", "missing"):
        out["log"] = log[-2000:]
    with contextlib.suppress(OSError):
        os.unlink(codebook)
    return out


# -------------------------------------------------------------------- parent
def versions():
    from importlib import metadata

    out = {}
    for pkg in ("somkit", "torch", "numpy", "torchsom", "xpysom", "cupy-cuda12x"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def cuda_status(device):
    """(ok, description of the device or why there is none)."""
    if not device.startswith("cuda"):
        return True, f"CPU ({platform.processor() or platform.machine()})"
    try:
        import torch
    except ImportError:
        return False, "torch is not installed (pip install 'somkit[torch]')"
    if not torch.cuda.is_available():
        return False, (
            f"CUDA is not available to torch {torch.__version__} "
            "(torch.cuda.is_available() is False)"
        )
    return True, torch.cuda.get_device_name(torch.device(device))


def fmt(v, spec=".3g"):
    if v is None or v != v:  # None or NaN
        return "-"
    return format(v, spec)


def table(rows, header):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    ap.add_argument("--libs", default=",".join(LIBS), help="comma-separated")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--device", default="cuda", help="torch device (default cuda)")
    ap.add_argument("--out", default=None, help="markdown output path")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    ok, device_name = cuda_status(args.device)
    if not ok:
        print(f"benchmarks/gpu.py: {device_name}; nothing to measure.")
        print("Run it on a machine with an NVIDIA GPU and a CUDA build of torch.")
        return 0
    libs = [s for s in args.libs.split(",") if s]
    workloads = [s for s in args.workloads.split(",") if s]
    for name, known in ((libs, LIBS), (workloads, WORKLOADS)):
        bad = [s for s in name if s not in known]
        if bad:
            ap.error(f"unknown {bad}; choose from {sorted(known)}")
    os.makedirs(SCRATCH, exist_ok=True)
    out_path = args.out or (
        os.path.join(SCRATCH, "results_gpu_quick.md")
        if args.quick
        else os.path.join(HERE, "results_gpu.md")
    )

    rows = []
    notes = []
    for wname in workloads:
        overrides = QUICK[wname] if args.quick else {}
        wl = dict(WORKLOADS[wname], **overrides)
        X = make_data(wl)
        base = dict(workload=wname, overrides=overrides, device=args.device)
        floor = spawn(dict(base, lib="floor"), args.timeout)
        floor_s = floor.get("seconds") if floor["status"] == "ok" else None
        results = {}
        for lib in libs:
            print(f"[{wname}] {lib} ...", flush=True)
            r = spawn(dict(base, lib=lib), args.timeout)
            if r["status"] == "ok":
                q = _cpu_benchmark().quality(X, r.pop("codebook"), wl["grid"])
                r["qe"], r["te"] = q["qe"], q["te"]
            results[lib] = r
        peer_times = [
            results[p]["seconds"]
            for p in PEERS
            if p in results and results[p]["status"] == "ok"
        ]
        fastest_peer = min(peer_times) if peer_times else None
        size = (
            f"{wl['n']}x{wl['d']}"
            if wl["data"] == "blobs"
            else f"{len(X)}x{X.shape[1]}"
        )
        for lib, r in results.items():
            secs = r.get("seconds") if r["status"] == "ok" else None
            speedup = (
                fastest_peer / secs
                if secs and fastest_peer and lib.startswith("somkit")
                else None
            )
            rows.append(
                [
                    wname,
                    f"{size}, {wl['grid'][0]}x{wl['grid'][1]}, {wl['epochs']} ep",
                    lib,
                    fmt(secs),
                    fmt(secs / floor_s if secs and floor_s else None, ".2g"),
                    fmt(speedup, ".2g"),
                    fmt(r.get("qe"), ".4f"),
                    fmt(r.get("te"), ".4f"),
                    r["status"],
                ]
            )
            if r["status"] != "ok":
                msg = r.get("error", "")
                notes.append(f"- {wname} / {lib}: {r['status']}: {msg}"[:300])
        rows.append(
            [
                wname,
                "",
                "GEMM floor (1 matmul/epoch)",
                fmt(floor_s),
                "1.0",
                "",
                "",
                "",
                floor["status"],
            ]
        )
    header = [
        "workload",
        "data, map, epochs",
        "library",
        "fit s",
        "x floor",
        "x fastest peer",
        "QE",
        "TE",
        "status",
    ]
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    text = "\n".join(
        [
            "# somkit GPU benchmark" + (" (quick smoke test)" if args.quick else ""),
            "",
            f"Device: {device_name} ({args.device}); {platform.platform()}; "
            f"Python {platform.python_version()}.",
            f"Versions: {vers}.",
            f"Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; "
            f"command: `python benchmarks/gpu.py {' '.join(argv or sys.argv[1:])}`.",
            "",
            "Fit seconds are wall time of the training call after a warm-up "
            "(somkit: SOM.fit with numpy input, including PCA init, upload and "
            "the final labels pass; torchsom: SOM.fit on data already on the "
            "GPU, PCA init not timed; XPySom: train, PCA init not timed). "
            "QE/TE: somkit.metrics on every codebook (TE: 4-neighbourhood). "
            "x floor: fit time / (epochs x one float32 N x D @ D x units "
            "matmul on the GPU). x fastest peer: fastest of torchsom/XPySom "
            "divided by the somkit time.",
            "",
            table(rows, header),
            "",
            *(["Runs that did not finish:", "", *notes, ""] if notes else []),
        ]
    )
    with open(out_path, "w") as f:
        f.write(text)
    print(text)
    print(f"\nwritten to {os.path.relpath(out_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
