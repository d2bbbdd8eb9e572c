"""Small data sets for the demos and tests, built offline.

Every generator is self-contained and deterministic given ``random_state``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from numbers import Integral

import numpy as np

__all__ = ["disc", "one_moon", "photo_crops", "topic_sentences"]

# Photos bundled with scikit-image (no download): class name -> loader name.
_PHOTOS = {
    "astronaut": "astronaut",
    "cameraman": "camera",
    "cat": "chelsea",
    "coffee": "coffee",
    "coins": "coins",
    "horse": "horse",
    "rocket": "rocket",
    "galaxies": "hubble_deep_field",
    "retina": "retina",
    "motorcycle": "stereo_motorcycle",
}


@lru_cache(maxsize=len(_PHOTOS))
def _load_photo(loader):
    """One bundled photo as read-only uint8 RGB (cached)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise ImportError(
            "photo_crops needs scikit-image; install it with: "
            "pip install 'somkit[deep]'"
        ) from exc
    img = getattr(data, loader)()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)
    img.flags.writeable = False
    return img


def photo_crops(n_per_photo=10, size=64, random_state=0, min_scale=0.5, max_scale=0.9):
    """Labelled square crops of the photos bundled with scikit-image.

    Ten photos (astronaut, cameraman, cat, coffee, coins, horse, rocket,
    galaxies, retina, motorcycle); from each, ``n_per_photo`` random square
    crops whose side is a random share in ``[min_scale, max_scale]`` of the
    photo's shorter side, at a random position, mirrored left-right at
    random, then resized to ``size`` x ``size``. Grey and binary photos are
    turned into RGB. A crop's label is its source photo, so crops of one
    photo show the same thing at different places and zooms.

    Parameters
    ----------
    n_per_photo : int, default=10
        Crops per photo.
    size : int, default=64
        Side of every crop in pixels.
    random_state : int, numpy Generator or None, default=0
    min_scale, max_scale : float, default=0.5, 0.9
        Range of the crop side as a share of the photo's shorter side.

    Returns
    -------
    images : ndarray of shape (10 * n_per_photo, size, size, 3), uint8
    labels : ndarray of shape (10 * n_per_photo,), int
        Index into ``class_names``; crops are grouped by photo.
    class_names : list of str

    Examples
    --------
    >>> images, labels, names = photo_crops(n_per_photo=2, size=32)
    >>> images.shape, images.dtype, names[labels[0]]
    ((20, 32, 32, 3), dtype('uint8'), 'astronaut')
    """
    for name, value in (("n_per_photo", n_per_photo), ("size", size)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if not 0 < min_scale <= max_scale <= 1:
        raise ValueError(
            "min_scale and max_scale must satisfy 0 < min_scale <= max_scale <= 1, "
            f"got {min_scale!r} and {max_scale!r}."
        )
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "photo_crops needs pillow; install it with: pip install 'somkit[deep]'"
        ) from exc

    rng = np.random.default_rng(random_state)
    images, labels = [], []
    for label, loader in enumerate(_PHOTOS.values()):
        photo = _load_photo(loader)
        h, w = photo.shape[:2]
        short = min(h, w)
        for _ in range(n_per_photo):
            side = max(1, int(round(rng.uniform(min_scale, max_scale) * short)))
            top = int(rng.integers(0, h - side + 1))
            left = int(rng.integers(0, w - side + 1))
            crop = photo[top : top + side, left : left + side]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            # PIL's bilinear filter widens with the scale: antialiased shrinking
            small = Image.fromarray(np.ascontiguousarray(crop)).resize(
                (size, size), Image.Resampling.BILINEAR
            )
            images.append(np.asarray(small, dtype=np.uint8))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.intp), list(_PHOTOS)


def topic_sentences():
    """Short English sentences on eight topics (40 each, 320 in all).

    The topics are cooking, sport, space, computing, weather, health, music
    and finance; the sentences were written for somkit (file
    ``somkit/data/sentences.json``).

    Returns
    -------
    sentences : list of str
    labels : ndarray of shape (n_sentences,), int
        Index into ``topic_names``; sentences are grouped by topic.
    topic_names : list of str

    Examples
    --------
    >>> sentences, labels, topics = topic_sentences()
    >>> len(sentences), topics[labels[0]]
    (320, 'cooking')
    """
    text = resources.files("somkit").joinpath("data/sentences.json").read_text("utf-8")
    topics = json.loads(text)["topics"]
    sentences, labels = [], []
    for label, name in enumerate(topics):
        sentences.extend(topics[name])
        labels.extend([label] * len(topics[name]))
    return sentences, np.asarray(labels, dtype=np.intp), list(topics)


def _check_count(name, value, minimum=1):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def disc(n=8000, radius=1.0, random_state=0):
    """Points drawn uniformly from a disc centred on the origin.

    The radius of a point is ``radius * sqrt(u)`` with ``u`` uniform on
    [0, 1), so the density is the same everywhere in the disc (plain uniform
    radii would crowd the centre).

    Parameters
    ----------
    n : int, default=8000
        Number of points.
    radius : float, default=1.0
        Radius of the disc.
    random_state : int, numpy Generator or None, default=0

    Returns
    -------
    X : ndarray of shape (n, 2), float64

    Examples
    --------
    >>> import numpy as np
    >>> X = disc(1000, radius=2.0)
    >>> X.shape, bool(np.all(np.hypot(X[:, 0], X[:, 1]) <= 2.0))
    ((1000, 2), True)
    """
    n = _check_count("n", n)
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}.")
    rng = np.random.default_rng(random_state)
    r = radius * np.sqrt(rng.uniform(size=n))
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.column_stack([r * np.cos(t), r * np.sin(t)])


def one_moon(n=200, noise=0.05, random_state=0):
    """The upper moon of scikit-learn's ``make_moons``: a noisy half circle.

    Points lie around the unit half circle ``(cos t, sin t)``, t in [0, pi],
    with Gaussian noise of standard deviation ``noise`` on each coordinate.

    Parameters
    ----------
    n : int, default=200
        Number of points.
    noise : float, default=0.05
        Standard deviation of the Gaussian noise.
    random_state : int or None, default=0
        Seed passed to ``make_moons``.

    Returns
    -------
    X : ndarray of shape (n, 2), float64

    Examples
    --------
    >>> X = one_moon(200)
    >>> X.shape, bool(X[:, 1].mean() > 0.5)
    ((200, 2), True)
    """
    from sklearn.datasets import make_moons

    n = _check_count("n", n)
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    if random_state is not None and not isinstance(random_state, Integral):
        raise ValueError(f"random_state must be an int or None, got {random_state!r}.")
    X, y = make_moons(n_samples=2 * n, noise=noise, random_state=random_state)
    return X[y == 0]
