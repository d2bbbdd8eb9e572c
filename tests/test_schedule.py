"""The default training schedule: ordering on subsamples, then full passes.

The reference below replays the documented plan with nothing but a
loop-written batch rule (tests/test_core.py's) and the subsample that the
documented generator draws; explicit settings must train exactly as set.
"""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from test_core import ref_batch_epoch, ref_grid_distances
from test_missing import holes
from test_missing import ref_batch_epoch as ref_masked_epoch

import somkit._rules as rules
from somkit import SOM
from somkit._backends import resolve
from somkit._init import init_codebook
from somkit.schedules import LinearDecay, Piecewise


@pytest.fixture
def small_rule(monkeypatch):
    """The default schedule's subsample rule scaled down to test sizes."""
    monkeypatch.setattr(rules, "SUBSAMPLE_MIN", 40)
    monkeypatch.setattr(rules, "SUBSAMPLE_PER_UNIT", 3)


def _data(n=300, d=4, seed=0):
    X, _ = make_blobs(n_samples=n, n_features=d, centers=5, random_state=seed)
    return X


def test_plan_of_the_default_schedule():
    plan = rules.auto_schedule((40, 40), 50_000)
    assert plan.n_epochs == rules.ORDER_EPOCHS + rules.FINE_EPOCHS == 22
    order = plan.rows[: rules.ORDER_EPOCHS]
    assert order[0] == 800 and order[-1] == plan.subsample == 6400
    assert all(b >= a for a, b in zip(order, order[1:], strict=False))
    assert plan.rows[rules.ORDER_EPOCHS :] == (50_000, 50_000)
    radii = [plan.radius(t, 22) for t in range(22)]
    assert radii[0] == 10.0 and radii[19] == radii[20] == 1.5 and radii[21] == 1.0
    assert all(b <= a for a, b in zip(radii, radii[1:], strict=False))
    # no more rows than the subsample: every epoch reads every row
    assert rules.auto_schedule((10, 10), 5000).rows == (5000,) * 22


@pytest.mark.parametrize(
    "shape,n,end",
    [
        ((40, 40), 50_000, 1.0),  # 31 rows per unit
        ((20, 20), 300, 1.5),  # fewer rows than units
        ((10, 10), 800, float(np.sqrt(60 / (2 * np.pi * 8)))),  # in between
    ],
)
def test_final_radius_keeps_about_sixty_rows_under_the_kernel(shape, n, end):
    plan = rules.auto_schedule(shape, n)
    assert plan.radius(plan.n_epochs - 1, plan.n_epochs) == pytest.approx(end)


def test_default_fit_replays_the_documented_plan(small_rule):
    X = _data()
    w = np.random.default_rng(5).integers(1, 4, size=len(X)).astype(float)
    som = SOM((3, 4), dtype="float64", random_state=7).fit(X, sample_weight=w)
    plan = rules.auto_schedule((3, 4), len(X))
    assert plan.subsample == 40 and min(plan.rows) < len(X)
    # the reference: the same generator draws the subsample, PCA from it,
    # then each epoch is the loop-written batch rule on its rows
    rng = np.random.default_rng([7, 0])
    idx = rng.choice(len(X), size=plan.subsample, replace=False)
    W, _ = init_codebook(X[idx], som.grid_, "pca", rng, w[idx], resolve("numpy"))
    D = ref_grid_distances((3, 4), "rect", False)
    for t, rows in enumerate(plan.rows):
        Xe, we = (X, w) if rows == len(X) else (X[idx][:rows], w[idx][:rows])
        W = ref_batch_epoch(Xe, W, D, "gaussian", plan.radius(t, 22), we)
    np.testing.assert_allclose(som.codebook_, W, rtol=1e-9, atol=1e-9)
    assert som.history_["rows"] == list(plan.rows)
    assert som.history_["radius"] == pytest.approx(
        [plan.radius(t, 22) for t in range(22)]
    )
    assert som.n_full_passes_ == 3 and som.n_iter_ == 22


