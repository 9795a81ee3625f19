"""Append frames to a hive-partitioned Parquet dataset, in a local folder or on S3.

A dataset is what engines beyond one machine read: DuckDB, Athena, Spark, Trino. It is a
folder (or ``s3://bucket/prefix/``) of Parquet files laid out by partition value::

    root/datastoreId=<id>/part-20261201T133000123456Z-<random>.parquet

Layout and schema
-----------------
* Each call writes new files only, one per partition it has rows for; nothing already
  there is read-modified-written, so engines reading the dataset never see a half-made
  change. A local file is written to a dot-named temporary file in its partition folder,
  fsynced and renamed; an S3 object is one ``PutObject`` (atomic: it appears whole or not
  at all). Names starting with ``.`` or ``_`` are ignored by Hive, Spark, Athena, pyarrow.
  New local files are readable by their owner only (``0o600``), as exports may hold PHI.
* Partition columns live only in the folder names (``column=value``; the characters
  Hive escapes, such as ``/`` ``:`` ``=`` ``%``, as ``%XX``; a missing value as
  ``__HIVE_DEFAULT_PARTITION__``), as Hive expects.
* Plain types that engines read as they are: ``string`` and categorical columns become
  Parquet strings (no dictionary type to declare), ``Int64`` becomes ``int64``, ``boolean``
  a nullable boolean, timestamps ``timestamp[us, tz=UTC]`` (Parquet ``TIMESTAMP(MICROS,
  isAdjustedToUTC=true)``), time differences (``timedelta`` columns) a ``double`` in
  seconds, as the CSV and JSON exports write them. No pandas metadata is stored.

Appending again
---------------
Rows are identified by ``key`` (default ``datastoreId, imageSetId, versionId``). Before
writing, the key columns of the files that could hold the same rows are read (only the
touched partitions when every partition column is part of the key; only those columns,
with ranged reads on S3) and rows already present are left out: appending a later
``refresh`` result adds its new versions, and rerunning a write that failed half-way adds
what is missing. The first stored row of a version wins: fields that change after a
version was written (``lastAccessedAt``, ``storageTier``, a state that was still
settling) keep the values of that first write. ``isLatest`` and ``sincePrevious`` are not
stored at all (:data:`NOT_STORED`): they depend on the other versions in the frame
written (``isLatest`` would be wrong for the old latest version as soon as a later write
adds a newer one; a ``refresh`` result holding only new versions has no previous version
to count ``sincePrevious`` from); engines compute them
(``versionId = max(versionId) over (partition by datastoreId, imageSetId)``,
``changedAt - lag(changedAt) over (partition by datastoreId, imageSetId order by
versionId)``).
One writer at a time per dataset: two concurrent appends of the same rows can both add
them.

PHI
---
As for :func:`hi_widgets.export.files.export_frame`: de-identified by allow-list unless
``include_phi=True``. Every local file is owner-only (``0o600``), whether it holds PHI,
dates or neither: one dataset gathers many appends, some of which may have kept them.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hi_widgets.api.tables import VERSION_KEY
from hi_widgets.export.dataset_store import LocalStore, S3Store, parse_root
from hi_widgets.export.files import _without_phi

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["HIVE_NULL", "NOT_STORED", "DatasetWrite", "export_dataset"]

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""Folder value Hive, Spark and Athena use for a missing partition value."""

_READERS = 8  # files read at once when looking for stored keys

NOT_STORED: tuple[str, ...] = ("isLatest", "sincePrevious")
"""Columns left out of datasets: derived from a whole history, they go stale on append."""


@dataclass(frozen=True)
class DatasetWrite:
    """What one :func:`export_dataset` call wrote.

    Attributes
    ----------
    root
        The dataset root as given (a folder path or ``s3://bucket/prefix/``).
    files
        Every file written: local paths or ``s3://`` URIs, one per partition.
    partitions
        The partition folders written to, relative to ``root`` (``datastoreId=<id>``;
        ``""`` for files at the root itself when there are no partition columns).
    rows_written
        Rows in the new files.
    rows_skipped
        Rows left out because the dataset already held their key.

    Examples
    --------
    >>> import tempfile
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> written = hw.export_dataset(versions, tempfile.mkdtemp() + "/versions/")
    >>> written.partitions, written.rows_written, written.rows_skipped
    (('datastoreId=...',), 73, 0)
    """

    root: str
    files: tuple[str, ...]
    partitions: tuple[str, ...]
    rows_written: int
    rows_skipped: int


