"""A deterministic demo dataset of real DICOM, written by the sandbox's own operations.

Every image set is created by an import of real DICOM: pydicom's test files, read by the
import pipeline and re-identified with obviously fake patients, studies and UIDs
(:mod:`hi_widgets.sandbox.demo.dicom_sources`; synthetic instances stand in when pydicom is not
installed). Each holds one series, and is primary unless its series already has a primary
image set; every later version is written by a real
UpdateImageSetMetadata, revert or CopyImageSet that follows the documented rules
(:mod:`hi_widgets.sandbox.backend.rules`), on a clock of the demo's own running from
:data:`DEMO_EPOCH`. Layout (the same for every seed; the seed changes identifiers,
timestamps and values):

* ``demo-radiology``: ``image_sets`` image sets (30 by default). Image set 0 has a single
  version; **image set 1 has 73 versions** and image set 3 has 57, so
  ListImageSetVersions needs two pages of 50; the others have 1 to about 40 versions.
* ``demo-oncology``: 14 image sets; image set 0 has 51 versions and image set 1 exactly 50
  (the page-size boundaries).
* In each datastore, image set ``i`` with ``i % 5 == 2`` is a late, conflicting import of
  the series of image set ``i - 1``, so it is non-primary ("Understanding image sets");
  its instances are copied into the primary one after its Study and Series elements are
  reconciled (COPIED versions). Image set ``i`` with ``i % 5 == 4`` is a second series of
  the study of image set ``i - 1`` (so includeStudyImageSets has a study to update).
* Every ImageSetState and ImageSetWorkflowStatus of the installed botocore model appears.
  LOCKED is only ever the passing state of an operation: the demo's last operations
  (``demo-oncology`` image sets 3, 4, 6, 7, 9 and 13: an update with
  includeStudyImageSets, a copy, a delete, an import) are still running when the sandbox
  starts, and end ``update_delay`` seconds of the sandbox clock later. Image set 5 ends
  CREATED, 10 DELETED and 11 IMPORT_FAILED; UPDATE_FAILED and COPY_FAILED are in the long
  histories.
* Each operation takes as long as its kind does (:data:`OPERATION_SECONDS`: an update a
  minute or two, a copy up to twelve minutes, a failed update seconds). As on AWS, only
  its end shows (the version's ``updatedAt``); every version answers the image set's
  ``createdAt``, so no duration can be read over the wire.
* Failed versions carry a ``message``; some versions have ``overrides.forced`` (StudyID
  changes, which need force); patient names look like ``DEMO^PATIENT^017`` and ids like
  ``DEMO-0017``.

Use :data:`LONG_HISTORY` to find the 73-version image set without hard-coding ids.

``demo-radiology`` is deferred (:mod:`hi_widgets.sandbox.demo.deferred`): it starts with
what searches read of each image set, and each history is written by this builder (in a
scratch backend, :func:`_build_group`) the first time it is read, so a sandbox of 100,000
image sets starts in seconds of CPU per ten thousand. The layout's constants are in
:mod:`hi_widgets.sandbox.demo.story`.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from hi_widgets.api.model import image_set_states
from hi_widgets.sandbox.backend.domain import Datastore, ImageSet, Version, make_id
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.demo import deferred
from hi_widgets.sandbox.demo import dicom_sources as demo_dicom
from hi_widgets.sandbox.demo.documents import (
    document_blob,
    imported_document,
    late_import_document,
)
from hi_widgets.sandbox.demo.story import (
    ACTION_ODDS,
    DEMO_EPOCH,
    FAILURE_MESSAGES,
    FIXED_ACTIONS,
    FIXED_LENGTHS,
    LONG_HISTORY,  # noqa: F401  (re-exported: sandbox.demo.data.LONG_HISTORY)
    OPERATION_SECONDS,
    SECOND_DATASTORE_SIZE,
    SETTLE_SECONDS,
    history_length,
)
from hi_widgets.sandbox.runtime.clock import to_millis

# demo-oncology image sets whose story ends in a showcase (see the module docstring).
SINGLE_VERSION_ENDINGS = {5: "CREATED", 11: "IMPORT_FAILED", 13: "IMPORTING"}
STUDY_UPDATE, COPY_DESTINATION, DELETING, DELETED = 4, 6, 9, 10


class _DemoClock:
    """The demo's own clock: set by the builder, never by the wall."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return (self.now() - DEMO_EPOCH).total_seconds()

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = to_millis(when)


class _Builder:
    """Writes the demo histories of one datastore through the backend's operations."""

    def __init__(self, store: Backend, clock: _DemoClock, seed: int, ds_index: int) -> None:
        self.store, self.clock, self.seed, self.ds_index = store, clock, seed, ds_index
        self.datastore_id = make_id("demo", seed, "datastore", ds_index)
        self.ends: dict[int, datetime] = {}
        self.ids: dict[int, str] = {}
        self._durations: dict[int, random.Random] = {}

    # ------------------------------------------------------------------ plumbing

    def _at(self, when: datetime) -> None:
        self.clock.set(when)

    def _takes(self, kind: str, index: int) -> None:
        """Let the next operation on image set ``index`` last as one of ``kind`` does."""
        # Durations draw from a generator of their own: the operations stay as they were.
        if index not in self._durations:
            key = f"hi-widgets-demo-durations:{self.seed}:{self.ds_index}:{index}"
            self._durations[index] = random.Random(key)
        low, high = OPERATION_SECONDS[kind]
        self.store.update_delay = round(self._durations[index].uniform(low, high), 3)

    def _wait(self, seconds: float = SETTLE_SECONDS) -> None:
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
        self.store.settle()

    def _latest(self, index: int) -> str:
        return str(self.store.image_set(self.datastore_id, self.ids[index]).latest.version_id)

    def imported_document(self, index: int) -> dict[str, Any]:
        return self.store.image_set(self.datastore_id, self.ids[index]).latest.document

    def import_set(self, index: int, document: dict[str, Any], outcome: str = "IMPORTED") -> None:
        self._takes("import", index)
        document = demo_dicom.realize(self.store, document) or document
        image_set_id = make_id("demo", self.seed, "imageset", self.ds_index, index)
        self.store.add_imported_image_set(
            self.datastore_id,
            document,
            outcome=outcome,
            message=FAILURE_MESSAGES.get(outcome),
            image_set_id=image_set_id,
        )
        self.ids[index] = image_set_id

    def update(
        self, index: int, updates: dict[str, Any], *, force: bool = False, study: bool = False
    ) -> None:
        self.store.update_image_set_metadata(
            datastore_id=self.datastore_id,
            image_set_id=self.ids[index],
            latest_version_id=self._latest(index),
            update_image_set_metadata_updates={
                "DICOMUpdates": {"updatableAttributes": document_blob(updates)}
            },
            force=force,
            include_study_image_sets=study,
        )

    def revert(self, index: int, version_id: int) -> None:
        self.store.update_image_set_metadata(
            datastore_id=self.datastore_id,
            image_set_id=self.ids[index],
            latest_version_id=self._latest(index),
            update_image_set_metadata_updates={"revertToVersionId": str(version_id)},
        )

    def copy_from_duplicate(self, index: int, duplicate: int, *, fail: bool = False) -> None:
        """Reconcile the duplicate's Study and Series elements, then copy it in."""
        target, source = self.imported_document(index), self.imported_document(duplicate)
        fixes: dict[str, Any] = {}
        study = {
            k: v
            for k, v in target["Study"]["DICOM"].items()
            if source["Study"]["DICOM"].get(k) != v
        }
        if study:
            fixes["Study"] = {"DICOM": study}
        (uid, series), *_ = target["Study"]["Series"].items()
        series_fixes = {
            k: v
            for k, v in series["DICOM"].items()
            if source["Study"]["Series"][uid]["DICOM"].get(k) != v
        }
        if series_fixes:
            fixes.setdefault("Study", {})["Series"] = {uid: {"DICOM": series_fixes}}
        if fixes:
            self.update(duplicate, fixes, force="StudyID" in study)
            self._wait()
        if fail:
            self.store.fail_next_write("COPY_FAILED", FAILURE_MESSAGES["COPY_FAILED"])
        self.store.copy_image_set(
            datastore_id=self.datastore_id,
            source_image_set_id=self.ids[duplicate],
            copy_image_set_information={
                "sourceImageSet": {"latestVersionId": self._latest(duplicate)},
                "destinationImageSet": {
                    "imageSetId": self.ids[index],
                    "latestVersionId": self._latest(index),
                },
            },
        )

    # ------------------------------------------------------------------- stories

    def history(
        self, index: int, length: int, rng: random.Random, duplicate: int | None, study: bool
    ) -> None:
        """Write versions 2..length of an image set, one operation per version."""
        fixed = (self.ds_index, index) in FIXED_LENGTHS
        spacing_days = min(4.0, 400.0 / max(length, 1))
        for version_id in range(2, length + 1):
            self._at(self.clock.now() + timedelta(days=rng.uniform(0.1, spacing_days)))
            roll = rng.random()
            action = FIXED_ACTIONS.get(version_id) if fixed else None
            if action is None:
                action = next(name for limit, name in ACTION_ODDS if roll < limit)
            if action in ("copy", "fail-copy") and duplicate is None:
                action = "update"
            self._takes(action, index)
            if action == "fail-update":
                self.store.fail_next_write("UPDATE_FAILED", FAILURE_MESSAGES["UPDATE_FAILED"])
            description = self.imported_document(index)["Study"]["DICOM"]["StudyDescription"]
            revised = f"{description.split(' REV ')[0]} REV {version_id}"
            if action in ("copy", "fail-copy") and duplicate is not None:
                fail = action == "fail-copy"
                self.copy_from_duplicate(index, duplicate, fail=fail)
            elif action == "force":  # StudyID is one of the attributes that need force
                self.update(
                    index, {"Study": {"DICOM": {"StudyID": f"DEMO{version_id:04d}F"}}}, force=True
                )
            elif action == "revert":
                self.revert(index, rng.randint(1, version_id - 1))
            else:
                changes = {"Study": {"DICOM": {"StudyDescription": revised}}}
                self.update(index, changes, study=study and rng.random() < 0.5)
            self._wait()
        self.ends[index] = self.clock.now()

    def build(self, index: int, length: int, ending: str | None = None) -> None:
        """Import image set ``index`` and write its history (with its duplicate's)."""
        rng = random.Random(f"hi-widgets-demo:{self.seed}:{self.ds_index}:{index}")
        study_key = f"{self.ds_index}:{index}"
        series_number = 1
        created = DEMO_EPOCH + timedelta(days=rng.uniform(0, 150))
        sibling = index % 5 == 4 and index - 1 in self.ends
        # A study-wide update also writes a version of the other image set of the study;
        # the fixed-length histories must keep their length.
        study_wide = sibling and (self.ds_index, index - 1) not in FIXED_LENGTHS
        if sibling:  # a second series of the previous image set's study
            study_key, series_number = f"{self.ds_index}:{index - 1}", 2
            created = max(created, self.ends[index - 1] + timedelta(hours=rng.uniform(1, 48)))
        self._at(created)
        document = imported_document(rng, self.seed, study_key, series_number, self.clock.now())
        outcome = ending if ending in ("CREATED", "IMPORT_FAILED") else "IMPORTED"
        self.import_set(index, document, outcome)
        self._wait()
        duplicate = None
        if (index + 1) % 5 == 2 and index + 1 < self._size:
            duplicate = index + 1
            self._at(self.clock.now() + timedelta(hours=rng.uniform(1, 12)))
            key = f"{self.seed}:{self.ds_index}:{duplicate}:late"
            self.import_set(duplicate, late_import_document(rng, document, key))
            self._wait()
        self.history(index, length, rng, duplicate, study_wide)
        if duplicate is not None:
            self._at(self.ends[index])
            dup_rng = random.Random(f"hi-widgets-demo:{self.seed}:{self.ds_index}:{duplicate}")
            self.history(
                duplicate,
                self.store.version_count(self.datastore_id, self.ids[duplicate])
                + dup_rng.randint(0, 3),
                dup_rng,
                None,
                False,
            )
        if ending == "DELETED":
            self._at(self.clock.now() + timedelta(days=1))
            self.store.delete_image_set(
                datastore_id=self.datastore_id, image_set_id=self.ids[index]
            )
            self._wait()
            self.ends[index] = self.clock.now()
        image_set = self.store.image_set(self.datastore_id, self.ids[index])
        _finish_touch(image_set, rng)
        if duplicate is not None:
            _finish_touch(self.store.image_set(self.datastore_id, self.ids[duplicate]), rng)

    def run(self, size: int, endings: bool, indices: Iterable[int] | None = None) -> None:
        """Write the datastore's ``size`` image sets (or only those of ``indices``)."""
        self._size = size
        for index in range(size) if indices is None else indices:
            if index in self.ids:  # a duplicate, written with its primary image set
                continue
            ending = SINGLE_VERSION_ENDINGS.get(index) if endings else None
            if endings and ending == "IMPORTING":
                continue  # imported last, still running when the sandbox starts
            if (self.ds_index, index) in FIXED_LENGTHS:
                length = FIXED_LENGTHS[(self.ds_index, index)]
            elif ending is not None:
                length = 1
            else:
                length = history_length(self.seed, self.ds_index, index)
            self.build(index, length, "DELETED" if endings and index == DELETED else ending)

    def start_running_operations(self, when: datetime) -> None:
        """Start the operations that are still running when the sandbox starts."""
        self._at(when)
        rng = random.Random(f"hi-widgets-demo-running:{self.seed}")
        self.copy_from_duplicate(COPY_DESTINATION, COPY_DESTINATION + 1)  # reconciles first
        self.update(
            STUDY_UPDATE,
            {"Study": {"DICOM": {"StudyDescription": "DEMO STUDY REVIEW"}}},
            study=True,
        )
        self.store.delete_image_set(
            datastore_id=self.datastore_id, image_set_id=self.ids[DELETING]
        )
        importing = max(SINGLE_VERSION_ENDINGS)
        document = imported_document(rng, self.seed, f"{self.ds_index}:{importing}", 1, when)
        self.import_set(importing, document)


def _finish_touch(image_set: ImageSet, rng: random.Random) -> None:
    """Keep the demo's random sequence as it was when this step drew access and tier.

    The access times are set when the demo is handed to the sandbox's clock
    (:func:`_touch_recently`); the draws stay so every later draw is unchanged.
    """
    rng.uniform(0, 60)
    rng.random()


def _touch_recently(store: Backend, seed: int) -> None:
    """Give each image set a last access in the 60 days before the sandbox's start.

    No demo operation reads data, so the times are drawn (deterministically per image
    set) relative to the sandbox clock; the storage tier follows from them
    (:mod:`~hi_widgets.sandbox.backend.tiering`: 30 days without access archive an image
    set), so the demo starts with image sets in both tiers.
    """
    now = store.now()
    for ds_index, datastore_id in enumerate(store.datastore_ids()):
        for index, image_set_id in enumerate(store.image_set_ids(datastore_id)):
            image_set = store.image_set(datastore_id, image_set_id)
            rng = random.Random(f"hi-widgets-demo-access:{seed}:{ds_index}:{index}")
            drawn = to_millis(now - timedelta(days=rng.uniform(0, 60)))
            image_set.last_accessed_at = max(drawn, image_set.head.updated_at)


def populate(store: Backend, *, seed: int = 0, image_sets: int = 30) -> None:
    """Fill ``store`` with the demo datastores, image sets and version histories.

    Parameters
    ----------
    store
        An empty backend; its clock is the sandbox's (the demo's last operations end
        ``update_delay`` seconds of it later).
    seed
        Changes identifiers, timestamps and values, never the layout.
    image_sets
        Size of the first datastore (``demo-radiology``), at least 1. Larger values give a
        bigger datastore for benchmarks (about 9 versions per image set on average); its
        histories are written on first read (:mod:`~hi_widgets.sandbox.demo.deferred`).
    """
    if image_sets < 1:
        raise ValueError(f"image_sets must be >= 1, got {image_sets}")
    real_clock, real_delay = store.clock, store.update_delay
    clock = _DemoClock(DEMO_EPOCH)
    store.update_delay = OPERATION_SECONDS["import"][0]
    store.use_clock(clock)
    try:
        # The demo is the same for the same seed: its new ids follow the seed.
        with store.deterministic_ids():
            builders, ends = [], []
            for ds_index, (name, size) in enumerate(
                zip(
                    ("demo-radiology", "demo-oncology"),
                    (image_sets, SECOND_DATASTORE_SIZE),
                    strict=True,
                )
            ):
                builder = _Builder(store, clock, seed, ds_index)
                datastore = _demo_datastore(store, builder.datastore_id, name, seed, ds_index)
                store.add_datastore(datastore)
                if ds_index == deferred.DS_INDEX:  # written on first read, see deferred
                    build = functools.partial(_build_group, store, datastore, seed, size)
                    ends.append(
                        deferred.add_deferred_image_sets(store, datastore, seed, size, build)
                    )
                else:
                    builder.run(size, endings=ds_index == 1)
                    ends.extend(builder.ends.values())
                builders.append(builder)
            last = max(ends)
            builders[1].start_running_operations(last + timedelta(days=1))
    finally:
        store.update_delay = real_delay
        store.use_clock(real_clock)
    _touch_recently(store, seed)
    _cover_states(store)


def _demo_datastore(
    store: Backend, datastore_id: str, name: str, seed: int, ds_index: int
) -> Datastore:
    created = DEMO_EPOCH - timedelta(days=30 - ds_index)
    return Datastore(
        datastore_id=datastore_id,
        name=name,
        status="ACTIVE",
        arn=store.datastore_arn(datastore_id),
        created_at=created,
        updated_at=created + timedelta(minutes=4, seconds=12),
        tags={"project": "hi-widgets-demo", "seed": str(seed)},
    )


def _build_group(
    store: Backend, datastore: Datastore, seed: int, size: int, indices: tuple[int, ...]
) -> dict[int, list[Version]]:
    """Write the histories of deferred demo image sets ``indices`` as :func:`populate` would.

    In a scratch backend of their own (the group's histories touch no other image set),
    on a demo clock of their own; their frames go to ``store``.
    """
    clock = _DemoClock(DEMO_EPOCH)
    scratch = Backend(clock, region=store.region, account_id=store.account_id)
    scratch.frames = store.frames
    scratch.update_delay = OPERATION_SECONDS["import"][0]
    scratch.add_datastore(dataclasses.replace(datastore, image_sets={}))
    builder = _Builder(scratch, clock, seed, deferred.DS_INDEX)
    with scratch.deterministic_ids():
        builder.run(size, endings=False, indices=indices)
    return {
        index: scratch.image_set(datastore.datastore_id, builder.ids[index]).versions
        for index in indices
    }


def _cover_states(store: Backend) -> None:
    """Make sure every ImageSetState of the model appears (states newer than this code)."""
    image_sets = [
        store.image_set(ds, i) for ds in store.datastore_ids() for i in store.image_set_ids(ds)
    ]
    # A deferred history (deferred.py) has ended every operation: its versions are ACTIVE.
    seen = {
        version.state
        for image_set in image_sets
        for version in ([image_set.head] if image_set.is_deferred else image_set.versions)
    }
    seen.add("LOCKED")  # the running operations above
    missing = [state for state in image_set_states() if state not in seen]
    for state, image_set in zip(missing, reversed(image_sets), strict=False):
        image_set.latest.state = state
        store.changed()
