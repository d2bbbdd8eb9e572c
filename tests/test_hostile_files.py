"""Model files an adversary made: each is refused with a ValueError, cheaply.

Every case starts from a real model file and changes it the way an attacker
(or one flipped bit) would. ``load`` must raise ValueError for all of them
(never MemoryError, RecursionError, TokenError, AttributeError or KeyError),
must not set attributes from the file, and must not allocate much more than
the legitimate model needs. Checksums of the arrays live in the metadata, so
the forged files below recompute them where an attacker could (the
validation of the contents is tested, not only the checksum).
"""

import io
import json
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_iris

import somkit
from somkit import SOM, load


@pytest.fixture(scope="module")
def X():
    return load_iris().data


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, X):
    path = tmp_path_factory.mktemp("legit") / "m.npz"
    SOM((5, 5), random_state=0, n_epochs=3).fit(X).save(path)
    return path


# ------------------------------------------------------------- file surgery
def members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_members(path, parts, deflate=()):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            how = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            zf.writestr(name, data, compress_type=how)


def npy(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def read_npy(data):
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def get_meta(parts):
    return json.loads(str(read_npy(parts["meta.npy"])[()]))


def set_meta(parts, meta):
    parts["meta.npy"] = npy(np.array(json.dumps(meta)))


def forge(parts, key, arr):
    """Replace array ``key`` and, like an attacker would, fix its checksum."""
    arr = np.asarray(arr)
    parts[f"{key}.npy"] = npy(arr)
    meta = get_meta(parts)
    entry = getattr(somkit._io, "array_entry", None)
    if entry is not None and isinstance(meta.get("arrays"), dict):
        meta["arrays"][key] = entry(arr)
        set_meta(parts, meta)


def edited(tmp_path, model_file, change, name="bad.npz"):
    parts = members(model_file)
    change(parts)
    path = tmp_path / name
    write_members(path, parts)
    return path


def som_step(meta):
    return meta["steps"][-1]


# ------------------------------------------------------------------ cases
def _extra_member(parts):
    parts["extra.npy"] = npy(np.zeros(10))


def _huge_grid(parts):
    meta = get_meta(parts)
    som_step(meta)["state"]["grid"]["shape"] = [10000, 10000]
    set_meta(parts, meta)


def set_header(raw, pattern, replacement):
    """Edit the header dict of a .npy member, keeping the header's length."""
    end = raw.index(b"\n")
    head = raw[10:end].rstrip(b" ")
    new = re.sub(pattern, replacement, head, count=1)
    assert new != head and len(new) <= end - 10
    return raw[:10] + new.ljust(end - 10) + raw[end:]


def _header_claims(parts):
    raw = parts["s0.codebook.npy"]
    parts["s0.codebook.npy"] = set_header(
        raw, rb"'shape': \([^)]*\)", b"'shape': (1000000, 1000000)"
    )


def _paren_in_padding(parts):
    raw = bytearray(parts["s0.codebook.npy"])
    end = raw.index(b"\n")
    raw[end - 3] = ord("(")
    parts["s0.codebook.npy"] = bytes(raw)


def _deep_meta(parts):
    meta = get_meta(parts)
    deep = "[" * 200000 + "]" * 200000
    text = json.dumps(meta).replace('"shuffle": true', f'"shuffle": {deep}', 1)
    parts["meta.npy"] = npy(np.array(text))


def _history_list(parts):
    meta = get_meta(parts)
    som_step(meta)["state"]["history"] = [1, 2, 3]
    set_meta(parts, meta)


def _nan_codebook(parts):
    W = read_npy(parts["s0.codebook.npy"]).copy()
    W[3, 1] = np.nan
    forge(parts, "s0.codebook", W)


def _complex_codebook(parts):
    forge(parts, "s0.codebook", read_npy(parts["s0.codebook.npy"]) + 1j)


def _string_codebook(parts):
    W = read_npy(parts["s0.codebook.npy"])
    forge(parts, "s0.codebook", W.astype(str))


def _big_endian_codebook(parts):
    W = read_npy(parts["s0.codebook.npy"])
    forge(parts, "s0.codebook", W.astype(W.dtype.newbyteorder(">")))


def _int_codebook(parts):
    forge(parts, "s0.codebook", np.zeros((25, 4), dtype=np.int64))


def _wrong_shape_codebook(parts):
    forge(parts, "s0.codebook", read_npy(parts["s0.codebook.npy"])[:, :2])


def _bad_metric(parts):
    meta = get_meta(parts)
    som_step(meta)["params"]["metric"] = "nope"
    set_meta(parts, meta)


def _labels_out_of_range(parts):
    labels = read_npy(parts["s0.labels.npy"]).copy()
    labels[0] = 999
    forge(parts, "s0.labels", labels)


def _negative_epochs(parts):
    meta = get_meta(parts)
    som_step(meta)["params"]["n_epochs"] = -3
    set_meta(parts, meta)


def _string_features(parts):
    meta = get_meta(parts)
    som_step(meta)["state"]["n_features_in"] = "4"
    set_meta(parts, meta)


def _schedule_junk(parts):
    meta = get_meta(parts)
    som_step(meta)["state"]["radius_schedule"] = {"kind": "LinearDecay", "x": 1}
    set_meta(parts, meta)


def _nan_threshold(parts):
    text = str(read_npy(parts["meta.npy"])[()])
    meta = json.loads(text)
    som_step(meta)["state"]["outlier_threshold"] = float("nan")
    parts["meta.npy"] = npy(np.array(json.dumps(meta)))


def _meta_not_json(parts):
    parts["meta.npy"] = npy(np.array("{not json"))


def _meta_is_list(parts):
    parts["meta.npy"] = npy(np.array("[1, 2]"))


def _meta_numeric(parts):
    parts["meta.npy"] = npy(np.arange(3))


def _no_codebook(parts):
    del parts["s0.codebook.npy"]


def _steps_not_list(parts):
    meta = get_meta(parts)
    meta["steps"] = {"a": 1}
    set_meta(parts, meta)


def _grid_topology(parts):
    meta = get_meta(parts)
    som_step(meta)["state"]["grid"]["topology"] = "triangle"
    set_meta(parts, meta)


def _swap_members(parts):
    parts["s0.codebook.npy"], parts["s0.labels.npy"] = (
        parts["s0.labels.npy"],
        parts["s0.codebook.npy"],
    )


def _fortran_header(parts):
    raw = parts["s0.codebook.npy"]
    parts["s0.codebook.npy"] = set_header(
        raw, rb"'fortran_order': False", b"'fortran_order': 12345"
    )


def _object_member(parts):
    buf = io.BytesIO()
    np.lib.format.write_array(
        buf, np.array([{"a": 1}], dtype=object), allow_pickle=True
    )
    parts["s0.labels.npy"] = buf.getvalue()


CASES = {
    "extra member": _extra_member,
    "10,000x10,000 grid": _huge_grid,
    "header claims 10^12 elements": _header_claims,
    "'(' in header padding": _paren_in_padding,
    "deeply nested metadata": _deep_meta,
    "history as a list": _history_list,
    "NaN codebook": _nan_codebook,
    "complex codebook": _complex_codebook,
    "string codebook": _string_codebook,
    "big-endian codebook": _big_endian_codebook,
    "integer codebook": _int_codebook,
    "codebook of the wrong shape": _wrong_shape_codebook,
    "metric 'nope'": _bad_metric,
    "labels out of range": _labels_out_of_range,
    "n_epochs -3": _negative_epochs,
    "n_features_in as text": _string_features,
    "schedule with unknown fields": _schedule_junk,
    "NaN outlier threshold": _nan_threshold,
    "metadata not JSON": _meta_not_json,
    "metadata a list": _meta_is_list,
    "metadata numeric": _meta_numeric,
    "no codebook member": _no_codebook,
    "steps not a list": _steps_not_list,
    "unknown topology": _grid_topology,
    "codebook and labels swapped": _swap_members,
    "fortran_order not a bool": _fortran_header,
    "object array member": _object_member,
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_refused_with_value_error(tmp_path, model_file, case):
    path = edited(tmp_path, model_file, CASES[case])
    with pytest.raises(ValueError) as info:
        load(path)
    assert type(info.value) is ValueError
    assert str(path) in str(info.value)


def test_deflate_bomb_member_is_never_inflated(tmp_path, model_file):
    """A 1 MB file with a 1 GiB zip member: refused without reading it."""
    path = tmp_path / "bomb.npz"
    parts = members(model_file)
    write_members(path, parts)
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("extra.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            block = bytes(1 << 24)
            for _ in range(64):  # 1 GiB of zeros, about 1 MB compressed
                fh.write(block)
    assert path.stat().st_size < 5_000_000
    peak = _peak_while_loading(path)
    assert peak < 20_000_000, f"load used {peak / 1e6:.0f} MB"


def test_deflated_known_member_refused(tmp_path, model_file):
    parts = members(model_file)
    path = tmp_path / "deflated.npz"
    write_members(path, parts, deflate={"s0.codebook.npy"})
    with pytest.raises(ValueError, match="compressed"):
        load(path)


def test_checksum_detects_a_changed_array(tmp_path, model_file):
    def change(parts):
        W = read_npy(parts["s0.codebook.npy"]).copy()
        W[0, 0] += 1.0
        parts["s0.codebook.npy"] = npy(W)  # valid zip CRC, stale checksum

    with pytest.raises(ValueError, match="checksum"):
        load(edited(tmp_path, model_file, change))


def test_junk_before_archive_is_not_called_pickle(tmp_path, model_file):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"#!junk\n" * 10 + model_file.read_bytes())
    with pytest.raises(ValueError) as info:
        load(path)
    assert "pickle" not in str(info.value)
    assert "zip" in str(info.value)


def test_scaler_state_cannot_set_arbitrary_attributes(tmp_path, X):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), SOM((3, 3), n_epochs=1, random_state=0))
    src = somkit.save(pipe.fit(X), tmp_path / "p.npz")

    def change(parts):
        meta = get_meta(parts)
        meta["steps"][0]["state"]["transform"] = "gotcha"
        meta["steps"][0]["params"]["__class__"] = 1
        set_meta(parts, meta)

    path = edited(tmp_path, src, change)
    try:
        model = load(path)
    except ValueError:
        return  # refused: fine
    scaler = model.steps[0][1]
    assert callable(scaler.transform) and "transform" not in vars(scaler)


