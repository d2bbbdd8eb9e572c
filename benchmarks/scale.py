"""Scale evidence: a dask cluster of worker processes, and streaming from Parquet.

(a) ``--part cluster``: 10^8 x 32 float32 rows (12.8 GB) generated blockwise
    on a ``distributed.LocalCluster`` of 2 worker processes (one thread
    each), never materialised in one process, trained on a 30x30 map with
    the batch rule. Per epoch: seconds, the GEMM floor of the same work
    (one float32 (rows x 32) @ (32 x 900) product, timed on one block and
    scaled to all blocks over the 2 cores), the time of a pass that only
    generates the data, and the bytes the workers sent (their transfer
    counters and every byte they wrote to sockets, /proc/PID/io wchar).
    Peak memory per worker (ru_maxrss) and of the client.
(b) ``--part parquet``: 10^7 x 32 float32 rows in a Parquet file (written
    row group by row group): ``somkit fit --stream`` (fit_stream over the
    row groups), ``somkit fit --sample 1000000`` then ``somkit predict`` on
    every row to Parquet, each as its own process: wall time and peak RSS.

Results go to ``benchmarks/results_scale.json`` and ``results_scale.md``;
``run.py`` writes ``results.md``, which links the scale page.

    PYTHONPATH=src python benchmarks/scale.py --part cluster
    PYTHONPATH=src python benchmarks/scale.py --part parquet
    PYTHONPATH=src python benchmarks/scale.py --part cluster --rows 2e6  # a quick try
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (benchmarks/run.py: machine info, GEMM floor)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_scale.json"
FEATURES = 32
GRID = (30, 30)
SEED = 0
N_CENTERS = 20


# ------------------------------------------------------------------- data
def centers(d=FEATURES):
    return np.random.default_rng(SEED).normal(scale=3.0, size=(N_CENTERS, d))


def make_block(i, rows, d=FEATURES):
    """Block ``i``: rows around 20 fixed centres (float32), from its own seed.

    Uniform noise of unit variance (cheaper to draw than normal noise, so a
    pass that makes the data costs little next to the training).
    """
    rng = np.random.default_rng([SEED, i])
    C = centers(d).astype(np.float32)
    X = rng.random((rows, d), dtype=np.float32)
    X -= np.float32(0.5)
    X *= np.float32(12**0.5)
    X += C[rng.integers(0, N_CENTERS, rows)]
    return X


def _generated(block_info=None):
    i = block_info[None]["chunk-location"][0]
    shape = block_info[None]["chunk-shape"]
    return make_block(i, shape[0], shape[1])


def dask_data(n, block_rows):
    import dask.array as da

    chunks = (
        (block_rows,) * (n // block_rows)
        + ((n % block_rows,) if n % block_rows else ()),
        (FEATURES,),
    )
    return da.map_blocks(
        _generated, chunks=chunks, dtype=np.float32, meta=np.empty((0, 0), np.float32)
    )


# ------------------------------------------------------------ (a) cluster
NUMPY_REFERENCE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from scale import make_block, GRID, SEED
import numpy as np
from somkit import SOM
n, block = int(sys.argv[2]), int(sys.argv[3])
X = np.concatenate([make_block(i, block) for i in range(n // block)])
som = SOM(GRID, n_epochs=2, init="sample", random_state=SEED).fit(X)
print(json.dumps(dict(rows=len(X), epoch_s=som.history_["seconds"])))
"""