def test_default_schedule_is_deterministic(small_rule):
    X = _data()
    a = SOM((3, 4), random_state=3).fit(X)
    b = SOM((3, 4), random_state=3).fit(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    assert a.history_["rows"] == b.history_["rows"]
    c = SOM((3, 4), random_state=4).fit(X)
    assert not np.array_equal(a.codebook_, c.codebook_)  # another subsample


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_epochs=6),
        dict(radius=(2.0, 0.5)),
        dict(n_epochs=4, radius=1.0),
        dict(schedule="full"),
        dict(n_epochs=3, algorithm="online"),
    ],
)
def test_explicit_settings_train_exactly_as_set(small_rule, kw):
    X = _data()
    som = SOM((3, 4), dtype="float64", random_state=0, **kw).fit(X)
    n_epochs = kw.get("n_epochs", rules.FULL_EPOCHS)
    assert som.history_["rows"] == [len(X)] * n_epochs
    assert som.n_full_passes_ == n_epochs + 1
    if kw.get("algorithm") == "online":
        return
    # every epoch on every row, radius as given (or the documented default)
    radius = kw.get("radius", rules.default_radius((3, 4)))
    sched = LinearDecay(*radius) if isinstance(radius, tuple) else radius
    rng = np.random.default_rng([0, 0])
    W, _ = init_codebook(X, som.grid_, "pca", rng, None, resolve("numpy"))
    D = ref_grid_distances((3, 4), "rect", False)
    for t in range(n_epochs):
        sigma = sched if isinstance(sched, float) else sched(t, n_epochs)
        W = ref_batch_epoch(X, W, D, "gaussian", sigma)
    np.testing.assert_allclose(som.codebook_, W, rtol=1e-9, atol=1e-9)


def test_full_schedule_equals_ten_explicit_epochs(small_rule):
    X = _data()
    a = SOM((3, 4), schedule="full", random_state=0).fit(X)
    b = SOM((3, 4), n_epochs=10, random_state=0).fit(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)


def test_default_schedule_with_holes_replays_the_plan(small_rule):
    # missing="ignore": the same subsample and PCA (observed moments), then
    # the loop-written batch rule over observed values on each epoch's rows
    X = holes(_data(), 0.2, seed=2)
    som = SOM((3, 4), dtype="float64", missing="ignore", random_state=7).fit(X)
    plan = rules.auto_schedule((3, 4), len(X))
    assert min(plan.rows) < len(X)
    rng = np.random.default_rng([7, 0])
    idx = rng.choice(len(X), size=plan.subsample, replace=False)
    be = resolve("numpy", X, missing="ignore")
    W, _ = init_codebook(X[idx], som.grid_, "pca", rng, None, be)
    for t, rows in enumerate(plan.rows):
        Xe = X if rows == len(X) else X[idx][:rows]
        W = ref_masked_epoch(Xe, W, som.grid_, plan.radius(t, 22), "euclidean")
    np.testing.assert_allclose(som.codebook_, W, rtol=1e-9, atol=1e-9)
    assert som.history_["rows"] == list(plan.rows) and som.n_full_passes_ == 3


def test_subsampled_epochs_on_a_memmap(small_rule, tmp_path):
    X = _data(400).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    a = SOM((3, 4), random_state=1).fit(mm)
    b = SOM((3, 4), random_state=1).fit(X)
    assert min(a.history_["rows"]) < len(X)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    assert a.history_["rows"] == b.history_["rows"]


def test_subsampled_epochs_on_dask_blocks(small_rule):
    da = pytest.importorskip("dask.array")
    X = _data(400).astype(np.float32)
    Xd = da.from_array(X, chunks=(64, -1))
    w = np.linspace(0.5, 2.0, len(X))
    a = SOM((3, 4), random_state=1).fit(Xd, sample_weight=w)
    b = SOM((3, 4), random_state=1).fit(X, sample_weight=w)
    assert a.fit_backend_ == "dask"
    assert a.history_["rows"] == b.history_["rows"]
    assert min(a.history_["rows"]) < len(X)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-4, atol=1e-4)