# ------------------------------------------------------------------------------ schema


def _check_columns(
    frame: pd.DataFrame, partition_cols: Any, key: Any, dropped: set[str]
) -> tuple[list[str], list[str] | None]:
    if not frame.columns.is_unique or not all(isinstance(c, str) for c in frame.columns):
        raise ValueError("frame must have unique string column names to become a dataset")
    partitions = [partition_cols] if isinstance(partition_cols, str) else list(partition_cols)
    keys = None if key is None else ([key] if isinstance(key, str) else list(key))
    for argument, names in (("partition_cols", partitions), ("key", keys or [])):
        if len(set(names)) != len(names):
            raise ValueError(f"{argument} names a column twice: {names!r}")
        for name in names:
            if name in dropped:
                raise ValueError(
                    f"{argument}: {name!r} is a PHI column or one of unknown meaning, "
                    "left out by de-identification unless include_phi=True"
                )
            if name not in frame.columns:
                raise ValueError(
                    f"{argument}: unknown column {name!r}; the frame has "
                    f"{', '.join(map(str, frame.columns))}"
                )
    for name in partitions:
        dtype = frame[name].dtype
        if not (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_integer_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
        ):
            raise ValueError(
                f"partition_cols: column {name!r} has dtype {dtype}; partition by text, "
                "integer or boolean columns"
            )
    if len(partitions) == len(frame.columns):
        raise ValueError("partition_cols: at least one column must stay in the files")
    return partitions, keys


def _objects(series: pd.Series) -> np.ndarray:
    """Return the values as Python objects, every missing value None."""
    # pandas documents na_value=None (missing values become None); the stubs omit it.
    values: np.ndarray = series.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def _arrow_column(series: pd.Series) -> Any:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # plain strings: no dictionary to declare
        return pa.array([None if v is None else str(v) for v in _objects(series)], pa.string())
    if isinstance(dtype, pd.DatetimeTZDtype):
        array = pa.array(series.dt.tz_convert("UTC"))
        return array.cast(pa.timestamp("us", tz="UTC"), safe=False)
    if pd.api.types.is_datetime64_dtype(dtype):
        return pa.array(series).cast(pa.timestamp("us"), safe=False)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return pa.array(series.dt.total_seconds(), type=pa.float64())
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(_objects(series), type=pa.bool_())
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(_objects(series), type=pa.int64())
    if pd.api.types.is_float_dtype(dtype):
        # from_pandas: a missing value (NaN) becomes a Parquet null, which engines count
        return pa.array(series.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True)
    values = _objects(series)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pa.array(values, type=pa.string())
    return pa.array(values)


def _arrow_table(frame: pd.DataFrame) -> Any:
    columns = [_arrow_column(frame[name]) for name in frame.columns]
    return pa.Table.from_arrays(columns, names=list(frame.columns))


def _parquet_bytes(table: Any) -> bytes:
    buffer = io.BytesIO()
    # Snappy and version-1 data pages: what every engine, old Hive readers included, reads.
    pq.write_table(table, buffer, compression="snappy", data_page_version="1.0")
    return buffer.getvalue()


def _schema_mismatch(new: Any, old: Any) -> str | None:
    old_types = {field.name: field.type for field in old}
    new_types = {field.name: field.type for field in new}
    problems = []
    if missing := [n for n in old_types if n not in new_types]:
        problems.append(f"missing columns {missing}")
    if extra := [n for n in new_types if n not in old_types]:
        problems.append(f"new columns {extra}")
    changed = [
        f"{n} ({old_types[n]} -> {t})"
        for n, t in new_types.items()
        if n in old_types and t != old_types[n]
    ]
    if changed:
        problems.append(f"other types: {', '.join(changed)}")
    return "; ".join(problems) or None


# --------------------------------------------------------------------------- partitions


# The characters Hive and Spark escape in partition folder names (escapePathName).
_ESCAPED = frozenset("\"#%'*/:=?\\{[]^\x7f") | frozenset(map(chr, range(1, 32)))


def _partition_text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return HIVE_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in str(value))


def _partition_value(text: str, dtype: Any) -> Any:
    """Turn a partition folder's text back into the frame's value."""
    if text == HIVE_NULL:
        return None
    value = unquote(text)
    if pd.api.types.is_bool_dtype(dtype):
        return value == "true"
    if pd.api.types.is_integer_dtype(dtype):
        return int(value)
    return value


