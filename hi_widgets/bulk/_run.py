"""The one bulk entry skeleton: options, limiter, engine, checkpoint, pool, sink, result.

Every bulk entry point (:func:`fetch_versions`, :func:`fetch_datastore`, :func:`refresh`)
checks its own arguments, describes its work as a :class:`Plan` and hands it to
:func:`run_plan`, which owns everything the calls have in common:

1. the options (:func:`~hi_widgets.bulk.engine.check_options`) and the rate limiter,
   before any request;
2. the engine over the client's single-attempt twin, or over child processes
   (``processes=``, :class:`~hi_widgets.bulk.RequestProcesses`);
3. the checkpoint: opened (or created) for the plan's ``call`` and ``inputs``; image sets
   it already holds are read back instead of fetched, the others are recorded as they
   complete;
4. the pool: one task per image set, on the plan's lanes, with progress and cancellation;
5. the sink: every completed image set goes to it (:class:`MemorySink` by default);
6. the result: the plan's frame from the sink's records, errors, pending, counters and
   warnings (:func:`~hi_widgets.bulk._result.assemble`).

A plan's tasks name every image set of the call in result order, the checkpointed ones
included: what a task plans (its lane, say) must not depend on what was fetched before,
so a resumed call is planned exactly as the uninterrupted one was (see ``_routing``).

Sinks
-----
A sink receives each completed image set once: ``sink.add(item, records)``, from the
worker thread that fetched it (after the checkpoint holds it), or from the calling thread
for one read back from the checkpoint (when its task comes up). It must be thread-safe.
The skeleton keeps no records itself once the sink has them (outcomes keep only errors),
so a sink that streams records elsewhere (a dataset, a sync target) and keeps none bounds
the call's memory; its :meth:`Sink.records` then returns what it kept (nothing), and the
plan's ``frame`` is built from that. If ``add`` raises, the call stops and the exception
propagates, as a raising progress callback's does.

A :class:`BatchSink` (the dataset sink of ``fetch_datastore(..., dataset=ROOT)``) makes
image sets durable itself, in batches: the checkpoint then records an image set only once
the sink has written it (``open`` hands the sink the checkpoint; the sink calls
:meth:`Checkpoint.record_done` after each batch), image sets read back from the
checkpoint are not delivered again (the sink's destination has them), and ``flush`` runs
when the pool has stopped, however the call ends, before the checkpoint closes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from hi_widgets.api.errors import HealthImagingError
from hi_widgets.api.items import Item
from hi_widgets.api.progress import ProgressCallback
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.single_attempt import single_attempt_client
from hi_widgets.api.tables import versions_frame
from hi_widgets.api.walk import Cancelled, Strategy
from hi_widgets.bulk._checkpoint import Checkpoint
from hi_widgets.bulk._pool import MAIN, Outcome, Pool, Task
from hi_widgets.bulk._result import FetchResult, StreamedDataset, assemble
from hi_widgets.bulk.engine import Engine, check_options, make_limiter
from hi_widgets.bulk.processes import Processes, check_processes, open_sender
from hi_widgets.limits.ratelimit import RateLimiter

log = logging.getLogger(__name__)

Record = ImageSetRecord


class Sink(Protocol):
    """Where completed image sets go (see the module notes)."""

    def add(self, item: Item, records: list[Record]) -> None:
        """Take the records of one completed image set (thread-safe)."""

    def records(self, items: Sequence[Item]) -> list[Record]:
        """Return the records kept for ``items``, in that order (none if it keeps none)."""


@runtime_checkable
class BatchSink(Sink, Protocol):
    """A sink that writes in batches and records them in the checkpoint (module notes)."""

    def open(self, checkpoint: Checkpoint | None, stop: threading.Event) -> None:
        """Take the call's checkpoint (None: none) and an event that stops the call."""

    def flush(self) -> None:
        """Write what is buffered; called once the pool has stopped."""

    def summary(self) -> StreamedDataset:
        """Return what the call wrote (:attr:`FetchResult.dataset`)."""

    @property
    def warnings(self) -> list[str]:
        """Sentences about writes that failed (:attr:`FetchResult.warnings`)."""


