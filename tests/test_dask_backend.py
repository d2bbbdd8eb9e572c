"""The dask backend on a LocalCluster matches the numpy backend.

Every test runs twice: on a cluster of threads in this process, and on a
cluster of two worker processes (the codebook, the minibatch rule and the
partial results then really travel between processes).
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from somkit import SOM

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module", params=["threads", "processes"])
def client(request):
    processes = request.param == "processes"
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",
        worker_dashboard_address=None,
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    return load_digits().data


@pytest.mark.parametrize("topology", ["rect", "hex"])
def test_fit_on_cluster_matches_numpy(client, digits, topology):
    X = digits
    dX = da.from_array(X, chunks=(250, 64))
    kw = dict(
        grid=(6, 6), topology=topology, dtype="float64", n_epochs=4, random_state=0
    )
    a = SOM(**kw).fit(dX)
    b = SOM(**kw).fit(X)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=1e-12)
    np.testing.assert_allclose(
        a.history_["quantization_error"], b.history_["quantization_error"]
    )


def test_lazy_predict_transform_scores_match_numpy(client, digits):
    X = digits[:1200]
    dX = da.from_array(X, chunks=(300, 64))
    som = SOM((5, 5), dtype="float64", n_epochs=3, random_state=0).fit(X)
    outputs = {
        "predict": som.predict(dX),
        "transform": som.transform(dX),
        "score_samples": som.score_samples(dX),
        "decision_function": som.decision_function(dX),
    }
    for name, lazy in outputs.items():
        assert isinstance(lazy, da.Array), name
        np.testing.assert_allclose(
            lazy.compute(), getattr(som, name)(X), rtol=1e-12, err_msg=name
        )
    assert som.quantization_error(dX) == pytest.approx(som.quantization_error(X))
    assert som.topographic_error(dX) == pytest.approx(som.topographic_error(X))


def test_sample_weight_and_float32(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    w = rng.integers(0, 3, size=3000).astype(float)
    dX = da.from_array(X, chunks=(700, 5))
    a = SOM((5, 5), n_epochs=3, random_state=0).fit(dX, sample_weight=w)
    b = SOM((5, 5), n_epochs=3, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-4, atol=1e-5)
    assert a.quantization_error(dX) == pytest.approx(b.quantization_error(X), rel=1e-5)
    assert a.outlier_threshold_ == pytest.approx(b.outlier_threshold_, rel=1e-5)


@pytest.mark.parametrize("init", ["sample", "random"])
def test_sample_and_random_init_match_numpy(client, digits, init):
    dX = da.from_array(digits, chunks=(400, 64))
    kw = dict(grid=(4, 5), init=init, dtype="float64", n_epochs=2, random_state=3)
    a = SOM(**kw).fit(dX)
    b = SOM(**kw).fit(digits)
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)


def test_dask_backend_explicit_on_numpy_input(client, digits):
    X = digits[:500]
    a = SOM((4, 4), backend="dask", dtype="float64", random_state=0).fit(X)
    b = SOM((4, 4), dtype="float64", random_state=0).fit(X)
    np.testing.assert_allclose(a.codebook_, b.codebook_)
    assert isinstance(a.predict(X), np.ndarray)


def test_minibatch_in_stored_order_equals_numpy(client, digits):
    """Without shuffling, blocks then rows in stored order: numpy's sequence."""
    dX = da.from_array(digits[:1500], chunks=(250, 64))
    kw = dict(
        grid=(5, 5),
        algorithm="minibatch",
        batch_size=50,
        shuffle=False,
        dtype="float64",
        n_epochs=3,
        random_state=0,
    )
    a = SOM(**kw).fit(dX)
    b = SOM(**kw).fit(digits[:1500])
    np.testing.assert_allclose(a.codebook_, b.codebook_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        a.history_["quantization_error"], b.history_["quantization_error"]
    )


