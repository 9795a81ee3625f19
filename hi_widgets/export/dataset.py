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

Batch after batch
-----------------
:func:`export_dataset` is one batch of a :class:`DatasetStream`. A run that appends
thousands of batches (``fetch_datastore(..., dataset=ROOT)``, ``sync_datastore``) keeps
one stream, which looks at the dataset once (:meth:`DatasetStream.prepare`, before the
caller sends any request: its files listed, its partitioning and schema checked against a
template frame); each later batch looks for its keys only in the files that were there
then. The caller promises that no two of its batches share a key (each image set is in
one batch), so the files the stream wrote itself cannot hold a batch's rows, and the
reads do not grow with the square of the dataset. Each stored file's keys are read,
matched against the batch's and dropped: memory follows the batch, not the dataset. One
de-identification key serves every batch (the ``uid_key`` given, or one random key made
for the stream), so a UID gets the same replacement in every batch.

PHI
---
As for :func:`hi_widgets.export.files.export_frame`: de-identified by allow-list unless
``include_phi=True``. Every local file is owner-only (``0o600``), whether it holds PHI,
dates or neither: one dataset gathers many appends, some of which may have kept them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.tables import VERSION_KEY
from hi_widgets.export._dataset_parts import (
    HIVE_NULL,
    NOT_STORED,
    READERS,
    arrow_table,
    check_columns,
    file_keys,
    frame_keys,
    new_file_name,
    parquet_bytes,
    partition_folders,
    schema_mismatch,
    stored_schema,
)
from hi_widgets.export.dataset_store import LocalStore, S3Store, parse_root
from hi_widgets.export.files import _without_phi

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["HIVE_NULL", "NOT_STORED", "DatasetStream", "DatasetWrite", "export_dataset"]


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


def _folder_of_file(relative: str) -> str:
    return relative.rsplit("/", 1)[0] if "/" in relative else ""


