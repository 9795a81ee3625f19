"""In-memory state of the sandbox and the semantics of each operation.

Every public operation method takes the validated input parameters of the botocore
operation (the same dict a boto3 caller passed) and returns the output dict; the wire
layer drops keys that the output shape does not have. Errors are raised as
:class:`~hi_widgets.sandbox.exceptions.ServiceError`.

Time-dependent transitions (UPDATING -> UPDATED, COPYING -> COPIED, DELETING -> DELETED,
CREATING -> ACTIVE) are queued with a due time and applied lazily, at the start of the
next call, from the sandbox clock; with a :class:`~hi_widgets.sandbox.ManualClock` they
are therefore fully deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import metadata as md
from . import search
from .clock import Clock, to_millis
from .exceptions import conflict, not_found, validation_error

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
MAX_PAGE = 50


def make_id(*parts: object) -> str:
    """Return a deterministic 32-character lowercase hex identifier."""
    return hashlib.md5(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


@dataclass
class Version:
    """One version of an image set."""

    version_id: int
    state: str
    workflow_status: str
    created_at: datetime
    updated_at: datetime
    document: dict[str, Any]
    deleted_at: datetime | None = None
    message: str | None = None
    forced: bool | None = None
    is_primary: bool | None = True


@dataclass
class ImageSet:
    """An image set and its version history (oldest first)."""

    datastore_id: str
    image_set_id: str
    arn: str
    versions: list[Version]
    last_accessed_at: datetime | None = None
    storage_tier: str | None = "FREQUENT_ACCESS"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def latest(self) -> Version:
        """The newest version."""
        return self.versions[-1]

    def version(self, version_id: int) -> Version | None:
        """Return a version by number, or None."""
        if 1 <= version_id <= len(self.versions):
            candidate = self.versions[version_id - 1]
            if candidate.version_id == version_id:
                return candidate
        return next((v for v in self.versions if v.version_id == version_id), None)


@dataclass
class Datastore:
    """A datastore and its image sets (in creation order)."""

    datastore_id: str
    name: str
    status: str
    arn: str
    created_at: datetime
    updated_at: datetime
    lossless_storage_format: str | None = "HTJ2K"
    kms_key_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    image_sets: dict[str, ImageSet] = field(default_factory=dict)
    client_token: str | None = None


def _page_token(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


_TOKEN_FIELDS: dict[str, dict[str, type]] = {
    "ListDatastores": {"o": int},
    "SearchImageSets": {"o": int, "q": str},
    "ListImageSetVersions": {"i": str, "v": int},
}
"""The fields of each operation's nextToken payload (``"k"`` names the operation)."""


def _read_token(token: str | None, kind: str) -> dict[str, Any] | None:
    """Decode a nextToken of ``kind``; any malformed token is a ValidationException."""
    if token is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError):
        raise validation_error("The nextToken is not valid") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise validation_error("The nextToken is not valid for this operation")
    for key, expected in _TOKEN_FIELDS[kind].items():
        value = payload.get(key)
        if (
            not isinstance(value, expected)
            or isinstance(value, bool)
            or (expected is int and value < 0)
        ):
            raise validation_error("The nextToken is not valid")
    return payload


def _page_size(params: dict[str, Any]) -> int:
    return int(params.get("maxResults") or MAX_PAGE)


