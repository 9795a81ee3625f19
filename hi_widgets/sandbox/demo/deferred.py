"""The demo's first datastore, deferred: each history is written the first time it is read.

Writing every version through the backend's operations (:mod:`~hi_widgets.sandbox.demo.data`)
costs about 2 ms and 58 KB per image set: a 100,000 image set sandbox would take minutes
and gigabytes to start. So ``demo-radiology`` starts with deferred image sets
(:meth:`~hi_widgets.sandbox.backend.domain.ImageSet.deferred`): a light pass
(:class:`_LightPass`) follows the builder's story with the same random generators, drawing
exactly what the builder draws, and keeps of each image set only what SearchImageSets,
the lookups by series and study, and counts read: its latest version (a
:class:`~hi_widgets.sandbox.backend.domain.Version` whose document holds only the searched
attributes) and its creation time. The first read of an image set's versions (GetImageSet,
ListImageSetVersions, GetImageSetMetadata, GetImageFrame, any write) asks the builder to
write the history of its group, exactly as the eager build did, in a scratch backend, and
hands the versions over (:class:`DeferredHistories`).

A group is the image sets whose histories touch each other (``data``'s layout): image set
``i`` with ``i % 5 == 0``; ``i % 5 == 1`` with its late duplicate ``i + 1``; ``i % 5 == 3``
with ``i + 1``, the second series of its study, whose study-wide updates write versions of
``i`` and whose import follows ``i``'s last version.

What the light pass follows of a document is what the story changes: the StudyDescription,
the StudyID, and whether the late duplicate's instances were copied in. The golden test
(``tests/test_sandbox_demo_golden.py``) and ``tests/test_sandbox_deferred.py`` (every head
equals the latest version the builder writes) hold the two to the same answers.
"""

from __future__ import annotations

import bisect
import functools
import gc
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from hi_widgets.sandbox.backend.domain import Datastore, ImageSet, Version, make_id
from hi_widgets.sandbox.backend.state import BackendState
from hi_widgets.sandbox.demo import dicom_sources as demo_dicom
from hi_widgets.sandbox.demo.documents import skip_instances, study_levels
from hi_widgets.sandbox.demo.story import (
    ACTION_ODDS,
    DEMO_EPOCH,
    FAILURE_MESSAGES,
    FIXED_ACTIONS,
    FIXED_LENGTHS,
    OPERATION_SECONDS,
    SETTLE_SECONDS,
    history_length,
)

DS_INDEX = 0
"""The deferred datastore's index in the demo (``demo-radiology``)."""

GroupBuilder = Callable[[tuple[int, ...]], dict[int, list[Version]]]
"""Writes the histories of a group of image sets (by index) and returns their versions."""

_TICK = timedelta(microseconds=1)


def _ticks(delta: timedelta) -> int:
    """Return a duration in ticks: microseconds (the light pass's clock counts them)."""
    return delta // _TICK


def _time(ticks: int) -> datetime:
    """Return the time ``ticks`` microseconds after DEMO_EPOCH (whole milliseconds)."""
    return DEMO_EPOCH + timedelta(microseconds=ticks)


def delay_ticks(delay: float) -> int:
    """Return ``_ticks(timedelta(seconds=delay))`` of a delay in whole milliseconds, faster.

    The demo's delays are rounded to 3 decimals: the float nearest ``k / 1000`` is within
    1e-10 of it, so both give ``1000 k`` microseconds.
    """
    return round(delay * 1000) * 1000


_SETTLE_TICKS = _ticks(timedelta(seconds=SETTLE_SECONDS))
_ACTION_LIMITS = [limit for limit, _ in ACTION_ODDS]
_ACTION_NAMES = [name for _, name in ACTION_ODDS]

# Stand-ins for a series' instances in a head's document: only their number is read.
_COUNTED = [MappingProxyType(dict.fromkeys(range(n))) for n in range(8)]


class _Doc(NamedTuple):
    """What the demo's operations change in a document."""

    description: str
    study_id: str
    late: bool = False  # holds the late duplicate's instances (copied in)


