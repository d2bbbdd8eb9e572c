"""Layered maps: per-layer metrics and weights, normalisation, backends, files.

References are independent loop implementations of the definitions in
``somkit._layers`` (kohonen's supersom normalisation, the Tanimoto distance).
"""

import math

import numpy as np
import pytest

import somkit
from somkit import SOM, Layer

RNG = np.random.default_rng(0)
X5 = RNG.normal(size=(300, 5)).astype(np.float32)
ONEHOT = np.eye(3)[RNG.integers(0, 3, 300)].astype(np.float32)
MIXED = np.hstack([np.abs(X5), ONEHOT])  # non-negative: tanimoto is defined
MIXED_LAYERS = [
    Layer("a", 2, metric="manhattan"),
    Layer("b", 2, metric="cosine", weight=2.0),
    Layer("c", 1, metric="euclidean", weight=0.5),
    Layer("y", 3, metric="tanimoto", weight=1.5, predict=False),
]


def _layer_distance(u, v, metric):
    """One layer's distance by a plain loop (the module's definitions)."""
    u = [float(t) for t in u]
    v = [float(t) for t in v]
    if metric in ("sqeuclidean", "euclidean"):
        s = sum((a - b) ** 2 for a, b in zip(u, v, strict=True))
        return s if metric == "sqeuclidean" else math.sqrt(s)
    if metric == "manhattan":
        return sum(abs(a - b) for a, b in zip(u, v, strict=True))
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    nu = sum(a * a for a in u)
    nv = sum(b * b for b in v)
    if metric == "cosine":
        return max(0.0, 1.0 - dot / math.sqrt(nu * nv)) if nu and nv else 1.0
    den = nu + nv - dot
    return 1.0 - dot / den if den > 0 else 0.0


def _reference(X, W, layers, weights=None, predict=False):
    """Scales, coefficients and combined distances by loops (kohonen's rule)."""
    cols, start = [], 0
    for layer in layers:
        cols.append(list(range(start, start + layer.columns)))
        start += layer.columns
    n = len(X)
    w = np.ones(n) if weights is None else weights
    scales = []
    for layer, c in zip(layers, cols, strict=True):
        tot = 0.0
        for i in range(n):
            for j in range(n):
                tot += w[i] * w[j] * _layer_distance(X[i, c], X[j, c], layer.metric)
        scales.append(tot / w.sum() ** 2)
    raw = [
        (layer.weight / s if (layer.predict or not predict) else 0.0)
        for layer, s in zip(layers, scales, strict=True)
    ]
    coef = np.array(raw) / sum(raw)
    D = np.zeros((len(X), len(W)))
    for i in range(len(X)):
        for j in range(len(W)):
            D[i, j] = sum(
                coef[k] * _layer_distance(X[i, c], W[j, c], layers[k].metric)
                for k, c in enumerate(cols)
                if coef[k] > 0
            )
    return np.array(scales), coef, D


