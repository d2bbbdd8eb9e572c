"""Model files: round trips, refused files, atomic saves."""

import json
import os
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_iris

import somkit
from somkit import SOM, load
from somkit.schedules import ExponentialDecay


@pytest.fixture(scope="module")
def X():
    return load_iris().data


@pytest.mark.parametrize(
    "params",
    [
        {"grid": (4, 5)},
        {"grid": (4, 4), "topology": "hex", "periodic": True, "metric": "cosine"},
        {"grid": 6, "radius": ExponentialDecay(3.0, 0.5), "algorithm": "online"},
        {"grid": (2, 3, 2), "learning_rate": 0.2, "init": "sample", "dtype": "float64"},
    ],
)
def test_round_trip(tmp_path, X, params):
    som = SOM(random_state=0, n_epochs=3, **params).fit(X)
    path = tmp_path / "m.npz"
    som.save(path)
    back = load(path)
    np.testing.assert_array_equal(back.transform(X), som.transform(X))
    np.testing.assert_array_equal(back.predict(X), som.predict(X))
    assert back.get_params() == som.get_params()
    assert type(back.get_params()["grid"]) is type(som.get_params()["grid"])
    assert back.grid_ == som.grid_ and back.n_iter_ == som.n_iter_
    assert back.history_ == som.history_
    assert back.outlier_threshold_ == som.outlier_threshold_


def test_round_trip_init_array_and_resume(tmp_path, X):
    W0 = np.random.default_rng(0).normal(size=(9, 4))
    som = SOM((3, 3), init=W0, n_epochs=4, random_state=0)
    som.partial_fit(X).partial_fit(X)
    som.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.get_params()["init"], W0)
    # Resuming continues the schedule exactly where the saved map stopped.
    som.partial_fit(X)
    back.partial_fit(X)
    np.testing.assert_allclose(back.codebook_, som.codebook_)
    assert back.history_["radius"] == som.history_["radius"]


def test_feature_names_survive(tmp_path, X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=list("abcd"))
    som = SOM((3, 3), random_state=0).fit(df)
    som.save(tmp_path / "m.npz")
    assert list(load(tmp_path / "m.npz").feature_names_in_) == list("abcd")


def _saved(tmp_path, X):
    path = tmp_path / "m.npz"
    SOM((3, 3), random_state=0).fit(X).save(path)
    return path


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_truncated_file_refused(tmp_path, X):
    path = _saved(tmp_path, X)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load(path)


def test_foreign_files_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="not a somkit model file"):
        load(path)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable somkit model file"):
        load(text)
    with pytest.raises(ValueError, match="not found"):
        load(tmp_path / "missing.npz")


def test_future_version_refused(tmp_path, X):
    path = _saved(tmp_path, X)

    def bump(arrays):
        meta = json.loads(str(arrays["meta"][()]))
        meta["format_version"] = 99
        arrays["meta"] = np.array(json.dumps(meta))

    _rewrite(path, bump)
    with pytest.raises(ValueError, match="newer"):
        load(path)


def test_object_arrays_refused(tmp_path, X):
    path = _saved(tmp_path, X)

    def add_object(arrays):
        arrays["evil"] = np.array([{"a": 1}, None], dtype=object)

    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    add_object(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays, allow_pickle=True)
    # never read: a member the metadata does not describe refuses the file
    with pytest.raises(ValueError, match="unexpected member 'evil.npy'"):
        load(path)

    def object_labels(arrays):
        arrays["s0.labels"] = np.array([{"a": 1}, None], dtype=object)

    with np.load(path, allow_pickle=True) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "evil"}
    object_labels(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays, allow_pickle=True)
    with pytest.raises(ValueError, match="object arrays"):
        load(path)


def test_inconsistent_codebook_refused(tmp_path, X):
    path = _saved(tmp_path, X)
    _rewrite(path, lambda a: a.update({"s0.codebook": a["s0.codebook"][:4]}))
    with pytest.raises(ValueError, match="inconsistent"):
        load(path)


def test_failed_save_keeps_previous_file(tmp_path, X, monkeypatch):
    path = _saved(tmp_path, X)
    before = path.read_bytes()
    som = SOM((4, 4), random_state=1).fit(X)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(OSError, match="disk full"):
        som.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]  # no temp files left


def test_file_is_plain_npz_with_json(tmp_path, X):
    path = _saved(tmp_path, X)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    with zipfile.ZipFile(path) as zf:
        assert "meta.npy" in zf.namelist()
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"][()]))
    assert meta["format"] == "somkit-model" and meta["format_version"] == 3
    assert meta["somkit_version"] == somkit.__version__
