"""Training from chunks read again every epoch: ``SOM.fit_stream``.

The estimator stays thin: :class:`StreamingMixin` gives :class:`somkit.SOM`
its ``fit_stream`` method, which wraps the chunks in a
:class:`somkit._backends.stream.ChunkStream`, resolves the streaming
backend, runs the first pass (checks, row count, moments for the pca init)
and hands the stream to the same driver as ``fit``.
"""

from __future__ import annotations

from numbers import Integral

from somkit._missing import validate_array
from somkit._rules import make_rng
from somkit._train import empty_history


class StreamingMixin:
    """``fit_stream`` for :class:`somkit.SOM` (see :meth:`fit_stream`)."""

    def fit_stream(self, chunks, n_epochs=None):
        """Train on row chunks that are read again every epoch.

        The data never have to fit in memory: each pass asks ``chunks()``
        for a fresh iterator and holds one chunk at a time. The batch rule
        adds the per-unit sums of all chunks, then updates once, so the map
        equals ``fit`` on the concatenated chunks (up to the order of float
        additions); the pca init comes from moments merged over the chunks
        in the first pass, which also checks them and counts the rows. The
        minibatch rule visits the chunks in the stream's order and the rows
        of each chunk in random order, so its map differs from ``fit``'s
        (which shuffles all rows); ``init="sample"`` draws its rows by
        reservoir sampling of the stream, so it differs from ``fit``'s draw
        too. ``labels_`` is not set (it would grow with the
        data): call :meth:`predict` on each chunk.

        Parameters
        ----------
        chunks : callable
            ``chunks()`` returns a fresh iterator over chunks: array-likes
            of shape (rows, n_features) (arrays, frames, memmap slices), or
            ``(X, sample_weight)`` pairs. :func:`somkit.read` gives such a
            callable for Parquet, Zarr, HDF5, NPY and CSV files.
        n_epochs : int or None, default=None
            Epochs of training (None: the ``n_epochs`` parameter; when that
            is None too, the default schedule of ``fit``, whose first
            epochs read a random subsample drawn in one pass).

        Returns
        -------
        self : SOM

        Examples
        --------
        >>> import numpy as np
        >>> from somkit import SOM
        >>> X = np.random.default_rng(0).normal(size=(1000, 3))
        >>> parts = np.array_split(X, 7)
        >>> a = SOM((4, 4), dtype="float64", random_state=0)
        >>> a = a.fit_stream(lambda: iter(parts))
        >>> b = SOM((4, 4), dtype="float64", random_state=0).fit(X)
        >>> bool(np.allclose(a.codebook_, b.codebook_))
        True
        """
        from somkit._backends.stream import ChunkStream
        from somkit._init import make_grid
        from somkit._rules import fit_schedule
        from somkit._schedules import check_radius

        if n_epochs is not None and (
            not isinstance(n_epochs, Integral)
            or isinstance(n_epochs, bool)
            or n_epochs < 1
        ):
            raise ValueError(f"n_epochs must be an int >= 1 or None, got {n_epochs!r}.")
        with self._atomic():  # on any error the estimator stays as it was
            dtype = self._check_params()
            stream = ChunkStream(
                chunks,
                lambda C, first, start: validate_array(self, C, first, start),
            )
            backend = self._backend_for(stream, self.algorithm)
            stream.scan(masked=backend.masked)
            self._scaling_ = _stream_scaling(stream, dtype, self.metric)
            rng = make_rng(self.random_state)
            self.grid_ = make_grid(self, stream, None, backend)
            params = self.get_params()
            if n_epochs is not None:
                params["n_epochs"] = int(n_epochs)
            plan = fit_schedule(self.grid_.shape, stream.shape[0], params)
            self._radius_schedule_, epochs, rows = plan
            check_radius(self._radius_schedule_)
            # the default schedule's ordering epochs: a subsample, read once
            sub, seed = self._subsample(backend, stream, None, rows, rng)
            pca = sub is not None and isinstance(self.init, str) and self.init == "pca"
            W, factored = self._initialize(
                stream, None, dtype, rng, backend, None, sub if pca else None
            )
            if hasattr(self, "labels_"):
                del self.labels_
            run = (None, backend, rng, None, stream)
            span = (0, epochs, epochs, rows)
            self._train(
                W, stream, stream, run, span, empty_history(), factored, (sub, seed)
            )
        return self


def _stream_scaling(stream, dtype, metric):
    """None: a stream trains on its chunks as given (see :mod:`somkit._numeric`).

    The first pass measured every feature's range; values that ``dtype``
    cannot square safely are refused with what to do (``fit`` would rescale
    them, but each chunk would then need rescaling again every epoch).
    """
    from somkit._numeric import scaling_for_extent

    if scaling_for_extent(*stream.column_range, dtype, metric) is None:
        return None
    raise ValueError(
        f"the chunks' values are too large or too small to train on in {dtype} "
        "as given (squared distances would overflow or lose precision); "
        "rescale them (e.g. StandardScaler.partial_fit over the chunks, then "
        "transform each), use dtype='float64', or call fit on an in-memory "
        "array, which rescales by itself."
    )
