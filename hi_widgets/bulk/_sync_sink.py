"""The sync's sink: completed image sets go to the Parquet dataset in batches.

Rows are written by :func:`hi_widgets.export.dataset.export_dataset` with the key
:data:`SYNC_KEY` (a version and its state), so a rerun never duplicates a row and an
image set found deleted adds one row, its latest version in state DELETED, beside the
ACTIVE row stored before. Versions still settling (LOCKED, or a workflow status ending
in ``ING``) are not written: their final row would then be skipped as already stored.
Their image set is fetched again on the next sync instead (:attr:`DatasetSink.unsettled`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from hi_widgets.api.items import Item
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.tables import VERSION_KEY, versions_frame
from hi_widgets.export.dataset import export_dataset

SYNC_KEY: tuple[str, ...] = (*VERSION_KEY, "imageSetState")
"""Row key of a synced dataset: a version may have an ACTIVE and a DELETED row."""

BATCH_ROWS = 5000
"""Rows gathered before a batch is written (a sync's memory is bounded by it)."""

_SETTLED_STATES = frozenset({"ACTIVE", "DELETED"})


def settled(record: ImageSetRecord) -> bool:
    """Return True for a version whose state and status will not change by themselves."""
    status = record.get("imageSetWorkflowStatus")
    if isinstance(status, str) and status.endswith("ING"):
        return False
    return record.get("imageSetState") in _SETTLED_STATES


class DatasetSink:
    """A :class:`~hi_widgets.bulk._run.Sink` that appends settled versions to a dataset.

    Thread-safe: workers add image sets, and the one that fills a batch writes it while
    holding the lock (one writer per dataset, as ``export_dataset`` needs).
    """

    def __init__(
        self,
        root: Path,
        *,
        include_phi: bool,
        keep_dates: bool,
        uid_key: bytes | str | None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._root = root
        self._include_phi, self._keep_dates, self._uid_key = include_phi, keep_dates, uid_key
        self._batch_rows = batch_rows
        self._lock = threading.Lock()
        self._pending: list[ImageSetRecord] = []
        self.unsettled: set[str] = set()
        self.deleted: set[str] = set()
        self.image_sets = 0
        self.rows_written = 0
        self.rows_skipped = 0
        self.files: list[str] = []

    def add(self, item: Item, records: list[ImageSetRecord]) -> None:
        """Take one image set's history; write a batch when enough rows are gathered."""
        keep = [record for record in records if settled(record)]
        with self._lock:
            self.image_sets += 1
            if len(keep) < len(records):
                self.unsettled.add(item[1])
            if any(record.get("imageSetState") == "DELETED" for record in keep):
                self.deleted.add(item[1])
            self._pending.extend(keep)
            if len(self._pending) >= self._batch_rows:
                self._write()

    def records(self, items: Sequence[Item]) -> list[ImageSetRecord]:
        """Return nothing: the records went to the dataset."""
        return []

    def flush(self) -> None:
        """Write what is gathered (call once the fetch is over)."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        if not self._pending:
            return
        frame = versions_frame(self._pending)
        written = export_dataset(
            frame,
            self._root,
            key=SYNC_KEY,
            include_phi=self._include_phi,
            keep_dates=self._keep_dates,
            uid_key=self._uid_key,
        )
        self._pending = []
        self.rows_written += written.rows_written
        self.rows_skipped += written.rows_skipped
        self.files.extend(written.files)