def test_format_1_extra_section_sets_no_attribute(tmp_path, X):
    """Format 1 had an ``extra`` section that the first loader setattr'd."""
    som = SOM((3, 3), n_epochs=1, random_state=0).fit(X)
    meta = {
        "format": "somkit-model",
        "format_version": 1,
        "somkit_version": "0.1.0",
        "class": "SOM",
        "params": {
            **{
                k: v
                for k, v in som.get_params().items()
                if k not in ("grid", "learning_rate")
            },
            "grid": {"__tuple__": [3, 3]},
            "learning_rate": {"__tuple__": [0.5, 0.01]},
        },
        "grid": som.grid_.to_dict(),
        "n_features_in": 4,
        "n_iter": 1,
        "radius_schedule": som._radius_schedule_.to_dict(),
        "outlier_threshold": som.outlier_threshold_,
        "history": som.history_,
        "extra": {"predict": 1, "codebook_": "x"},
    }
    path = tmp_path / "v1.npz"
    np.savez(
        path,
        meta=np.array(json.dumps(meta)),
        codebook=som.codebook_,
        labels=som.labels_,
    )
    back = load(path)
    assert "predict" not in vars(back)
    np.testing.assert_array_equal(back.predict(X), som.predict(X))


def test_format_2_files_still_load(tmp_path, X):
    """Files written by somkit before checksums (format 2) load unchanged."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    pipe = make_pipeline(MinMaxScaler(), SOM((3, 4), n_epochs=2, random_state=0))
    pipe.fit(X)
    scaler, som = pipe.steps[0][1], pipe.steps[1][1]
    params = {
        k: ({"__tuple__": list(v)} if isinstance(v, tuple) else v)
        for k, v in som.get_params().items()
    }
    steps = [
        {
            "name": "minmaxscaler",
            "class": "MinMaxScaler",
            "params": {
                "feature_range": {"__tuple__": [0, 1]},
                "copy": True,
                "clip": False,
            },
            "state": {
                attr: {"__array__": attr}
                for attr in ("min_", "scale_", "data_min_", "data_max_", "data_range_")
            }
            | {"n_samples_seen_": 150, "n_features_in_": 4},
        },
        {
            "name": "som",
            "class": "SOM",
            "params": params,
            "state": {
                "grid": som.grid_.to_dict(),
                "n_features_in": 4,
                "n_iter": 2,
                "radius_schedule": som._radius_schedule_.to_dict(),
                "outlier_threshold": som.outlier_threshold_,
                "history": som.history_,
                "fit_backend": "numpy",
            },
        },
    ]
    arrays = {f"s0.{a}": getattr(scaler, a) for a in steps[0]["state"] if "_" in a}
    arrays = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray)}
    meta = {
        "format": "somkit-model",
        "format_version": 2,
        "somkit_version": "0.1.0",
        "steps": steps,
    }
    path = tmp_path / "v2.npz"
    np.savez(
        path,
        meta=np.array(json.dumps(meta)),
        **arrays,
        **{"s1.codebook": som.codebook_, "s1.labels": som.labels_},
    )
    back = load(path)
    np.testing.assert_array_equal(back.predict(X), pipe.predict(X))
    np.testing.assert_allclose(back.transform(X), pipe.transform(X))


# ---------------------------------------------------------------- memory
_PEAK = textwrap.dedent(
    """
    import sys, tracemalloc
    from somkit import load
    load  # import everything first
    tracemalloc.start()
    try:
        load(sys.argv[1])
    except Exception:  # noqa: BLE001 - the peak is what is measured here
        pass
    print(tracemalloc.get_traced_memory()[1])
    """
)


def _peak_while_loading(path):
    """Peak traced allocation (bytes) of ``load(path)`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return int(out.stdout.split()[-1])


def test_memory_of_hostile_files_is_a_small_multiple_of_the_model(tmp_path):
    """Worst peak over the hostile cases vs. loading the legitimate model."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2000, 64))
    legit = tmp_path / "big.npz"
    SOM((30, 30), n_epochs=1, random_state=0).fit(data).save(legit)
    base = _peak_while_loading(legit)
    worst = 0
    for name in ("10,000x10,000 grid", "header claims 10^12 elements", "extra member"):
        path = edited(tmp_path, legit, CASES[name], name="h.npz")
        worst = max(worst, _peak_while_loading(path))
    assert worst <= 2 * base, (worst, base)
    assert base < 6 * legit.stat().st_size


def test_flowsom_files_use_the_same_strict_reader(tmp_path):
    pytest.importorskip("pandas")
    from somkit.cytometry import FlowSOM, load_flowsom, make_cytometry

    X, _ = make_cytometry(2000, 5, 3, rare=(), n_lineages=3, random_state=0)
    path = tmp_path / "fs.npz"
    FlowSOM(n_clusters=3, grid=(3, 3), random_state=0).fit(X).save(path)
    parts = members(path)

    def variant(change):
        p = tmp_path / "bad.npz"
        new = dict(parts)
        change(new)
        write_members(p, new)
        return p

    cases = {
        "extra member": lambda p: p.update({"x.npy": npy(np.zeros(3))}),
        "metaclusters out of range": lambda p: p.update(
            {"unit_metaclusters.npy": npy(np.full(9, 99))}
        ),
        "inner map corrupt": lambda p: p.update(
            {"som.npy": npy(np.frombuffer(b"PK\x03\x04junk", dtype=np.uint8))}
        ),
        "metadata not JSON": _meta_not_json,
    }
    for name, change in cases.items():
        with pytest.raises(ValueError) as info:
            load_flowsom(variant(change))
        assert type(info.value) is ValueError, name


def test_zip_version_field_refused(tmp_path, model_file):
    """Found by flipping every byte: zipfile raised NotImplementedError."""
    raw = bytearray(model_file.read_bytes())
    at = raw.index(b"PK\x01\x02") + 6  # central directory: version needed
    raw[at : at + 2] = (109).to_bytes(2, "little")
    path = tmp_path / "v.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="zip"):
        load(path)


def test_bit_flips_are_refused_or_harmless(tmp_path, model_file, X):
    """One bit flipped in every 7th byte: refused, or the very same model."""
    raw = model_file.read_bytes()
    ref = load(model_file)
    path = tmp_path / "f.npz"
    outcomes = {"refused": 0, "identical": 0}
    for i in range(0, len(raw), 7):
        data = bytearray(raw)
        data[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(data))
        try:
            back = load(path)
        except ValueError:
            outcomes["refused"] += 1
            continue
        np.testing.assert_array_equal(back.transform(X), ref.transform(X))
        assert back.get_params() == ref.get_params()
        outcomes["identical"] += 1
    assert outcomes["refused"] > 0.9 * sum(outcomes.values())
