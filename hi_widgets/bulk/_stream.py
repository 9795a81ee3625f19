"""The dataset sink: completed image sets written to a Parquet dataset in batches.

``fetch_datastore(..., dataset=ROOT)`` hands :func:`~hi_widgets.bulk._run.run_plan` a
:class:`DatasetSink` instead of the in-memory one. Workers add each completed image set's
records to a buffer; when it holds ``batch_rows`` rows or more (whole image sets, so
each image set's versions are in one file), the worker that filled it hands the batch to
the sink's one writer thread, which writes it through an
:class:`~hi_widgets.export.dataset.DatasetStream` and only then records the
batch's image sets in the checkpoint. What is left in the buffer is written when the call
ends, whether it finished, was cancelled, or stopped on an error.

One writer thread, not the worker that filled the batch: the fetch goes on while a batch
is written, and every batch's frame, Arrow table and Parquet bytes are allocated by the
same thread. Written by whichever worker filled them, they grew each worker's own malloc
arena to a batch's size and stayed there (glibc keeps a thread's arena): 10,000 image sets
peaked at 337 MB where 2,000 took 200 MB.

A batch that cannot be written (a full disk, an S3 error) is not lost either: a warning
names the dataset and the error, the call stops as a cancel would (no new request), and
that batch and the image sets completed while the workers stop are kept in memory and
returned in the result's frame; the rest are pending. The checkpoint does not record
them, so a rerun with it fetches them again.

The order of the two writes
---------------------------
Dataset first, checkpoint second. A process killed between them leaves image sets in the
dataset that the checkpoint does not hold: the rerun fetches them again and the dataset's
key dedupe skips their rows (:meth:`DatasetStream.append` looks for a batch's keys in the
files present when the rerun started). Every image set the checkpoint holds is in the
dataset, so the rerun can skip it without reading anything back. A dataset-mode
checkpoint line carries no records (the dataset has them): the checkpoint stays small
and a resumed call holds no records in memory.

Memory
------
The sink holds at most the buffer being filled, one batch waiting for the writer (a
worker that fills another waits) and the batch being written, so peak memory follows
``batch_rows``, not the datastore.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import ClassVar

import pandas as pd

from hi_widgets.api.items import Item
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.tables import versions_frame
from hi_widgets.bulk._checkpoint import Checkpoint
from hi_widgets.bulk._result import StreamedDataset
from hi_widgets.export.dataset import DatasetStream

log = logging.getLogger(__name__)

Record = ImageSetRecord

BATCH_ROWS = 10_000
"""Default rows per batch: about 15 MB of records in memory, a ~0.5 MB Parquet file."""


class DatasetSink:
    """Batches of completed image sets into a dataset, then into the checkpoint.

    Parameters
    ----------
    stream
        The dataset, already prepared (:meth:`DatasetStream.prepare`).
    batch_rows
        Rows (versions) per batch; a batch holds whole image sets, so it may hold more.
    frame
        Builds a batch's frame from its records.
    derive_uid_key
        Replace UIDs under a key derived from the checkpoint's (see :meth:`open`): for a
        de-identifying stream given no ``uid_key``.
    """

    # Test hooks (the kill -9 tests set them in a child process): called with the batch's
    # number (from 1) after it is in the dataset, and after the checkpoint records it.
    written_hook: ClassVar[Callable[[int], None] | None] = None
    recorded_hook: ClassVar[Callable[[int], None] | None] = None

    def __init__(
        self,
        stream: DatasetStream,
        *,
        batch_rows: int = BATCH_ROWS,
        frame: Callable[[list[Record]], pd.DataFrame] = versions_frame,
        derive_uid_key: bool = False,
    ) -> None:
        self._stream = stream
        self._derive_uid_key = derive_uid_key
        self._batch_rows = batch_rows
        self._frame = frame
        self._checkpoint: Checkpoint | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the buffer
        self._write_lock = threading.Lock()  # one batch written at a time
        self._buffer: list[tuple[Item, list[Record]]] = []
        self._rows = 0
        self._files: list[str] = []
        self._batches = self._written = self._skipped = 0
        self._failed: Exception | None = None
        self._kept: dict[Item, list[Record]] = {}  # after a failed write: in memory
        self.warnings: list[str] = []
        self._batches_ready: queue.Queue[list[tuple[Item, list[Record]]] | None] = queue.Queue(1)
        self._writer: threading.Thread | None = None

    def open(self, checkpoint: Checkpoint | None, stop: threading.Event) -> None:
        """Record each written batch's image sets in ``checkpoint`` (if any).

        ``stop`` is set if a batch cannot be written: the call stops.

        Without a ``uid_key`` of the caller's, the UID replacements use a key derived from
        the checkpoint's own, so a resumed call replaces each UID as the first run did.
        """
        self._checkpoint = checkpoint
        self._stop = stop
        if checkpoint is not None and self._derive_uid_key:
            self._stream.set_uid_key(checkpoint.derived_key("hi_widgets.uid_key"))

    def add(self, item: Item, records: list[Record]) -> None:
        """Buffer one completed image set; hand the buffer to the writer once it is a batch.

        Waits while the writer is busy and another batch already waits for it.
        """
        with self._lock:
            self._buffer.append((item, records))
            self._rows += len(records)
            if self._rows < self._batch_rows:
                return
            batch = self._take()
            self._start()
        self._batches_ready.put(batch)

    def flush(self) -> None:
        """Write what is buffered and wait for the writer (at the end of the call)."""
        with self._lock:
            batch = self._take()
            writer, self._writer = self._start(), None  # a later batch starts another
        if batch:
            self._batches_ready.put(batch)
        self._batches_ready.put(None)
        writer.join()

    def _start(self) -> threading.Thread:
        """Return the writer thread, started on first use (under ``_lock``).

        It runs until :meth:`flush`; every batch handed to it is written or kept.
        """
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_batches, name="hi-dataset-writer", daemon=True
            )
            self._writer.start()
        return self._writer

    def _write_batches(self) -> None:
        while (batch := self._batches_ready.get()) is not None:
            try:
                self._write(batch)
            except BaseException as error:  # e.g. a test hook: keep the rest, never block add
                with self._write_lock:
                    self._kept.update(batch)
                    self._failed = self._failed or RuntimeError(repr(error))
                self._stop.set()

    def records(self, items: Sequence[Item]) -> list[Record]:
        """Return the records of the image sets a failed write left in memory (in order)."""
        with self._write_lock:
            if not self._kept:
                return []
            return [record for item in items for record in self._kept.get(item, ())]

    def summary(self) -> StreamedDataset:
        """Return what this call wrote to the dataset."""
        with self._write_lock:
            return StreamedDataset(
                self._stream.root,
                tuple(self._files),
                self._batches,
                self._written,
                self._skipped,
            )

    def _fail(self, error: Exception, batch: list[tuple[Item, list[Record]]]) -> None:
        self._failed = error
        self._kept.update(batch)
        message = (
            f"cannot write batch {self._batches + 1} to the dataset {self._stream.root}: "
            f"{type(error).__name__}: {error}; the {self._batches} batch(es) before it are "
            "in it; the call stopped, and returns that batch and what was completed after it "
            "in its frame"
        )
        self._stop.set()
        log.warning("%s", message)
        self.warnings.append(message)

    @property
    def error(self) -> Exception | None:
        """The error of the write that failed (then the call stopped), or None."""
        with self._write_lock:
            return self._failed

    def _durable(self, batch: list[tuple[Item, list[Record]]]) -> list[Item]:
        """Return the batch's image sets the checkpoint records once it is written.

        All of them here; a subclass leaves out those a rerun must fetch again.
        """
        return [item for item, _ in batch]

    def _take(self) -> list[tuple[Item, list[Record]]]:
        batch, self._buffer, self._rows = self._buffer, [], 0
        return batch

    def _write(self, batch: list[tuple[Item, list[Record]]]) -> None:
        with self._write_lock:
            if self._failed is not None:
                self._kept.update(batch)
                return
            rows = [record for _, records in batch for record in records]
            if rows:  # a batch of image sets with nothing to store writes no file
                try:
                    written = self._stream.append(self._frame(rows))
                except Exception as error:  # OSError, an S3 ClientError...: keep what was fetched
                    self._fail(error, batch)
                    return
                self._batches += 1
                self._files.extend(written.files)
                self._written += written.rows_written
                self._skipped += written.rows_skipped
            if (hook := type(self).written_hook) is not None:
                hook(self._batches)
            if self._checkpoint is not None:
                self._checkpoint.record_done(self._durable(batch))
            if (hook := type(self).recorded_hook) is not None:
                hook(self._batches)
