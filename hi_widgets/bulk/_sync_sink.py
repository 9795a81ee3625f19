"""The sync's sink: the streaming fetch's dataset sink, less the versions still settling.

A sync writes as ``fetch_datastore(..., dataset=ROOT)`` does: batches of whole image sets
go through one writer thread to a :class:`~hi_widgets.export.dataset.DatasetStream`
(the dataset is looked at once, before any request; each batch looks for its keys only
in the files there when the sync started), and only then into the checkpoint
(:class:`hi_widgets.bulk._stream.DatasetSink`). What differs:

* The key is :data:`SYNC_KEY` (a version and its state), so a rerun never duplicates a
  row and an image set found deleted adds one row, its latest version in state DELETED,
  beside the ACTIVE row stored before.
* Versions still settling (LOCKED, or a workflow status ending in ``ING``) are not
  written: their final row would then be skipped as already stored. Their image set is
  fetched again on the next sync instead (:attr:`SyncSink.unsettled`).
* The checkpoint records an image set only if the sync need not see it again: one still
  settling or found deleted is left out, so a resumed sync fetches it again (its stored
  rows are skipped) and still knows to retry it, or to report it deleted.
"""

from __future__ import annotations

import threading

from hi_widgets.api.items import Item
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.tables import VERSION_KEY
from hi_widgets.bulk._stream import DatasetSink
from hi_widgets.export.dataset import DatasetStream

SYNC_KEY: tuple[str, ...] = (*VERSION_KEY, "imageSetState")
"""Row key of a synced dataset: a version may have an ACTIVE and a DELETED row."""

_SETTLED_STATES = frozenset({"ACTIVE", "DELETED"})


def settled(record: ImageSetRecord) -> bool:
    """Return True for a version whose state and status will not change by themselves."""
    status = record.get("imageSetWorkflowStatus")
    if isinstance(status, str) and status.endswith("ING"):
        return False
    return record.get("imageSetState") in _SETTLED_STATES


class SyncSink(DatasetSink):
    """A dataset sink that writes settled versions only and notes what the sync learnt."""

    def __init__(self, stream: DatasetStream, *, batch_rows: int, derive_uid_key: bool) -> None:
        super().__init__(stream, batch_rows=batch_rows, derive_uid_key=derive_uid_key)
        self._seen_lock = threading.Lock()
        self.unsettled: set[str] = set()
        self.deleted: set[str] = set()

    def add(self, item: Item, records: list[ImageSetRecord]) -> None:
        """Take one image set's history: its settled versions go to the dataset."""
        keep = [record for record in records if settled(record)]
        with self._seen_lock:
            if len(keep) < len(records):
                self.unsettled.add(item[1])
            if any(record.get("imageSetState") == "DELETED" for record in keep):
                self.deleted.add(item[1])
        super().add(item, keep)

    def _durable(self, batch: list[tuple[Item, list[ImageSetRecord]]]) -> list[Item]:
        with self._seen_lock:
            again = self.unsettled | self.deleted
        return [item for item, _ in batch if item[1] not in again]
