"""Backend operations that write image sets: update metadata, copy, delete.

Each writes a LOCKED version (or locks the latest) and queues the transition that ends
the asynchronous operation after ``update_delay`` seconds of the sandbox clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import metadata as md
from .exceptions import validation_error
from .models import ImageSet, Version
from .state import BackendState, find_version, require_active, require_latest


def new_version(
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


def apply_dicom_updates(
    document: dict[str, Any], updates: Mapping[str, Any], force: bool
) -> dict[str, Any]:
    """Return ``document`` with a ``DICOMUpdates`` applied (updatable, then removable)."""
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


def _write_properties(image_set: ImageSet, version: Version) -> dict[str, Any]:
    return {
        "imageSetId": image_set.image_set_id,
        "latestVersionId": str(version.version_id),
        "imageSetState": version.state,
        "imageSetWorkflowStatus": version.workflow_status,
        "createdAt": version.created_at,
        "updatedAt": version.updated_at,
        "imageSetArn": image_set.arn,
    }


class ImageSetWrites(BackendState):
    """UpdateImageSetMetadata, CopyImageSet and DeleteImageSet."""

    def update_image_set_metadata(
        self,
        *,
        datastore_id: str,
        image_set_id: str,
        latest_version_id: str,
        update_image_set_metadata_updates: Mapping[str, Any],
        force: bool = False,
    ) -> dict[str, Any]:
        updates = update_image_set_metadata_updates
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            require_active(image_set)
            require_latest(image_set, latest_version_id, "latestVersionId")
            latest = image_set.latest
            if "revertToVersionId" in updates:
                document = find_version(image_set, updates["revertToVersionId"]).document
            else:
                document = apply_dicom_updates(latest.document, updates["DICOMUpdates"], force)
            version = new_version(
                latest.version_id + 1, "UPDATING", self.now(), document, force, latest.is_primary
            )
            image_set.versions.append(version)

            def finish(due: datetime) -> None:
                version.state = "ACTIVE"
                version.workflow_status = "UPDATED"
                version.updated_at = due

            self.schedule(self.update_delay, finish)
            return {
                "datastoreId": image_set.datastore_id,
                "imageSetId": image_set.image_set_id,
                "latestVersionId": str(version.version_id),
                "imageSetState": version.state,
                "imageSetWorkflowStatus": version.workflow_status,
                "createdAt": version.created_at,
                "updatedAt": version.updated_at,
            }

    def copy_image_set(
        self,
        *,
        datastore_id: str,
        source_image_set_id: str,
        copy_image_set_information: Mapping[str, Any],
        force: bool = False,
        promote_to_primary: bool = False,
    ) -> dict[str, Any]:
        source_info = copy_image_set_information["sourceImageSet"]
        destination_info = copy_image_set_information.get("destinationImageSet")
        with self.lock:
            self.settle()
            datastore = self.datastore(datastore_id)
            source = self.image_set(datastore.datastore_id, source_image_set_id)
            require_active(source)
            require_latest(
                source, source_info["latestVersionId"], "sourceImageSet.latestVersionId"
            )
            document = source.latest.document
            copies = source_info.get("DICOMCopies")
            if copies:
                selection = md.parse_attributes(copies["copiableAttributes"], "copiableAttributes")
                document = md.select(document, selection)
            now = self.now()
            if destination_info is not None:
                destination = self.image_set(datastore_id, destination_info["imageSetId"])
                if destination is source:
                    raise validation_error("The destination image set must differ from the source")
                require_active(destination)
                require_latest(
                    destination,
                    destination_info["latestVersionId"],
                    "destinationImageSet.latestVersionId",
                )
                written = new_version(
                    destination.latest.version_id + 1,
                    "COPYING",
                    now,
                    md.merge(destination.latest.document, document),
                    force,
                    True if promote_to_primary else destination.latest.is_primary,
                )
                destination.versions.append(written)
            else:
                destination_id = self.new_id("imageset")
                written = new_version(1, "COPYING", now, document, force, promote_to_primary)
                destination = ImageSet(
                    datastore_id=datastore.datastore_id,
                    image_set_id=destination_id,
                    arn=self.image_set_arn(datastore.datastore_id, destination_id),
                    versions=[written],
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
                written.state = "ACTIVE"
                written.workflow_status = "COPIED"
                written.updated_at = due

            self.schedule(self.update_delay, finish)
            return {
                "datastoreId": datastore.datastore_id,
                "sourceImageSetProperties": _write_properties(source, source_version),
                "destinationImageSetProperties": _write_properties(destination, written),
            }

    def delete_image_set(self, *, datastore_id: str, image_set_id: str) -> dict[str, Any]:
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            require_active(image_set)
            version = image_set.latest
            version.state = "LOCKED"
            version.workflow_status = "DELETING"
            version.updated_at = self.now()

            def finish(due: datetime) -> None:
                version.state = "DELETED"
                version.workflow_status = "DELETED"
                version.updated_at = due
                version.deleted_at = due

            self.schedule(self.update_delay, finish)
            return {
                "datastoreId": image_set.datastore_id,
                "imageSetId": image_set.image_set_id,
                "imageSetState": "LOCKED",
                "imageSetWorkflowStatus": "DELETING",
            }