@dataclass(slots=True)
class _Record:
    """One image set in the light pass: every version's _Doc and the latest's properties."""

    index: int
    levels: dict[str, Any]
    own_instances: int
    is_primary: bool
    created_at: int  # ticks (see _time)
    docs: list[_Doc]
    updated_at: int
    status: str = "IMPORTED"
    written_at: int | None = None
    message: str | None = None
    forced: bool | None = None
    late_instances: int = 0

    def head(self) -> Version:
        """Return the latest version, with a document of the searched attributes only."""
        doc = self.docs[-1]
        patient = self.levels["Patient"]["DICOM"]
        study = self.levels["Study"]["DICOM"]
        ((series_uid, series),) = self.levels["Study"]["Series"].items()
        count = self.own_instances + (self.late_instances if doc.late else 0)
        document = {
            "Patient": {"DICOM": patient},
            "Study": {
                "DICOM": {**study, "StudyID": doc.study_id, "StudyDescription": doc.description},
                "Series": {series_uid: {"DICOM": series["DICOM"], "Instances": _COUNTED[count]}},
            },
        }
        return Version(
            version_id=len(self.docs),
            state="ACTIVE",
            workflow_status=self.status,
            created_at=_time(self.created_at if self.written_at is None else self.written_at),
            updated_at=_time(self.updated_at),
            document=document,
            message=self.message,
            forced=self.forced,
            is_primary=self.is_primary,
        )


def _searched_levels(
    seed: int, study_key: str, series_number: int, day: datetime
) -> dict[str, Any]:
    """Return the Patient, Study and Series elements of a realized demo image set."""
    levels, _ = study_levels(seed, study_key, series_number, day)
    study = levels["Study"]["DICOM"]
    ((series_uid, series),) = levels["Study"]["Series"].items()
    series_dicom = series["DICOM"]
    real = demo_dicom.realized_series_elements(study["StudyInstanceUID"], series_dicom)
    if real is not None:  # made of a source file (realize): its kind of series
        series_dicom = real
        study["StudyDescription"] = demo_dicom.study_description(real.get("Modality"))
    searched = ("StudyInstanceUID", "AccessionNumber", "StudyDate", "StudyTime")
    return {
        "Patient": levels["Patient"],
        "Study": {
            "DICOM": {key: study[key] for key in searched}
            | {
                "StudyID": study["StudyID"],
                "StudyDescription": study["StudyDescription"],
            },
            "Series": {series_uid: {"DICOM": series_dicom}},
        },
    }


