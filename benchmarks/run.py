#!/usr/bin/env python3
"""Benchmark somkit against the SOM libraries that install from PyPI.

Every (library, workload) pair trains in its own subprocess with a timeout,
on the same float32 data, the same map, the same number of epochs (online
learners: epochs x n_samples single-sample presentations) and matched
settings (rect grid, gaussian kernel, radius from max(rows, cols) / 2 down to
1, PCA initialisation). The child times only the training call and reports
its peak RSS; the parent scores every codebook with somkit.metrics (QE, TE)
and relates each time to the GEMM floor: one float32 (N x D) @ (D x n_units)
product per epoch, timed with the same numpy in its own subprocess.

Run it with the benchmark environment (peers installed, see
benchmarks/README.md)::

    .venv-bench/bin/python benchmarks/run.py --quick
    .venv-bench/bin/python benchmarks/run.py --workloads blobs-50k \
        --libs somkit_batch xpysom
    .venv-bench/bin/python benchmarks/run.py --scaling      # large maps
    .venv-bench/bin/python benchmarks/run.py --memory       # 10M x 32 memmap
    .venv-bench/bin/python benchmarks/run.py --gpu          # somkit / torchsom on CUDA

Results go to benchmarks/results.json and benchmarks/results.md (--quick:
benchmarks/_scratch/).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import defaults  # noqa: E402  (benchmarks/defaults.py: the defaults protocol)
import plots  # noqa: E402  (benchmarks/plots.py: time-vs-QE figures)

SCRATCH = os.path.join(HERE, "_scratch")
SEED = 0

# name: data source, samples, features, map, epochs
WORKLOADS = {
    "breast-cancer": dict(data="breast_cancer", n=569, d=30, grid=(20, 20), epochs=100),
    "digits": dict(data="digits", n=1797, d=64, grid=(30, 30), epochs=20),
    "blobs-50k": dict(data="blobs", n=50_000, d=64, grid=(40, 40), epochs=10),
    "blobs-784": dict(data="blobs", n=20_000, d=784, grid=(30, 30), epochs=5),
    # somkit and the fastest peer only (see fastest_peer)
    "blobs-1m": dict(data="blobs", n=1_000_000, d=32, grid=(30, 30), epochs=5),
}
HEAVY = ("blobs-1m",)
# --quick: same maps, less data and fewer epochs (a smoke test, not a result)
QUICK = {
    "breast-cancer": dict(epochs=10),
    "digits": dict(epochs=4),
    "blobs-50k": dict(n=5000, epochs=2),
    "blobs-784": dict(n=2000, epochs=2),
    "blobs-1m": dict(n=50_000, epochs=2),
}


def make_data(spec):
    """Standardised float32 data for a workload spec (deterministic)."""
    import numpy as np
    from sklearn import datasets

    if spec["data"] == "breast_cancer":
        X = datasets.load_breast_cancer().data
    elif spec["data"] == "digits":
        X = datasets.load_digits().data
    else:
        X, _ = datasets.make_blobs(
            n_samples=spec["n"], n_features=spec["d"], centers=20, random_state=SEED
        )
    X = X.astype(np.float64)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return np.ascontiguousarray(X, dtype=np.float32)


# ---------------------------------------------------------------- libraries
# Each adapter trains on X and returns dict(codebook=(n_units, D) row-major
# over (row, col), seconds=wall time of the training call, work=fraction of
# the requested work actually run, params=...). ``frac`` < 1 shortens a run.


class Lib:
    def __init__(self, name, package, kind, fit, about, cost=(0.0, 0.0), epochs=0):
        self.name = name
        # epochs of the library's own protocol: 0 = the workload's (common
        # protocol), None = the library's default (somkit_default)
        self.epochs = epochs
        self.package = package  # distribution name (for versions / "missing")
        self.kind = kind  # batch / online / minibatch
        self.fit = fit
        self.about = about
        # seconds per presentation (online) or per sample-epoch: a + b * M * D
        self.cost = cost


def _clock(call):
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = call()
    return time.perf_counter() - t0, time.process_time() - c0, out


def _epochs(epochs, frac):
    return max(1, int(round(epochs * frac)))


def _presentations(n, epochs, frac):
    return max(1, int(round(n * epochs * frac)))


def somkit_params(grid, epochs, algorithm, device=None):
    """somkit's settings for the common protocol (CPU and GPU benchmarks)."""
    rows, cols = grid
    return dict(
        grid=grid,
        radius=(max(rows, cols) / 2.0, 1.0),
        learning_rate=(0.5, 0.01),
        algorithm=algorithm,
        n_epochs=epochs,
        init="pca",
        backend="auto" if device is None else "torch",
        device=device,
        random_state=SEED,
    )


def xpysom_params(grid, n_features, xp, std_coeff=1.0):
    """XPySom's settings for the common protocol (CPU and GPU benchmarks).

    ``std_coeff=0.5`` (XPySom's default) is its own protocol (xpysom_default).
    """
    rows, cols = grid
    return dict(
        x=rows,
        y=cols,
        input_len=n_features,
        sigma=max(rows, cols) / 2.0,
        sigmaN=1.0,
        learning_rate=0.5,
        learning_rateN=0.01,
        decay_function="linear",
        neighborhood_function="gaussian",
        std_coeff=std_coeff,  # the default 0.5 halves the gaussian's width
        topology="rectangular",
        activation_distance="euclidean",
        random_seed=SEED,
        xp=xp,
    )


def fit_somkit(X, grid, epochs, frac, algorithm, device=None):
    import numpy as np

    from somkit import SOM

    rows, cols = grid
    ep = _epochs(epochs, frac)
    som = SOM(**somkit_params(grid, ep, algorithm, device))
    wall, cpu, _ = _clock(lambda: som.fit(X))
    return dict(
        codebook=np.asarray(som.codebook_),
        seconds=wall,
        cpu_seconds=cpu,
        work=ep / epochs,
        train_seconds=float(sum(som.history_["seconds"])),
        params=dict(
            algorithm=algorithm,
            radius=f"{max(rows, cols) / 2.0:g} -> 1 linear",
            learning_rate="0.5 -> 0.01 linear" if algorithm != "batch" else None,
            init="pca (inside the timed fit)",
            timed="SOM.fit: PCA init + epochs + final labels_ pass",
            device=device,
        ),
    )