class MemorySink:
    """The default sink: keeps every completed image set's records in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[Item, list[Record]] = {}

    def add(self, item: Item, records: list[Record]) -> None:
        with self._lock:
            self._kept[item] = records

    def records(self, items: Sequence[Item]) -> list[Record]:
        with self._lock:
            return [record for item in items for record in self._kept.get(item, ())]


@dataclass
class Plan:
    """What one bulk call fetches; :func:`run_plan` does the rest.

    Attributes
    ----------
    call
        The entry point's name; a checkpoint written by another call is refused.
    inputs
        What identifies the call's work (JSON-able); a checkpoint written for other
        inputs is refused.
    tasks
        ``tasks(engine)``: every image set of the call in result order, each with its work
        and lane. It may send requests through ``engine`` (a search), and may be lazy (a
        generator): then the progress total grows as tasks come, and a
        HealthImagingError after the first task ends the enumeration early (an error row
        without an image set) instead of the call. A Sequence gives progress its total
        up front.
    strategy
        The walk strategy of the engine (checked with ``max_workers``).
    lanes
        The pool's lanes, one per quota the tasks use.
    items
        The image sets :attr:`FetchStats.items` counts, when the call is about more than
        it fetches (refresh); default: those the tasks name.
    frame
        Builds the result's frame from the records the sink kept (in task order).
    """

    call: str
    inputs: Any
    tasks: Callable[[Engine], Iterable[Task]]
    strategy: Strategy = "auto"
    lanes: tuple[str, ...] = (MAIN,)
    items: Sequence[Item] | None = None
    frame: Callable[[list[Record]], pd.DataFrame] = field(default=versions_frame)


class _Completion:
    """The pool's ``on_outcome``: checkpoint, then sink, for each image set that ends."""

    def __init__(self, saved: Checkpoint | None, sink: Sink) -> None:
        # A batch sink records in the checkpoint itself, after its batch is written.
        self._saved = None if isinstance(sink, BatchSink) else saved
        self._sink = sink
        self._lock = threading.Lock()
        self.versions = 0  # of the image sets delivered (each is delivered once)

    def __call__(self, item: Item, outcome: Outcome) -> None:
        if self._saved is not None:
            self._saved.record(item, outcome)
        if outcome.error is None and outcome.records is not None:
            self.deliver(item, outcome.records)
            outcome.records = None  # the sink has them; keep only the error column here

    def deliver(self, item: Item, records: list[Record]) -> None:
        self._sink.add(item, records)
        with self._lock:
            self.versions += len(records)


def run_plan(
    client: Any,
    plan: Plan,
    *,
    max_workers: int,
    quota_rates: Mapping[str, tuple[float, float]] | RateLimiter | None,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    checkpoint: str | os.PathLike[str] | None,
    sink: Sink | None = None,
    processes: Processes = None,
) -> FetchResult:
    """Run ``plan`` at the quotas and return its :class:`FetchResult` (module notes).

    ``max_workers``, ``quota_rates``, ``progress``, ``cancel``, ``checkpoint`` and
    ``processes`` are the bulk entry points' arguments of the same names. Raises ValueError
    for bad options or a checkpoint of another call, and OSError (naming the file) for a
    checkpoint that cannot be created, all before any request.
    """
    started = time.monotonic()
    check_options(plan.strategy, max_workers)
    check_processes(processes)
    limiter = make_limiter(quota_rates)
    sink = MemorySink() if sink is None else sink
    named: dict[Item, None] = {}
    restored: dict[Item, Outcome] = {}
    read_back = Outcome()  # one for every image set read back from the checkpoint
    enumeration_error: HealthImagingError | None = None
    with contextlib.ExitStack() as stack:
        # Requests in flight at most: every lane's workers and the enumeration (search).
        # The sender first: a client it refuses leaves no checkpoint file behind.
        connections = max_workers * len(plan.lanes) + 1
        direct = open_sender(stack, processes, client, connections)
        sender = client if direct is not None else single_attempt_client(client, connections)
        engine = Engine(sender, limiter, plan.strategy, cancel, direct)
        saved = None
        if checkpoint is not None:
            saved = stack.enter_context(Checkpoint(checkpoint, plan.call, plan.inputs))
        done = {} if saved is None else saved.done
        completion = _Completion(saved, sink)
        batched = isinstance(sink, BatchSink)
        if isinstance(sink, BatchSink):
            sink.open(saved, engine.abort)
            stack.callback(sink.flush)  # after the pool stops, before the checkpoint closes
        tasks = plan.tasks(engine)
        total = None
        if isinstance(tasks, Sequence):
            total = len({task.item for task in tasks if task.item not in done})
        pool = stack.enter_context(
            Pool(
                engine,
                max_workers,
                progress,
                lanes=plan.lanes,
                total=total,
                on_outcome=completion,
            )
        )
        try:
            for task in tasks:
                if task.item in named:  # e.g. a search page boundary shifted
                    continue
                named[task.item] = None
                if task.item in done:
                    if not batched:  # a batch sink's destination holds it already
                        completion.deliver(task.item, done[task.item])
                    restored[task.item] = read_back
                else:
                    pool.submit(task.item, task.work, task.lane)
        except Cancelled:
            pass
        except HealthImagingError as error:
            if not named:
                raise
            log.warning("listing the image sets stopped after %d: %s", len(named), error)
            enumeration_error = error
    walked = list(named)
    outcomes = {**pool.outcomes, **restored}
    frame = plan.frame(sink.records(walked))
    return assemble(
        engine,
        walked if plan.items is None else list(plan.items),
        outcomes,
        frame,
        completion.versions,
        started,
        walked,
        search_error=enumeration_error,
        warnings=(
            *(() if saved is None else saved.warnings),
            *(sink.warnings if isinstance(sink, BatchSink) else ()),
        ),
        dataset=sink.summary() if isinstance(sink, BatchSink) else None,
    )
