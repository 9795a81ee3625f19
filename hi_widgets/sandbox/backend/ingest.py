"""Image sets arriving in a datastore: the backend side of an import.

"Understanding image sets": "Importing DICOM P10 data results in image sets that contain
DICOM metadata and image frames for one or more Service-Object Pair (SOP) instances in the
same DICOM Series", and "Imported P10 data that conflicts with primary image sets already
in the a store will be persisted as non-primary." :meth:`ImageSetIngest.add_imported_image_set`
applies both; the demo data and the DICOM import jobs create image sets through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hi_widgets.sandbox.backend import metadata as md
from hi_widgets.sandbox.backend.domain import ImageSet, Version
from hi_widgets.sandbox.backend.errors import validation_error
from hi_widgets.sandbox.backend.state import BackendState

IMPORT_OUTCOMES = ("IMPORTED", "IMPORT_FAILED", "CREATED")


class ImageSetIngest(BackendState):
    """Creating image sets from imported instances (not an operation of its own)."""

    def add_imported_image_set(
        self,
        datastore_id: str,
        document: dict[str, Any],
        *,
        outcome: str = "IMPORTED",
        message: str | None = None,
        image_set_id: str | None = None,
    ) -> ImageSet:
        """Create an image set for one series; it is IMPORTING until ``update_delay`` passes.

        Parameters
        ----------
        datastore_id
            An existing datastore.
        document
            The image set metadata (Patient and Study, with exactly one series).
        outcome
            The workflow status the import ends with: IMPORTED, IMPORT_FAILED (with
            ``message``) or CREATED.
        message
            The version's message (required for IMPORT_FAILED).
        image_set_id
            The new image set's id; default: a fresh deterministic one.

        Returns
        -------
        ImageSet
            The new image set: primary unless another primary image set holds its series.
        """
        if outcome not in IMPORT_OUTCOMES:
            raise ValueError(f"outcome must be one of {IMPORT_OUTCOMES}, got {outcome!r}")
        series = md.series_uids(document)
        if len(series) != 1:
            raise validation_error(f"an imported image set holds one series, got {len(series)}")
        with self.lock:
            self.settle()
            datastore = self.datastore(datastore_id)
            is_primary = self.primary_holder(datastore, series[0]) is None
            now = self.now()
            version = Version(
                version_id=1,
                state="LOCKED",
                workflow_status="IMPORTING",
                created_at=now,
                updated_at=now,
                document=document,
                is_primary=is_primary,
            )
            image_set_id = image_set_id or self.new_id("imageset")
            image_set = ImageSet(
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                arn=self.image_set_arn(datastore_id, image_set_id),
                versions=[version],
                last_accessed_at=now,
            )
            datastore.image_sets[image_set_id] = image_set
            self.index(image_set)

            def finish(due: datetime) -> None:
                version.state = "ACTIVE"
                version.workflow_status = outcome
                version.updated_at = due
                version.message = message

            self.schedule(self.update_delay, finish)
            return image_set