def fit_minisom(X, grid, epochs, frac, method):
    import numpy as np
    from minisom import MiniSom

    rows, cols = grid
    som = MiniSom(
        rows,
        cols,
        X.shape[1],
        sigma=max(rows, cols) / 2.0,
        learning_rate=0.5,
        neighborhood_function="gaussian",
        topology="rectangular",
        decay_function="linear_decay_to_zero",
        sigma_decay_function="linear_decay_to_one",
        random_seed=SEED,
    )
    som.pca_weights_init(X)
    if method == "train_batch_offline":
        ep = _epochs(epochs, frac)
        wall, cpu, _ = _clock(lambda: som.train_batch_offline(X, ep))
        work = ep / epochs
    else:
        k = _presentations(len(X), epochs, frac)
        wall, cpu, _ = _clock(lambda: som.train_random(X, k))
        work = k / (len(X) * epochs)
    W = np.asarray(som.get_weights())
    return dict(
        codebook=W.reshape(rows * cols, -1),
        seconds=wall,
        cpu_seconds=cpu,
        work=work,
        params=dict(method=method, init="pca_weights_init (not timed)"),
    )


def fit_xpysom(X, grid, epochs, frac, xp_name="numpy", std_coeff=1.0):
    import numpy as np

    with contextlib.redirect_stdout(io.StringIO()):
        from xpysom import XPySom
    if xp_name == "cupy":
        import cupy as xp
    else:
        xp = np
    rows, cols = grid
    som = XPySom(**xpysom_params(grid, X.shape[1], xp, std_coeff))
    som.pca_weights_init(X)
    ep = _epochs(epochs, frac)
    wall, cpu, _ = _clock(lambda: som.train(X, ep))
    W = som.get_weights()
    if xp_name == "cupy":
        W = xp.asnumpy(W)
    return dict(
        codebook=np.asarray(W).reshape(rows * cols, -1),
        seconds=wall,
        cpu_seconds=cpu,
        work=ep / epochs,
        params=dict(xp=xp_name, n_parallel=som._n_parallel, std_coeff=std_coeff),
    )


def fit_somoclu(X, grid, epochs, frac):
    import numpy as np
    import somoclu

    rows, cols = grid
    som = somoclu.Somoclu(
        n_columns=cols,
        n_rows=rows,
        kerneltype=0,
        maptype="planar",
        gridtype="rectangular",
        compactsupport=True,
        neighborhood="gaussian",
        std_coeff=1.0,
        initialization="pca",
    )
    som.update_data(X)
    som._init_codebook()  # PCA, outside the timed call (train keeps it)
    ep = _epochs(epochs, frac)
    # linear cooling divides by (epochs - 1): NaNs for a single epoch
    cooling = "linear" if ep > 1 else "exponential"
    wall, cpu, _ = _clock(
        lambda: som.train(
            X,
            epochs=ep,
            radius0=max(rows, cols) / 2.0,
            radiusN=1,
            radiuscooling=cooling,
            scale0=0.1,
            scaleN=0.01,
            scalecooling=cooling,
        )
    )
    return dict(
        codebook=np.asarray(som.codebook).reshape(rows * cols, -1),
        seconds=wall,
        cpu_seconds=cpu,
        work=ep / epochs,
        params=dict(kerneltype=0, compactsupport=True, cooling=cooling),
    )


def torchsom_params(grid, n_features, epochs, device):
    """torchsom's settings for the common protocol (CPU and GPU benchmarks)."""
    rows, cols = grid
    return dict(
        x=rows,
        y=cols,
        num_features=n_features,
        epochs=epochs,
        batch_size=256,
        sigma=max(rows, cols) / 2.0,
        learning_rate=0.5,
        lr_decay_function="lr_linear_decay_to_zero",
        sigma_decay_function="sig_linear_decay_to_one",
        neighborhood_function="gaussian",
        distance_function="euclidean",
        topology="rectangular",
        initialization_mode="pca",
        device=device,
        random_seed=SEED,
    )


def fit_torchsom(X, grid, epochs, frac, device="cpu"):
    import torch
    from torchsom.core import SOM

    rows, cols = grid
    torch.manual_seed(SEED)
    Xt = torch.from_numpy(X).to(device)
    ep = _epochs(epochs, frac)
    som = SOM(**torchsom_params(grid, X.shape[1], ep, device))
    som.initialize_weights(Xt, mode="pca")

    def run():
        som.fit(Xt, verbose=False)
        if device != "cpu":
            torch.cuda.synchronize()

    wall, cpu, _ = _clock(run)
    W = som.weights.detach().cpu().numpy()
    return dict(
        codebook=W.reshape(rows * cols, -1),
        seconds=wall,
        cpu_seconds=cpu,
        work=ep / epochs,
        params=dict(
            device=device,
            batch_size=256,
            threads=torch.get_num_threads(),
            note="fit also computes QE/TE per minibatch",
        ),
    )


def fit_susi(X, grid, epochs, frac, mode):
    import numpy as np
    import susi

    rows, cols = grid
    if mode == "online":
        k = _presentations(len(X), epochs, frac)
        work = k / (len(X) * epochs)
    else:
        k = _epochs(epochs, frac)
        work = k / epochs
    som = susi.SOMClustering(
        n_rows=rows,
        n_columns=cols,
        init_mode_unsupervised="pca",
        n_iter_unsupervised=k,
        train_mode_unsupervised=mode,
        neighborhood_mode_unsupervised="linear",
        learn_mode_unsupervised="min",
        learning_rate_start=0.5,
        learning_rate_end=0.05,
        n_jobs=1,
        random_state=SEED,
    )
    # fit() also runs the PCA init and a final BMU pass: time them apart so a
    # shortened run extrapolates only the training part
    fixed = [0.0]

    def timed(method):
        def inner(*a, **kw):
            t0 = time.perf_counter()
            try:
                return method(*a, **kw)
            finally:
                fixed[0] += time.perf_counter() - t0

        return inner

    som._init_unsuper_som = timed(som._init_unsuper_som)
    som._set_bmus = timed(som._set_bmus)
    wall, cpu, _ = _clock(lambda: som.fit(X))
    return dict(
        codebook=np.asarray(som.unsuper_som_).reshape(rows * cols, -1),
        seconds=wall,
        cpu_seconds=cpu,
        work=work,
        fixed_seconds=fixed[0],
        params=dict(mode=mode, radius="max/2 -> 1", note="fit includes PCA init"),
    )


