"""Backend operations that write image sets: update metadata, copy, delete.

Each writes a LOCKED version (or locks the latest) and queues the transition that ends
the asynchronous operation after ``update_delay`` seconds of the sandbox clock: LOCKED is
only ever the passing state of an operation ("Updating image set metadata": "You cannot
perform other write operations on a LOCKED image set"). The documented update and copy
rules are in :mod:`hi_widgets.sandbox.backend.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hi_widgets.sandbox.backend import metadata as md
from hi_widgets.sandbox.backend import rules
from hi_widgets.sandbox.backend.domain import Datastore, ImageSet, Version
from hi_widgets.sandbox.backend.errors import conflict, validation_error
from hi_widgets.sandbox.backend.state import (
    BackendState,
    find_version,
    require_active,
    require_latest,
)


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


def _write_properties(image_set: ImageSet, version: Version) -> dict[str, Any]:
    return {
        "imageSetId": image_set.image_set_id,
        "latestVersionId": str(version.version_id),
        "imageSetState": version.state,
        "imageSetWorkflowStatus": version.workflow_status,
        "createdAt": image_set.created_at,
        "updatedAt": version.updated_at,
        "imageSetArn": image_set.arn,
    }


def _study_part(updates: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the Study-level part of an update document (what a study-wide update shares)."""
    study = (updates or {}).get("Study", {})
    return {"Study": {"DICOM": study["DICOM"]}} if "DICOM" in study else None


