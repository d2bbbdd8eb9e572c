"""Fuzzing: odd inputs either work with finite results or raise ValueError/TypeError.

Hypothesis draws shapes with 0 and 1 rows or columns, every numpy dtype,
NaN and inf, magnitudes from 1e-300 to 1e300, duplicated rows, constant
columns, 1-unit grids and extreme schedules for ``fit``/``partial_fit``/
``predict``/``transform``/metrics; mutated model files (bit flips,
truncations, member swaps, header and metadata edits) for ``load``; and
random bytes and cells for the command line's readers (which read holes as
NaN). Every case must either give finite results or raise ValueError/
TypeError with a message, within a time limit (no case hangs).

Settings are deterministic (``derandomize=True``, no example database) and
the number of examples is bounded, so the suite takes a few minutes in CI.
The counts of cases run are printed (``pytest -s``) and quoted in the
README's reliability section.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris

import somkit
from somkit import SOM, load, metrics

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=250,
    suppress_health_check=list(HealthCheck),
)
COUNTS = {}
#: Seconds a single case may take before it counts as a hang.
CASE_LIMIT = 60


@contextlib.contextmanager
def time_limit(seconds=CASE_LIMIT):
    def hang(signum, frame):
        raise TimeoutError(f"a fuzz case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def count(name, outcome):
    COUNTS.setdefault(name, {}).setdefault(outcome, 0)
    COUNTS[name][outcome] += 1


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    for name, outcomes in sorted(COUNTS.items()):
        total = sum(outcomes.values())
        print(f"\nfuzz {name}: {total} cases {dict(sorted(outcomes.items()))}")


def refused(exc):
    """A refusal that names its problem: ValueError/TypeError with a message."""
    return isinstance(exc, ValueError | TypeError) and len(str(exc)) > 10


# ------------------------------------------------------------ estimator
DTYPES = [
    "float64",
    "float32",
    "float16",
    "int8",
    "int64",
    "uint8",
    "uint64",
    "bool",
    "complex128",
    "object",
]
MAGNITUDES = [1e-300, 1e-100, 1e-40, 1e-12, 1.0, 1e7, 1e12, 1e20, 1e40, 1e100, 1e300]


@st.composite
def datasets(draw):
    n = draw(mostly([1, 2, 3, 5, 12, 40], [0]))
    d = draw(mostly([1, 2, 3, 6], [0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n, d)) * draw(st.sampled_from(MAGNITUDES))
    X += draw(st.sampled_from([0.0, 1.0, -1e8, 1e15, 1e300 / 2]))
    if n > 1 and draw(st.booleans()):
        X[n // 2 :] = X[0]  # duplicated rows
    if d > 1 and draw(st.booleans()):
        X[:, 0] = draw(st.sampled_from([0.0, 7.5, -1e200]))  # a constant column
    if n and d and draw(st.integers(0, 19)) == 0:
        X[rng.integers(n), rng.integers(d)] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
    dtype = draw(mostly(DTYPES[:7], DTYPES[7:]))
    with np.errstate(all="ignore"):
        if dtype == "object":
            X = X.astype(object)
            if n and d:
                X[0, 0] = draw(st.sampled_from(["text", None, 1.5]))
        else:
            X = X.astype(dtype)
    return X


def mostly(good, bad):
    """Draw from ``good`` three times as often as from ``bad``."""
    return st.sampled_from(list(good) * 3 + list(bad))


@st.composite
def estimators(draw):
    return {
        "grid": draw(mostly([1, (1, 1), 2, (2, 3), (3, 3, 2), "auto"], [0, (2, -1)])),
        "algorithm": draw(st.sampled_from(["batch", "online", "minibatch"])),
        "metric": draw(
            st.sampled_from(["euclidean", "cosine", "dot", "manhattan", "chebyshev"])
        ),
        "neighborhood": draw(
            st.sampled_from(["gaussian", "bubble", "mexican_hat", "triangle"])
        ),
        "radius": draw(
            mostly(
                [None, 0, 0.01, 3.0, 1e300, (5.0, 0.0)],
                [1e-300, -1.0, float("nan"), (1.0, 1e-9)],
            )
        ),
        "learning_rate": draw(
            mostly([0.5, 1.0, 1e-300, (1.0, 0.0)], [2.0, float("inf"), 0.0, -1.0])
        ),
        "init": draw(st.sampled_from(["pca", "sample", "random"])),
        "n_epochs": draw(st.sampled_from([1, 2, 3])),
        "dtype": draw(st.sampled_from(["float32", "float64"])),
        "batch_size": draw(st.sampled_from([None, 1, 7])),
        "missing": draw(st.sampled_from(["error", "ignore"])),
        "random_state": 0,
    }


def _check_fitted(som, X):
    W = som.codebook_
    assert np.all(np.isfinite(W)), "non-finite codebook"
    assert W.shape == (som.grid_.n_units, X.shape[1])
    idx = som.predict(X)
    assert idx.min() >= 0 and idx.max() < som.grid_.n_units
    assert np.all(np.isfinite(som.transform(X)))
    assert np.isfinite(som.quantization_error(X))
    assert 0 <= som.topographic_error(X) <= 1
    assert np.isfinite(metrics.distortion(som, X))
    assert np.all(np.isfinite(som.decision_function(X)))


@settings(FUZZ, max_examples=400)
@given(X=datasets(), params=estimators(), partial=st.booleans())
def test_fit_predict_metrics_finite_or_refused(X, params, partial):
    som = SOM(**params)
    with time_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's dtype-conversion notes
        try:
            if partial:
                som.partial_fit(X).partial_fit(X)
            else:
                som.fit(X)
        except Exception as exc:  # noqa: BLE001 - the property under test
            assert refused(exc), repr(exc)
            count("fit", "refused")
            return
        Xf = np.asarray(X, dtype=np.float64)
        _check_fitted(som, Xf)
        count("fit", "trained")


@FUZZ
@given(X=datasets())
def test_predict_on_any_input_finite_or_refused(X, fitted):
    som = fitted[X.shape[1]] if X.ndim == 2 and X.shape[1] in fitted else fitted[3]
    with time_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in (som.predict, som.transform, som.score_samples):
            try:
                out = method(X)
            except Exception as exc:  # noqa: BLE001
                assert refused(exc), repr(exc)
                count("predict", "refused")
                continue
            assert np.all(np.isfinite(np.asarray(out, dtype=np.float64)))
            count("predict", "answered")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    return {
        d: SOM((3, 3), random_state=0, n_epochs=2).fit(rng.normal(size=(30, d)))
        for d in (1, 2, 3, 6)
    }


# ---------------------------------------------------------- model files
@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from somkit import Layer, SOMClassifier

    folder = tmp_path_factory.mktemp("orig")
    X, y = load_iris(return_X_y=True)
    models = {
        "classifier": SOMClassifier((4, 4), n_epochs=2, random_state=0).fit(X, y),
        "layered": SOM(
            (3, 4),
            n_epochs=2,
            random_state=0,
            layers=[Layer("a", 2), Layer("b", 2, metric="manhattan", weight=0.5)],
        ).fit(X),
        "som": SOM((4, 4), random_state=0, n_epochs=2).fit(X),
        "hex": SOM((4, 4), topology="hex", periodic=True, n_epochs=2).fit(X + 1e8),
        "pipeline": make_pipeline(
            StandardScaler(), SOM((3, 5), algorithm="online", random_state=0)
        ).fit(X),
    }
    out = {}
    for name, model in models.items():
        path = folder / f"{name}.npz"
        somkit.save(model, path)
        out[name] = (path.read_bytes(), model)
    return out, X


def _outcome(data, model, X, tmp_path):
    """'refused', 'identical' or 'different' for a mutated file's bytes."""
    path = tmp_path / "m.npz"
    path.write_bytes(data)
    with time_limit():
        try:
            back = load(path)
        except Exception as exc:  # noqa: BLE001
            assert type(exc) is ValueError and str(path) in str(exc), repr(exc)
            return "refused"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idx = back.predict(X)
            D = _scores(back, X)
    assert np.all(np.isfinite(D))
    same = np.array_equal(idx, model.predict(X)) and np.array_equal(
        D, _scores(model, X)
    )
    return "identical" if same else "different"