def numpy_reference(rows, block_rows):
    """Seconds per epoch of the numpy backend (one process, both cores)."""
    block_rows = min(block_rows, rows)
    out = subprocess.run(
        [sys.executable, "-c", NUMPY_REFERENCE, str(HERE), str(rows), str(block_rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _worker_counters(dask_worker):
    return dict(
        sent=int(dask_worker.transfer_outgoing_bytes_total),
        maxrss_mb=run._status_mb("VmHWM"),
    )


def gemm_floor(rows):
    """1-thread float32 GEMM of ``rows`` x 32 by 32 x 900, in its own process.

    (The product's output alone is rows x 900 floats: kept out of the
    client's peak memory.)
    """
    os.makedirs(run.SCRATCH, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="somkit-gemm-", dir=run.SCRATCH)
    path = os.path.join(tmp, "block.npy")
    np.save(path, make_block(0, rows))
    try:
        out = run.spawn(dict(lib="gemm", data=path, m=GRID[0] * GRID[1]), 300)
    finally:
        os.unlink(path)
        os.rmdir(tmp)
    if out["status"] != "ok":
        raise RuntimeError(out)
    return out


def part_cluster(args):
    import dask
    import distributed

    from somkit import SOM

    n = int(float(args.rows))
    block_rows = int(float(args.block_rows))
    out = dict(rows=n, features=FEATURES, grid=list(GRID), block_rows=block_rows)
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        worker_dashboard_address=None,
        memory_limit=args.worker_memory,
    )
    with cluster, distributed.Client(cluster) as client:
        X = dask_data(n, block_rows)
        n_blocks = X.numblocks[0]
        out["blocks"] = n_blocks
        # GEMM floor: a product on one core, scaled to all rows / 2 cores
        floor_rows = min(block_rows, 200_000)
        floor = gemm_floor(floor_rows)
        one = floor["by_threads"]["1 thread"]
        out["gemm_floor_epoch_s"] = one * n / floor_rows / 2
        out["gemm_gflops_1thread"] = (
            2.0 * floor_rows * FEATURES * GRID[0] * GRID[1] / one / 1e9
        )
        ref_rows = min(n, 2_000_000)
        out["numpy_reference"] = numpy_reference(ref_rows, block_rows)
        # a pass that only generates the data (and sums it)
        tic = time.perf_counter()
        X.sum(axis=0).compute()
        out["generate_pass_s"] = time.perf_counter() - tic
        counters = []

        def record(som, epoch, logs):
            counters.append((time.perf_counter(), client.run(_worker_counters)))

        som = SOM(
            GRID,
            n_epochs=args.epochs,
            random_state=SEED,
            callbacks=[record],
        )
        start = client.run(_worker_counters)
        tic = time.perf_counter()
        counters.append((tic, start))
        som.fit(X)
        out["fit_s"] = time.perf_counter() - tic
        end = client.run(_worker_counters)
        out["epoch_s"] = list(som.history_["seconds"])
        out["qe"] = list(som.history_["quantization_error"])
        # bytes each worker sent (to other workers and to the client)
        sent = [{w: v["sent"] for w, v in c.items()} for _, c in counters]
        out["sent_per_epoch"] = [
            {w: b[w] - a[w] for w in b}
            for a, b in zip(sent[1:-1], sent[2:], strict=False)
        ]
        out["sent_init_and_first_epoch"] = {w: sent[1][w] - sent[0][w] for w in sent[0]}
        out["sent_labels_pass"] = {w: end[w]["sent"] - sent[-1][w] for w in end}
        out["worker_peak_rss_mb"] = {w: v["maxrss_mb"] for w, v in end.items()}
        out["client_peak_rss_mb"] = run._status_mb("VmHWM")
        out["codebook_bytes"] = int(som.codebook_.nbytes)
        out["sums_bytes"] = int(GRID[0] * GRID[1] * (FEATURES + 1) * 8)
        out["dask"] = dask.__version__
        out["distributed"] = distributed.__version__
    return out


# ------------------------------------------------------------ (b) parquet
def write_parquet(path, n, group_rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{i}" for i in range(FEATURES)]
    schema = pa.schema([(c, pa.float32()) for c in names])
    with pq.ParquetWriter(path, schema) as w:
        for i, a in enumerate(range(0, n, group_rows)):
            X = make_block(i, min(group_rows, n - a))
            w.write_table(
                pa.Table.from_arrays(
                    [pa.array(X[:, j]) for j in range(FEATURES)], names=names
                ),
                row_group_size=group_rows,
            )


#: Runs ``somkit ARGS`` and writes its peak resident memory (VmHWM, kB) to
#: the file named by SOMKIT_PEAK (ru_maxrss would include the parent's size:
#: Linux keeps it across exec).
PEAK_WRAPPER = """
import atexit, os, sys

def _peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                with open(os.environ["SOMKIT_PEAK"], "w") as out:
                    out.write(line.split()[1])

atexit.register(_peak)
from somkit.cli import main
main(sys.argv[1:])
"""


def timed(args, scratch):
    """Wall seconds and peak RSS (MB) of ``somkit ARGS`` in its own process."""
    peak = Path(scratch) / "peak.txt"
    env = dict(os.environ, SOMKIT_PEAK=str(peak))
    tic = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, *args],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - tic
    if res.returncode != 0:
        raise RuntimeError(f"somkit {' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return dict(
        wall_s=wall,
        peak_rss_mb=int(peak.read_text()) / 1024,
        cmd="somkit " + " ".join(args),
        log=res.stderr[-1500:],
    )


def part_parquet(args):
    n = int(float(args.rows))
    group_rows = int(float(args.block_rows))
    tmp = Path(tempfile.mkdtemp(prefix="somkit-scale-", dir=args.scratch))
    data = tmp / "data.parquet"
    tic = time.perf_counter()
    write_parquet(data, n, group_rows)
    out = dict(
        rows=n,
        features=FEATURES,
        grid=list(GRID),
        row_group_rows=group_rows,
        file_mb=data.stat().st_size / 2**20,
        write_s=time.perf_counter() - tic,
    )
    grid = f"{GRID[0]}x{GRID[1]}"
    common = ["--grid", grid, "--epochs", str(args.epochs), "--seed", "0"]
    sample = int(float(args.sample))
    out["sample"] = sample
    steps = {
        "fit_stream": ["fit", data, "-o", tmp / "stream.npz", "--stream", *common],
        "fit_sample": ["fit", data, "-o", tmp / "sample.npz", "--sample", sample]
        + common,
        "predict": ["predict", tmp / "sample.npz", data, "-o", tmp / "bmu.parquet"],
        "fit_in_memory": ["fit", data, "-o", tmp / "mem.npz", "--no-stream", *common],
    }
    for name, step in steps.items():
        if name == "fit_in_memory" and args.skip_in_memory:
            continue
        out[name] = timed([str(a) for a in step], tmp)
    import pyarrow.parquet as pq

    out["predict_rows"] = pq.ParquetFile(tmp / "bmu.parquet").metadata.num_rows
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return out


# ------------------------------------------------------------------ report
def _mb(b):
    return b / 2**20


def markdown(doc):
    lines = [
        "# somkit at scale",
        "",
        "Generated by `benchmarks/scale.py` on a shared, noisy 2-core VM "
        "(other jobs ran on the same machine; see `results.md` for the machine).",
        "",
    ]
    a = doc.get("cluster")
    if a:
        epochs = a["epoch_s"]
        steady = float(np.median(epochs[1:] if len(epochs) > 1 else epochs))
        per_row = steady / a["rows"]
        sent = [sum(e.values()) for e in a["sent_per_epoch"]]
        scatter = a["codebook_bytes"] * 2
        ref = a["numpy_reference"]
        ref_row = float(np.median(ref["epoch_s"])) / ref["rows"]
        lines += [
            f"## (a) {a['rows']:.0e} x {a['features']} float32 on a dask LocalCluster "
            f"of 2 worker processes ({a['rows'] * a['features'] * 4 / 1e9:.1f} GB, "
            f"generated blockwise)",
            "",
            f"{a['grid'][0]}x{a['grid'][1]} map, batch rule, {len(epochs)} epochs, "
            f"{a['blocks']} blocks of {a['block_rows']:,} rows; each worker has one "
            f"thread and its own process. Run {a.get('when', '?')}; 1-minute load "
            f"average {a.get('load_before', float('nan')):.1f} before and "
            f"{a.get('load_after', float('nan')):.1f} after (2 cores: above 2, other "
            "jobs shared them).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| seconds per epoch (median after the first) | {steady:.1f} |",
            f"| seconds per epoch, each | {', '.join(f'{e:.1f}' for e in epochs)} |",
            f"| GEMM floor per epoch (1-thread GEMM of a block x blocks / 2 cores) | "
            f"{a['gemm_floor_epoch_s']:.1f} ({a['gemm_gflops_1thread']:.0f} GFLOP/s "
            "per core) |",
            f"| epoch / GEMM floor | {steady / a['gemm_floor_epoch_s']:.2f} |",
            f"| a pass that only generates the data | {a['generate_pass_s']:.1f} s |",
            f"| epoch minus generation, / GEMM floor | "
            f"{(steady - a['generate_pass_s']) / a['gemm_floor_epoch_s']:.2f} |",
            f"| whole fit (pca init pass, epochs, labels pass) | {a['fit_s']:.0f} s |",
            f"| per-row cost (core-seconds per row per epoch) | {2 * per_row:.3g} |",
            f"| numpy backend, one process, in memory ({ref['rows']:,} rows): "
            f"core-seconds per row per epoch | {2 * ref_row:.3g} |",
            "| dask epoch minus generation, per row / numpy per row | "
            f"{(steady - a['generate_pass_s']) / a['rows'] / ref_row:.2f} |",
            f"| peak RSS per worker | "
            f"{', '.join(f'{v:.0f} MB' for v in a['worker_peak_rss_mb'].values())} |",
            f"| peak RSS of the client (holds labels_: 8 bytes per row) | "
            f"{a['client_peak_rss_mb']:.0f} MB |",
            "| bytes the workers sent per epoch (to each other and to the client; "
            "their transfer counters) | "
            f"{', '.join(f'{_mb(s):.2f} MB' for s in sent)} |",
            f"| bytes sent to the workers per epoch (the codebook, pushed once "
            f"to each) | {_mb(scatter):.2f} MB |",
            "| labels pass: bytes the workers sent (labels_, 8 bytes per row, "
            "and the distance tails) | "
            f"{_mb(sum(a['sent_labels_pass'].values())):.0f} MB |",
            f"| one codebook / one sums array | {_mb(a['codebook_bytes']):.2f} MB / "
            f"{_mb(a['sums_bytes']):.2f} MB |",
            "",
            f"QE per epoch: {', '.join(f'{q:.3f}' for q in a['qe'])}.",
            "",
        ]
        doc["projection"] = projection(per_row, a)
        p = doc["projection"]
        lines += [
            "### Projection: 10^9 x 50 on N workers",
            "",
            "From the measured cost per row (this run, dask, generation included), "
            "scaled by the work per row (features x units) and divided over the "
            "cores. Traffic per epoch does not grow with the rows per worker: one "
            "codebook to each worker and the per-block partial sums of the tree "
            "reduction (the ones that cross workers), as measured above.",
            "",
            "| workers (cores) | seconds per epoch | 10 epochs |",
            "|---|---|---|",
        ]
        for w, s in p["epoch_s"].items():
            lines.append(f"| {w} | {s:.0f} | {s * 10 / 60:.0f} min |")
        lines.append("")
    b = doc.get("parquet")
    if b:
        lines += [
            f"## (b) {b['rows']:.0e} x {b['features']} float32 from Parquet "
            f"({b['file_mb']:.0f} MB, row groups of {b['row_group_rows']:,} rows)",
            "",
            f"{b['grid'][0]}x{b['grid'][1]} map, each step its own process. Run "
            f"{b.get('when', '?')}; 1-minute load average "
            f"{b.get('load_before', float('nan')):.1f} before and "
            f"{b.get('load_after', float('nan')):.1f} after.",
            "",
            "| step | wall s | peak RSS MB |",
            "|---|---|---|",
        ]
        for key, name in (
            ("fit_in_memory", "`somkit fit --no-stream` (the whole file in memory)"),
            ("fit_stream", "`somkit fit --stream` (fit_stream over the row groups)"),
            (
                "fit_sample",
                f"`somkit fit --sample {b['sample']}` (reservoir, then fit)",
            ),
            (
                "predict",
                f"`somkit predict` of all {b['predict_rows']:,} rows to Parquet",
            ),
        ):
            r = b.get(key)
            if r is None:
                continue
            lines.append(f"| {name} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def projection(per_row, a, rows=1e9, features=50, units=900):
    """Seconds per epoch for rows x features on N one-core workers."""
    work = features * units / (a["features"] * a["grid"][0] * a["grid"][1])
    core_s = per_row * 2 * rows * work  # measured on 2 cores
    return {
        "rows": rows,
        "features": features,
        "units": units,
        "epoch_s": {n: core_s / n for n in (8, 32, 128, 512)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["cluster", "parquet", "markdown"], required=True)
    ap.add_argument("--rows", default=None)
    ap.add_argument("--block-rows", default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--sample", default="1e6")
    ap.add_argument("--worker-memory", default="6GiB")
    ap.add_argument("--scratch", default=None)
    ap.add_argument("--skip-in-memory", action="store_true")
    args = ap.parse_args()
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc["machine"] = run.machine()
    load_before = os.getloadavg()[0]
    if args.part == "cluster":
        args.rows = args.rows or "1e8"
        args.block_rows = args.block_rows or "1e6"
        args.epochs = args.epochs or 3
        doc["cluster"] = part_cluster(args)
    elif args.part == "parquet":
        args.rows = args.rows or "1e7"
        args.block_rows = args.block_rows or "1e6"
        args.epochs = args.epochs or 10
        doc["parquet"] = part_parquet(args)
    part = doc.get(args.part)
    if isinstance(part, dict):
        part["load_before"] = load_before
        part["load_after"] = os.getloadavg()[0]
        part["when"] = run.machine()["when"]
    text = markdown(doc)
    RESULTS.write_text(json.dumps(doc, indent=2))
    (HERE / "results_scale.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
