"""The one bulk entry skeleton (``bulk._run``): plans, and sinks for completed image sets."""

from __future__ import annotations

import threading
from collections import Counter

from hi_widgets import fetch_versions
from hi_widgets.api.records import RECORD_FIELDS
from hi_widgets.bulk._fetch import _plan
from hi_widgets.bulk._run import run_plan


class StreamingSink:
    """Keeps no records, only what it was given: a stand-in for a dataset writer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.added: Counter = Counter()
        self.versions = 0

    def add(self, item, records):
        with self._lock:
            self.added[item] += 1
            self.versions += len(records)

    def records(self, items):
        return []


def test_a_sink_gets_each_completed_image_set_once_checkpointed_ones_included(sb, tmp_path):
    ds = sb.store.datastore_ids()[0]
    items = [(ds, i) for i in sb.store.image_set_ids(ds)[:8]]
    versions = sum(len(sb.store.versions(ds, i)) for _, i in items)
    path = tmp_path / "run.checkpoint"
    cancel = threading.Event()

    def progress(step):
        if step.done == 3:
            cancel.set()

    first = fetch_versions(
        sb.client(), items, checkpoint=path, progress=progress, cancel=cancel, max_workers=1
    )
    assert first.stats.completed == 3 and first.stats.cancelled

    sink = StreamingSink()
    sent = len(sb.requests)
    options = dict(max_workers=2, quota_rates=None, progress=None, cancel=None, checkpoint=path)
    result = run_plan(sb.client(), _plan(items, "auto", {}), sink=sink, **options)
    assert result.ok and result.stats.completed == len(items)
    assert sink.added == Counter(items)  # each once: three read back, five fetched
    fetched = {r.params["imageSetId"] for r in sb.requests[sent:]}
    assert len(fetched) == len(items) - 3
    assert sink.versions == result.stats.versions == versions
    # The frame is what the sink kept (nothing), with the full schema.
    assert result.frame.empty and tuple(result.frame.columns[: len(RECORD_FIELDS)]) == (
        RECORD_FIELDS
    )