LIBS = {
    lib.name: lib
    for lib in [
        Lib(
            "somkit_batch",
            "somkit",
            "batch",
            lambda *a: fit_somkit(*a, "batch"),
            "somkit batch map (numpy + numba kernels)",
        ),
        Lib(
            "somkit_online",
            "somkit",
            "online",
            lambda *a: fit_somkit(*a, "online"),
            "somkit sequential rule (numba), epochs x N presentations",
        ),
        Lib(
            "somkit_minibatch",
            "somkit",
            "minibatch",
            lambda *a: fit_somkit(*a, "minibatch"),
            "somkit minibatch rule (256 per step)",
        ),
        Lib(
            "minisom_random",
            "minisom",
            "online",
            lambda *a: fit_minisom(*a, "train_random"),
            "MiniSom.train_random: one sample per update, random order",
            cost=(7e-5, 4.5e-9),
        ),
        Lib(
            "minisom_batch_offline",
            "minisom",
            "batch",
            lambda *a: fit_minisom(*a, "train_batch_offline"),
            "MiniSom.train_batch_offline: batch rule, per-sample Python loop",
            cost=(6e-5, 4e-9),
        ),
        Lib(
            "xpysom",
            "xpysom",
            "batch",
            fit_xpysom,
            "XPySom(xp=numpy).train: batch rule, GEMM BMU search; common protocol "
            "(std_coeff=1.0, the kernel width every library gets)",
            cost=(8e-6, 7e-11),
        ),
        Lib(
            "somkit_default",
            "somkit",
            "batch",
            defaults.fit_somkit_default,
            "somkit defaults: SOM(grid, random_state=0).fit(X), nothing else set",
            epochs=None,
        ),
        Lib(
            "xpysom_default",
            "xpysom",
            "batch",
            lambda *a: fit_xpysom(*a, std_coeff=0.5),
            "XPySom's own protocol: PCA init, sigma half the grid -> 1, lr 0.5 -> "
            "0.01, linear decay, default std_coeff=0.5, 10 epochs",
            cost=(8e-6, 7e-11),
            epochs=10,
        ),
        Lib(
            "minisom_random_20",
            "minisom",
            "online",
            lambda *a: fit_minisom(*a, "train_random"),
            "MiniSom.train_random, sigma half the grid -> 1, 20 epochs of steps",
            cost=(7e-5, 4.5e-9),
            epochs=20,
        ),
        Lib(
            "somoclu",
            "somoclu",
            "batch",
            fit_somoclu,
            "Somoclu kerneltype=0: C++/OpenMP dense batch",
            cost=(0.0, 1.2e-9),
        ),
        Lib(
            "torchsom",
            "torchsom",
            "minibatch",
            fit_torchsom,
            "torchsom SOM.fit on CPU: minibatches of 256",
            cost=(8e-6, 3.7e-10),
        ),
        Lib(
            "susi_online",
            "susi",
            "online",
            lambda *a: fit_susi(*a, "online"),
            "SuSi SOMClustering online: per-sample numpy",
            cost=(5e-5, 5e-9),
        ),
        Lib(
            "susi_batch",
            "susi",
            "batch",
            lambda *a: fit_susi(*a, "batch"),
            "SuSi SOMClustering batch: per-sample loop, N x M x D temporaries",
            cost=(0.0, 2.5e-8),
        ),
    ]
}
GPU_LIBS = {
    "somkit_batch_cuda": Lib(
        "somkit_batch_cuda",
        "somkit",
        "batch",
        lambda *a: fit_somkit(*a, "batch", device="cuda"),
        "somkit batch, backend='torch', device='cuda'",
    ),
    "somkit_minibatch_cuda": Lib(
        "somkit_minibatch_cuda",
        "somkit",
        "minibatch",
        lambda *a: fit_somkit(*a, "minibatch", device="cuda"),
        "somkit minibatch, backend='torch', device='cuda'",
    ),
    "torchsom_cuda": Lib(
        "torchsom_cuda",
        "torchsom",
        "minibatch",
        lambda *a: fit_torchsom(*a, device="cuda"),
        "torchsom on CUDA, minibatches of 256",
    ),
    "xpysom_cupy": Lib(
        "xpysom_cupy",
        "xpysom",
        "batch",
        lambda *a: fit_xpysom(*a, xp_name="cupy"),
        "XPySom with xp=cupy",
    ),
}
ALL_LIBS = {**LIBS, **GPU_LIBS}
DEFAULT_LIBS = [
    "somkit_default",
    "xpysom_default",
    "minisom_random_20",
    "somkit_batch",
    "somkit_online",
    "somkit_minibatch",
    "minisom_random",
    "minisom_batch_offline",
    "xpysom",
    "somoclu",
    "torchsom",
    "susi_online",
    "susi_batch",
]
#: peers under the common protocol (the "fastest peer" is one of them)
PEERS = [n for n in DEFAULT_LIBS if not n.startswith("somkit") and LIBS[n].epochs == 0]
IMPORTS = {
    "somkit": "somkit",
    "minisom": "minisom",
    "xpysom": "xpysom",
    "somoclu": "somoclu",
    "torchsom": "torchsom.core",
    "susi": "susi",
}


def estimate(lib, n, d, m, epochs):
    """Rough (seconds, peak bytes) of a full run, used to shorten / skip."""
    a, b = lib.cost
    seconds = epochs * n * (a + b * m * d)
    peak = 2 * n * m * d * 8 if lib.name == "susi_batch" else 0
    return seconds, peak


# -------------------------------------------------------------------- child
def _status_mb(field):
    """A field of /proc/self/status in MiB (VmHWM is reset by exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return None


def child(spec):
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    out = {"status": "error"}
    try:
        X = np.load(spec["data"], mmap_mode=None)
        if spec["lib"] == "gemm":
            out.update(gemm_floor(X, spec["m"]))
        else:
            lib = ALL_LIBS[spec["lib"]]
            with contextlib.redirect_stdout(io.StringIO()):
                __import__(IMPORTS[lib.package])
            if spec.get("warmup"):
                # one tiny run: JIT compilation, lazy imports, thread pools
                with contextlib.redirect_stdout(io.StringIO()):
                    lib.fit(X[: min(len(X), 256)], tuple(spec["grid"]), 1, 1.0)
            base = _status_mb("VmHWM")
            runs = []
            for _ in range(spec["repeat"]):
                with contextlib.redirect_stdout(io.StringIO()):
                    r = lib.fit(X, tuple(spec["grid"]), spec["epochs"], spec["frac"])
                runs.append(r)
                if r["seconds"] > spec["repeat_below"]:
                    break
            times = [r["seconds"] for r in runs]
            best = runs[times.index(sorted(times)[(len(times) - 1) // 2])]
            np.save(
                spec["codebook"], np.asarray(best.pop("codebook"), dtype=np.float64)
            )
            for r in runs:
                r.pop("codebook", None)
            out.update(best)
            out.update(
                status="ok",
                seconds=statistics.median(times),
                all_seconds=times,
                peak_rss_mb=_status_mb("VmHWM"),
                base_rss_mb=base,
            )
    except MemoryError:
        out.update(error="MemoryError")
    except Exception as e:  # noqa: BLE001
        out.update(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    out.setdefault("peak_rss_mb", _status_mb("VmHWM"))
    with open(spec["result"], "w") as f:
        json.dump(out, f)


def gemm_floor(X, m, budget=2.0):
    """Fastest float32 (N x D) @ (D x m) product: BLAS's own threads or one.

    On a busy machine a small product runs faster on one thread than on a
    thread pool that has to share cores, so both are timed and the faster
    one is the floor.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    W = np.random.default_rng(SEED).standard_normal((X.shape[1], m))
    W = W.astype(np.float32)
    out = np.empty((X.shape[0], m), dtype=np.float32)
    result = {}
    for label, limit in (("default", None), ("1 thread", 1)):
        with threadpool_limits(limits=limit, user_api="blas"):
            np.matmul(X, W, out=out)
            times = []
            start = time.perf_counter()
            while len(times) < 3 or (
                time.perf_counter() - start < budget / 2 and len(times) < 50
            ):
                t0 = time.perf_counter()
                np.matmul(X, W, out=out)
                times.append(time.perf_counter() - t0)
        result[label] = min(times)
    label = min(result, key=result.get)
    best = result[label]
    return dict(
        status="ok",
        gemm_s=best,
        threads=label,
        by_threads=result,
        gflops=2.0 * X.shape[0] * X.shape[1] * m / best / 1e9,
    )