def test_scales_coefficients_and_distances_match_loop_reference():
    X = MIXED[:60]
    som = SOM((3, 4), layers=MIXED_LAYERS, n_epochs=3, random_state=0).fit(X)
    scales, coef, _ = _reference(X, som.codebook_, MIXED_LAYERS)
    np.testing.assert_allclose(som.layers_.scales, scales, rtol=1e-9)
    np.testing.assert_allclose(som.layers_.coefficients(True), coef, rtol=1e-9)
    # prediction: the target layer is left out and the rest renormalised
    _, coef_p, D = _reference(X, som.codebook_, MIXED_LAYERS, predict=True)
    np.testing.assert_allclose(som.layers_.coefficients(False), coef_p, rtol=1e-9)
    np.testing.assert_allclose(som.transform(X), D, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(som.predict(X), D.argmin(axis=1))
    np.testing.assert_allclose(-som.score_samples(X), D.min(axis=1), rtol=1e-6)


def test_sample_weights_act_like_repeated_rows_in_the_scales():
    X = MIXED[:40]
    w = np.arange(40) % 3
    som = SOM((2, 3), layers=MIXED_LAYERS, n_epochs=1, random_state=0)
    som.fit(X, sample_weight=w)
    rep = SOM((2, 3), layers=MIXED_LAYERS, n_epochs=1, random_state=0)
    rep.fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(som.layers_.scales, rep.layers_.scales, rtol=1e-9)


def test_tanimoto_matches_loop_and_jaccard_on_binary_rows():
    from somkit._layers import layer_distances

    A = RNG.random((20, 6))
    B = RNG.random((7, 6))
    ref = [[_layer_distance(a, b, "tanimoto") for b in B] for a in A]
    np.testing.assert_allclose(layer_distances(A, B, "tanimoto"), ref, rtol=1e-12)
    bits = RNG.integers(0, 2, (30, 8)).astype(float)
    inter = bits @ bits.T
    union = bits.sum(1)[:, None] + bits.sum(1)[None] - inter
    jac = np.where(union > 0, 1 - inter / np.where(union > 0, union, 1), 0)
    np.testing.assert_allclose(layer_distances(bits, bits, "tanimoto"), jac)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
@pytest.mark.parametrize("algorithm", ["batch", "online", "minibatch"])
def test_a_single_layer_is_the_plain_som(metric, algorithm):
    """Same BMUs, same training: sqeuclidean is the euclidean search."""
    name = "sqeuclidean" if metric == "euclidean" else metric
    kw = dict(n_epochs=3, algorithm=algorithm, random_state=0, init="sample")
    plain = SOM((4, 5), metric=metric, **kw).fit(X5)
    one = SOM((4, 5), layers=[Layer("all", 5, metric=name)], **kw).fit(X5)
    np.testing.assert_allclose(one.codebook_, plain.codebook_, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(one.predict(X5), plain.predict(X5))


def test_a_single_sqeuclidean_layer_trains_bit_for_bit_like_the_plain_som():
    plain = SOM((6, 6), random_state=0).fit(X5)
    one = SOM((6, 6), layers=[Layer("all", 5)], random_state=0).fit(X5)
    np.testing.assert_array_equal(one.codebook_, plain.codebook_)


@pytest.mark.parametrize("algorithm", ["batch", "online", "minibatch"])
def test_a_zero_weight_layer_has_no_effect_on_the_bmu(algorithm):
    noise = RNG.normal(size=(300, 4)).astype(np.float32) * 100
    X = np.hstack([X5, noise])
    init = RNG.normal(size=(20, 9))
    kw = dict(n_epochs=3, algorithm=algorithm, random_state=0)
    layers = [Layer("x", 5), Layer("noise", 4, weight=0.0, metric="manhattan")]
    som = SOM((4, 5), layers=layers, init=init, **kw).fit(X)
    plain = SOM((4, 5), init=init[:, :5], **kw).fit(X5)
    # the x block trains exactly as without the noise columns ...
    np.testing.assert_allclose(som.codebook_[:, :5], plain.codebook_, atol=1e-5)
    # ... and new values in them change nothing
    other = np.hstack([X5, RNG.normal(size=(300, 4)).astype(np.float32)])
    np.testing.assert_array_equal(som.predict(X), som.predict(other))
    np.testing.assert_array_equal(som.predict(X), plain.predict(X5))


def test_layer_weights_move_the_bmu_between_layers():
    """Two layers that disagree: the heavier one decides."""
    a = np.array([[0.0, 0.0], [10.0, 10.0]])
    X = np.vstack([RNG.normal(size=(50, 2)), RNG.normal(size=(50, 2)) + 10])
    Y = np.vstack([RNG.normal(size=(50, 2)) + 10, RNG.normal(size=(50, 2))])
    Z = np.hstack([X, Y])
    W = np.hstack([a, a])  # unit 0 near X's first cluster and Y's second
    probe = np.array([[0.0, 0.0, 10.0, 10.0]])  # x says unit 0, y says unit 1
    for wx, wy, unit in [(1.0, 0.2, 0), (0.2, 1.0, 1)]:
        layers = [Layer("x", 2, weight=wx), Layer("y", 2, weight=wy)]
        som = SOM(2, layers=layers, init=W, n_epochs=1, radius=0.0).fit(Z)
        som._set_codebook(W)
        assert som.predict(probe)[0] == unit


def test_target_layer_is_ignored_at_prediction():
    som = SOM((4, 4), layers=MIXED_LAYERS, random_state=0).fit(MIXED)
    shuffled = MIXED.copy()
    shuffled[:, 5:] = ONEHOT[RNG.permutation(300)]
    np.testing.assert_array_equal(som.predict(MIXED), som.predict(shuffled))
    np.testing.assert_array_equal(som.transform(MIXED), som.transform(shuffled))
    # ... but takes part in training: a map trained without it differs
    lay = [*MIXED_LAYERS[:3], Layer("y", 3, metric="tanimoto", weight=0.0)]
    other = SOM((4, 4), layers=lay, random_state=0).fit(MIXED)
    assert not np.allclose(other.codebook_, som.codebook_)


@pytest.mark.parametrize(
    "grid, topology, periodic",
    [
        ((4, 5), "rect", False),
        ((4, 4), "hex", True),
        (12, "rect", False),
        ((2, 3, 2), "rect", True),
    ],
)
def test_backends_agree_on_every_grid(grid, topology, periodic):
    pytest.importorskip("torch")
    pytest.importorskip("dask")
    import dask.array as da

    kw = dict(topology=topology, periodic=periodic, n_epochs=3, random_state=0)
    ref = SOM(grid, layers=MIXED_LAYERS, **kw).fit(MIXED)
    tor = SOM(grid, layers=MIXED_LAYERS, backend="torch", device="cpu", **kw)
    tor.fit(MIXED)
    dsk = SOM(grid, layers=MIXED_LAYERS, **kw).fit(da.from_array(MIXED, chunks=70))
    for other in (tor, dsk):
        np.testing.assert_allclose(other.codebook_, ref.codebook_, atol=1e-4)
    np.testing.assert_array_equal(tor.predict(MIXED), ref.predict(MIXED))
    np.testing.assert_allclose(
        tor.transform(MIXED), ref.transform(MIXED), rtol=1e-5, atol=1e-6
    )
    lazy = dsk.predict(da.from_array(MIXED, chunks=70)).compute()
    np.testing.assert_array_equal(lazy, ref.predict(MIXED))


def test_minibatch_on_torch_matches_numpy():
    pytest.importorskip("torch")
    kw = dict(algorithm="minibatch", n_epochs=2, random_state=0)
    ref = SOM((4, 4), layers=MIXED_LAYERS, **kw).fit(MIXED)
    tor = SOM((4, 4), layers=MIXED_LAYERS, backend="torch", device="cpu", **kw)
    np.testing.assert_allclose(tor.fit(MIXED).codebook_, ref.codebook_, atol=1e-4)


def test_cosine_layer_blocks_stay_unit_norm():
    for algorithm in ("batch", "online", "minibatch"):
        som = SOM((3, 3), layers=MIXED_LAYERS, algorithm=algorithm, random_state=0)
        block = som.fit(MIXED).codebook_[:, 2:4]
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, rtol=1e-5)


def test_save_load_round_trip(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(MIXED, columns=[f"c{i}" for i in range(8)])
    layers = [
        Layer("a", slice(0, 2), metric="manhattan"),
        Layer("b", ["c2", "c3", "c4"], weight=2.0),
        Layer("y", [5, 6, 7], metric="tanimoto", predict=False),
    ]
    som = SOM((3, 4), layers=layers, random_state=0).fit(frame)
    path = somkit.save(som, tmp_path / "m.npz")
    back = somkit.load(path)
    assert back.layers == layers
    np.testing.assert_array_equal(back.predict(frame), som.predict(frame))
    np.testing.assert_allclose(back.transform(frame), som.transform(frame))
    np.testing.assert_array_equal(back.layers_.scales, som.layers_.scales)
    # and it trains on as before
    back.partial_fit(frame)
    assert back.n_iter_ == som.n_iter_ + 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layers=[Layer("a", 8)], metric="cosine"), "metric='cosine' applies"),
        (dict(layers=[Layer("a", 5)]), "exactly once"),
        (dict(layers=[Layer("a", 4), Layer("a", 4)]), "unique"),
        (dict(layers=[Layer("a", 8, metric="hamming")]), "metric of layer 'a'"),
        (dict(layers=[Layer("a", 8, weight=-1)]), "weight of layer 'a'"),
        (dict(layers=[Layer("a", 4, weight=0), Layer("b", 4, weight=0)]), "weight > 0"),
        (dict(layers=[Layer("a", 4), Layer("b", 4, predict=False)]), None),
        (
            dict(layers=[Layer("a", 4, predict=False), Layer("b", 4, predict=False)]),
            "predict=True",
        ),
        (dict(layers=Layer("a", 8)), "list of somkit.Layer"),
        (dict(layers=[Layer("a", 4), ("b", 4)]), "list of somkit.Layer"),
        (dict(layers=[Layer("a", ["x"])]), "no column names"),
    ],
)
def test_bad_layers_are_refused(kwargs, match):
    som = SOM((2, 2), n_epochs=1, **kwargs)
    if match is None:
        som.fit(MIXED)
        return
    with pytest.raises((ValueError, TypeError), match=match):
        som.fit(MIXED)