@dataclass
class _LightPass:
    """Follows ``data._Builder``'s story for ``demo-radiology`` without writing documents.

    Every method mirrors the builder's method of the same name; the random generators are
    the builder's, drawn in the same order.
    """

    seed: int
    size: int
    now: int = 0  # ticks (see _time): the demo clock
    records: dict[int, _Record] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)
    _durations: dict[int, random.Random] = field(default_factory=dict)

    # ------------------------------------------------------------------ plumbing

    def _at(self, when: int) -> None:
        self.now = when - when % 1000  # to_millis (DEMO_EPOCH is a whole millisecond)

    def _wait(self) -> None:
        self._at(self.now + _SETTLE_TICKS)

    def _due(self, delay: float) -> int:
        due = self.now + delay_ticks(delay)
        return due - due % 1000

    def _takes(self, kind: str, index: int) -> float:
        if index not in self._durations:
            key = f"hi-widgets-demo-durations:{self.seed}:{DS_INDEX}:{index}"
            self._durations[index] = random.Random(key)
        low, high = OPERATION_SECONDS[kind]
        return round(self._durations[index].uniform(low, high), 3)

    def _import(self, index: int, levels: dict[str, Any], count: int, is_primary: bool) -> _Record:
        delay = self._takes("import", index)
        doc = _Doc(
            levels["Study"]["DICOM"]["StudyDescription"], levels["Study"]["DICOM"]["StudyID"]
        )
        record = _Record(
            index, levels, count, is_primary, self.now, [doc], updated_at=self._due(delay)
        )
        self.records[index] = record
        return record

    def _write(
        self,
        record: _Record,
        doc: _Doc,
        delay: float,
        *,
        done: str = "UPDATED",
        forced: bool = False,
        failure: str | None = None,
    ) -> None:
        """Write a version of an update or a copy as it ends (failed: the old document)."""
        record.docs.append(record.docs[-1] if failure else doc)
        record.written_at, record.updated_at = self.now, self._due(delay)
        record.status = failure or done
        record.message = FAILURE_MESSAGES[failure] if failure else None
        record.forced = True if forced else None

    # ------------------------------------------------------------------- stories

    def copy_from_duplicate(self, index: int, duplicate: int, delay: float, fail: bool) -> None:
        target, source = self.records[index], self.records[duplicate]
        wanted, held = target.docs[-1], source.docs[-1]
        if (wanted.description, wanted.study_id) != (held.description, held.study_id):
            fixed = _Doc(wanted.description, wanted.study_id, held.late)
            self._write(source, fixed, delay, forced=wanted.study_id != held.study_id)
            self._wait()
        merged = _Doc(wanted.description, wanted.study_id, late=True)
        failure = "COPY_FAILED" if fail else None
        self._write(target, merged, delay, done="COPIED", failure=failure)
        source.updated_at = target.updated_at  # the source is unlocked when the copy ends

    def history(
        self, index: int, length: int, rng: random.Random, duplicate: int | None, study: bool
    ) -> None:
        record = self.records[index]
        fixed = (DS_INDEX, index) in FIXED_LENGTHS
        spacing_days = min(4.0, 400.0 / max(length, 1))
        for version_id in range(2, length + 1):
            self._at(self.now + _ticks(timedelta(days=rng.uniform(0.1, spacing_days))))
            roll = rng.random()
            action = FIXED_ACTIONS.get(version_id) if fixed else None
            if action is None:  # the first odds above the roll
                action = _ACTION_NAMES[bisect.bisect_right(_ACTION_LIMITS, roll)]
            if action in ("copy", "fail-copy") and duplicate is None:
                action = "update"
            delay = self._takes(action, index)
            latest = record.docs[-1]
            if action in ("copy", "fail-copy") and duplicate is not None:
                self.copy_from_duplicate(index, duplicate, delay, action == "fail-copy")
            elif action == "force":
                doc = _Doc(latest.description, f"DEMO{version_id:04d}F", latest.late)
                self._write(record, doc, delay, forced=True)
            elif action == "revert":
                self._write(record, record.docs[rng.randint(1, version_id - 1) - 1], delay)
            else:
                revised = f"{latest.description.split(' REV ')[0]} REV {version_id}"
                wide = study and rng.random() < 0.5
                failure = "UPDATE_FAILED" if action == "fail-update" else None
                doc = _Doc(revised, latest.study_id, latest.late)
                self._write(record, doc, delay, failure=failure)
                if wide:  # the study's other image set (primary) takes the Study part
                    other = self.records[index - 1]
                    held = other.docs[-1]
                    self._write(other, _Doc(revised, held.study_id, held.late), delay)
            self._wait()
        self.ends[index] = self.now

    def build(self, index: int, length: int) -> None:
        rng = random.Random(f"hi-widgets-demo:{self.seed}:{DS_INDEX}:{index}")
        study_key = f"{DS_INDEX}:{index}"
        series_number = 1
        created = _ticks(timedelta(days=rng.uniform(0, 150)))
        sibling = index % 5 == 4 and index - 1 in self.ends
        study_wide = sibling and (DS_INDEX, index - 1) not in FIXED_LENGTHS
        if sibling:
            study_key, series_number = f"{DS_INDEX}:{index - 1}", 2
            later = self.ends[index - 1] + _ticks(timedelta(hours=rng.uniform(1, 48)))
            created = max(created, later)
        self._at(created)
        levels = _searched_levels(self.seed, study_key, series_number, _time(self.now))
        count = rng.randint(1, 4)
        skip_instances(rng, count)
        record = self._import(index, levels, count, is_primary=True)
        self._wait()
        duplicate = None
        if (index + 1) % 5 == 2 and index + 1 < self.size:
            duplicate = index + 1
            self._at(self.now + _ticks(timedelta(hours=rng.uniform(1, 12))))
            late = rng.randint(1, 2)
            skip_instances(rng, late)
            self._import(duplicate, levels, late, is_primary=False)
            record.late_instances = late
            self._wait()
        self.history(index, length, rng, duplicate, study_wide)
        if duplicate is not None:
            self._at(self.ends[index])
            dup_rng = random.Random(f"hi-widgets-demo:{self.seed}:{DS_INDEX}:{duplicate}")
            length = len(self.records[duplicate].docs) + dup_rng.randint(0, 3)
            self.history(duplicate, length, dup_rng, None, False)

    def groups(self) -> Iterator[list[_Record]]:
        """Build every image set; yield each group's records (in index order) when done."""
        built = -1
        for index in range(self.size):
            if index <= built:  # a duplicate, built with its primary image set
                continue
            length = FIXED_LENGTHS.get((DS_INDEX, index))
            self.build(index, length or history_length(self.seed, DS_INDEX, index))
            if index % 5 != 3 or index + 1 >= self.size:  # i % 5 == 3 waits for i + 1
                built = max(self.records)
                yield [self.records[i] for i in sorted(self.records)]
                self.records.clear()
                self._durations.clear()
                self.ends = {index: self.ends[index]}


