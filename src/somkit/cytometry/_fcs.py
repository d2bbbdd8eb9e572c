"""FCS 2.0 / 3.0 / 3.1 files as DataFrames (a small reader of our own).

The format (Spidlen et al. 2010, "Data File Standard for Flow Cytometry,
Version FCS 3.1", Cytometry A 77:97): a 58-byte HEADER of ASCII offsets, a
TEXT segment of delimiter-separated keyword/value pairs, and a DATA segment
of ``$TOT`` events x ``$PAR`` channels stored as unsigned integers (``I``,
``$PnB`` bits each, masked to the range ``$PnR``), float32 (``F``) or
float64 (``D``) in the byte order ``$BYTEORD``.

Quirks of real files that this reader handles: header offsets left blank or
zero (files over 99,999,999 bytes; the TEXT keywords ``$BEGINDATA`` and
``$ENDDATA`` hold them), an ``$ENDDATA`` one byte off (Miltenyi MACSQuant
FCS 3.1: the event count and sizes decide), integer widths that are whole
bytes but not a power of two (24-bit Cytek xP5 data), several data sets in
one file (``$NEXTDATA``, e.g. Guava Muse), and channel names repeated across
channels. Files that are truncated or do not follow the layout are refused
with ValueError.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_VERSIONS = ("FCS2.0", "FCS3.0", "FCS3.1")
_HEADER_BYTES = 58


def read_fcs(path, *, names="marker", data_set=0, linearize=True):
    """Read the events of an FCS file into a DataFrame.

    Parameters
    ----------
    path : str or Path
    names : {"marker", "channel"}, default="marker"
        Column names: the marker (``$PnS``, e.g. "CD4") where the file gives
        one, else the detector channel (``$PnN``, e.g. "FL1-A"); or always
        the channel. Names repeated in a file get their channel appended.
    data_set : int, default=0
        Which data set of a file holding several (``$NEXTDATA``).
    linearize : bool, default=True
        Turn integer channels stored on a log amplifier scale (``$PnE`` =
        f1,f2 with f1 > 0) back into linear values ``f2 * 10**(f1 * x / $PnR)``,
        as flowCore's ``read.FCS`` does. False returns the stored numbers.

    Returns
    -------
    DataFrame of shape (n_events, n_channels), float32 or float64
        ``df.attrs["fcs"]`` holds the TEXT keywords (upper-case keys),
        ``df.attrs["channels"]`` the ``$PnN`` names.

    Raises
    ------
    ValueError
        A file that is not FCS 2.0/3.0/3.1, is truncated or corrupt, or
        stores data this reader does not decode (ASCII, histograms,
        bit-packed integers).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from somkit.cytometry import read_fcs
    >>> bad = Path(tempfile.mkdtemp()) / "bad.fcs"
    >>> _ = bad.write_bytes(b"not an fcs file")
    >>> read_fcs(bad)
    Traceback (most recent call last):
    ...
    ValueError: ...bad.fcs: not an FCS file (too short for the 58-byte header).
    """
    import pandas as pd

    if names not in ("marker", "channel"):
        raise ValueError(f"names must be 'marker' or 'channel', got {names!r}.")
    if not isinstance(data_set, int) or isinstance(data_set, bool) or data_set < 0:
        raise ValueError(f"data_set must be an int >= 0, got {data_set!r}.")
    path = Path(path)
    with open(_check_path(path), "rb") as fh:
        base, header, text, size = _locate(fh, path, data_set)
        data = _read_data(fh, base, header, text, size, path, linearize)
    channels, cols = _column_names(text, data.shape[1], names)
    df = pd.DataFrame(data, columns=cols, copy=False)
    df.attrs["fcs"] = dict(text)
    df.attrs["channels"] = channels
    return df


def fcs_columns(path, *, names="marker", data_set=0):
    """Column names and event count of an FCS file (reads HEADER and TEXT only).

    Returns
    -------
    columns : list of str
        As :func:`read_fcs` would name them.
    n_events : int
    """
    if names not in ("marker", "channel"):
        raise ValueError(f"names must be 'marker' or 'channel', got {names!r}.")
    path = Path(path)
    with open(_check_path(path), "rb") as fh:
        _, _, text, _ = _locate(fh, path, data_set)
    n_par = _int_keyword(text, "$PAR", path)
    return _column_names(text, n_par, names)[1], _int_keyword(text, "$TOT", path)


def _check_path(path):
    if not path.is_file():
        raise ValueError(f"FCS file not found: {str(path)!r}.")
    return path


def _locate(fh, path, data_set):
    """(base offset, header, TEXT keywords, file size) of data set ``data_set``."""
    size = os.fstat(fh.fileno()).st_size
    base = 0
    for index in range(data_set + 1):
        header = _read_header(fh, base, size, path)
        text = _read_text(fh, base, header, size, path)
        if index == data_set:
            return base, header, text, size
        nxt = _int_keyword(text, "$NEXTDATA", path, default=0)
        if nxt <= 0:
            raise ValueError(
                f"{path}: data_set={data_set} asked, but the file holds "
                f"{index + 1} data set(s)."
            )
        base += nxt
    raise AssertionError("unreachable")  # pragma: no cover


def _column_names(text, n_par, names):
    """($PnN channels, column names) of the TEXT keywords."""
    channels = [text.get(f"$P{i}N", f"P{i}").strip() for i in range(1, n_par + 1)]
    if names == "channel":
        return channels, _unique(channels, channels)
    markers = [text.get(f"$P{i}S", "").strip() for i in range(1, n_par + 1)]
    cols = [m or c for m, c in zip(markers, channels, strict=True)]
    return channels, _unique(cols, channels)


def _unique(cols, channels):
    """Column names made unique by appending the channel, then a number."""
    out, seen = [], set()
    counts = {c: cols.count(c) for c in cols}
    for col, chan in zip(cols, channels, strict=True):
        name = col if counts[col] == 1 or col == chan else f"{col} ({chan})"
        k = 2
        while name in seen:
            name, k = f"{col} ({k})", k + 1
        seen.add(name)
        out.append(name)
    return out


def _read_header(fh, base, size, path):
    fh.seek(base)
    raw = fh.read(_HEADER_BYTES)
    if len(raw) < _HEADER_BYTES:
        raise ValueError(f"{path}: not an FCS file (too short for the 58-byte header).")
    version = raw[:6].decode("ascii", "replace")
    if version not in _VERSIONS:
        raise ValueError(
            f"{path}: not an FCS file this reader knows (version {version!r}; "
            f"reads {', '.join(_VERSIONS)})."
        )
    fields = []
    for i in range(6):
        chunk = raw[10 + 8 * i : 18 + 8 * i].strip()
        try:
            fields.append(int(chunk) if chunk else 0)
        except ValueError:
            raise ValueError(
                f"{path}: corrupt FCS header (offset {chunk!r})."
            ) from None
    text_start, text_end, data_start, data_end = fields[:4]
    if not 0 < text_start <= text_end or base + text_end >= size:
        raise ValueError(f"{path}: corrupt FCS header (TEXT segment outside the file).")
    return {
        "version": version,
        "text": (text_start, text_end),
        "data": (data_start, data_end),
    }


def _read_text(fh, base, header, size, path):
    start, end = header["text"]
    fh.seek(base + start)
    raw = fh.read(end - start + 1)
    if len(raw) < 2:
        raise ValueError(f"{path}: corrupt FCS file (empty TEXT segment).")
    text = parse_text(raw)
    if "$PAR" not in text or "$TOT" not in text:
        raise ValueError(f"{path}: corrupt FCS file (TEXT lacks $PAR or $TOT).")
    return text


def parse_text(raw):
    """Keyword/value pairs of a TEXT segment (keys upper-cased).

    The first byte is the delimiter; a doubled delimiter inside a keyword or
    value stands for the delimiter itself.

    Examples
    --------
    >>> from somkit.cytometry._fcs import parse_text
    >>> parse_text(b"/$PAR/2/$P1N/FL1//A/")
    {'$PAR': '2', '$P1N': 'FL1/A'}
    """
    delim = raw[:1]
    body = raw[1:]
    if body.endswith(delim) and not body.endswith(delim * 2):
        body = body[:-1]
    elif body.endswith(delim * 2) and len(body) >= 2:
        # An even run of delimiters at the end: the last one closes the value.
        run = len(body) - len(body.rstrip(delim))
        if run % 2 == 1:
            body = body[:-1]
    placeholder = b"\x00\x01"
    tokens = body.replace(delim * 2, placeholder).split(delim)
    tokens = [t.replace(placeholder, delim).decode("utf-8", "replace") for t in tokens]
    if len(tokens) % 2:
        tokens = tokens[:-1]
    return {tokens[i].strip().upper(): tokens[i + 1] for i in range(0, len(tokens), 2)}


def _int_keyword(text, key, path, default=None):
    value = text.get(key)
    if value is None or not value.strip():
        if default is None:
            raise ValueError(f"{path}: corrupt FCS file (keyword {key} missing).")
        return default
    try:
        return int(value.strip())
    except ValueError:
        try:
            return int(float(value.strip()))
        except ValueError:
            raise ValueError(f"{path}: corrupt FCS file ({key} = {value!r}).") from None


def _read_data(fh, base, header, text, size, path, linearize):
    n_par = _int_keyword(text, "$PAR", path)
    n_tot = _int_keyword(text, "$TOT", path)
    mode = text.get("$MODE", "L").strip().upper()
    if mode != "L":
        raise ValueError(f"{path}: $MODE {mode!r} (histograms) is not list-mode data.")
    dtype_code = text.get("$DATATYPE", "").strip().upper()
    if dtype_code not in ("I", "F", "D"):
        raise ValueError(
            f"{path}: $DATATYPE {dtype_code!r} is not supported (reads I, F and D)."
        )
    order = text.get("$BYTEORD", "1,2,3,4").replace(" ", "")
    little = order.startswith("1")
    bits = [_int_keyword(text, f"$P{i}B", path) for i in range(1, n_par + 1)]
    if dtype_code in ("F", "D"):
        width = 32 if dtype_code == "F" else 64
        bits = [width] * n_par
    if any(b % 8 for b in bits) or any(b <= 0 for b in bits):
        raise ValueError(f"{path}: bit-packed channel widths {bits} are not supported.")
    event_bytes = sum(bits) // 8
    need = n_tot * event_bytes
    start, end = header["data"]
    if start == 0 or end == 0:
        start = _int_keyword(text, "$BEGINDATA", path, default=0)
        end = _int_keyword(text, "$ENDDATA", path, default=0)
    if start <= 0:
        raise ValueError(f"{path}: corrupt FCS file (no DATA segment offset).")
    if end - start + 1 != need and abs(end - start + 1 - need) > event_bytes:
        raise ValueError(
            f"{path}: corrupt FCS file (DATA segment of {end - start + 1} bytes, but "
            f"$TOT x event size = {need})."
        )
    # Off-by-one $ENDDATA (MACSQuant FCS 3.1): the event count decides.
    if base + start + need > size:
        raise ValueError(
            f"{path}: truncated FCS file (DATA needs {need} bytes from offset "
            f"{start}, the file ends at {size - base})."
        )
    fh.seek(base + start)
    raw = fh.read(need)
    if dtype_code == "F":
        data = np.frombuffer(raw, dtype="<f4" if little else ">f4").astype(np.float32)
        return data.reshape(n_tot, n_par)
    if dtype_code == "D":
        data = np.frombuffer(raw, dtype="<f8" if little else ">f8").astype(np.float64)
        return data.reshape(n_tot, n_par)
    return _decode_int(text, raw, bits, n_tot, little, path, linearize)


def _decode_int(text, raw, bits, n_tot, little, path, linearize):
    """Unsigned integer channels of any whole-byte width, masked to $PnR."""
    n_par = len(bits)
    by = np.frombuffer(raw, dtype=np.uint8).reshape(n_tot, sum(bits) // 8)
    out = np.empty((n_tot, n_par), dtype=np.float64)
    offset, logged = 0, False
    for j, b in enumerate(bits):
        nb = b // 8
        cols = by[:, offset : offset + nb].astype(np.uint64)
        offset += nb
        shifts = np.arange(nb, dtype=np.uint64) * np.uint64(8)
        if not little:
            shifts = shifts[::-1]
        value = (cols << shifts).sum(axis=1, dtype=np.uint64)
        rng = _int_keyword(text, f"$P{j + 1}R", path, default=0)
        if rng > 0:
            # Values above the range carry flag bits: keep the bits the range needs.
            mask = (1 << int(np.ceil(np.log2(rng)))) - 1 if rng > 1 else 1
            value &= np.uint64(mask)
        out[:, j] = value
        f1, f2 = _log_params(text, j + 1)
        if linearize and f1 > 0 and rng > 0:
            out[:, j] = (f2 if f2 > 0 else 1.0) * 10.0 ** (f1 * out[:, j] / rng)
            logged = True
    # Integers of up to 24 bits are exact in float32.
    return out if logged or max(bits) > 24 else out.astype(np.float32)


def _log_params(text, i):
    raw = text.get(f"$P{i}E", "0,0").replace(" ", "")
    try:
        f1, f2 = (float(v) for v in raw.split(",")[:2])
    except ValueError:
        return 0.0, 0.0
    return f1, f2


def read_fcs_files(paths, *, markers=None, file_column="file", **kwargs):
    """Read several FCS files into one DataFrame with a file column.

    Parameters
    ----------
    paths : sequence of str or Path
    markers : list of str, default=None
        Columns to keep (every file must have them); None keeps all, and
        then every file must have the same columns.
    file_column : str, default="file"
        Name of the categorical column holding each cell's file name.
    **kwargs
        Passed to :func:`read_fcs`.

    Returns
    -------
    DataFrame
    """
    import pandas as pd

    paths = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    if not paths:
        raise ValueError("paths must name at least one FCS file.")
    frames, first = [], None
    for p in paths:
        df = read_fcs(p, **kwargs)
        if file_column in df.columns:
            raise ValueError(
                f"{p}: has a channel named {file_column!r}; pick another file_column."
            )
        cols = list(df.columns) if markers is None else list(markers)
        missing = [m for m in cols if m not in df.columns]
        if missing:
            raise ValueError(
                f"{p}: has no channel {missing[0]!r}; its channels: "
                f"{', '.join(df.columns)}."
            )
        if first is None:
            first = cols
        elif markers is None and cols != first:
            raise ValueError(
                f"{p}: channels differ from {paths[0].name}'s; pass markers=[...] to "
                "keep the common ones."
            )
        frames.append(df[cols].assign(**{file_column: p.name}))
    out = pd.concat(frames, ignore_index=True)
    out[file_column] = pd.Categorical(
        out[file_column], categories=list(dict.fromkeys(p.name for p in paths))
    )
    return out


def to_anndata(frame, *, file_column="file"):
    """A DataFrame of cells (e.g. from :func:`read_fcs_files`) as AnnData.

    Numeric columns become ``X`` (variables named by marker); ``file_column``
    (when present) goes to ``obs``. Needs ``anndata``.
    """
    ad = _anndata()
    obs_cols = [file_column] if file_column in frame.columns else []
    X = frame.drop(columns=obs_cols).to_numpy()
    import pandas as pd

    var = pd.DataFrame(index=[str(c) for c in frame.columns if c not in obs_cols])
    obs = frame[obs_cols].reset_index(drop=True)
    obs.index = obs.index.astype(str)
    return ad.AnnData(X=X, obs=obs, var=var)


def from_anndata(adata, *, layer=None, file_column="file"):
    """Cells of an AnnData object as a DataFrame (markers = ``var_names``).

    ``layer`` picks a layer instead of ``X``; an ``obs`` column named
    ``file_column`` is kept.
    """
    import pandas as pd

    _anndata()
    X = adata.X if layer is None else adata.layers[layer]
    if hasattr(X, "toarray"):
        X = X.toarray()
    df = pd.DataFrame(np.asarray(X), columns=[str(v) for v in adata.var_names])
    if file_column in adata.obs.columns:
        df[file_column] = adata.obs[file_column].to_numpy()
    return df


def _anndata():
    try:
        import anndata
    except ImportError as exc:
        raise ImportError(
            "AnnData input/output needs the anndata package: pip install anndata"
        ) from exc
    return anndata