def test_tanimoto_needs_non_negative_values_and_constant_layers_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        SOM((2, 2), layers=[Layer("a", 5, metric="tanimoto")]).fit(X5)
    X = np.hstack([X5, np.ones((300, 1))])
    with pytest.raises(ValueError, match="constant"):
        SOM((2, 2), layers=[Layer("a", 5), Layer("k", 1)]).fit(X)
    SOM((2, 2), layers=[Layer("a", 5), Layer("k", 1, weight=0)]).fit(X)


def test_metrics_umatrix_and_reduce_use_the_layered_distance():
    from somkit import metrics, umatrix
    from somkit._layers import layer_distances

    som = SOM((4, 5), layers=MIXED_LAYERS, n_epochs=3, random_state=0).fit(MIXED)
    lm = som.layers_.metric(False)
    W = som.codebook_.astype(np.float64)
    D = sum(
        lm.coef[k] * layer_distances(W[:, lm.cols[k]], W[:, lm.cols[k]], m)
        for k, m in enumerate(lm.metrics)
        if lm.coef[k] > 0
    )
    U = np.zeros(som.grid_.n_units)
    cnt = np.zeros(som.grid_.n_units)
    for a, b in som.grid_.edges():
        for u in (a, b):
            U[u] += D[a, b]
            cnt[u] += 1
    np.testing.assert_allclose(umatrix(som).ravel(), U / cnt, rtol=1e-5)
    # quality measures search with the layers, not with euclidean
    qe = metrics.quantization_error(som, MIXED)
    np.testing.assert_allclose(qe, som.transform(MIXED).min(axis=1).mean(), rtol=1e-5)
    assert metrics.distortion(som, MIXED, radius=0.0) == pytest.approx(qe, rel=1e-5)
    picked = somkit.reduce(MIXED, grid=(3, 3), layers=MIXED_LAYERS, random_state=0)
    assert len(picked) == len(set(picked.tolist()))
