"""somkit.features and the data behind the deep-features application."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
PIL_Image = pytest.importorskip("PIL.Image")

from somkit import SOM  # noqa: E402
from somkit.datasets import photo_crops, topic_sentences  # noqa: E402
from somkit.features import (  # noqa: E402
    ImagePreprocessing,
    image_features,
    load_image_folder,
    pretrained_image_model,
    text_features,
)


# ---------------------------------------------------------------- a tiny CNN
def tiny_cnn():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1),  # "0"
            torch.nn.BatchNorm2d(4),  # "1"
            torch.nn.ReLU(),  # "2"
            torch.nn.Dropout(0.5),  # "3"
            torch.nn.MaxPool2d(2),  # "4"
            torch.nn.Conv2d(4, 6, 3),  # "5"
            torch.nn.ReLU(),  # "6"
            torch.nn.AdaptiveAvgPool2d(1),  # "7"
            torch.nn.Flatten(),  # "8"
            torch.nn.Linear(6, 5),  # "9"
        )
        # Non-trivial running statistics, so that train mode would differ.
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


def reference(net, images_uint8, upto=None):
    """Independent forward pass: [0, 1] RGB, eval mode, the first layers."""
    x = torch.from_numpy(images_uint8.astype(np.float32) / 255).permute(0, 3, 1, 2)
    net = net.eval()
    layers = net if upto is None else net[: upto + 1]
    with torch.no_grad():
        return layers(x).reshape(len(x), -1).numpy()


@pytest.fixture
def small_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(7, 16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("layer", "width"), [(None, 5), ("0", 4 * 16 * 16), ("4", 4 * 8 * 8), ("7", 6)]
)
def test_layer_outputs_match_a_plain_forward_pass(small_images, layer, width):
    net = tiny_cnn()
    F = image_features(net, small_images, layer=layer)
    assert F.shape == (7, width) and F.dtype == np.float32
    upto = None if layer is None else int(layer)
    np.testing.assert_allclose(
        F, reference(net, small_images, upto), rtol=1e-5, atol=1e-6
    )


def test_layer_given_as_module_and_forward_stops_after_it(small_images):
    net = tiny_cnn()
    calls = []
    net[9].register_forward_hook(lambda *a: calls.append(1))
    F = image_features(net, small_images, layer=net[4])
    assert F.shape == (7, 256) and not calls  # the head never ran
    image_features(net, small_images)
    assert calls


def test_batching_gives_the_same_as_one_pass(small_images):
    net = tiny_cnn()
    one = image_features(net, small_images, batch_size=100)
    for bs in (1, 3, 7):
        np.testing.assert_allclose(
            image_features(net, small_images, batch_size=bs), one, rtol=1e-5, atol=1e-6
        )


def test_eval_mode_no_grad_and_modes_restored(small_images):
    net = tiny_cnn()
    net.train()
    net[3].eval()  # a mixed state must come back exactly
    before = {n: m.training for n, m in net.named_modules()}
    stats = net[1].running_mean.clone(), net[1].running_var.clone()
    seen = []
    net[0].register_forward_hook(
        lambda m, i, o: seen.append((m.training, torch.is_grad_enabled()))
    )
    a = image_features(net, small_images)
    b = image_features(net, small_images)
    np.testing.assert_array_equal(a, b)  # dropout off
    assert seen and all(t is False and g is False for t, g in seen)
    assert {n: m.training for n, m in net.named_modules()} == before
    # batch norm used, but did not update, its running statistics
    assert torch.equal(net[1].running_mean, stats[0])
    assert torch.equal(net[1].running_var, stats[1])
    assert all(p.grad is None for p in net.parameters())


def test_uint8_float_grey_and_rgba_inputs(small_images):
    net = tiny_cnn()
    ref = image_features(net, small_images)
    np.testing.assert_allclose(
        image_features(net, small_images / 255.0), ref, rtol=1e-5, atol=1e-6
    )
    rgba = np.concatenate([small_images, np.zeros_like(small_images[..., :1])], -1)
    np.testing.assert_allclose(image_features(net, rgba), ref, rtol=1e-5, atol=1e-6)
    grey = small_images[..., 0]
    np.testing.assert_allclose(
        image_features(net, grey),
        image_features(net, np.repeat(grey[..., None], 3, -1)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        image_features(net, list(small_images)), ref, rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        image_features(net, small_images.astype(np.float32))
    with pytest.raises(ValueError, match="different sizes"):
        image_features(net, [small_images[0], small_images[0, :8, :8]])
    with pytest.raises(ValueError, match="not a submodule"):
        image_features(net, small_images, layer="head")
    with pytest.raises(TypeError, match="nn.Module"):
        image_features(lambda x: x, small_images)
    with pytest.raises(ValueError, match="batch_size"):
        image_features(net, small_images, batch_size=0)


def test_images_of_different_sizes_are_resized_and_centre_cropped():
    net = tiny_cnn()
    prep = ImagePreprocessing(16)
    blue = np.zeros((16, 16, 3), np.uint8)
    blue[..., 2] = 200
    # 40 wide, 20 high: red 5-column borders, blue middle. Shorter side 20 -> 16
    # (width 32, borders 4 columns), centre crop keeps columns 8..24: all blue.
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[..., 2] = 200
    wide[:, :5] = wide[:, -5:] = (255, 0, 0)
    big_blue = np.zeros((50, 30, 3), np.uint8)
    big_blue[..., 2] = 200
    F = image_features(net, [blue, wide, big_blue], transform=prep)
    np.testing.assert_allclose(F[1], F[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(F[2], F[0], rtol=1e-4, atol=1e-5)
    # a callable transform sees the [0, 1] batch and returns the model input
    dim = blue // 2
    G = image_features(net, dim[None], transform=lambda x: x * 2)
    np.testing.assert_allclose(G, reference(net, 2 * dim[None]), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ folders, files
def test_load_image_folder(tmp_path):
    colours = {"cats": (250, 0, 0), "dogs": (0, 250, 0)}
    for cls, col in colours.items():
        (tmp_path / cls).mkdir()
        for i, (h, w) in enumerate([(20, 30), (40, 20)]):
            a = np.zeros((h, w, 3), np.uint8)
            a[:] = col
            PIL_Image.fromarray(a).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    # centre crop: 10 high x 30 wide; only the middle 10 columns are white
    a = np.zeros((10, 30, 3), np.uint8)
    a[:, 10:20] = 255
    PIL_Image.fromarray(a).save(tmp_path / "dogs" / "2.png")

    images, labels = load_image_folder(tmp_path, size=10)
    assert images.shape == (5, 10, 10, 3) and images.dtype == np.uint8
    assert labels.tolist() == ["cats", "cats", "dogs", "dogs", "dogs"]
    np.testing.assert_array_equal(images[0], np.broadcast_to((250, 0, 0), (10, 10, 3)))
    np.testing.assert_array_equal(images[3], np.broadcast_to((0, 250, 0), (10, 10, 3)))
    np.testing.assert_array_equal(images[4], 255)

    raw, raw_labels = load_image_folder(tmp_path, size=None)
    assert [r.shape for r in raw] == [(20, 30, 3), (40, 20, 3)] * 2 + [(10, 30, 3)]
    assert raw_labels.tolist() == labels.tolist()

    with pytest.raises(ValueError, match="size"):
        load_image_folder(tmp_path, size=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(empty)


def test_image_features_of_a_folder_and_of_paths(tmp_path):
    rng = np.random.default_rng(1)
    arrays = rng.integers(0, 256, size=(4, 16, 16, 3), dtype=np.uint8)
    paths = []
    for i, a in enumerate(arrays):
        d = tmp_path / ("a" if i < 2 else "b")
        d.mkdir(exist_ok=True)
        paths.append(d / f"{i}.png")
        PIL_Image.fromarray(a).save(paths[-1])
    net = tiny_cnn()
    ref = reference(net, arrays)
    F, labels = image_features(net, tmp_path, batch_size=3)
    assert labels.tolist() == ["a", "a", "b", "b"]
    np.testing.assert_allclose(F, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        image_features(net, [str(p) for p in paths]), ref, rtol=1e-5, atol=1e-6
    )


# ---------------------------------------------------------- pretrained models
def test_vgg19_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        pretrained_image_model("vgg19")
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        pretrained_image_model("resnet")


def test_vgg19_without_torchvision_names_it(tmp_path, monkeypatch):
    try:
        import torchvision  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torchvision is installed")
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"")
    with pytest.raises(ImportError, match="torchvision"):
        pretrained_image_model("vgg19", weights=weights)


@pytest.fixture(scope="module")
def effnet():
    return pretrained_image_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def crop_features(effnet):
    images, labels, names = photo_crops(n_per_photo=10, size=64, random_state=0)
    return image_features(effnet, images, batch_size=50), labels, names


def test_efficientnet_preprocessing(effnet):
    assert not effnet.training
    prep = effnet.somkit_preprocessing
    assert prep.size == 224 and prep.resize == 224
    # 224 x 224 inputs are not resized: compare with (x * 255 - 127) / 128 by hand
    images = photo_crops(n_per_photo=1, size=224, random_state=3)[0][::5]
    x = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        ref = effnet((x - 127) / 128).numpy()
    F = image_features(effnet, images)
    assert F.shape == (2, 1280)
    np.testing.assert_allclose(F, ref, rtol=1e-4, atol=1e-4)


def purity(units, labels):
    """Share of samples in the majority class of their unit."""
    return sum(np.bincount(labels[units == u]).max() for u in np.unique(units)) / len(
        labels
    )


def test_cosine_som_groups_efficientnet_features_of_crops(crop_features):
    F, labels, names = crop_features
    assert F.shape == (100, 1280) and len(names) == 10
    assert np.isfinite(F).all()
    # crops of one photo are each other's nearest neighbours (cosine)
    U = F / np.linalg.norm(F, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    assert np.mean(labels[S.argmax(1)] == labels) >= 0.95
    # a small map, so that units hold several crops and purity means something
    som = SOM(grid=(6, 6), metric="cosine", random_state=0).fit(F)
    units = som.predict(F)
    assert len(np.unique(units)) < 50
    assert purity(units, labels) >= 0.9
    # the 20 x 20 map of the application
    som = SOM(grid=(20, 20), metric="cosine", random_state=0).fit(F)
    assert purity(som.predict(F), labels) >= 0.9


# -------------------------------------------------------------------- text
@pytest.fixture(scope="module")
def sentences60():
    sentences, labels, topics = topic_sentences()
    assert len(sentences) >= 300 and len(topics) >= 6
    pick = np.concatenate([np.flatnonzero(labels == t)[:10] for t in range(6)])
    return [sentences[i] for i in pick], labels[pick]


def test_text_features_group_topics(sentences60):
    sentences, labels = sentences60
    E = text_features(sentences)
    assert E.shape == (60, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    S = E @ E.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(60, dtype=bool)
    for t in np.unique(labels):
        rows = labels == t
        within = S[np.ix_(rows, rows)][off[np.ix_(rows, rows)]].mean()
        # each other topic's block is less similar than the topic's own block
        for u in np.unique(labels[~rows]):
            assert within > S[np.ix_(rows, labels == u)].mean() + 0.03, (t, u)
        assert within > 2 * S[np.ix_(rows, ~rows)].mean(), t
    np.fill_diagonal(S, -np.inf)
    assert np.mean(same[np.arange(60), S.argmax(1)]) >= 0.9
    # unnormalised embeddings point the same way
    R = text_features(sentences[:3], normalize=False)
    np.testing.assert_allclose(
        R / np.linalg.norm(R, axis=1, keepdims=True), E[:3], atol=1e-5
    )


def test_text_features_rejects_bad_input():
    with pytest.raises(TypeError, match="single str"):
        text_features("one sentence")
    with pytest.raises(TypeError, match="str"):
        text_features(["fine", 3])
    with pytest.raises(ValueError, match="empty"):
        text_features([])


def test_photo_crops_and_sentences_are_deterministic():
    a, la, na = photo_crops(n_per_photo=2, size=16, random_state=5)
    b, lb, nb = photo_crops(n_per_photo=2, size=16, random_state=5)
    c = photo_crops(n_per_photo=2, size=16, random_state=6)[0]
    assert a.shape == (20, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert la.tolist() == [i // 2 for i in range(20)] and na == nb
    s, labels, topics = topic_sentences()
    assert len(s) == len(labels) == len(set(s))
    assert np.bincount(labels).min() >= 30 and len(topics) == 8
    with pytest.raises(ValueError, match="n_per_photo"):
        photo_crops(n_per_photo=0)


# ------------------------------------------------- the application's measures
def test_map_measures_on_a_hand_made_map():
    from somkit._grid import Grid
    from somkit.apps.deep_features import borders, majority_purity, region_shares

    g = Grid((3, 3))  # units 0 1 2 / 3 4 5 / 6 7 8
    cls = np.array(list("aabcabacb"))
    bmu = np.array([0, 1, 4, 3, 4, 2, 5, 8, 6, 6])
    y = np.array(list("aaaccbbbba"))
    # units 4 and 6 hold two classes each: 8 of 10 samples in their majority
    assert majority_purity(bmu, y) == pytest.approx(0.8)
    # a: territories {0, 1, 4} and {6}; its samples on 0, 1, 4, 6 -> 3 of 4.
    # b: territory {2, 5, 8}, one b sample on unit 6 (class a) -> 3 of 4.
    # c: territories {3} and {7}; samples on 3 and on 4 (class a) -> 1 of 2.
    assert region_shares(g, cls, bmu, y) == {"a": 0.75, "b": 0.75, "c": 0.5}
    D = np.arange(81, dtype=float).reshape(9, 9)
    D = D + D.T
    touch = borders(g, cls, D)
    # a-c edges: (3,4) (6,7) (0,3) (3,6) (4,7); a-b: (1,2) (4,5); b-c: (7,8)
    assert [(o, n) for o, n, _ in touch["a"]] == [("c", 5), ("b", 2)]
    assert [(o, n) for o, n, _ in touch["b"]] == [("a", 2), ("c", 1)]
    assert [(o, n) for o, n, _ in touch["c"]] == [("a", 5), ("b", 1)]
    assert touch["a"][1][2] == pytest.approx((D[1, 2] + D[4, 5]) / 2)
    assert touch["b"][1][2] == pytest.approx(D[7, 8])
    assert all(np.isnan(h) for _, _, h in borders(g, cls)["a"])


def test_the_application_on_a_folder(tmp_path):
    from somkit.apps import deep_features

    images, labels, names = photo_crops(n_per_photo=5, size=64, random_state=1)
    for k in (2, 4, 6):  # cat, coins, rocket
        d = tmp_path / names[k]
        d.mkdir()
        for i, im in enumerate(images[labels == k]):
            PIL_Image.fromarray(im).save(d / f"{i}.png")
    result = deep_features.run(quick=True, images_dir=tmp_path, grid=(6, 6))
    assert set(result.figures) == {"images", "image_classes", "text_topics"}
    m = result.metrics
    assert m["image_purity_majority"] == 1.0
    assert m["image_region_share_min"] > 0.5
    assert m["text_purity_majority"] >= 0.6  # 80 sentences, 36 units
    assert "cat" in m["image_borders"] and "cooking" in m["text_borders"]
    assert "Neighbours on the map" in result.text