def _folder_values(relative: str) -> dict[str, str]:
    """``a=1/b=x/part.parquet`` -> {"a": "1", "b": "x"}."""
    return dict(part.split("=", 1) for part in relative.split("/")[:-1] if "=" in part)


def _key_value(value: Any) -> Any:
    """Return a plain Python value: numpy scalars unwrapped, every missing value None."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if value is None or value is pd.NA or value is pd.NaT else value


def _column_values(series: pd.Series) -> list[Any]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC")
    return [_key_value(v) for v in _objects(series)]


def _folders(frame: pd.DataFrame, partitions: list[str]) -> pd.Series:
    """Return the partition folder of every row (``a=1/b=x``; empty without partitions)."""
    if not partitions:
        return pd.Series("", index=frame.index, dtype=object)
    parts = []
    for name in partitions:
        values = _column_values(frame[name])
        text = {value: f"{name}={_partition_text(value)}" for value in set(values)}
        parts.append([text[value] for value in values])
    return pd.Series(["/".join(row) for row in zip(*parts, strict=True)], index=frame.index)


def stored_schema(
    store: Any, first: tuple[str, int], table: Any, partitions: list[str], root_text: str
) -> Any:
    """Return the schema of a dataset's ``first`` file, checked against the rows to add.

    Raises
    ------
    ValueError
        If the dataset is partitioned by other columns, or ``table`` does not match it.
    """
    existing_partitions = list(_folder_values(first[0]))
    if existing_partitions != partitions:
        raise ValueError(
            f"partition_cols: the dataset at {root_text} is partitioned by "
            f"{existing_partitions}, not {partitions}"
        )
    with store.open(*first) as fh:
        schema = pq.read_schema(fh)
    if problem := _schema_mismatch(table.schema, schema):
        raise ValueError(f"the data does not match the dataset at {root_text}: {problem}")
    return schema


def _file_keys(
    store: Any, file: tuple[str, int], partitions: list[str], keys: list[str], dtypes: Any
) -> list[tuple[Any, ...]]:
    """Read the keys stored in one file: its key columns, and its folder's values."""
    relative, size = file
    stored = [name for name in keys if name not in partitions]
    with store.open(relative, size) as fh:
        table = pq.read_table(fh, columns=stored)
    folder = _folder_values(relative)
    columns = [
        table.column(name).to_pylist()
        if name in stored
        else [_partition_value(folder.get(name, HIVE_NULL), dtypes[name])] * table.num_rows
        for name in keys
    ]
    return list(zip(*columns, strict=True))


def _existing_keys(
    store: Any, folders: list[str], partitions: list[str], keys: list[str], dtypes: Any
) -> set[tuple[Any, ...]]:
    files = [file for folder in folders for file in store.files(folder)]
    found: set[tuple[Any, ...]] = set()
    # Waiting on S3, not the CPU, bounds these reads: overlap them.
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        for rows in pool.map(lambda f: _file_keys(store, f, partitions, keys, dtypes), files):
            found.update(rows)
    return found


def _frame_keys(frame: pd.DataFrame, keys: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(_column_values(frame[name]) for name in keys), strict=True))


def _file_name() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"part-{stamp}-{uuid.uuid4().hex[:16]}.parquet"


# ------------------------------------------------------------------------------ public


