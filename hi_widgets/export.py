"""Write DataFrames to CSV, Parquet or JSON: atomically, and without PHI unless asked.

File formats
------------
``parquet``
    Arrow types with pandas metadata: reading the file back (``pd.read_parquet`` or
    :func:`read_frame`) gives the same values and dtypes (categoricals with all their
    categories, ``datetime64[us, UTC]``, ``Int64``, ``boolean``, ``string``). The
    categories are also stored in the file's key-value metadata under ``hi_widgets``, so
    :func:`read_frame` restores them even for an empty frame (Parquet itself keeps no
    dictionary for a column without rows).
``csv`` and ``json``
    Text for people and other tools. Timestamps are ISO-8601 in UTC with microseconds
    and a ``Z`` suffix (``2024-05-01T12:00:00.000000Z``); durations (``timedelta``
    columns such as ``duration``) are **seconds** as a decimal number; missing values are
    an empty CSV cell or JSON ``null``. JSON is an array of records (one object per row),
    UTF-8. :func:`read_frame` reads both back with the hi_widgets dtypes for known
    columns.

PHI
---
Unless ``include_phi=True``, the columns of :data:`hi_widgets.frames.PHI_COLUMNS` are
dropped, and so is any other ``DICOMPatient*`` column (a patient tag newer than the
installed botocore model, which :func:`hi_widgets.frames.image_sets_frame` keeps).

The row index is never written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from hi_widgets.frames import PHI_COLUMNS, apply_schema

__all__ = ["FORMATS", "MEDIA_TYPES", "SUFFIXES", "export_frame", "read_frame", "to_bytes"]

FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
"""Formats :func:`export_frame` and :func:`to_bytes` write."""

SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
}
"""File suffix (lower case) to format, used when no format is given."""

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}
"""Media type of each format, e.g. for a browser download."""

_METADATA_KEY = b"hi_widgets"

# image_sets_frame keeps DICOM tags the model does not know yet; a new patient tag is PHI
# as much as the four in PHI_COLUMNS.
_PHI_TAG = "DICOMPatient"


def _check_format(format: str, argument: str = "format") -> str:
    if not isinstance(format, str):
        raise ValueError(
            f"{argument} must be one of {', '.join(map(repr, FORMATS))}; got {format!r}"
        )
    name = format.strip().lower().lstrip(".")
    name = SUFFIXES.get(f".{name}", name)  # "pq" -> "parquet"
    if name not in FORMATS:
        raise ValueError(
            f"{argument} must be one of {', '.join(map(repr, FORMATS))}; got {format!r}"
        )
    return name


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        return _check_format(format)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"cannot tell the format from the suffix {suffix or '(none)'!r} of path "
            f"{str(path)!r}: pass format= one of {', '.join(map(repr, FORMATS))}, or use a "
            f"suffix among {', '.join(SUFFIXES)}"
        )
    return SUFFIXES[suffix]


def _without_phi(df: pd.DataFrame, include_phi: bool) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if include_phi:
        return df
    phi = [
        column
        for column in df.columns
        if column in PHI_COLUMNS or (isinstance(column, str) and column.startswith(_PHI_TAG))
    ]
    return df.drop(columns=phi) if phi else df


def _iso_utc(series: pd.Series) -> np.ndarray:
    """Timestamps as ISO-8601 UTC text with microseconds and ``Z``; missing -> None."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy(dtype="datetime64[us]")
    text = np.char.add(np.datetime_as_string(values, unit="us"), "Z").astype(object)
    text[np.isnat(values)] = None
    return text