def _scores(model, X):
    """Distances to the units (maps) or class probabilities (classifiers)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    D = model.transform(X)
    assert model.predict(X).max() < D.shape[1]
    return D


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _zip(parts):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in parts.items():
            zf.writestr(name, payload)
    return buf.getvalue()


@st.composite
def mutations(draw, size):
    kind = draw(st.sampled_from(["flip", "truncate", "swap", "header", "meta", "junk"]))
    return kind, draw(st.integers(0, size * 8 - 1)), draw(st.integers(0, 2**32))


def _mutate(data, kind, where, seed):
    rng = np.random.default_rng(seed)
    if kind == "flip":
        out = bytearray(data)
        out[where // 8] ^= 1 << (where % 8)
        return bytes(out)
    if kind == "truncate":
        return data[: where // 8]
    if kind == "junk":
        return bytes(rng.integers(0, 256, size=where % 64, dtype=np.uint8)) + data
    parts = _members(data)
    names = sorted(parts)
    if kind == "swap":
        a, b = rng.choice(len(names), size=2, replace=False)
        parts[names[a]], parts[names[b]] = parts[names[b]], parts[names[a]]
    elif kind == "header":
        name = names[rng.integers(len(names))]
        raw = bytearray(parts[name])
        end = raw.index(b"\n") if b"\n" in raw else len(raw)
        pos = 8 + int(rng.integers(max(end - 8, 1)))
        raw[min(pos, len(raw) - 1)] = int(rng.choice(list(b"(){}[]'0123456789,: x")))
        parts[name] = bytes(raw)
    else:  # an edited metadata value
        text = np.lib.format.read_array(io.BytesIO(parts["meta.npy"]))[()]
        meta = json.loads(str(text))
        _edit(meta, rng)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array(json.dumps(meta)))
        parts["meta.npy"] = buf.getvalue()
    return _zip(parts)


def _edit(meta, rng):
    """Replace one value deep in the JSON tree by a hostile one."""
    node = meta
    for _ in range(int(rng.integers(1, 6))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = keys[int(rng.integers(len(keys)))]
        child = node[key]
        if not isinstance(child, dict | list) or rng.random() < 0.3:
            values = [None, -1, 0, 2**70, 1e308, "nope", [], {}, [1, 2], True, 0.5]
            node[key] = values[int(rng.integers(len(values)))]
            return
        node = child


@FUZZ
@given(
    which=st.sampled_from(["som", "hex", "pipeline", "classifier", "layered"]),
    data=st.data(),
)
def test_mutated_model_files_refused_or_identical(originals, tmp_path, which, data):
    files, X = originals
    raw, model = files[which]
    kind, where, seed = data.draw(mutations(len(raw)))
    outcome = _outcome(_mutate(raw, kind, where, seed), model, X, tmp_path)
    if kind in ("flip", "truncate", "swap", "junk"):
        # bytes changed outside the metadata's values: nothing else loads
        assert outcome != "different", kind
    count(f"load {kind}", outcome)


# ---------------------------------------------------------- CLI readers
CELLS = st.sampled_from(
    ["1", "-2.5", "1e400", "nan", "", "x", "=1+1", '"', "1,2", "\x00", "inf", "NA"]
)


@FUZZ
@given(
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=4), min_size=0, max_size=6),
    suffix=st.sampled_from([".csv", ".tsv", ".txt", ".csv.gz"]),
)
def test_text_readers_finite_or_refused(tmp_path, rows, suffix):
    import gzip

    text = "\n".join(",".join(r) if suffix != ".tsv" else "\t".join(r) for r in rows)
    path = tmp_path / f"d{suffix}"
    raw = text.encode("utf-8")
    path.write_bytes(gzip.compress(raw) if suffix.endswith(".gz") else raw)
    _read(path, "text")


@FUZZ
@given(
    blob=st.binary(min_size=0, max_size=300),
    suffix=st.sampled_from([".npy", ".npz", ".csv", ".parquet"]),
)
def test_binary_readers_finite_or_refused(tmp_path, blob, suffix):
    path = tmp_path / f"d{suffix}"
    path.write_bytes(blob)
    _read(path, "bytes")


@FUZZ
@given(X=datasets(), key=st.sampled_from(["X", "data", "other"]))
def test_array_readers_finite_or_refused(tmp_path, X, key):
    path = tmp_path / "d.npz"
    if X.dtype == object:
        X = X.astype(str)
    np.savez(path, **{key: X})
    _read(path, "npz")
    np.save(tmp_path / "d.npy", X)
    _read(tmp_path / "d.npy", "npy")


def _read(path, name):
    from somkit._data import load_data

    with time_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = load_data(path)
        except Exception as exc:  # noqa: BLE001
            assert refused(exc), repr(exc)
            count(f"read {name}", "refused")
            return
    assert data.X.dtype == np.float64 and data.X.ndim == 2
    assert not np.isinf(data.X).any()  # holes are NaN; infinities are refused
    count(f"read {name}", "read")
