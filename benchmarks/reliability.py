#!/usr/bin/env python3
"""Reliability counts for the README: bit flips, hostile files, resumed runs.

* **bit flips**: every byte of real model files gets one bit flipped (bit
  ``i % 8`` of byte ``i``); each mutated file is loaded and classified as
  refused (ValueError), loaded identical (same predictions and distances as
  the original) or loaded different (must be 0).
* **hostile files**: peak traced memory (``tracemalloc``) while loading each
  hostile case of ``tests/test_hostile_files.py`` built from a 30x30 x 64
  model, in a fresh process, next to the legitimate model's own peak.
* **resume**: runs killed with SIGKILL at random moments and resumed from
  their checkpoint, per algorithm; counts the resumed maps that equal the
  uninterrupted one bit for bit.

Usage::

    PYTHONPATH=src python benchmarks/reliability.py [--kills 5]

Prints a Markdown table (and writes benchmarks/_scratch/reliability.json).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")


def bit_flips(folder):
    from sklearn.datasets import load_iris
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import somkit
    from somkit import SOM, SOMClassifier, load

    X, y = load_iris(return_X_y=True)
    models = {
        "SOMClassifier 4x4": SOMClassifier((4, 4), n_epochs=2, random_state=0).fit(
            X, y
        ),
        "SOM 5x5": SOM((5, 5), random_state=0, n_epochs=3).fit(X),
        "scaler + SOM 4x6 hex": make_pipeline(
            StandardScaler(), SOM((4, 6), topology="hex", random_state=0)
        ).fit(X),
    }
    out = {}
    for name, model in models.items():
        path = os.path.join(folder, "m.npz")
        somkit.save(model, path)
        raw = open(path, "rb").read()
        ref = model.predict(X), _scores(model, X)
        counts = {"refused": 0, "identical": 0, "different": 0}
        bad = os.path.join(folder, "flipped.npz")
        for i in range(len(raw)):
            data = bytearray(raw)
            data[i] ^= 1 << (i % 8)
            with open(bad, "wb") as fh:
                fh.write(data)
            try:
                back = load(bad)
            except ValueError:
                counts["refused"] += 1
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                same = np.array_equal(back.predict(X), ref[0]) and np.array_equal(
                    _scores(back, X), ref[1]
                )
            counts["identical" if same else "different"] += 1
        out[name] = {"bytes": len(raw), **counts}
    return out


def _scores(model, X):
    """Distances to the units, or class probabilities for a classifier."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.transform(X)


_PEAK = """
import sys, tracemalloc
from somkit import load
tracemalloc.start()
try:
    load(sys.argv[1])
except Exception:
    pass
print(tracemalloc.get_traced_memory()[1])
"""


def hostile_memory(folder):
    sys.path.insert(0, TESTS)
    import test_hostile_files as th

    from somkit import SOM

    rng = np.random.default_rng(0)
    legit = os.path.join(folder, "legit.npz")
    SOM((30, 30), n_epochs=1, random_state=0).fit(rng.normal(size=(2000, 64))).save(
        legit
    )

    def peak(path):
        res = subprocess.run(
            [sys.executable, "-c", _PEAK, path], capture_output=True, text=True
        )
        return int(res.stdout.split()[-1])

    from pathlib import Path

    base = peak(legit)
    rows, sizes = {}, {}
    for name, change in th.CASES.items():
        path = th.edited(Path(folder), Path(legit), change, name="hostile.npz")
        rows[name] = peak(str(path))
        sizes[name] = os.path.getsize(path)
    bomb = Path(folder) / "bomb.npz"
    th.write_members(bomb, th.members(Path(legit)))
    import zipfile

    with zipfile.ZipFile(bomb, "a") as zf:
        info = zipfile.ZipInfo("extra.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            block = bytes(1 << 24)
            for _ in range(192):
                fh.write(block)
    rows["3 GiB deflate-bomb member"] = peak(str(bomb))
    sizes["3 GiB deflate-bomb member"] = os.path.getsize(bomb)
    ratio = {k: rows[k] / sizes[k] for k in rows}
    return {
        "worst_ratio_case": max(ratio, key=ratio.get),
        "worst_ratio": max(ratio.values()),
        "sizes": sizes,
        "model_bytes": os.path.getsize(legit),
        "legit_peak": base,
        "cases": len(rows),
        "worst_case": max(rows, key=rows.get),
        "worst_peak": max(rows.values()),
        "peaks": rows,
    }


_KILLED = """
import sys, time
sys.path.insert(0, sys.argv[3])
from test_checkpoint import data, params
from somkit import SOM
slow = [lambda som, epoch, logs: time.sleep(0.01)]  # results unchanged
SOM(**params(sys.argv[1], n_epochs=100, callbacks=slow)).fit(
    data(), checkpoint=sys.argv[2], checkpoint_every=3
)
"""


def resumes(folder, kills):
    sys.path.insert(0, TESTS)
    from test_checkpoint import data, params

    from somkit import SOM

    X = data()
    out = {}
    rng = np.random.default_rng(0)
    for algorithm in ("batch", "minibatch", "online"):
        ref = SOM(**params(algorithm, n_epochs=100)).fit(X)
        equal = runs = 0
        epochs = []
        for _ in range(kills):
            path = os.path.join(folder, f"run-{algorithm}.npz")
            if os.path.exists(path):
                os.remove(path)
            proc = subprocess.Popen(
                [sys.executable, "-c", _KILLED, algorithm, path, TESTS]
            )
            while not os.path.exists(path) and proc.poll() is None:
                time.sleep(0.005)
            time.sleep(float(rng.uniform(0.0, 1.5)))  # the run lasts >= 1 s
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            from somkit._checkpoint import read_checkpoint

            epochs.append(read_checkpoint(path)["epoch"])
            back = SOM.resume(path, X)
            runs += 1
            equal += bool(np.array_equal(back.codebook_, ref.codebook_))
        out[algorithm] = {"runs": runs, "equal": equal, "killed_at_epochs": epochs}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = {
            "bit_flips": bit_flips(folder),
            "hostile_memory": hostile_memory(folder),
            "resume": resumes(folder, args.kills),
        }
    os.makedirs(os.path.join(HERE, "_scratch"), exist_ok=True)
    with open(os.path.join(HERE, "_scratch", "reliability.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    buf = io.StringIO()
    print("| check | result |\n|---|---|", file=buf)
    for name, c in result["bit_flips"].items():
        print(
            f"| one bit flipped in each of the {c['bytes']} bytes of a {name} file "
            f"| {c['refused']} refused, {c['identical']} loaded identical, "
            f"{c['different']} loaded different |",
            file=buf,
        )
    m = result["hostile_memory"]
    worst = m["worst_case"]
    print(
        f"| peak memory loading {m['cases']} hostile files made from a "
        f"{m['model_bytes'] / 1e3:.0f} kB model (tracemalloc) | worst "
        f"{m['worst_peak'] / 1e6:.2f} MB ({worst}, a "
        f"{m['sizes'][worst] / 1e6:.2f} MB file) vs {m['legit_peak'] / 1e6:.2f} MB "
        f"for the model itself; at most {m['worst_ratio']:.1f}x the hostile "
        f"file's own size ({m['worst_ratio_case']}) |",
        file=buf,
    )
    for algorithm, r in result["resume"].items():
        print(
            f"| {algorithm}: SIGKILL at a random moment, then resume "
            f"| {r['equal']} of {r['runs']} equal to the uninterrupted run "
            f"(killed after epochs {r['killed_at_epochs']}) |",
            file=buf,
        )
    print(buf.getvalue())


if __name__ == "__main__":
    main()