def test_minibatch_by_blocks_follows_the_documented_order(client, digits):
    """Blocks in ``rng.permutation`` order, rows by one seed per block.

    The reference replays the documented order on numpy: the training
    generator of ``random_state=0`` is ``default_rng([0, 0])`` (the pca
    init draws nothing from it); each epoch draws the block order, then one
    seed per block; the numpy map sees the rows of each epoch in that order
    without shuffling, one ``partial_fit`` per epoch.
    """
    X = digits[:1500]
    sizes = [300, 200, 400, 100, 500]
    dX = da.from_array(X, chunks=(tuple(sizes), 64))
    kw = dict(
        grid=(4, 6),
        algorithm="minibatch",
        batch_size=100,
        dtype="float64",
        n_epochs=2,
    )
    a = SOM(random_state=0, **kw).fit(dX)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    rng = np.random.default_rng([0, 0])
    ref = SOM(shuffle=False, **kw)
    for _ in range(2):
        order = rng.permutation(len(sizes))
        seeds = rng.integers(0, 2**63 - 1, size=len(sizes))
        rows = np.concatenate(
            [
                starts[b] + np.random.default_rng(int(seeds[b])).permutation(sizes[b])
                for b in order
            ]
        )
        ref.partial_fit(X[rows])
    np.testing.assert_allclose(a.codebook_, ref.codebook_, rtol=1e-9, atol=1e-9)
    again = SOM(random_state=0, **kw).fit(dX)
    np.testing.assert_array_equal(a.codebook_, again.codebook_)
    other = SOM(random_state=1, **kw).fit(dX)
    assert not np.allclose(a.codebook_, other.codebook_)


def test_online_on_dask_is_refused_naming_batch_and_minibatch(client, digits):
    dX = da.from_array(digits, chunks=(500, 64))
    with pytest.raises(ValueError, match="online") as err:
        SOM((3, 3), algorithm="online").fit(dX)
    assert "'batch'" in str(err.value) and "'minibatch'" in str(err.value)


def test_codebook_reaches_each_worker_once_per_pass(client, digits, monkeypatch):
    """A pass sends the codebook to every worker once, then drops it there.

    Passes computed at once push it to the workers (``Client.run``, one
    message per worker); a lazy result scatters it as a future that the
    result's graph holds.
    """
    from somkit._backends import dask as backend
    from somkit._backends import resolve

    dX = da.from_array(digits, chunks=(200, 64))
    pushed, scattered = [], []
    run, scatter = client.run, client.scatter

    def counting_run(fn, *args, **kw):
        if fn is backend._store and isinstance(args[1], np.ndarray):
            pushed.append(np.shape(args[1]))  # the codebook (the grid goes too)
        return run(fn, *args, **kw)

    def counting_scatter(data, **kw):
        scattered.append((np.shape(data), kw.get("broadcast")))
        return scatter(data, **kw)

    monkeypatch.setattr(client, "run", counting_run)
    monkeypatch.setattr(client, "scatter", counting_scatter)
    be = resolve("auto", dX)
    W = digits[:16].copy()
    be.batch_sums(dX, W, "euclidean")
    assert pushed == [(16, 64)] and not scattered
    left = run(lambda: sorted(backend._PUSHED))
    assert all(v == [] for v in left.values()), left  # dropped after the pass
    lazy = be.bmu(dX, W, "euclidean")[0]
    assert scattered == [((16, 64), True)]
    np.testing.assert_array_equal(lazy.compute(), be.bmu(digits, W, "euclidean")[0])
    som = SOM((4, 4), n_epochs=3, random_state=0)
    pushed.clear()
    som.fit(dX)
    # pca init: one moments pass (no codebook); 3 epochs; labels+threshold
    assert pushed == [(16, 64)] * 4


def _made_block(block_info=None):
    """A block made where it is needed (as a reader or a generator would)."""
    rows = block_info[None]["chunk-shape"][0]
    i = block_info[None]["chunk-location"][0]
    return np.random.default_rng(i).normal(size=(rows, 16))


def test_blocks_are_used_where_they_are_made(client):
    """A pass moves per-unit partial sums between workers, not data blocks.

    Each block is consumed on the worker that made it (the dask scheduler
    may still move a small block to balance the load, so blocks of 5 MB).
    """
    from somkit._backends import resolve

    n, rows = 320_000, 40_000  # 8 blocks of 5 MB
    X = da.map_blocks(
        _made_block,
        chunks=((rows,) * (n // rows), (16,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )
    be = resolve("auto", X)
    W = np.random.default_rng(0).normal(size=(9, 16))

    def sent():
        return sum(
            client.run(
                lambda dask_worker: dask_worker.transfer_outgoing_bytes_total
            ).values()
        )

    before = sent()
    sums, wsum, _ = be.batch_sums(X, W, "euclidean")
    moved = sent() - before
    assert wsum.sum() == n
    assert moved < rows * 16 * 8, moved  # less than one block
