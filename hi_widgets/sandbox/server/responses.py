"""The wire-facing operations: one public method per HealthImaging operation.

A ``Responses`` class sits between the wire layer (which has already routed, parsed and
validated the request from the botocore model) and the backend: it turns the input
parameters (camelCase, as a boto3 caller passed them) into the backend's typed keyword
arguments. Its public methods are exactly the operations it answers, named as botocore
names them in Python (``xform_name``); :mod:`hi_widgets.sandbox.server.registry` builds the
operation table from them.
"""

from __future__ import annotations

import inspect
from typing import Any

from hi_widgets.sandbox.backend.operations import Backend

Params = dict[str, Any]


class Responses:
    """Base class: subclasses' public methods are exactly their operations.

    Parameters
    ----------
    backend
        The sandbox backend the operations act on.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def operation_methods(cls) -> tuple[str, ...]:
        """Return the names of the public methods: the operations this class answers."""
        return tuple(
            name
            for name, _ in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        )


class HealthImagingResponses(Responses):
    """Datastores, image sets, versions, metadata, search and tags."""

    # ---------------------------------------------------------------- datastores

    def create_datastore(self, params: Params) -> Params:
        return self.backend.create_datastore(
            client_token=params.get("clientToken"),
            datastore_name=params.get("datastoreName"),
            lossless_storage_format=params.get("losslessStorageFormat"),
            kms_key_arn=params.get("kmsKeyArn"),
            tags=params.get("tags"),
        )

    def get_datastore(self, params: Params) -> Params:
        return self.backend.get_datastore(datastore_id=params["datastoreId"])

    def list_datastores(self, params: Params) -> Params:
        return self.backend.list_datastores(
            datastore_status=params.get("datastoreStatus"),
            next_token=params.get("nextToken"),
            max_results=params.get("maxResults"),
        )

    def delete_datastore(self, params: Params) -> Params:
        return self.backend.delete_datastore(datastore_id=params["datastoreId"])

    # ---------------------------------------------------------------- image sets

    def get_image_set(self, params: Params) -> Params:
        return self.backend.get_image_set(
            datastore_id=params["datastoreId"],
            image_set_id=params["imageSetId"],
            version_id=params.get("versionId"),
        )

    def list_image_set_versions(self, params: Params) -> Params:
        return self.backend.list_image_set_versions(
            datastore_id=params["datastoreId"],
            image_set_id=params["imageSetId"],
            next_token=params.get("nextToken"),
            max_results=params.get("maxResults"),
        )

    def get_image_set_metadata(self, params: Params) -> Params:
        return self.backend.get_image_set_metadata(
            datastore_id=params["datastoreId"],
            image_set_id=params["imageSetId"],
            version_id=params.get("versionId"),
        )

    def search_image_sets(self, params: Params) -> Params:
        return self.backend.search_image_sets(
            datastore_id=params["datastoreId"],
            search_criteria=params.get("searchCriteria"),
            next_token=params.get("nextToken"),
            max_results=params.get("maxResults"),
        )

    def update_image_set_metadata(self, params: Params) -> Params:
        return self.backend.update_image_set_metadata(
            datastore_id=params["datastoreId"],
            image_set_id=params["imageSetId"],
            latest_version_id=params["latestVersionId"],
            update_image_set_metadata_updates=params["updateImageSetMetadataUpdates"],
            force=bool(params.get("force")),
            include_study_image_sets=bool(params.get("includeStudyImageSets")),
        )

    def copy_image_set(self, params: Params) -> Params:
        return self.backend.copy_image_set(
            datastore_id=params["datastoreId"],
            source_image_set_id=params["sourceImageSetId"],
            copy_image_set_information=params["copyImageSetInformation"],
            force=bool(params.get("force")),
            promote_to_primary=bool(params.get("promoteToPrimary")),
        )

    def delete_image_set(self, params: Params) -> Params:
        return self.backend.delete_image_set(
            datastore_id=params["datastoreId"], image_set_id=params["imageSetId"]
        )

    # ---------------------------------------------------------------------- tags

    def tag_resource(self, params: Params) -> Params:
        return self.backend.tag_resource(resource_arn=params["resourceArn"], tags=params["tags"])

    def untag_resource(self, params: Params) -> Params:
        return self.backend.untag_resource(
            resource_arn=params["resourceArn"], tag_keys=params["tagKeys"]
        )

    def list_tags_for_resource(self, params: Params) -> Params:
        return self.backend.list_tags_for_resource(resource_arn=params["resourceArn"])