class ImageSetWrites(BackendState):
    """UpdateImageSetMetadata, CopyImageSet and DeleteImageSet."""

    # ------------------------------------------------------------------ helpers

    def _finish(
        self,
        version: Version,
        done: str,
        previous: dict[str, Any],
        failure: tuple[str, str] | None = None,
    ) -> None:
        """Queue the end of the operation that wrote ``version``.

        It becomes ACTIVE with status ``done``; or, with a ``failure`` (a rule found broken
        while the operation ran, see :class:`~.rules.ConstraintViolation`) or a failure
        queued by :meth:`fail_next_write`, ``*_FAILED`` with that message and the
        ``previous`` document.
        """
        if failure is None and self._failures:
            failure = self._failures.pop(0)

        def finish(due: datetime) -> None:
            version.state = "ACTIVE"
            version.updated_at = due
            if failure is None:
                version.workflow_status = done
            else:
                version.workflow_status = failure[0]
                version.message = failure[1]
                version.document = previous

        self.schedule(self.update_delay, finish)

    def fail_next_write(self, workflow_status: str, message: str) -> None:
        """Make the next update or copy end as ``workflow_status`` (e.g. UPDATE_FAILED).

        For demo data and tests: the operation is accepted (LOCKED) and fails when it
        ends, as an asynchronous failure does on the service. Not an operation.
        """
        with self.lock:
            self._failures.append((workflow_status, message))

    def _require_sole_primary(
        self, datastore: Datastore, document: Mapping[str, Any], image_set: ImageSet | None
    ) -> None:
        # "Understanding image sets": "Imported P10 data that conflicts with primary image
        # sets already in the a store will be persisted as non-primary. After resolving
        # metadata conflicts that data can be made primary." Sandbox choice: a promotion
        # that would make a second primary image set for one series is a ConflictException.
        for series_uid in md.series_uids(document):
            holder = self.primary_holder(datastore, series_uid, besides=image_set)
            if holder is not None:
                raise conflict(
                    f"Series {series_uid} already has the primary image set "
                    f"{holder.image_set_id}; copy into it to resolve the conflict instead"
                )

    # ---------------------------------------------------------------- operations

    def update_image_set_metadata(
        self,
        *,
        datastore_id: str,
        image_set_id: str,
        latest_version_id: str,
        update_image_set_metadata_updates: Mapping[str, Any],
        force: bool = False,
        include_study_image_sets: bool = False,
    ) -> dict[str, Any]:
        updates = update_image_set_metadata_updates
        with self.lock:
            self.settle()
            datastore = self.datastore(datastore_id)
            image_set = self.image_set(datastore_id, image_set_id)
            require_active(image_set)
            require_latest(image_set, latest_version_id, "latestVersionId")
            latest = image_set.latest
            failure: tuple[str, str] | None = None
            if "revertToVersionId" in updates:
                # "Updating image set metadata": "the --include-study-image-sets flag is
                # not supported with revertToVersionId operations"
                if include_study_image_sets:
                    raise validation_error(
                        "includeStudyImageSets cannot be used with revertToVersionId"
                    )
                document = find_version(image_set, updates["revertToVersionId"]).document
                siblings: list[tuple[ImageSet, dict[str, Any]]] = []
            else:
                dicom = updates["DICOMUpdates"]
                updatable, removable = _parse_updates(dicom)
                rules.check_layout(updatable)
                rules.check_layout(removable)
                siblings = []
                try:
                    document = _apply(
                        latest.document, updatable, removable, force, latest.is_primary
                    )
                    if include_study_image_sets:
                        siblings = self._study_siblings(
                            datastore,
                            image_set,
                            _study_part(updatable),
                            _study_part(removable),
                            force,
                        )
                except rules.ConstraintViolation as broken:
                    # Found while the update runs: the version ends UPDATE_FAILED.
                    document = latest.document
                    failure = ("UPDATE_FAILED", broken.version_message)
            now = self.now()
            version = new_version(
                latest.version_id + 1, "UPDATING", now, document, force, latest.is_primary
            )
            image_set.versions.append(version)
            self.index(image_set)
            self._finish(version, "UPDATED", latest.document, failure)
            for sibling, sibling_document in siblings:
                previous = sibling.latest
                written = new_version(
                    previous.version_id + 1,
                    "UPDATING_FOR_STUDY_CONSISTENCY",
                    now,
                    sibling_document,
                    force,
                    previous.is_primary,
                )
                sibling.versions.append(written)
                self.index(sibling)
                self._finish(written, "UPDATED", previous.document)
            return {
                "datastoreId": image_set.datastore_id,
                "imageSetId": image_set.image_set_id,
                "latestVersionId": str(version.version_id),
                "imageSetState": version.state,
                "imageSetWorkflowStatus": version.workflow_status,
                "createdAt": image_set.created_at,
                "updatedAt": version.updated_at,
            }

    def _study_siblings(
        self,
        datastore: Datastore,
        image_set: ImageSet,
        updatable: dict[str, Any] | None,
        removable: dict[str, Any] | None,
        force: bool,
    ) -> list[tuple[ImageSet, dict[str, Any]]]:
        """Return the other primary image sets of the study, each with its updated document.

        "Updating image set metadata": the flag updates "all the primary image sets that
        share the same Study Instance UID as the requested image set. This is an atomic
        operation, and the versions of all affected image sets will be incremented."
        Sandbox choice: the others receive the Study-level part of the update, and are
        written with status UPDATING_FOR_STUDY_CONSISTENCY. Every one is checked before
        any is written, so the update is all or nothing.
        """
        study = md.study_uid(image_set.latest.document)
        siblings = []
        for other in self.study_members(datastore, study):
            latest = other.latest
            if other is image_set or not latest.is_primary or latest.state == "DELETED":
                continue
            require_active(other)
            if updatable is None and removable is None:
                continue
            siblings.append((other, _apply(latest.document, updatable, removable, force, True)))
        return siblings

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
            source = self.image_set(datastore_id, source_image_set_id)
            require_active(source)
            require_latest(
                source, source_info["latestVersionId"], "sourceImageSet.latestVersionId"
            )
            document = source.latest.document
            failure: tuple[str, str] | None = None
            copies = source_info.get("DICOMCopies")
            if copies:
                selection = md.parse_attributes(copies["copiableAttributes"], "copiableAttributes")
                try:
                    rules.check_copy_selection(document, selection)
                except rules.ConstraintViolation as broken:
                    failure = ("COPY_FAILED", broken.version_message)
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
                previous = destination.latest
                merged = previous.document
                if failure is None and force:
                    merged = _merge_instances(previous.document, document)
                elif failure is None:
                    try:
                        rules.check_copy_consistency(document, previous.document)
                        merged = md.merge(previous.document, document)
                    except rules.ConstraintViolation as broken:
                        # Found while the copy runs (the CLI reference example's COPY_FAILED).
                        failure = ("COPY_FAILED", broken.version_message)
                is_primary = True if promote_to_primary else previous.is_primary
                if is_primary and failure is None:
                    self._require_sole_primary(datastore, merged, destination)
                written = new_version(
                    previous.version_id + 1, "COPYING", now, merged, force, is_primary
                )
                destination.versions.append(written)
                self.index(destination)
                self._finish(written, "COPIED", previous.document, failure)
            else:
                if promote_to_primary and failure is None:
                    self._require_sole_primary(datastore, document, None)
                destination_id = self.new_id("imageset")
                # copy-image-set example 1: a new destination answers createdAt == updatedAt.
                written = new_version(1, "COPYING", now, document, force, promote_to_primary)
                destination = ImageSet(
                    datastore_id=datastore_id,
                    image_set_id=destination_id,
                    arn=self.image_set_arn(datastore_id, destination_id),
                    versions=[written],
                    last_accessed_at=now,
                    storage_tier="FREQUENT_ACCESS",
                )
                datastore.image_sets[destination_id] = destination
                self.index(destination)
                self._finish(written, "COPIED", document, failure)
            source_version = source.latest
            restore = (source_version.state, source_version.workflow_status)
            source_version.state = "LOCKED"
            source_version.workflow_status = "COPYING_WITH_READ_ONLY_ACCESS"
            # copy-image-set example 1: the source answers the copy's time as updatedAt.
            source_version.updated_at = now
            self.changed()

            def unlock(due: datetime) -> None:
                source_version.state, source_version.workflow_status = restore
                source_version.updated_at = due

            self.schedule(self.update_delay, unlock)
            return {
                "datastoreId": datastore_id,
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
            self.changed()

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


# --------------------------------------------------------------------- helpers


def _parse_updates(
    dicom: Mapping[str, Any],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    removable = dicom.get("removableAttributes")
    updatable = dicom.get("updatableAttributes")
    if removable is None and updatable is None:
        raise validation_error("DICOMUpdates needs updatableAttributes or removableAttributes")
    return (
        md.parse_attributes(updatable, "updatableAttributes") if updatable is not None else None,
        md.parse_attributes(removable, "removableAttributes") if removable is not None else None,
    )


def _apply(
    document: dict[str, Any],
    updatable: dict[str, Any] | None,
    removable: dict[str, Any] | None,
    force: bool,
    is_primary: bool | None,
) -> dict[str, Any]:
    """Check the documented rules, then return the updated document (updates, then removals)."""
    rules.check_update(document, updatable, removable, force=force, is_primary=bool(is_primary))
    if removable:
        rules.check_removed_parts_exist(document, removable)
    if updatable:
        document = md.rekey(md.merge(document, updatable))
    if removable:
        document = md.remove(document, removable)
    return document


def _merge_instances(destination: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """Return the destination of a forced copy: the source's instances join its series.

    Sandbox choice: the destination keeps its own Patient, Study and Series level elements.
    """
    study = destination.get("Study", {})
    series = study.get("Series", {})
    if not series:
        return md.merge(destination, source)
    uid, node = next(iter(series.items()))
    instances = dict(node.get("Instances", {}))
    for source_series in source.get("Study", {}).get("Series", {}).values():
        instances.update(source_series.get("Instances", {}))
    return {
        **destination,
        "Study": {**study, "Series": {**series, uid: {**node, "Instances": instances}}},
    }
