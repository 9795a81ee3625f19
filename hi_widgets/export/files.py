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
    and a ``Z`` suffix (``2024-05-01T12:00:00.000000Z``); time differences (``timedelta``
    columns such as ``sincePrevious``) are **seconds** as a decimal number; missing values are
    an empty CSV cell or JSON ``null``. JSON is an array of records (one object per row),
    UTF-8. :func:`read_frame` reads both back with the hi_widgets dtypes for known
    columns.

PHI
---
Unless ``include_phi=True``, every export is de-identified by allow-list, by the basic
profile of DICOM PS3.15 Annex E (:mod:`hi_widgets.export.deid` says exactly what is
removed, replaced and kept), whatever frame it is given: each column is kept only if its
meaning is known and safe (HealthImaging's own fields, attributes the profile keeps),
DICOM attributes are recognised by keyword or tag in any spelling, in flattened metadata
paths and inside dict and list cells, and treated by table E.1-1 (removed; UIDs replaced
by a keyed hash, consistent within one export or across exports given one ``uid_key``;
dates removed unless ``keep_dates=True``); a metadata diff loses the rows of removed
attributes; a column of unknown meaning is left out and named in a
:class:`hi_widgets.export.deid.DeidentificationWarning`.

Files
-----
Data goes to a temporary file in the destination folder (named
``.<name>.hi-widgets-<pid>-<random>.tmp``), is fsynced, then renamed over the destination;
temporary files left by a killed export are removed by the next export to that folder.
A de-identified export gets the mode any new file gets (``0o666`` less the umask), or
keeps the mode of the file it replaces; an export that keeps PHI, or dates
(``keep_dates=True``: dates are identifiers under HIPAA's Safe Harbor method), is readable
by its owner only (``0o600``), whatever the umask or the replaced file's mode. CSV and JSON are
written in chunks of rows, so memory stays near the frame's own size.

The row index is never written.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from hi_widgets.export._formats import WRITERS as _WRITERS
from hi_widgets.export._formats import read_file
from hi_widgets.export.atomic import atomic_write, remove_stale_temp_files, temp_file
from hi_widgets.export.deid import Deidentifier

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "SUFFIXES",
    "check_destination",
    "export_frame",
    "read_frame",
    "remove_stale_temp_files",
    "to_bytes",
]

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


def _without_phi(
    df: pd.DataFrame,
    *,
    include_phi: bool,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if include_phi:
        return df
    return Deidentifier(uid_key=uid_key, keep_dates=keep_dates).frame(df)


_PHI_DOC = """include_phi
        Keep every column as it is, PHI included (the file is then owner-only). By
        default the frame is de-identified by allow-list, by DICOM PS3.15 Annex E, basic
        profile (:mod:`hi_widgets.export.deid`): columns of unknown meaning are left out
        and named in a :class:`~hi_widgets.export.deid.DeidentificationWarning`.
    keep_dates
        Keep DICOM dates and times when de-identifying (not the patient's birth date);
        the file is then owner-only, as dates identify (HIPAA Safe Harbor).
    uid_key
        HMAC key for the UID replacements; ``None``: a random key for this export. Give
        one key to several exports to keep their UIDs joinable."""


def to_bytes(
    df: pd.DataFrame,
    format: str,
    *,
    include_phi: bool = False,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
) -> bytes:
    """Serialize a frame in memory, e.g. for a download button.

    Parameters
    ----------
    df
        The frame to serialize (not modified).
    format
        One of :data:`FORMATS` (``"csv"``, ``"parquet"``, ``"json"``; case and a leading
        dot are ignored, ``"pq"`` means parquet).
    {phi}

    Returns
    -------
    bytes
        The file content, as :func:`export_frame` would write it.

    Raises
    ------
    ValueError
        If ``format`` is not one of :data:`FORMATS`.

    Examples
    --------
    >>> summaries = hw.search_image_sets(client, datastore_id)
    >>> image_sets = hw.image_sets_frame(summaries, datastore_id=datastore_id)
    >>> "DICOMPatientName" in image_sets, b"DICOMPatientName" in hw.to_bytes(image_sets, "csv")
    (True, False)
    """
    name = _check_format(format)
    frame = _without_phi(df, include_phi=include_phi, keep_dates=keep_dates, uid_key=uid_key)
    buffer = io.BytesIO()
    _WRITERS[name](frame, buffer)
    return buffer.getvalue()


to_bytes.__doc__ = (to_bytes.__doc__ or "").replace("{phi}", _PHI_DOC)


def check_destination(path: str | os.PathLike[str], format: str | None = None) -> tuple[Path, str]:
    """Check that a frame can be exported to ``path``, before any work is done.

    Returns
    -------
    tuple of (pathlib.Path, str)
        The destination with ``~`` expanded, and its format.

    Raises
    ------
    ValueError
        If the format is unknown or cannot be told from the suffix.
    OSError
        If the folder does not exist or is not writable, or ``path`` is a folder or a
        special file (``/proc``, ``/sys``, a device); the message names ``path``.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise IsADirectoryError(21, "is a folder, not a file", str(target))
    name = _resolve_format(target, format)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(2, f"its folder {folder} does not exist", str(target))
    if target.exists() and not target.is_file():
        raise OSError(22, "is not a regular file", str(target))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, f"its folder {folder} is not writable", str(target))
    # /proc and /sys pass os.access but take no new files: the probe below finds out.
    try:
        probe_fd, probe = temp_file(target)
    except OSError as error:
        reason = f"cannot create a file in {folder} ({error.strerror or error})"
        raise type(error)(error.errno, reason, str(target)) from error
    os.close(probe_fd)
    os.unlink(probe)
    return target, name


def export_frame(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    include_phi: bool = False,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
) -> Path:
    """Write a frame to a file atomically, de-identified unless asked not to be.

    The data goes to a temporary file in the destination folder, is flushed and fsynced,
    then renamed over ``path`` with :func:`os.replace`. If anything fails, the temporary
    file is removed and an earlier file at ``path`` is left exactly as it was; the error
    names ``path``. Temporary files a killed export left in the folder are removed first.
    A de-identified file follows the umask (or keeps the mode of the file it replaces);
    a file that keeps PHI or dates is owner-only (``0o600``), even over a shared file.

    Parameters
    ----------
    df
        The frame to write (not modified). Its index is not written.
    path
        Destination file (``~`` is expanded); its folder must exist.
    format
        One of :data:`FORMATS`; ``None`` picks it from the suffix of ``path``
        (:data:`SUFFIXES`: ``.csv``, ``.parquet``, ``.pq``, ``.json``).
    {phi}

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
    OSError
        If the destination cannot be written (see :func:`check_destination`); the
        message names ``path``, and nothing at ``path`` changed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> path = hw.export_frame(versions, Path(tempfile.mkdtemp()) / "versions.parquet")
    >>> path.name, len(hw.read_frame(path))
    ('versions.parquet', 73)
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    target, name = check_destination(path, format)
    frame = _without_phi(df, include_phi=include_phi, keep_dates=keep_dates, uid_key=uid_key)
    with atomic_write(target, private=include_phi or keep_dates) as fh:
        _WRITERS[name](frame, fh)
    return target


export_frame.__doc__ = (export_frame.__doc__ or "").replace("{phi}", _PHI_DOC)


def read_frame(path: str | os.PathLike[str], format: str | None = None) -> pd.DataFrame:
    """Read a file written by :func:`export_frame` back into a typed frame.

    Parameters
    ----------
    path
        The file (``~`` is expanded).
    format
        One of :data:`FORMATS`; ``None`` picks it from the suffix.

    Returns
    -------
    pandas.DataFrame
        Parquet: the stored dtypes, with categories restored from the hi_widgets metadata
        (values outside the stored categories are kept, as extra categories).
        CSV and JSON: every cell read as text, then known hi_widgets columns converted by
        :func:`hi_widgets.api.tables.apply_schema` (other columns stay text). An empty JSON
        file has no columns (an empty array carries none).

    Raises
    ------
    FileNotFoundError, PermissionError
        If the file cannot be opened.
    ValueError
        If the file is not a valid file of its format; the message names the file and
        what is wrong.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> path = hw.export_frame(versions, Path(tempfile.mkdtemp()) / "versions.csv")
    >>> again = hw.read_frame(path)
    >>> again.dtypes["imageSetState"] == versions.dtypes["imageSetState"]
    True
    """
    source = Path(path).expanduser()
    name = _resolve_format(source, format)
    if not source.is_file():
        if source.is_dir():
            raise IsADirectoryError(21, "is a folder, not a file", str(source))
        raise FileNotFoundError(2, "no such file", str(source))
    try:
        return read_file(source, name)
    except (FileNotFoundError, PermissionError):
        raise
    except RecursionError:
        raise ValueError(f"cannot read {source} as {name}: nested too deeply") from None
    except Exception as error:  # every parser's own error type, reported as one
        what = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"cannot read {source} as {name}: {what}") from error
