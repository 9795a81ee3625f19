"""Append to one Parquet dataset batch after batch: the writer of a streaming fetch.

:func:`~hi_widgets.export.dataset.export_dataset` looks, on every call, for the frame's
keys in every stored file that could hold them, and gathers all the keys it finds. A run
that appends thousands of batches (``fetch_datastore(..., dataset=ROOT)``) would then
read the files it wrote itself again for each batch (the reads grow with the square of
the dataset) and hold the keys of the whole dataset in memory. :class:`DatasetStream`
appends the same files with the same layout, schema, de-identification and key
dedupe, with three differences:

* The dataset is looked at once, by :meth:`DatasetStream.prepare` (before the caller
  sends any request): its files are listed, its partitioning and schema checked against
  a template frame. Later appends look for their keys only in the files that were there
  then: the caller promises that no two of its batches share a key (each image set is in
  one batch), so the files the stream wrote itself cannot hold a batch's rows.
* Each stored file's keys are read, matched against the batch's and dropped: memory
  follows the batch, not the dataset.
* One de-identification key for every batch (the ``uid_key`` given, or one random key
  made for the stream), so a UID gets the same replacement in every batch.

One writer at a time per dataset, as for ``export_dataset``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hi_widgets.api.tables import VERSION_KEY
from hi_widgets.export.dataset import (
    _READERS,
    NOT_STORED,
    DatasetWrite,
    _arrow_table,
    _check_columns,
    _file_keys,
    _file_name,
    _folders,
    _frame_keys,
    _parquet_bytes,
    _schema_mismatch,
    stored_schema,
)
from hi_widgets.export.dataset_store import LocalStore, S3Store, parse_root
from hi_widgets.export.files import _without_phi

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DatasetStream"]


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
        partitions, keys = _check_columns(clean, self._partition_cols, self._key, phi)
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
        table = _arrow_table(clean[[name for name in clean.columns if name not in partitions]])
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
        wanted = set(_frame_keys(clean, keys))
        found: set[tuple[Any, ...]] = set()
        store = self._store
        with ThreadPoolExecutor(max_workers=_READERS) as pool:
            for rows in pool.map(
                lambda f: _file_keys(store, f, partitions, keys, clean.dtypes), files
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
        if self._before is None:
            self.prepare(df.iloc[:0])
        self._appended = True
        clean, partitions, keys = self._clean(df)
        if len(clean) == 0:
            return DatasetWrite(self.root, (), (), 0, 0)
        if keys:  # the last row of a key wins, as in versions_frame; files sorted by key
            clean = clean.drop_duplicates(subset=keys, keep="last")
            clean = clean.sort_values(keys, na_position="last", ignore_index=True)
        else:
            clean = clean.reset_index(drop=True)
        folder_of = _folders(clean, partitions)
        table = _arrow_table(clean[[name for name in clean.columns if name not in partitions]])
        if self._schema is not None:
            if problem := _schema_mismatch(table.schema, self._schema):
                raise ValueError(f"df does not match the dataset at {self.root}: {problem}")
            table = table.select(self._schema.names)  # every file in the same column order
        else:
            self._schema = table.schema
        skipped = 0
        if keys:
            present = self._present(clean, set(folder_of), partitions, keys)
            if present:
                new = [k not in present for k in _frame_keys(clean, keys)]
                skipped = len(new) - sum(new)
                table, folder_of = table.filter(new), folder_of[new].reset_index(drop=True)
        files = []
        groups = folder_of.groupby(folder_of.to_numpy(), sort=True).indices
        for folder, positions in groups.items():
            data = _parquet_bytes(table.take(positions))
            relative = f"{folder}/{_file_name()}" if folder else _file_name()
            files.append(self._store.write(relative, data))
        folders = tuple(str(folder) for folder in groups)
        return DatasetWrite(self.root, tuple(files), folders, table.num_rows, skipped)