class DatasetStream:
    """A hive-partitioned Parquet dataset appended to batch by batch (module notes).

    Parameters
    ----------
    root, partition_cols, key, include_phi, keep_dates, s3_client
        As for :func:`~hi_widgets.export.dataset.export_dataset`; ``root`` is checked
        here, without I/O.
    uid_key
        HMAC key for the UID replacements when de-identifying; ``None``: one random key
        for this stream (every batch gets the same replacements).

    Raises
    ------
    TypeError, ValueError
        For a ``root`` that is not a folder path or an ``s3://bucket/prefix/`` URI, or an
        empty ``uid_key``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        partition_cols: Sequence[str] = ("datastoreId",),
        *,
        key: Sequence[str] | None = VERSION_KEY,
        include_phi: bool = False,
        keep_dates: bool = False,
        uid_key: bytes | str | None = None,
        s3_client: S3Client | None = None,
    ) -> None:
        self.kind, self._where, self._prefix = parse_root(root)
        self.root = os.fspath(root)
        if uid_key is not None and not uid_key:
            raise ValueError("uid_key must be non-empty bytes or str, or None for a random key")
        self._partition_cols = partition_cols
        self._key = key
        self._include_phi = include_phi
        self._keep_dates = keep_dates
        self._uid_key = secrets.token_bytes(32) if uid_key is None else uid_key
        self._s3_client = s3_client
        self._store: Any = None
        self._before: list[tuple[str, int]] | None = None  # the files there at prepare()
        self._schema: Any = None  # the dataset's Parquet schema, once known
        self._appended = False

    def set_uid_key(self, uid_key: bytes | str) -> None:
        """Use ``uid_key`` for the UID replacements (before the first append)."""
        if self._appended:
            raise RuntimeError("the stream has written already: its uid_key cannot change")
        if not uid_key:
            raise ValueError("uid_key must be non-empty bytes or str")
        self._uid_key = uid_key

    def _clean(self, df: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str] | None]:
        clean = _without_phi(
            df, include_phi=self._include_phi, keep_dates=self._keep_dates, uid_key=self._uid_key
        )
        phi = set(map(str, df.columns)) - set(map(str, clean.columns))
        clean = clean.drop(columns=[name for name in NOT_STORED if name in clean.columns])
        partitions, keys = check_columns(clean, self._partition_cols, self._key, phi)
        return clean, partitions, keys

    def _open(self) -> Any:
        if self._store is None:
            if self.kind == "s3":
                if self._s3_client is None:
                    import boto3  # only for an S3 dataset given no client: boto3 loads slowly

                    self._s3_client = boto3.client("s3")
                self._store = S3Store(self._s3_client, self._where, self._prefix)
            else:
                self._store = LocalStore(Path(self._where))
        return self._store

    def prepare(self, template: pd.DataFrame) -> None:
        """Look at the dataset once: list its files, check it can take ``template``'s rows.

        ``template`` (typically with no rows) has the columns and dtypes of every frame
        that will be appended. Reads the dataset's listing and the schema of one file;
        writes nothing.

        Raises
        ------
        ValueError
            If ``root`` is an existing file, the dataset is partitioned by other columns,
            or its files' columns or types differ from the template's.
        """
        if self.kind == "local" and os.path.exists(self._where) and not os.path.isdir(self._where):
            raise ValueError(f"dataset {self.root} is a file, not a folder")
        clean, partitions, _ = self._clean(template)
        table = arrow_table(clean[[name for name in clean.columns if name not in partitions]])
        store = self._open()
        self._before = list(store.files())
        if not self._before:
            return
        self._schema = stored_schema(store, self._before[0], table, partitions, str(self.root))

    def _present(
        self, clean: pd.DataFrame, folders: set[str], partitions: list[str], keys: list[str]
    ) -> set[tuple[Any, ...]]:
        """Return the batch's keys found in the files that were there before the stream."""
        assert self._before is not None
        in_key = set(partitions) <= set(keys)  # then a key can only be in its own folder
        files = [f for f in self._before if not in_key or _folder_of_file(f[0]) in folders]
        if not files:
            return set()
        wanted = set(frame_keys(clean, keys))
        found: set[tuple[Any, ...]] = set()
        store = self._store
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            for rows in pool.map(
                lambda f: file_keys(store, f, partitions, keys, clean.dtypes), files
            ):
                found.update(row for row in rows if row in wanted)
        return found

    def append(self, df: pd.DataFrame) -> DatasetWrite:
        """Append one batch: rows whose key the dataset held before the stream are skipped.

        Returns
        -------
        DatasetWrite
            The files written and the rows written and skipped, as for ``export_dataset``.

        Raises
        ------
        ValueError
            If the batch's columns or types differ from the dataset's.
        OSError
            If a file cannot be written (nothing of that file is left behind).
        """
        clean, partitions, keys = self._clean(df)
        if len(clean) == 0:  # nothing to write: nothing read either
            return DatasetWrite(self.root, (), (), 0, 0)
        if self._before is None:
            self.prepare(df.iloc[:0])
        self._appended = True
        if keys:  # the last row of a key wins, as in versions_frame; files sorted by key
            clean = clean.drop_duplicates(subset=keys, keep="last")
            clean = clean.sort_values(keys, na_position="last", ignore_index=True)
        else:
            clean = clean.reset_index(drop=True)
        folder_of = partition_folders(clean, partitions)
        table = arrow_table(clean[[name for name in clean.columns if name not in partitions]])
        if self._schema is not None:
            if problem := schema_mismatch(table.schema, self._schema):
                raise ValueError(f"df does not match the dataset at {self.root}: {problem}")
            table = table.select(self._schema.names)  # every file in the same column order
        else:
            self._schema = table.schema
        skipped = 0
        if keys:
            present = self._present(clean, set(folder_of), partitions, keys)
            if present:
                new = [k not in present for k in frame_keys(clean, keys)]
                skipped = len(new) - sum(new)
                table, folder_of = table.filter(new), folder_of[new].reset_index(drop=True)
        files = []
        groups = folder_of.groupby(folder_of.to_numpy(), sort=True).indices
        for folder, positions in groups.items():
            data = parquet_bytes(table.take(positions))
            relative = f"{folder}/{new_file_name()}" if folder else new_file_name()
            files.append(self._store.write(relative, data))
        folders = tuple(str(folder) for folder in groups)
        return DatasetWrite(self.root, tuple(files), folders, table.num_rows, skipped)


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
    stream = DatasetStream(
        root,
        partition_cols,
        key=key,
        include_phi=include_phi,
        keep_dates=keep_dates,
        uid_key=uid_key,
        s3_client=s3_client,
    )
    return stream.append(df)  # one batch: the stream's rules are export_dataset's
