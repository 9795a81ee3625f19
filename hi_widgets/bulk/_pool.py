"""The thread pools: one task per image set, outcomes kept per item, progress, abort."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.items import Item
from hi_widgets.api.progress import ProgressCallback, report
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.walk import Cancelled
from hi_widgets.bulk.engine import Engine

log = logging.getLogger(__name__)

Work = Callable[[Item], list[ImageSetRecord]]
"""Fetch one image set: its records (raises :class:`~hi_widgets.api.walk.Cancelled`)."""


MAIN = "main"
"""The lane of a call whose image sets all go through one operation's quota."""

MAX_QUEUED = 1024
"""Tasks submitted and not yet finished, at most: :meth:`Pool.submit` waits beyond it, so a
datastore's search cannot run ahead of the fetches and queue every image set in memory."""


@dataclass(frozen=True)
class Task:
    """One image set of a call: the work that fetches it, and the lane it runs on."""

    item: Item
    work: Work
    lane: str = MAIN


@dataclass
class Outcome:
    """What became of one image set: its records, or the error that failed it."""

    records: list[ImageSetRecord] | None = None
    error: BaseException | None = None


_DONE = Outcome()  # kept for every image set whose records went to the sink (memory)


class Pool:
    """Thread pools ("lanes") that run one task per image set and keep every outcome.

    Each lane has its own ``max_workers`` threads, so work waiting on one operation's
    token bucket never holds up the work of another lane. Use as a context manager:
    leaving it waits for every task; an exception (a raising ``progress``, Ctrl-C)
    aborts the engine and cancels the tasks not started. ``on_outcome(item, outcome)``
    runs in the worker as each item ends, before it counts as done (a checkpoint writes
    the item there). At most ``max_queued`` tasks wait or run at once: :meth:`submit`
    blocks until one ends.
    """

    def __init__(
        self,
        engine: Engine,
        max_workers: int,
        progress: ProgressCallback | None,
        *,
        lanes: Iterable[str] = (MAIN,),
        total: int | None = None,
        on_outcome: Callable[[Item, Outcome], None] | None = None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.engine = engine
        self.outcomes: dict[Item, Outcome] = {}
        self._progress = progress
        self._on_outcome = on_outcome
        self._lock = threading.Lock()
        self._done = 0
        self._total = total or 0
        self._counting = total is None  # else: every item is known before the first ends
        self._futures: set[Future[None]] = set()  # not yet ended well (memory: not all)
        self._slots = threading.Semaphore(max_queued)
        self._executors = {
            lane: ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"hi-{lane}")
            for lane in lanes
        }

    def submit(self, item: Item, work: Work, lane: str = MAIN) -> None:
        """Run ``work(item)`` on a thread of ``lane``."""
        if self._counting:
            with self._lock:
                self._total += 1
        self._slots.acquire()  # every task releases its slot as it ends, even if stopped
        try:
            future = self._executors[lane].submit(self._task, item, work)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._ended)

    def _ended(self, future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is None:
            with self._lock:
                self._futures.discard(future)

    def _task(self, item: Item, work: Work) -> None:
        try:
            self._run(item, work)
        finally:
            self._slots.release()

    def _run(self, item: Item, work: Work) -> None:
        if self.engine.stopped():
            return
        outcome = Outcome()
        try:
            outcome.records = work(item)
        except Cancelled:
            return
        except HealthImagingError as error:
            outcome.error = error
        except Exception as error:  # one item's failure must not lose the others
            log.exception("unexpected error fetching %s", item[1])
            outcome.error = error
        if self._on_outcome is not None:
            self._on_outcome(item, outcome)
        if outcome.error is None and outcome.records is None:
            outcome = _DONE  # the sink has the records: one shared outcome for all of them
        with self._lock:
            self.outcomes[item] = outcome
            self._done += 1
            done, total = self._done, self._total
        if self._progress is not None:
            try:
                # total: the image sets known so far (grows while search pages arrive)
                report(self._progress, done, total, "image sets", item)
            except BaseException:
                self.engine.abort.set()  # stop every worker now, not when the caller sees it
                raise

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                with self._lock:
                    left = list(self._futures)
                for future in left:
                    future.result()
        except BaseException:
            self._stop()
            raise
        if kind is not None:  # e.g. KeyboardInterrupt while submitting
            self._stop()
        for executor in self._executors.values():
            executor.shutdown(wait=True)

    def _stop(self) -> None:
        self.engine.abort.set()  # a progress callback raised, or KeyboardInterrupt here
        for executor in self._executors.values():
            executor.shutdown(wait=True, cancel_futures=True)