def _portable(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps to ISO-8601 UTC text and durations to seconds, for CSV and JSON."""
    columns: dict[Any, Any] = {}
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            columns[name] = _iso_utc(column)
        elif pd.api.types.is_timedelta64_dtype(column.dtype):
            columns[name] = column.dt.total_seconds()
        else:
            columns[name] = column
    return pd.DataFrame(columns, index=df.index, columns=df.columns)


def _write_csv(df: pd.DataFrame, fh: IO[bytes]) -> None:
    text = _portable(df).to_csv(index=False, lineterminator="\n")
    fh.write(text.encode("utf-8"))


def _write_json(df: pd.DataFrame, fh: IO[bytes]) -> None:
    if len(df) == 0:
        text = "[]"
    else:
        text = _portable(df).to_json(orient="records", force_ascii=False, double_precision=15)
    fh.write(text.encode("utf-8"))


def _write_parquet(df: pd.DataFrame, fh: IO[bytes]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    categories = {
        str(name): [str(value) for value in df[name].cat.categories]
        for name in df.columns
        if isinstance(df[name].dtype, pd.CategoricalDtype)
        and all(isinstance(value, str) for value in df[name].cat.categories)
    }
    metadata = dict(table.schema.metadata or {})
    metadata[_METADATA_KEY] = json.dumps({"categories": categories}).encode("utf-8")
    pq.write_table(table.replace_schema_metadata(metadata), fh)


_WRITERS: dict[str, Callable[[pd.DataFrame, IO[bytes]], None]] = {
    "csv": _write_csv,
    "parquet": _write_parquet,
    "json": _write_json,
}


def to_bytes(df: pd.DataFrame, format: str, include_phi: bool = False) -> bytes:
    """Serialize a frame in memory, e.g. for a download button.

    Parameters
    ----------
    df
        The frame to serialize (not modified).
    format
        One of :data:`FORMATS` (``"csv"``, ``"parquet"``, ``"json"``; case and a leading
        dot are ignored, ``"pq"`` means parquet).
    include_phi
        Keep the PHI columns (:data:`hi_widgets.frames.PHI_COLUMNS` and any other
        ``DICOMPatient*`` column); by default they are dropped.

    Returns
    -------
    bytes
        The file content, as :func:`export_frame` would write it.

    Raises
    ------
    ValueError
        If ``format`` is not one of :data:`FORMATS`.
    """
    name = _check_format(format)
    frame = _without_phi(df, include_phi)
    buffer = io.BytesIO()
    _WRITERS[name](frame, buffer)
    return buffer.getvalue()


def _fsync_folder(folder: Path) -> None:
    # Make the rename itself durable where the platform allows opening a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def export_frame(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    format: str | None = None,
    include_phi: bool = False,
) -> Path:
    """Write a frame to a file atomically, dropping PHI columns unless asked not to.

    The data goes to a temporary file in the destination folder, is flushed and fsynced,
    then renamed over ``path`` with :func:`os.replace`. If anything fails, the temporary
    file is removed and an earlier file at ``path`` is left exactly as it was. A replaced
    file keeps its permission bits; a new file is created readable by its owner only
    (``0o600``), as exports may hold patient data.

    Parameters
    ----------
    df
        The frame to write (not modified). Its index is not written.
    path
        Destination file; its folder must exist.
    format
        One of :data:`FORMATS`; ``None`` picks it from the suffix of ``path``
        (:data:`SUFFIXES`: ``.csv``, ``.parquet``, ``.pq``, ``.json``).
    include_phi
        Keep the PHI columns (:data:`hi_widgets.frames.PHI_COLUMNS` and any other
        ``DICOMPatient*`` column); by default they are dropped.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If the format is unknown or cannot be told from the suffix (nothing is written).
    TypeError
        If ``df`` is not a DataFrame (nothing is written).
    """
    target = Path(path)
    name = _resolve_format(target, format)
    frame = _without_phi(df, include_phi)
    writer = _WRITERS[name]
    folder = target.parent
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(frame, fh)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp_name, target.stat().st_mode & 0o7777)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_folder(folder)
    return target


def _restore_categories(frame: pd.DataFrame, metadata: dict[bytes, bytes] | None) -> None:
    if not metadata or _METADATA_KEY not in metadata:
        return
    stored = json.loads(metadata[_METADATA_KEY].decode("utf-8")).get("categories", {})
    for name, categories in stored.items():
        if name in frame.columns and isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.set_categories(categories)


def read_frame(path: str | os.PathLike[str], format: str | None = None) -> pd.DataFrame:
    """Read a file written by :func:`export_frame` back into a typed frame.

    Parameters
    ----------
    path
        The file.
    format
        One of :data:`FORMATS`; ``None`` picks it from the suffix.

    Returns
    -------
    pandas.DataFrame
        Parquet: the stored dtypes, with categories restored from the hi_widgets metadata.
        CSV and JSON: every cell read as text, then known hi_widgets columns converted by
        :func:`hi_widgets.frames.apply_schema` (other columns stay text). An empty JSON
        file has no columns (an empty array carries none).
    """
    source = Path(path)
    name = _resolve_format(source, format)
    if name == "parquet":
        import pyarrow.parquet as pq

        frame = pd.read_parquet(source, engine="pyarrow")
        _restore_categories(frame, pq.read_schema(source).metadata)
        return frame
    if name == "csv":
        text = pd.read_csv(source, dtype=object, keep_default_na=False, na_values=[""])
        return apply_schema(text)
    rows = json.loads(source.read_text(encoding="utf-8"))
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return apply_schema(pd.DataFrame.from_records(rows, columns=columns))