class DeferredHistories:
    """Writes each group's histories on first read and hands them to its image sets."""

    def __init__(self, build_group: GroupBuilder) -> None:
        self._build_group = build_group
        self._lock = threading.Lock()
        self._members: dict[int, list[ImageSet]] = {}

    def materialize(self, first: int) -> None:
        with self._lock:
            members = self._members.pop(first, None)
            if members is None:  # written by another thread meanwhile
                return
            indices = tuple(first + offset for offset in range(len(members)))
            histories = self._build_group(indices)
            for index, image_set in zip(indices, members, strict=True):
                image_set.fill(histories[index])

    def add(self, first: int, image_sets: list[ImageSet]) -> None:
        self._members[first] = image_sets


def add_deferred_image_sets(
    store: BackendState, datastore: Datastore, seed: int, size: int, build_group: GroupBuilder
) -> datetime:
    """Fill ``datastore`` with ``size`` deferred demo image sets; return the last end.

    The image sets are those ``data._Builder(store, clock, seed, 0).run(size, False)``
    writes, in the same order, each written by ``build_group`` on its first read. The
    return value is when the builder's last history of this datastore ends.
    """
    # The pass keeps a few small objects per image set and frees none in cycles: the
    # collector's passes over the growing heap would cost a third of it and find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _add(store, datastore, seed, size, build_group)
    finally:
        if collecting:
            gc.enable()


def _add(
    store: BackendState, datastore: Datastore, seed: int, size: int, build_group: GroupBuilder
) -> datetime:
    light = _LightPass(seed, size)
    histories = DeferredHistories(build_group)
    last = 0
    for group in light.groups():
        first = group[0].index
        materialize = functools.partial(histories.materialize, first)
        members = []
        for record in group:
            image_set_id = make_id("demo", seed, "imageset", DS_INDEX, record.index)
            image_set = ImageSet.deferred(
                datastore.datastore_id,
                image_set_id,
                store.image_set_arn(datastore.datastore_id, image_set_id),
                head=record.head(),
                created_at=_time(record.created_at),
                materialize=materialize,
            )
            image_set.last_accessed_at = _time(record.created_at)
            datastore.image_sets[image_set_id] = image_set
            store.index(image_set)
            members.append(image_set)
        histories.add(first, members)
        last = max(last, *(light.ends.values()))
    return _time(last)