def test_subsample_rows_are_read_in_sorted_order():
    # memmaps (and dask blocks) are read front to back whatever order the
    # generator drew the rows in; the rows come back in the drawn order
    seen = []

    class Recorder(np.ndarray):
        def __getitem__(self, key):
            if isinstance(key, np.ndarray) and key.ndim == 1:
                seen.append(np.asarray(key))
            return super().__getitem__(key)

    X = _data(400)
    idx = np.random.default_rng(0).choice(len(X), size=50, replace=False)
    out = resolve("numpy").rows(X.view(Recorder), idx)
    assert len(seen) == 1 and np.all(np.diff(seen[0]) > 0)
    np.testing.assert_array_equal(out, X[idx])
    da = pytest.importorskip("dask.array")
    Xd = da.from_array(X, chunks=(64, -1))
    np.testing.assert_array_equal(resolve("dask", Xd).rows(Xd, idx), X[idx])


def test_torch_default_schedule_matches_numpy(small_rule):
    pytest.importorskip("torch")
    X = _data(400).astype(np.float32)
    a = SOM((3, 4), backend="torch", device="cpu", random_state=1).fit(X)
    b = SOM((3, 4), random_state=1).fit(X)
    assert a.history_["rows"] == b.history_["rows"]
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-4, atol=1e-4)


def test_partial_fit_keeps_its_rows_and_ten_epoch_plan():
    # every call reads its rows; radius=None is default_radius over 10 calls
    X = _data()
    som = SOM((8, 8), random_state=0)
    for _ in range(2):
        som.partial_fit(X)
    assert som.history_["rows"] == [len(X)] * 2
    assert som.history_["radius"] == pytest.approx([2.0, 2.0 - 0.5 / 9])


def test_schedule_is_validated():
    with pytest.raises(ValueError, match="schedule must be one of"):
        SOM((3, 3), schedule="fast").fit(_data())
    with pytest.raises(ValueError, match="n_epochs must be None or an int"):
        SOM((3, 3), n_epochs=0).fit(_data())


def test_piecewise_schedule():
    s = Piecewise((0, 2, 3), (4.0, 1.0, 0.5))
    assert [s(t, 99) for t in (0, 1, 2, 2.5, 3, 10)] == [4.0, 2.5, 1.0, 0.75, 0.5, 0.5]
    with pytest.raises(ValueError, match="must not decrease"):
        SOM((2, 2), radius=Piecewise((1, 0), (1.0, 1.0))).fit(_data())


def test_command_line_fit_uses_the_default_schedule(small_rule, tmp_path):
    from click.testing import CliRunner

    from somkit import load
    from somkit._model import unwrap
    from somkit.cli import cli

    X = _data(400)
    path = tmp_path / "x.npy"
    np.save(path, X)
    out = tmp_path / "m.npz"
    res = CliRunner().invoke(
        cli, ["fit", str(path), "-o", str(out), "--grid", "3x4", "--seed", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "default schedule" in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == [f"{k}/22" for k in range(1, 23)]
    # subsampled epochs say how many rows they read; the last two read all
    assert "rows" in lines[0] and "rows" not in lines[-1]
    som, _ = unwrap(load(out))
    assert som.history_["rows"] == list(rules.auto_schedule((3, 4), 400).rows)


@pytest.mark.parametrize("stop_at", [5, 21])
def test_checkpoint_resumes_the_subsampled_schedule(small_rule, tmp_path, stop_at):
    # killed in the ordering epochs (on the subsample) or in the fine ones:
    # the resumed run draws the same subsample and ends on the same map
    X = _data()
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(X))
    full = SOM((3, 4), random_state=3).fit(X, sample_weight=w)
    path = tmp_path / "run.npz"
    stop = lambda som, epoch, logs: epoch < stop_at  # noqa: E731
    part = SOM((3, 4), random_state=3, callbacks=[stop])
    part.fit(X, sample_weight=w, checkpoint=path)
    assert part.n_iter_ == stop_at and min(full.history_["rows"]) < len(X)
    done = SOM.resume(path, X, sample_weight=w)
    np.testing.assert_array_equal(done.codebook_, full.codebook_)
    assert done.history_["rows"] == full.history_["rows"]
    assert done.n_iter_ == full.n_iter_ == 22
