"""The thread pool: one task per image set, outcomes kept per item, progress, abort."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import HealthImagingError
from ..walk import Cancelled
from ._engine import Engine

log = logging.getLogger(__name__)

Item = tuple[str, str]
"""(datastoreId, imageSetId)."""

ItemProgress = Callable[[int, int, Item], object]
"""``progress(done, total, item)``, called from a worker thread as each image set ends."""

Work = Callable[[Item], list[dict[str, Any]]]
"""Fetch one image set: its records (raises :class:`~hi_widgets.walk.Cancelled`)."""


@dataclass
class Outcome:
    """What became of one image set: its records, or the error that failed it."""

    records: list[dict[str, Any]] | None = None
    error: BaseException | None = None


def run(
    engine: Engine,
    items: list[Item],
    work: Work,
    max_workers: int,
    progress: ItemProgress | None,
    on_outcome: Callable[[Item, Outcome], None] | None = None,
) -> dict[Item, Outcome]:
    """Run ``work`` for every item on a thread pool; return outcomes of the items that ended.

    ``on_outcome`` is called (under the pool's lock, so one at a time) as each item ends.
    """
    outcomes: dict[Item, Outcome] = {}
    lock = threading.Lock()
    total = len(items)
    done = 0

    def task(item: Item) -> None:
        nonlocal done
        if engine.stopped():
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
        with lock:
            if on_outcome is not None:
                on_outcome(item, outcome)
            outcomes[item] = outcome
            done += 1
            count = done
        if progress is not None:
            try:
                progress(count, total, item)
            except BaseException:
                engine.abort.set()  # stop every worker now, not when the caller sees it
                raise

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="hi-fetch") as pool:
        futures = [pool.submit(task, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            engine.abort.set()  # a progress callback raised, or KeyboardInterrupt here
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes
