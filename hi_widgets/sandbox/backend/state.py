"""The backend's state: datastores, the clock, queued transitions and lookups.

:class:`BackendState` is the base of every operation group of the backend (see
:mod:`hi_widgets.sandbox.backend.operations`). It holds the datastores under one re-entrant lock,
queues time-dependent transitions (UPDATING -> UPDATED, COPYING -> COPIED, DELETING ->
DELETED, CREATING -> ACTIVE) with a due time and applies them lazily, at the start of the
next call, from the sandbox clock; with a :class:`~hi_widgets.sandbox.ManualClock` they
are fully deterministic.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from hi_widgets.sandbox.backend import metadata as md
from hi_widgets.sandbox.backend import tiering
from hi_widgets.sandbox.backend.domain import (
    ACCOUNT_ID,
    DEFAULT_REGION,
    Datastore,
    ImageSet,
    Version,
    make_id,
)
from hi_widgets.sandbox.backend.errors import conflict, not_found
from hi_widgets.sandbox.runtime.clock import Clock, to_millis


class BackendState:
    """Datastores, image sets and versions, with the clock that moves them.

    Parameters
    ----------
    clock
        Source of the current time.
    region, account_id
        Used in ARNs.
    update_delay
        Seconds (per ``clock``) that UPDATING, COPYING, DELETING and CREATING last.
    id_seed
        Seed of the identifiers written inside :meth:`deterministic_ids` (the demo data).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = ACCOUNT_ID,
        update_delay: float = 2.0,
        id_seed: int = 0,
    ) -> None:
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.update_delay = float(update_delay)
        self._datastores: dict[str, Datastore] = {}
        self.lock = threading.RLock()
        """Held by every operation; a module that adds operations takes it too."""
        self._pending: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self._sequence = itertools.count()
        self._id_seed = id_seed
        self._new_ids = itertools.count()
        self._deterministic_ids = 0
        self._failures: list[tuple[str, str]] = []
        # (datastore, series or study UID) -> image sets whose documents ever held it.
        # A superset: lookups check each candidate's latest version, so entries never
        # need removing, and a lookup costs the candidates, not the datastore's size.
        self._by_series: dict[tuple[str, str], dict[str, ImageSet]] = {}
        self._by_study: dict[tuple[str, str], dict[str, ImageSet]] = {}
        self.generation = 0
        """Counts the changes a search can see (see :meth:`changed`)."""
        self.search_cache: dict[tuple[str, str], tuple[int, Datastore, list[ImageSet]]] = {}
        """SearchImageSets' sorted matches by (datastore, criteria), valid at a generation."""

    # ------------------------------------------------------------------ building

    def datastore_arn(self, datastore_id: str) -> str:
        """Return the ARN of a datastore."""
        return f"arn:aws:medical-imaging:{self.region}:{self.account_id}:datastore/{datastore_id}"

    def image_set_arn(self, datastore_id: str, image_set_id: str) -> str:
        """Return the ARN of an image set."""
        return f"{self.datastore_arn(datastore_id)}/imageset/{image_set_id}"

    def add_datastore(self, datastore: Datastore) -> None:
        """Add a datastore (used by the demo data builder)."""
        with self.lock:
            self._datastores[datastore.datastore_id] = datastore

    def new_id(self, kind: str) -> str:
        """Return a fresh identifier for a new ``kind`` of resource.

        Random, as AWS's are, so resources a user creates never repeat the ids of an
        earlier run (an import job's output folder ``<datastoreId>-DicomImport-<jobId>``
        is never the previous run's); inside :meth:`deterministic_ids` (the demo data)
        they follow ``id_seed``.
        """
        if self._deterministic_ids:
            return make_id("new", self._id_seed, kind, next(self._new_ids))
        return secrets.token_hex(16)

    @contextlib.contextmanager
    def deterministic_ids(self) -> Iterator[None]:
        """Within the block, :meth:`new_id` gives ids that depend only on ``id_seed``."""
        with self.lock:
            self._deterministic_ids += 1
        try:
            yield
        finally:
            with self.lock:
                self._deterministic_ids -= 1

    def now(self) -> datetime:
        """Return the sandbox clock's time at the service's millisecond precision."""
        return to_millis(self.clock.now())

    def schedule(self, delay: float, action: Callable[[datetime], None]) -> datetime:
        """Run ``action(due)`` once ``delay`` seconds of the sandbox clock have passed."""
        due = to_millis(self.clock.now() + timedelta(seconds=delay))
        heapq.heappush(self._pending, (due, next(self._sequence), action))
        return due

    def settle(self) -> None:
        """Apply every queued transition whose due time has passed."""
        with self.lock:
            now = self.clock.now()
            while self._pending and self._pending[0][0] <= now:
                due, _, action = heapq.heappop(self._pending)
                action(due)
                self.changed()

    def changed(self) -> None:
        """Note a change a search can see: an image set's latest version or a new one.

        :meth:`index` (new image sets and versions) and :meth:`settle` (transitions) call
        it; so does every write that changes a latest version in place. SearchImageSets
        sorts a datastore's matches once per generation (a 100,000 image set datastore
        is paged 2,000 times).
        """
        self.generation += 1

    def index(self, image_set: ImageSet) -> None:
        """Record the series and study of an image set's latest version for lookups.

        Every place that creates an image set or gives it a new version calls this. A
        deferred image set (:meth:`ImageSet.deferred`) is indexed by its head.
        """
        self.changed()
        document = image_set.head.document
        store = image_set.datastore_id
        for series_uid in md.series_uids(document):
            self._by_series.setdefault((store, series_uid), {})[image_set.image_set_id] = image_set
        study = md.study_uid(document)
        if study is not None:
            self._by_study.setdefault((store, study), {})[image_set.image_set_id] = image_set

    def study_members(self, datastore: Datastore, study_uid: str | None) -> list[ImageSet]:
        """Return the image sets whose latest version is in a study (creation order)."""
        if study_uid is None:
            return []
        candidates = self._by_study.get((datastore.datastore_id, study_uid), {}).values()
        return [c for c in candidates if md.study_uid(c.head.document) == study_uid]

    def primary_holder(
        self, datastore: Datastore, series_uid: str, *, besides: ImageSet | None = None
    ) -> ImageSet | None:
        """Return the primary image set (not deleted) that holds a series, if any."""
        candidates = self._by_series.get((datastore.datastore_id, series_uid), {})
        for image_set in candidates.values():
            latest = image_set.head
            if (
                image_set is not besides
                and latest.is_primary
                and latest.state != "DELETED"
                and series_uid in latest.document.get("Study", {}).get("Series", {})
            ):
                return image_set
        return None

    def use_clock(self, clock: Clock) -> None:
        """Switch to another clock; queued transitions keep ``update_delay`` to run.

        The demo builder writes its history on a clock of its own in the past, then hands
        the backend to the sandbox's clock: what is still running then (the demo's last
        operations) ends ``update_delay`` seconds of the new clock later.
        """
        with self.lock:
            self.clock = clock
            due = to_millis(clock.now() + timedelta(seconds=self.update_delay))
            self._pending = [(due, sequence, action) for _, sequence, action in self._pending]
            heapq.heapify(self._pending)

    # ------------------------------------------------------------ truth for tests

    def datastore_ids(self) -> list[str]:
        """Datastore ids in creation (demo) order."""
        with self.lock:
            self.settle()
            return list(self._datastores)

    def image_set_ids(self, datastore_id: str) -> list[str]:
        """Image set ids of a datastore in creation (demo) order."""
        with self.lock:
            self.settle()
            return list(self.datastore(datastore_id).image_sets)

    def versions(self, datastore_id: str, image_set_id: str) -> list[dict[str, Any]]:
        """Every version of an image set in GetImageSet response shape, oldest first.

        Keys are the ones botocore returns (absent values are left out); ``versionId`` is
        a string and timestamps are tz-aware UTC datetimes.
        """
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            now = self.now()
            return [properties(image_set, version, now) for version in image_set.versions]

    def version_count(self, datastore_id: str, image_set_id: str) -> int:
        """Return the number of versions of an image set."""
        with self.lock:
            self.settle()
            return self.image_set(datastore_id, image_set_id).version_count

    def metadata_document(
        self, datastore_id: str, image_set_id: str, version_id: int | None = None
    ) -> dict[str, Any]:
        """Return the decoded GetImageSetMetadata document of a version (default: latest)."""
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            version = find_version(image_set, version_id)
            full = md.full_document(version.document, datastore_id, image_set_id)
            result: dict[str, Any] = json.loads(json.dumps(full))
            return result

    # ------------------------------------------------------------------- lookups

    def datastore(self, datastore_id: str) -> Datastore:
        """Return a datastore that is not deleted, or raise ResourceNotFoundException."""
        datastore = self._datastores.get(datastore_id)
        if datastore is None or datastore.status == "DELETED":
            raise not_found(f"Datastore {datastore_id} does not exist")
        return datastore

    def image_set(self, datastore_id: str, image_set_id: str) -> ImageSet:
        """Return an image set, or raise ResourceNotFoundException."""
        image_set = self.datastore(datastore_id).image_sets.get(image_set_id)
        if image_set is None:
            raise not_found(f"Image set {image_set_id} does not exist in datastore {datastore_id}")
        return image_set


# ------------------------------------------------------------ shared helpers


def find_version(image_set: ImageSet, version_id: int | str | None) -> Version:
    """Return a version (default: the latest), or raise ResourceNotFoundException."""
    if version_id is None:
        return image_set.latest
    version = image_set.version(int(version_id))
    if version is None:
        raise not_found(
            f"Version {version_id} of image set {image_set.image_set_id} does not exist"
        )
    return version


def properties(
    image_set: ImageSet, version: Version, now: datetime | None = None
) -> dict[str, Any]:
    """Return a version as GetImageSet describes it (absent values left out).

    ``now`` (the sandbox clock) places the image set in its storage tier
    (:mod:`~hi_widgets.sandbox.backend.tiering`).
    """
    values: dict[str, Any] = {
        "datastoreId": image_set.datastore_id,
        "imageSetId": image_set.image_set_id,
        "versionId": str(version.version_id),
        "imageSetState": version.state,
        "imageSetWorkflowStatus": version.workflow_status,
        # createdAt is the image set's creation time on every version (see
        # ImageSet.created_at); updatedAt is when this version last changed.
        "createdAt": image_set.created_at,
        "updatedAt": version.updated_at,
        "deletedAt": version.deleted_at,
        "message": version.message,
        "imageSetArn": image_set.arn,
        "overrides": {"forced": True} if version.forced else None,
        "isPrimary": version.is_primary,
        "lastAccessedAt": image_set.last_accessed_at,
        "storageTier": tiering.storage_tier(image_set, now),
    }
    return {key: value for key, value in values.items() if value is not None}


def require_active(image_set: ImageSet) -> None:
    """Raise ConflictException unless the image set's latest version is ACTIVE."""
    latest = image_set.latest
    if latest.state != "ACTIVE":
        raise conflict(
            f"Image set {image_set.image_set_id} is {latest.state} "
            f"({latest.workflow_status}); try again when it is ACTIVE"
        )


def require_latest(image_set: ImageSet, latest_version_id: str, what: str) -> None:
    """Raise ConflictException unless ``latest_version_id`` is the latest version."""
    if int(latest_version_id) != image_set.latest.version_id:
        raise conflict(
            f"{what} {latest_version_id} is not the latest version of image set "
            f"{image_set.image_set_id} (latest is {image_set.latest.version_id})"
        )