def export_dataset(
    df: pd.DataFrame,
    root: str | os.PathLike[str],
    partition_cols: Sequence[str] = ("datastoreId",),
    *,
    key: Sequence[str] | None = VERSION_KEY,
    include_phi: bool = False,
    keep_dates: bool = False,
    uid_key: bytes | str | None = None,
    s3_client: S3Client | None = None,
) -> DatasetWrite:
    """Append a frame to a hive-partitioned Parquet dataset, locally or on S3.

    Every call adds new files (one per partition with new rows) and changes nothing
    already there. Rows whose ``key`` the dataset already holds are left out, so appending
    a later :func:`hi_widgets.refresh` result, or rerunning a write that failed, never
    duplicates a row. See the module documentation for the layout and the schema.

    Parameters
    ----------
    df
        The rows to add, e.g. ``fetch_versions(...).frame`` (not modified). Its index is
        not written.
    root
        A local folder (created if missing) or ``s3://bucket/prefix/``. S3 is reached
        through ``s3_client``, by default ``boto3.client("s3")``: boto3's standard
        configuration (profiles, ``AWS_ENDPOINT_URL_S3``, the config file's ``s3``
        settings, refreshing credentials) applies.
    partition_cols
        Columns whose values name the folders (text, integer or boolean columns). They are
        stored in the folder names only, as Hive-style engines expect. ``()``: no folders.
    key
        Columns identifying a row; rows whose key is already stored are not written again
        (the stored row wins). ``None``: append every row.
    include_phi
        Keep every column as it is; by default the rows are de-identified as by
        :func:`hi_widgets.export.files.export_frame` (by allow-list, DICOM PS3.15 Annex
        E): columns of unknown meaning are left out, named in a
        :class:`~hi_widgets.export.deid.DeidentificationWarning`.
    keep_dates
        Keep DICOM dates and times when de-identifying (not the patient's birth date).
        Every file of a dataset is owner-only (``0o600``) in any case.
    uid_key
        HMAC key for the UID replacements. ``None``: a random key for this call, so the
        same study gets another replacement UID in each append; give every append to one
        dataset the same key to keep its UIDs joinable (and usable in ``key``).
    s3_client
        A boto3 S3 client for an ``s3://`` root; ignored for a local folder.

    Returns
    -------
    DatasetWrite
        The files written and the rows written and skipped. An empty frame, or one whose
        rows are all stored already, writes nothing (``files == ()``) and reads nothing
        for an empty frame.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame or ``root`` is not a path or URI (before any I/O).
    ValueError
        Before any I/O: an empty ``root``, a scheme other than ``s3://``, an unknown,
        repeated or PHI column in ``partition_cols`` or ``key``. Before any write: the
        frame's columns or types differ from the files already in the dataset, or the
        dataset is partitioned by other columns.

    Examples
    --------
    >>> import tempfile
    >>> versions = hw.versions_frame(hw.iter_versions(client, datastore_id, image_set_id))
    >>> root = tempfile.mkdtemp() + "/versions/"
    >>> hw.export_dataset(versions, root).rows_written
    73
    >>> hw.export_dataset(versions, root).rows_skipped  # already stored: nothing appended
    73
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    kind, where, prefix = parse_root(root)
    # The same de-identification rule as export_frame: one place decides what is PHI.
    clean = _without_phi(df, include_phi=include_phi, keep_dates=keep_dates, uid_key=uid_key)
    phi = set(map(str, df.columns)) - set(map(str, clean.columns))
    clean = clean.drop(columns=[name for name in NOT_STORED if name in clean.columns])
    partitions, keys = _check_columns(clean, partition_cols, key, phi)
    root_text = os.fspath(root)
    if len(clean) == 0:
        return DatasetWrite(root_text, (), (), 0, 0)

    if kind == "s3":
        if s3_client is None:
            import boto3  # only for an S3 dataset given no client: boto3 loads slowly

            s3_client = boto3.client("s3")
        store: Any = S3Store(s3_client, where, prefix)
    else:
        store = LocalStore(Path(where))

    if keys:  # the last row of a key wins, as in versions_frame; files sorted by key
        clean = clean.drop_duplicates(subset=keys, keep="last")
        clean = clean.sort_values(keys, na_position="last", ignore_index=True)
    else:
        clean = clean.reset_index(drop=True)
    folder_of = _folders(clean, partitions)
    table = _arrow_table(clean[[name for name in clean.columns if name not in partitions]])
    skipped = 0
    first = next(store.files(), None)
    if first is not None:
        old_schema = stored_schema(store, first, table, partitions, root_text)
        table = table.select(old_schema.names)  # every file in the same column order
        if keys:
            # A key can only sit in its own folder when every partition column is in it.
            scope = sorted(set(folder_of)) if set(partitions) <= set(keys) else [""]
            present = _existing_keys(store, scope, partitions, keys, clean.dtypes)
            new = [k not in present for k in _frame_keys(clean, keys)]
            skipped = len(new) - sum(new)
            table, folder_of = table.filter(new), folder_of[new].reset_index(drop=True)

    files = []
    groups = folder_of.groupby(folder_of.to_numpy(), sort=True).indices
    for folder, positions in groups.items():
        data = _parquet_bytes(table.take(positions))
        relative = f"{folder}/{_file_name()}" if folder else _file_name()
        files.append(store.write(relative, data))
    folders = tuple(str(folder) for folder in groups)
    return DatasetWrite(root_text, tuple(files), folders, table.num_rows, skipped)