def run_child(script, spec, timeout):
    """Run ``script --child spec`` in its own process group, with a timeout.

    The child writes its result dict as JSON to ``spec["result"]`` (a temp
    file made here). Returns ``(result, log)``; a timeout or a child that
    wrote nothing gives status "timeout" / "error".
    """
    fd, path = tempfile.mkstemp(suffix=".json", dir=SCRATCH)
    os.close(fd)
    spec = dict(spec, result=path)
    cmd = [sys.executable, os.path.abspath(script), "--child", json.dumps(spec)]
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        log, _ = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        log, _ = p.communicate()
        timed_out = True
    out = {}
    with contextlib.suppress(OSError, ValueError):
        with open(path) as f:
            out = json.load(f)
    os.unlink(path)
    if timed_out:
        out = dict(status="timeout", error=f"killed after {timeout:g} s")
    elif not out:
        out = dict(status="error", error=f"child exit code {p.returncode}")
    return out, log.decode(errors="replace")


def spawn(spec, timeout):
    """Run one child; return its result dict (status ok/error/timeout)."""
    t0 = time.perf_counter()
    out, log = run_child(__file__, spec, timeout)
    if out["status"] != "ok":
        out["log"] = log[-2000:]
    out["child_wall_s"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------ quality
def quality(X, codebook, grid):
    """QE and TE (4- and 8-neighbourhood) of any codebook, by somkit.metrics."""
    import numpy as np

    from somkit import SOM, metrics
    from somkit._grid import Grid

    W = np.asarray(codebook, dtype=np.float64)
    if not np.all(np.isfinite(W)):
        return dict(qe=float("nan"), te=float("nan"), te8=float("nan"))
    som = SOM(grid=tuple(grid))
    som.grid_ = Grid(tuple(grid), "rect", False)
    som.codebook_ = som.cluster_centers_ = W
    som.n_features_in_ = X.shape[1]
    return dict(
        qe=metrics.quantization_error(som, X),
        te=metrics.topographic_error(som, X, adjacency="edges"),
        te8=metrics.topographic_error(som, X, adjacency="diagonal"),
    )


# ------------------------------------------------------------------- parent
def versions():
    from importlib import metadata

    out = {}
    for pkg in [
        "somkit",
        "numpy",
        "scipy",
        "numba",
        "scikit-learn",
        "minisom",
        "xpysom",
        "somoclu",
        "torchsom",
        "susi",
        "torch",
    ]:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def machine():
    info = dict(
        python=platform.python_version(),
        platform=platform.platform(),
        cores=os.cpu_count(),
        when=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    with contextlib.suppress(Exception):
        import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)
        import threadpoolctl

        info["blas"] = [
            f"{p.get('internal_api')} {p.get('version')} "
            f"({p.get('architecture')}, {p.get('num_threads')} threads)"
            for p in threadpoolctl.threadpool_info()
            if p.get("user_api") == "blas"
        ]
    info["env"] = {
        k: os.environ.get(k)
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
        if os.environ.get(k)
    }
    return info


def installed(package):
    from importlib import metadata

    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def shortened_fraction(est, budget):
    if budget <= 0 or est <= 1.5 * budget:
        return 1.0
    frac = budget / est
    digits = 10 ** (math.floor(math.log10(frac)) - 1)
    return math.floor(frac / digits) * digits


def fastest_peer(doc, names):
    """Name of the fastest full-quality peer in the results so far."""
    best = {}
    for w in doc["workloads"].values():
        for r in w["results"]:
            if r["lib"] in names and r.get("full_s"):
                best.setdefault(r["lib"], []).append(r["ratio_floor"])
    if not best:
        return "xpysom"
    return min(best, key=lambda k: statistics.median(best[k]))


def run_workload(name, args, doc):
    import numpy as np

    spec = dict(WORKLOADS[name])
    if args.quick:
        spec.update(QUICK[name])
    n_samples = spec["n"]
    rows, cols = spec["grid"]
    m = rows * cols
    X = make_data(spec)
    n, d = X.shape
    path = os.path.join(SCRATCH, f"data_{name}{'_quick' if args.quick else ''}.npy")
    np.save(path, X)
    libs = list(args.libs)
    if name in HEAVY and not args.all_on_heavy:
        peers = [x for x in libs if x in PEERS]
        fast = fastest_peer(doc, peers) if peers else None
        libs = [x for x in libs if x.startswith("somkit")]
        libs = [x for x in libs if x == "somkit_batch"] or libs
        if fast:
            libs.append(fast)
    print(f"== {name}: {n} x {d} on {rows}x{cols}, {spec['epochs']} epochs", flush=True)
    floors = []
    for _ in range(2):
        f = spawn(dict(lib="gemm", data=path, m=m), 300)
        if f["status"] == "ok":
            floors.append(f)
    w = dict(
        name=name,
        n=n,
        d=d,
        grid=[rows, cols],
        epochs=spec["epochs"],
        requested_n=n_samples,
        results=[],
    )
    for lib_name in libs:
        lib = ALL_LIBS[lib_name]
        rec = dict(lib=lib_name, kind=lib.kind)
        if not installed(lib.package):
            rec.update(status="missing", note=f"{lib.package} is not installed")
            w["results"].append(rec)
            print(f"   {lib_name:22s} missing", flush=True)
            continue
        ep = spec["epochs"] if lib.epochs == 0 else lib.epochs
        rec["epochs"] = ep
        est, peak = estimate(lib, n, d, m, ep or 10)
        frac = shortened_fraction(est, args.budget)
        if peak > args.mem_limit_gb * 2**30:
            rec.update(
                status="skipped",
                note=f"needs ~{peak / 2**30:.0f} GiB (N x M x D float64 temporaries)",
            )
        elif frac < 0.005:
            rec.update(status="skipped", note=f"estimated {est:.0f} s")
        if rec.get("status") == "skipped":
            w["results"].append(rec)
            print(f"   {lib_name:22s} skipped: {rec['note']}", flush=True)
            continue
        cb_path = os.path.join(SCRATCH, f"cb_{name}_{lib_name}.npy")
        rec["load_before"] = os.getloadavg()[0]
        out = spawn(
            dict(
                lib=lib_name,
                data=path,
                grid=[rows, cols],
                epochs=ep,
                frac=frac,
                codebook=cb_path,
                repeat=args.repeat,
                repeat_below=args.repeat_below,
                warmup=not args.no_warmup,
            ),
            args.timeout,
        )
        rec.update(out)
        if out["status"] == "ok":
            rec.update(quality(X, np.load(cb_path), (rows, cols)))
            os.unlink(cb_path)
            work = out["work"]
            fixed = min(out.get("fixed_seconds") or 0.0, out["seconds"])
            rec["full_s"] = (out["seconds"] - fixed) / work + fixed
            if work < 1:
                rec["note"] = (
                    f"shortened to {work:.3g} of the work (estimated {est:.0f} s); "
                    "time extrapolated, QE/TE of the short run"
                )
        w["results"].append(rec)
        print(
            f"   {lib_name:22s} {rec['status']:7s} "
            f"fit={_f(rec.get('seconds'), '.3g')}s "
            f"full={_f(rec.get('full_s'), '.3g')}s "
            f"QE={_f(rec.get('qe'), '.4f')} TE={_f(rec.get('te'), '.3f')} "
            f"RSS={_f(rec.get('peak_rss_mb'), '.0f')}MB {rec.get('error', '')}",
            flush=True,
        )
    for _ in range(1):
        f = spawn(dict(lib="gemm", data=path, m=m), 300)
        if f["status"] == "ok":
            floors.append(f)
    gemm = min(f["gemm_s"] for f in floors) if floors else float("nan")
    w["gemm_s"] = gemm
    w["gemm_all_s"] = [f["gemm_s"] for f in floors]
    w["gflops"] = 2.0 * n * d * m / gemm / 1e9
    w["floor_s"] = gemm * spec["epochs"]
    finish_ratios(w)
    doc["workloads"][name] = w


def finish_ratios(w):
    peers = [r for r in w["results"] if r.get("full_s") and r["lib"] in PEERS]
    fast = min(peers, key=lambda r: r["full_s"]) if peers else None
    w["fastest_peer"] = fast["lib"] if fast else None
    for r in w["results"]:
        if r.get("full_s"):
            # the protocol's own epochs (somkit_default: those it ran)
            ep = r.get("epochs") or w["epochs"]
            r["ratio_floor"] = r["full_s"] / (w["gemm_s"] * ep)
            if fast:
                r["vs_fastest"] = fast["full_s"] / r["full_s"]


# ---------------------------------------------------------- scaling / memory
def child_scaling(spec):
    """Batch epoch time of somkit on one large map (run in a child)."""
    import numpy as np

    from somkit import SOM

    X = np.load(spec["data"])
    grid = tuple(spec["grid"])
    side = max(grid)
    # warm-up: JIT cache loads and thread pool start, not timed
    SOM((4, 4), topology=spec["topology"], n_epochs=1).fit(X[:2000])
    som = SOM(
        grid=grid,
        neighborhood=spec["kernel"],
        topology=spec["topology"],
        radius=(side / 4.0, 1.0),
        n_epochs=spec["epochs"],
        # not "pca": its first epoch searches BMUs in 2 components, and the
        # table reports a full first epoch (the widest kernel)
        init="sample",
        random_state=SEED,
    )
    base = _status_mb("VmHWM")
    t0 = time.perf_counter()
    som.fit(X)
    fit_s = time.perf_counter() - t0
    peak = _status_mb("VmHWM")
    # the GEMM after the fit (its output block would dominate the RSS); the
    # full (N x n_units) product would not fit in memory on big maps: time it
    # on a slice and scale to N rows
    W = np.random.default_rng(SEED).standard_normal((X.shape[1], grid[0] * grid[1]))
    W = W.astype(np.float32)
    part = X[: max(1, min(len(X), (1 << 26) // W.shape[1]))]
    S = np.empty((len(part), W.shape[1]), dtype=np.float32)
    np.matmul(part, W, out=S)
    gemm = []
    for _ in range(3):
        t0 = time.perf_counter()
        np.matmul(part, W, out=S)
        gemm.append((time.perf_counter() - t0) * len(X) / len(part))
    del S, W
    return dict(
        status="ok",
        epoch_s=som.history_["seconds"],
        fit_s=fit_s,
        gemm_s=min(gemm),
        peak_rss_mb=peak,
        base_rss_mb=base,
        qe=som.history_["quantization_error"][-1],
    )


def run_scaling(args, doc):
    import numpy as np

    spec = dict(data="blobs", n=100_000 if not args.quick else 10_000, d=32)
    X = make_data(spec)
    path = os.path.join(SCRATCH, f"data_scaling_{len(X)}.npy")
    np.save(path, X)
    rows = []
    sides = (40, 100, 200)
    cases = [("rect", "gaussian"), ("rect", "cut_gaussian"), ("hex", "gaussian")]
    for topology, kernel in cases:
        for side in sides:
            if topology == "hex" and side > 100:
                continue
            s = dict(
                mode="scaling",
                data=path,
                grid=[side, side],
                kernel=kernel,
                topology=topology,
                epochs=2,
            )
            out = spawn_mode(s, args.timeout)
            out.update(grid=f"{side}x{side}", kernel=kernel, topology=topology)
            rows.append(out)
            print(
                f"   scaling {topology} {kernel:12s} {side}x{side}: "
                f"epochs {out.get('epoch_s')} gemm {_f(out.get('gemm_s'), '.3g')} "
                f"RSS {_f(out.get('peak_rss_mb'), '.0f')}MB {out.get('error', '')}",
                flush=True,
            )
    doc["scaling"] = dict(n=len(X), d=X.shape[1], rows=rows)


def child_memory(spec):
    """fit / predict / metrics on a float32 memmap, measured by tracemalloc."""
    import tracemalloc

    import numpy as np

    from somkit import SOM, metrics

    X = np.load(spec["data"], mmap_mode="r")
    out = dict(status="ok", n=X.shape[0], d=X.shape[1], steps={})
    som = SOM(grid=tuple(spec["grid"]), n_epochs=spec["epochs"], random_state=SEED)
    steps = [
        ("fit", lambda: som.fit(X)),
        ("predict", lambda: som.predict(X)),
        ("quantization_error", lambda: metrics.quantization_error(som, X)),
        ("topographic_error", lambda: metrics.topographic_error(som, X)),
    ]
    for name, call in steps:
        anon0 = _status_mb("RssAnon")
        tracemalloc.start()
        t0 = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        kept = getattr(result, "nbytes", 0)
        del result
        out["steps"][name] = dict(
            seconds=seconds,
            traced_peak_mb=peak / 2**20,
            result_mb=kept / 2**20,
            anon_before_mb=anon0,
        )
    out["peak_anon_mb"] = None
    out["peak_rss_mb"] = _status_mb("VmHWM")
    return out


def run_memory(args, doc):
    import numpy as np

    n = 10_000_000 if not args.quick else 1_000_000
    d = 32
    path = os.path.join(SCRATCH, f"memmap_{n}x{d}.npy")
    if not os.path.exists(path):
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
        rng = np.random.default_rng(SEED)
        centers = rng.standard_normal((20, d)).astype(np.float32) * 3
        for a in range(0, n, 1_000_000):
            b = min(a + 1_000_000, n)
            lab = rng.integers(0, 20, b - a)
            X[a:b] = centers[lab] + rng.standard_normal((b - a, d), dtype=np.float32)
        X.flush()
        del X
    out = spawn_mode(
        dict(mode="memory", data=path, grid=[20, 20], epochs=2), args.timeout
    )
    out["file_mb"] = os.path.getsize(path) / 2**20
    doc["memory"] = out
    for k, v in out.get("steps", {}).items():
        print(
            f"   memory {k:20s} {v['seconds']:.2f}s traced peak "
            f"{v['traced_peak_mb']:.0f} MB (result {v['result_mb']:.0f} MB)",
            flush=True,
        )
    if out["status"] != "ok":
        print("   memory:", out.get("error"), out.get("log", "")[-800:])


def spawn_mode(spec, timeout):
    return spawn(dict(spec, lib=None), timeout)


def child_entry(spec):
    mode = spec.get("mode")
    if mode is None:
        child(spec)
        return
    try:
        out = child_scaling(spec) if mode == "scaling" else child_memory(spec)
    except Exception as e:  # noqa: BLE001
        out = dict(status="error", error=f"{type(e).__name__}: {e}")
        out["traceback"] = traceback.format_exc()
    with open(spec["result"], "w") as f:
        json.dump(out, f)


# ----------------------------------------------------------------- markdown
def _f(x, fmt):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, fmt)


def _speed(r):
    v = r.get("vs_fastest")
    if v is None:
        return "—"
    return f"{v:.2f}x"


def write_markdown(doc, path):
    m = doc["machine"]
    stem = os.path.splitext(os.path.basename(path))[0]
    figures = plots.write_all(doc, os.path.dirname(path), stem)
    L = ["# somkit benchmark", ""]
    L.append(
        f"Generated {m['when']} by `benchmarks/run.py"
        + (" --quick" if doc.get("quick") else "")
        + "`"
        + (" (QUICK: smoke-test sizes, not results)" if doc.get("quick") else "")
        + "."
    )
    for run in doc.get("runs", []):
        L.append(f"- run {run.get('when')}: `run.py {' '.join(run.get('argv') or [])}`")
    L.append("")
    L.append(
        "**Measured on a shared, noisy 2-core VM (no GPU): other jobs ran on the "
        "same machine. Treat differences under ~1.3x as noise; the ratios to the "
        "GEMM floor (measured in the same run) travel better than seconds.**"
    )
    L.append("")
    L.append(
        f"- Machine: {m.get('cpu')} x {m.get('cores')} cores, {m.get('platform')}, "
        f"Python {m.get('python')}"
    )
    for b in m.get("blas", []):
        L.append(f"- BLAS: {b}")
    if m.get("env"):
        L.append("- Env: " + ", ".join(f"{k}={v}" for k, v in m["env"].items()))
    L.append(
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v is not None)
    )
    L.append("")
    L.append(
        "Columns: **ep** = epochs of the run (the workload's under the common "
        "protocol; the library's own under the defaults protocol: somkit_default, "
        "xpysom_default, minisom_random_20); **fit s** = wall time of the training "
        "call (median of "
        f"{doc['settings']['repeat']} runs when a run takes under "
        f"{doc['settings']['repeat_below']:g} s, else one run); **full s** = fit s "
        "extrapolated to the full work for runs that were shortened to fit the time "
        "budget; **x floor** = full s / (one float32 (N x D)@(D x n_units) GEMM x "
        "ep); **speed-up** = fastest common-protocol peer's full s / full s (above "
        "1: faster than every peer); **QE** = mean distance to the BMU; **TE** / "
        "**TE8** = share of samples whose two best units are not neighbours (4- / "
        "8-neighbourhood); QE and TE come from `somkit.metrics` applied to every "
        "library's codebook; **RSS** = peak RSS of the child process (Python, "
        "library, data); **+fit** = peak minus the level before training; **cpu** "
        "= CPU seconds / wall seconds during fit (2 = both cores); **load** = 1-minute "
        "load average just before the run (about 1 = only this benchmark ran)."
    )
    L.append("")
    if doc.get("headline"):
        L.extend(doc["headline"])
        L.append("")
    L.extend(defaults.headline(doc, _ordered, _f))
    for w in _ordered(doc):
        L.append(
            f"## {w['name']}: {w['n']} x {w['d']} on {w['grid'][0]}x{w['grid'][1]}, "
            f"{w['epochs']} epochs"
        )
        L.append("")
        L.append(
            f"GEMM floor: {w['gemm_s']:.4g} s per GEMM "
            f"({w['gflops']:.0f} GFLOP/s, best "
            f"of {len(w['gemm_all_s'])} measurements around the runs) x {w['epochs']} "
            f"epochs = **{w['floor_s']:.4g} s**. Fastest peer: "
            f"{w.get('fastest_peer') or '—'}."
        )
        L.append("")
        if w["name"] in figures:
            L.append(f"![time vs QE, TE8 as colour: {w['name']}]({figures[w['name']]})")
            L.append("")
        L.append(
            "| library | kind | ep | fit s | full s | x floor | speed-up | QE | TE "
            "| TE8 | RSS MB | +fit | cpu | load | notes |"
        )
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in w["results"]:
            plus = (
                r["peak_rss_mb"] - r["base_rss_mb"]
                if r.get("peak_rss_mb") and r.get("base_rss_mb")
                else None
            )
            cpu = (
                r["cpu_seconds"] / r["seconds"]
                if r.get("cpu_seconds") and r.get("seconds")
                else None
            )
            note = r.get("note") or r.get("error") or ""
            if r.get("status") not in ("ok",) and not note:
                note = r.get("status", "")
            name = f"**{r['lib']}**" if r["lib"].startswith("somkit") else r["lib"]
            L.append(
                f"| {name} | {r['kind']} | {r.get('epochs') or w['epochs']} "
                f"| {_f(r.get('seconds'), '.3g')} "
                f"| {_f(r.get('full_s'), '.3g')} | {_f(r.get('ratio_floor'), '.3g')} "
                f"| {_speed(r)} | {_f(r.get('qe'), '.4f')} | {_f(r.get('te'), '.3f')} "
                f"| {_f(r.get('te8'), '.3f')} | {_f(r.get('peak_rss_mb'), '.0f')} "
                f"| {_f(plus, '.0f')} | {_f(cpu, '.2f')} "
                f"| {_f(r.get('load_before'), '.1f')} "
                f"| {note.replace('|', '/')[:150]} |"
            )
        L.append("")
    if doc.get("scaling"):
        s = doc["scaling"]
        L.append(f"## Large maps: one batch epoch on blobs {s['n']} x {s['d']}")
        L.append("")
        L.append(
            "somkit batch, radius from side/4 to 1 over 2 epochs; epoch s = the "
            "first (widest-kernel) epoch; GEMM = one float32 (N x D)@(D x n_units) "
            "product. No n_units x n_units matrix is formed above 2,500 units: the "
            "rect gaussian is smoothed axis by axis (exact), every other kernel and "
            "the hex grid (gaussian cut at 4 sigma) by an FFT convolution over the "
            "grid; peak RSS includes Python, somkit and the data."
        )
        L.append("")
        L.append(
            "| topology | kernel | map | units | epoch s | GEMM s | x GEMM "
            "| peak RSS MB |"
        )
        L.append("|---|---|---|---|---|---|---|---|")
        for r in s["rows"]:
            e = r.get("epoch_s") or [None]
            units = int(r["grid"].split("x")[0]) ** 2
            ratio = e[0] / r["gemm_s"] if e[0] and r.get("gemm_s") else None
            L.append(
                f"| {r['topology']} | {r['kernel']} | {r['grid']} | {units} "
                f"| {_f(e[0], '.3g')} | {_f(r.get('gemm_s'), '.3g')} "
                f"| {_f(ratio, '.2f')} | {_f(r.get('peak_rss_mb'), '.0f')} |"
                + (f" {r.get('error')}" if r.get("status") != "ok" else "")
            )
        L.append("")
    if doc.get("memory"):
        mm = doc["memory"]
        L.append(
            f"## Memory: {mm.get('n')} x {mm.get('d')} float32 memmap "
            f"({mm.get('file_mb', 0):.0f} MB file), 20x20 map, 2 batch epochs"
        )
        L.append("")
        L.append(
            "Peak of Python-level allocations during each call (tracemalloc: numpy "
            "buffers included, the memmap's file pages not), and the size of what "
            "the call returns."
        )
        L.append("")
        L.append("| call | seconds | traced peak MB | returned MB |")
        L.append("|---|---|---|---|")
        for k, v in mm.get("steps", {}).items():
            L.append(
                f"| {k} | {v['seconds']:.2f} | {v['traced_peak_mb']:.0f} "
                f"| {v['result_mb']:.0f} |"
            )
        L.append("")
    if doc.get("notes"):
        L.append("## Notes on these runs")
        L.append("")
        L.extend(f"- {n}" for n in doc["notes"])
        L.append("")
    L.append("## Libraries and settings")
    L.append("")
    for lib in ALL_LIBS.values():
        L.append(f"- `{lib.name}` ({lib.package}, {lib.kind}): {lib.about}")
    L.append("")
    L.extend(NOTES)
    kept = kept_sections(path)
    if kept:
        L.append("")
        L.append(kept)
    with open(path, "w") as f:
        f.write("\n".join(L).rstrip("\n") + "\n")


#: A section of results.md that another script measures carries this phrase;
#: run.py keeps such sections, in order, when it rewrites the page.
KEEP_MARK = "(run.py does not)"


def kept_sections(path):
    """The ``## `` sections of ``path`` that other benchmark scripts own."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    parts = re.split(r"(?m)^(?=## )", text)
    return "\n".join(
        p.rstrip("\n") + "\n" for p in parts[1:] if KEEP_MARK in " ".join(p.split())
    ).rstrip("\n")


NOTES = """\
- Common settings: rectangular grid, gaussian neighbourhood exp(-d^2 / (2 sigma^2)),
  sigma linear from max(rows, cols) / 2 to 1 (SuSi: its own linear rule), online
  learning rate 0.5 decaying (batch rules have none), PCA initialisation, seed 0.
  XPySom and Somoclu get std_coeff=1.0 (their default 0.5 halves the width).
- Defaults protocol (somkit_default, xpysom_default, minisom_random_20, see
  benchmarks/defaults.py): each library as its user runs it; somkit with only
  the grid and the seed set, XPySom with its default std_coeff=0.5 and 10
  epochs, MiniSom train_random with 20 epochs of steps. They are not
  candidates for the "fastest peer".
- Online learners get epochs x N single-sample updates; batch learners `epochs`
  passes; minibatch learners (somkit_minibatch, torchsom) batches of 256.
- What is timed: somkit's whole `SOM.fit` (PCA initialisation, the epochs and
  the final pass that sets `labels_`); peers' training call only, with their
  PCA initialisation outside the timer (SuSi and torchsom do extra work inside
  fit, noted in the table). Every child first runs one tiny warm-up fit (JIT
  compilation, thread pools, lazy imports), which is not timed.
- Runs whose estimated time exceeds 1.5x the budget are shortened (fewer epochs
  or presentations) and their time is extrapolated linearly (SuSi's fixed
  init/final work kept unscaled); their QE/TE describe the shortened run.
- Threads are not pinned: numpy's BLAS, torch, somoclu's OpenMP and somkit's
  numba kernels may use both cores (cpu column).
""".splitlines()


def _ordered(doc):
    """Workload records in the order of WORKLOADS."""
    ws = doc["workloads"]
    return [ws[k] for k in WORKLOADS if k in ws] + [
        v for k, v in ws.items() if k not in WORKLOADS
    ]


def headline(doc):
    """A short table: somkit vs the fastest peer per workload."""
    L = ["## Headline", ""]
    L.append(
        "| workload | floor s | somkit batch s (x floor) | fastest peer s (x floor) | "
        "speed-up | QE somkit / peer | TE8 somkit / peer | somkit online s | "
        "MiniSom train_random s | online speed-up |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for w in _ordered(doc):
        by = {r["lib"]: r for r in w["results"]}
        sk = by.get("somkit_batch", {})
        fp = by.get(w.get("fastest_peer") or "", {})
        on = by.get("somkit_online", {})
        ms = by.get("minisom_random", {})
        sp = on.get("full_s") and ms.get("full_s") and ms["full_s"] / on["full_s"]
        L.append(
            f"| {w['name']} | {w['floor_s']:.3g} "
            f"| {_f(sk.get('full_s'), '.3g')} ({_f(sk.get('ratio_floor'), '.2f')}) "
            f"| {w.get('fastest_peer') or '—'} {_f(fp.get('full_s'), '.3g')} "
            f"({_f(fp.get('ratio_floor'), '.2f')}) | {_speed(sk)} "
            f"| {_f(sk.get('qe'), '.3f')} / {_f(fp.get('qe'), '.3f')} "
            f"| {_f(sk.get('te8'), '.3f')} / {_f(fp.get('te8'), '.3f')} "
            f"| {_f(on.get('full_s'), '.3g')} | {_f(ms.get('full_s'), '.3g')} "
            f"| {_f(sp, '.1f')}{'x' if sp else ''} |"
        )
    return L


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    ap.add_argument(
        "--workloads",
        nargs="+",
        default=None,
        help=f"any of {', '.join(WORKLOADS)} (default: all)",
    )
    ap.add_argument(
        "--libs",
        nargs="+",
        default=None,
        help=f"any of {', '.join(ALL_LIBS)} (default: the CPU ones)",
    )
    ap.add_argument("--gpu", action="store_true", help="somkit/torchsom/XPySom on CUDA")
    ap.add_argument("--scaling", action="store_true", help="large-map epoch times")
    ap.add_argument("--memory", action="store_true", help="10M x 32 memmap memory")
    ap.add_argument("--timeout", type=float, default=900.0, help="per child (s)")
    ap.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="shorten runs estimated above 1.5x this many seconds (0: never)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs of cheap cases")
    ap.add_argument(
        "--repeat-below", type=float, default=10.0, help="repeat runs under this (s)"
    )
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--mem-limit-gb", type=float, default=4.0)
    ap.add_argument(
        "--all-on-heavy",
        action="store_true",
        help="run every selected library on blobs-1m (default: somkit and the "
        "fastest peer)",
    )
    ap.add_argument("--update", action="store_true", help="merge into the results")
    ap.add_argument(
        "--render", action="store_true", help="only rewrite the markdown from JSON"
    )
    ap.add_argument(
        "--note", action="append", default=[], help="add a note (with --render)"
    )
    ap.add_argument("--out", default=None, help="results stem (default: results)")
    args = ap.parse_args(argv)
    if args.child:
        child_entry(json.loads(args.child))
        return
    os.makedirs(SCRATCH, exist_ok=True)
    if args.libs is None:
        args.libs = (
            [
                "somkit_batch_cuda",
                "somkit_minibatch_cuda",
                "torchsom_cuda",
                "xpysom_cupy",
            ]
            if args.gpu
            else DEFAULT_LIBS
        )
    for x in args.libs:
        if x not in ALL_LIBS:
            ap.error(f"unknown library {x!r}; choose from {', '.join(ALL_LIBS)}")
    only_extra = (args.scaling or args.memory) and args.workloads is None
    workloads = [] if only_extra else (args.workloads or list(WORKLOADS))
    for x in workloads:
        if x not in WORKLOADS:
            ap.error(f"unknown workload {x!r}; choose from {', '.join(WORKLOADS)}")
    outdir = SCRATCH if args.quick else HERE
    stem = args.out or ("results_gpu" if args.gpu else "results")
    if args.quick:
        stem += "_quick"
    json_path = os.path.join(outdir, stem + ".json")
    md_path = os.path.join(outdir, stem + ".md")
    doc = dict(workloads={}, runs=[])
    if (args.update or args.render) and os.path.exists(json_path):
        with open(json_path) as f:
            doc = json.load(f)
    if args.render:
        doc.setdefault("notes", []).extend(args.note)
        doc["headline"] = headline(doc) if doc["workloads"] else None
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        write_markdown(doc, md_path)
        print(f"wrote {md_path}")
        return
    doc.update(
        quick=args.quick,
        machine=machine(),
        versions=versions(),
        settings=dict(
            repeat=args.repeat,
            repeat_below=args.repeat_below,
            budget=args.budget,
            timeout=args.timeout,
            warmup=not args.no_warmup,
        ),
    )
    doc.setdefault("runs", []).append(
        dict(argv=sys.argv[1:], when=doc["machine"]["when"])
    )
    t0 = time.perf_counter()

    def save():
        doc["headline"] = headline(doc) if doc["workloads"] else None
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        write_markdown(doc, md_path)

    for name in workloads:
        if args.update and name in doc["workloads"]:
            old = doc["workloads"].pop(name)
            run_workload(name, args, doc)
            new = doc["workloads"][name]
            keep = [r for r in old["results"] if r["lib"] not in args.libs]
            new["results"] = keep + new["results"]
            new["gemm_all_s"] = old.get("gemm_all_s", []) + new["gemm_all_s"]
            new["gemm_s"] = min(new["gemm_all_s"])
            new["floor_s"] = new["gemm_s"] * new["epochs"]
            new["gflops"] = (
                2.0
                * new["n"]
                * new["d"]
                * new["grid"][0]
                * new["grid"][1]
                / new["gemm_s"]
                / 1e9
            )
            finish_ratios(new)
        else:
            run_workload(name, args, doc)
        save()
    if args.scaling:
        run_scaling(args, doc)
        save()
    if args.memory:
        run_memory(args, doc)
        save()
    save()
    print(f"done in {time.perf_counter() - t0:.0f} s -> {md_path}")


if __name__ == "__main__":
    main()