class Store:
    """The sandbox backend: datastores, image sets, versions and their transitions.

    Parameters
    ----------
    clock
        Source of the current time.
    region, account_id
        Used in ARNs.
    update_delay
        Seconds (per ``clock``) that UPDATING, COPYING, DELETING and CREATING last.
    id_seed
        Seed of the identifiers of new datastores and image sets.
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
        self._lock = threading.RLock()
        self._pending: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self._sequence = itertools.count()
        self._id_seed = id_seed
        self._new_ids = itertools.count()

    # ------------------------------------------------------------------ building

    def datastore_arn(self, datastore_id: str) -> str:
        """Return the ARN of a datastore."""
        return f"arn:aws:medical-imaging:{self.region}:{self.account_id}:datastore/{datastore_id}"

    def image_set_arn(self, datastore_id: str, image_set_id: str) -> str:
        """Return the ARN of an image set."""
        return f"{self.datastore_arn(datastore_id)}/imageset/{image_set_id}"

    def add_datastore(self, datastore: Datastore) -> None:
        """Add a datastore (used by the demo data builder)."""
        with self._lock:
            self._datastores[datastore.datastore_id] = datastore

    def _new_id(self, kind: str) -> str:
        return make_id("new", self._id_seed, kind, next(self._new_ids))

    def _now(self) -> datetime:
        return to_millis(self.clock.now())

    def _schedule(self, delay: float, action: Callable[[datetime], None]) -> datetime:
        due = to_millis(self.clock.now() + timedelta(seconds=delay))
        heapq.heappush(self._pending, (due, next(self._sequence), action))
        return due

    def settle(self) -> None:
        """Apply every queued transition whose due time has passed."""
        with self._lock:
            now = self.clock.now()
            while self._pending and self._pending[0][0] <= now:
                due, _, action = heapq.heappop(self._pending)
                action(due)

    # ------------------------------------------------------------ truth for tests

    def datastore_ids(self) -> list[str]:
        """Datastore ids in creation (demo) order."""
        with self._lock:
            self.settle()
            return list(self._datastores)

    def image_set_ids(self, datastore_id: str) -> list[str]:
        """Image set ids of a datastore in creation (demo) order."""
        with self._lock:
            self.settle()
            return list(self._datastore(datastore_id).image_sets)

    def versions(self, datastore_id: str, image_set_id: str) -> list[dict[str, Any]]:
        """Every version of an image set in GetImageSet response shape, oldest first.

        Keys are the ones botocore returns (absent values are left out); ``versionId`` is
        a string and timestamps are tz-aware UTC datetimes.
        """
        with self._lock:
            self.settle()
            image_set = self._image_set(datastore_id, image_set_id)
            return [self._properties(image_set, version) for version in image_set.versions]

    def version_count(self, datastore_id: str, image_set_id: str) -> int:
        """Return the number of versions of an image set."""
        with self._lock:
            self.settle()
            return len(self._image_set(datastore_id, image_set_id).versions)

    def metadata_document(
        self, datastore_id: str, image_set_id: str, version_id: int | None = None
    ) -> dict[str, Any]:
        """Return the decoded GetImageSetMetadata document of a version (default: latest)."""
        with self._lock:
            self.settle()
            image_set = self._image_set(datastore_id, image_set_id)
            version = self._version(image_set, version_id)
            full = md.full_document(version.document, datastore_id, image_set_id)
            return json.loads(json.dumps(full))

    # ------------------------------------------------------------------- lookups

    def _datastore(self, datastore_id: str) -> Datastore:
        datastore = self._datastores.get(datastore_id)
        if datastore is None or datastore.status == "DELETED":
            raise not_found(f"Datastore {datastore_id} does not exist")
        return datastore

    def _image_set(self, datastore_id: str, image_set_id: str) -> ImageSet:
        image_set = self._datastore(datastore_id).image_sets.get(image_set_id)
        if image_set is None:
            raise not_found(f"Image set {image_set_id} does not exist in datastore {datastore_id}")
        return image_set

    @staticmethod
    def _version(image_set: ImageSet, version_id: int | str | None) -> Version:
        if version_id is None:
            return image_set.latest
        version = image_set.version(int(version_id))
        if version is None:
            raise not_found(
                f"Version {version_id} of image set {image_set.image_set_id} does not exist"
            )
        return version

    def _properties(self, image_set: ImageSet, version: Version) -> dict[str, Any]:
        values: dict[str, Any] = {
            "datastoreId": image_set.datastore_id,
            "imageSetId": image_set.image_set_id,
            "versionId": str(version.version_id),
            "imageSetState": version.state,
            "imageSetWorkflowStatus": version.workflow_status,
            "createdAt": version.created_at,
            "updatedAt": version.updated_at,
            "deletedAt": version.deleted_at,
            "message": version.message,
            "imageSetArn": image_set.arn,
            "overrides": {"forced": True} if version.forced else None,
            "isPrimary": version.is_primary,
            "lastAccessedAt": image_set.last_accessed_at,
            "storageTier": image_set.storage_tier,
        }
        return {key: value for key, value in values.items() if value is not None}

    @staticmethod
    def _require_active(image_set: ImageSet) -> None:
        latest = image_set.latest
        if latest.state != "ACTIVE":
            raise conflict(
                f"Image set {image_set.image_set_id} is {latest.state} "
                f"({latest.workflow_status}); try again when it is ACTIVE"
            )

    @staticmethod
    def _require_latest(image_set: ImageSet, latest_version_id: str, what: str) -> None:
        if int(latest_version_id) != image_set.latest.version_id:
            raise conflict(
                f"{what} {latest_version_id} is not the latest version of image set "
                f"{image_set.image_set_id} (latest is {image_set.latest.version_id})"
            )

    # ---------------------------------------------------------------- datastores

    def _datastore_summary(self, datastore: Datastore) -> dict[str, Any]:
        return {
            "datastoreId": datastore.datastore_id,
            "datastoreName": datastore.name,
            "datastoreStatus": datastore.status,
            "datastoreArn": datastore.arn,
            "createdAt": datastore.created_at,
            "updatedAt": datastore.updated_at,
            "kmsKeyArn": datastore.kms_key_arn,
            "losslessStorageFormat": datastore.lossless_storage_format,
        }

    def list_datastores(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            status = params.get("datastoreStatus")
            items = [
                self._datastore_summary(datastore)
                for datastore in self._datastores.values()
                if status is None or datastore.status == status
            ]
            token = _read_token(params.get("nextToken"), "ListDatastores")
            start = token["o"] if token else 0
            end = start + _page_size(params)
            output: dict[str, Any] = {"datastoreSummaries": items[start:end]}
            if end < len(items):
                output["nextToken"] = _page_token({"k": "ListDatastores", "o": end})
            return output

    def get_datastore(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            datastore = self._datastores.get(params["datastoreId"])
            if datastore is None:
                raise not_found(f"Datastore {params['datastoreId']} does not exist")
            return {"datastoreProperties": self._datastore_summary(datastore)}

    def create_datastore(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            token = params.get("clientToken")
            for existing in self._datastores.values():
                if token is not None and existing.client_token == token:
                    return {
                        "datastoreId": existing.datastore_id,
                        "datastoreStatus": existing.status,
                    }
            now = self._now()
            datastore_id = self._new_id("datastore")
            datastore = Datastore(
                datastore_id=datastore_id,
                name=params.get("datastoreName") or f"datastore-{datastore_id[:8]}",
                status="CREATING",
                arn=self.datastore_arn(datastore_id),
                created_at=now,
                updated_at=now,
                lossless_storage_format=params.get("losslessStorageFormat", "HTJ2K"),
                kms_key_arn=params.get("kmsKeyArn"),
                tags=dict(params.get("tags") or {}),
                client_token=token,
            )
            self._datastores[datastore_id] = datastore

            def activate(due: datetime) -> None:
                if datastore.status == "CREATING":
                    datastore.status = "ACTIVE"
                    datastore.updated_at = due

            self._schedule(self.update_delay, activate)
            return {"datastoreId": datastore_id, "datastoreStatus": "CREATING"}

    def delete_datastore(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            datastore = self._datastore(params["datastoreId"])
            if datastore.status != "ACTIVE":
                raise conflict(f"Datastore {datastore.datastore_id} is {datastore.status}")
            live = [s for s in datastore.image_sets.values() if s.latest.state != "DELETED"]
            if live:
                raise conflict(
                    f"Datastore {datastore.datastore_id} still has {len(live)} image sets; "
                    "delete them first"
                )
            datastore.status = "DELETING"
            datastore.updated_at = self._now()

            def finish(due: datetime) -> None:
                datastore.status = "DELETED"
                datastore.updated_at = due

            self._schedule(self.update_delay, finish)
            return {"datastoreId": datastore.datastore_id, "datastoreStatus": "DELETING"}

    # ------------------------------------------------------------------ reading

    def get_image_set(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            image_set = self._image_set(params["datastoreId"], params["imageSetId"])
            version = self._version(image_set, params.get("versionId"))
            return self._properties(image_set, version)

    def list_image_set_versions(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            image_set = self._image_set(params["datastoreId"], params["imageSetId"])
            token = _read_token(params.get("nextToken"), "ListImageSetVersions")
            if token is not None and token.get("i") != image_set.image_set_id:
                raise validation_error("The nextToken belongs to another image set")
            newest_first = reversed(image_set.versions)
            if token is not None:
                newest_first = (v for v in newest_first if v.version_id <= token["v"])
            page = list(itertools.islice(newest_first, _page_size(params) + 1))
            items = []
            for version in page[: _page_size(params)]:
                item = self._properties(image_set, version)
                item["ImageSetWorkflowStatus"] = item.pop("imageSetWorkflowStatus", None)
                items.append(item)
            output: dict[str, Any] = {"imageSetPropertiesList": items}
            if len(page) > _page_size(params):
                output["nextToken"] = _page_token(
                    {
                        "k": "ListImageSetVersions",
                        "i": image_set.image_set_id,
                        "v": page[-1].version_id,
                    }
                )
            return output

    def get_image_set_metadata(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            image_set = self._image_set(params["datastoreId"], params["imageSetId"])
            version = self._version(image_set, params.get("versionId"))
            blob = md.encode(version.document, image_set.datastore_id, image_set.image_set_id)
            return {
                "imageSetMetadataBlob": blob,
                "contentType": "application/json",
                "contentEncoding": "gzip",
            }

    # ----------------------------------------------------------------- searching

    def search_image_sets(self, params: dict[str, Any]) -> dict[str, Any]:
        criteria = params.get("searchCriteria") or {}
        filters = criteria.get("filters") or []
        predicates = [search.predicate(item) for item in filters]
        sort = criteria.get("sort")
        with self._lock:
            self.settle()
            datastore = self._datastore(params["datastoreId"])
            candidates = [
                image_set
                for image_set in datastore.image_sets.values()
                if image_set.latest.state != "DELETED"
                and all(predicate(image_set) for predicate in predicates)
            ]
            if sort:
                key = search.SORT_KEYS[sort["sortField"]]
                candidates.sort(key=key, reverse=sort["sortOrder"] == "DESC")
            fingerprint = make_id(json.dumps(criteria, sort_keys=True, default=str))
            token = _read_token(params.get("nextToken"), "SearchImageSets")
            if token is not None and token.get("q") != fingerprint:
                raise validation_error("The nextToken belongs to different search criteria")
            start = token["o"] if token else 0
            end = start + _page_size(params)
            output: dict[str, Any] = {
                "imageSetsMetadataSummaries": [
                    self._summary(image_set) for image_set in candidates[start:end]
                ]
            }
            if sort:
                output["sort"] = sort
            if end < len(candidates):
                output["nextToken"] = _page_token(
                    {"k": "SearchImageSets", "o": end, "q": fingerprint}
                )
            return output

    @staticmethod
    def _summary(image_set: ImageSet) -> dict[str, Any]:
        latest = image_set.latest
        return {
            "imageSetId": image_set.image_set_id,
            "version": latest.version_id,
            "createdAt": image_set.versions[0].created_at,
            "updatedAt": latest.updated_at,
            "lastAccessedAt": image_set.last_accessed_at,
            "storageTier": image_set.storage_tier,
            "DICOMTags": md.dicom_tags(latest.document),
            "isPrimary": latest.is_primary,
        }

    # ------------------------------------------------------------------ updating

    def update_image_set_metadata(self, params: dict[str, Any]) -> dict[str, Any]:
        updates = params["updateImageSetMetadataUpdates"]
        force = bool(params.get("force"))
        with self._lock:
            self.settle()
            image_set = self._image_set(params["datastoreId"], params["imageSetId"])
            self._require_active(image_set)
            self._require_latest(image_set, params["latestVersionId"], "latestVersionId")
            latest = image_set.latest
            if "revertToVersionId" in updates:
                target = self._version(image_set, updates["revertToVersionId"])
                document = target.document
            else:
                document = _apply_dicom_updates(latest.document, updates["DICOMUpdates"], force)
            version = _new_version(
                latest.version_id + 1, "UPDATING", self._now(), document, force, latest.is_primary
            )
            image_set.versions.append(version)

            def finish(due: datetime) -> None:
                version.state = "ACTIVE"
                version.workflow_status = "UPDATED"
                version.updated_at = due

            self._schedule(self.update_delay, finish)
            return {
                "datastoreId": image_set.datastore_id,
                "imageSetId": image_set.image_set_id,
                "latestVersionId": str(version.version_id),
                "imageSetState": version.state,
                "imageSetWorkflowStatus": version.workflow_status,
                "createdAt": version.created_at,
                "updatedAt": version.updated_at,
            }

    def copy_image_set(self, params: dict[str, Any]) -> dict[str, Any]:
        info = params["copyImageSetInformation"]
        source_info = info["sourceImageSet"]
        destination_info = info.get("destinationImageSet")
        force = bool(params.get("force"))
        with self._lock:
            self.settle()
            datastore = self._datastore(params["datastoreId"])
            source = self._image_set(datastore.datastore_id, params["sourceImageSetId"])
            self._require_active(source)
            self._require_latest(
                source, source_info["latestVersionId"], "sourceImageSet.latestVersionId"
            )
            document = source.latest.document
            copies = source_info.get("DICOMCopies")
            if copies:
                selection = md.parse_attributes(copies["copiableAttributes"], "copiableAttributes")
                document = md.select(document, selection)
            now = self._now()
            if destination_info is not None:
                destination = self._image_set(
                    datastore.datastore_id, destination_info["imageSetId"]
                )
                if destination is source:
                    raise validation_error("The destination image set must differ from the source")
                self._require_active(destination)
                self._require_latest(
                    destination,
                    destination_info["latestVersionId"],
                    "destinationImageSet.latestVersionId",
                )
                new_version = _new_version(
                    destination.latest.version_id + 1,
                    "COPYING",
                    now,
                    md.merge(destination.latest.document, document),
                    force,
                    True if params.get("promoteToPrimary") else destination.latest.is_primary,
                )
                destination.versions.append(new_version)
            else:
                destination_id = self._new_id("imageset")
                new_version = _new_version(
                    1, "COPYING", now, document, force, bool(params.get("promoteToPrimary"))
                )
                destination = ImageSet(
                    datastore_id=datastore.datastore_id,
                    image_set_id=destination_id,
                    arn=self.image_set_arn(datastore.datastore_id, destination_id),
                    versions=[new_version],
                    last_accessed_at=now,
                    storage_tier="FREQUENT_ACCESS",
                )
                datastore.image_sets[destination_id] = destination
            source_version = source.latest
            restore = (source_version.state, source_version.workflow_status)
            source_version.state = "LOCKED"
            source_version.workflow_status = "COPYING_WITH_READ_ONLY_ACCESS"

            def finish(due: datetime) -> None:
                source_version.state, source_version.workflow_status = restore
                new_version.state = "ACTIVE"
                new_version.workflow_status = "COPIED"
                new_version.updated_at = due

            self._schedule(self.update_delay, finish)

            def properties(image_set: ImageSet, version: Version) -> dict[str, Any]:
                return {
                    "imageSetId": image_set.image_set_id,
                    "latestVersionId": str(version.version_id),
                    "imageSetState": version.state,
                    "imageSetWorkflowStatus": version.workflow_status,
                    "createdAt": version.created_at,
                    "updatedAt": version.updated_at,
                    "imageSetArn": image_set.arn,
                }

            return {
                "datastoreId": datastore.datastore_id,
                "sourceImageSetProperties": properties(source, source_version),
                "destinationImageSetProperties": properties(destination, new_version),
            }

    def delete_image_set(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            image_set = self._image_set(params["datastoreId"], params["imageSetId"])
            self._require_active(image_set)
            version = image_set.latest
            version.state = "LOCKED"
            version.workflow_status = "DELETING"
            version.updated_at = self._now()

            def finish(due: datetime) -> None:
                version.state = "DELETED"
                version.workflow_status = "DELETED"
                version.updated_at = due
                version.deleted_at = due

            self._schedule(self.update_delay, finish)
            return {
                "datastoreId": image_set.datastore_id,
                "imageSetId": image_set.image_set_id,
                "imageSetState": "LOCKED",
                "imageSetWorkflowStatus": "DELETING",
            }

    # ---------------------------------------------------------------------- tags

    def _tagged(self, arn: str) -> Datastore | ImageSet:
        prefix = f"arn:aws:medical-imaging:{self.region}:{self.account_id}:datastore/"
        if not arn.startswith(prefix):
            raise not_found(f"Resource {arn} does not exist")
        datastore_id, _, rest = arn[len(prefix) :].partition("/")
        if not rest:
            return self._datastore(datastore_id)
        kind, _, image_set_id = rest.partition("/")
        if kind != "imageset":
            raise not_found(f"Resource {arn} does not exist")
        return self._image_set(datastore_id, image_set_id)

    def tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            self._tagged(params["resourceArn"]).tags.update(params["tags"])
            return {}

    def untag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            resource = self._tagged(params["resourceArn"])
            for key in params["tagKeys"]:
                resource.tags.pop(key, None)
            return {}

    def list_tags_for_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settle()
            return {"tags": dict(self._tagged(params["resourceArn"]).tags)}


# --------------------------------------------------------------------- helpers


def _new_version(
    version_id: int,
    workflow_status: str,
    now: datetime,
    document: dict[str, Any],
    force: bool,
    is_primary: bool | None,
) -> Version:
    """Return a version being written (LOCKED, ``workflow_status``) by an update or copy."""
    return Version(
        version_id=version_id,
        state="LOCKED",
        workflow_status=workflow_status,
        created_at=now,
        updated_at=now,
        document=document,
        forced=True if force else None,
        is_primary=is_primary,
    )


def _apply_dicom_updates(
    document: dict[str, Any], updates: dict[str, Any], force: bool
) -> dict[str, Any]:
    removable = updates.get("removableAttributes")
    updatable = updates.get("updatableAttributes")
    if removable is None and updatable is None:
        raise validation_error("DICOMUpdates needs updatableAttributes or removableAttributes")
    if updatable is not None:
        changes = md.parse_attributes(updatable, "updatableAttributes")
        protected = md.changed_keys(changes) & md.FORCE_REQUIRED_KEYS
        if protected and not force:
            raise validation_error(f"Updating {sorted(protected)} requires force=true")
        document = md.merge(document, changes)
    if removable is not None:
        document = md.remove(document, md.parse_attributes(removable, "removableAttributes"))
    return document
