"""Backend operations on datastores and tags (one typed method per operation)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from hi_widgets.sandbox.backend.domain import Datastore, ImageSet
from hi_widgets.sandbox.backend.errors import conflict, not_found
from hi_widgets.sandbox.backend.paging import make_token, page_size, read_token
from hi_widgets.sandbox.backend.state import BackendState


def datastore_summary(datastore: Datastore) -> dict[str, Any]:
    """Return a datastore as ListDatastores and GetDatastore describe it."""
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


class DatastoreOperations(BackendState):
    """CreateDatastore, GetDatastore, ListDatastores, DeleteDatastore and the tag operations."""

    def list_datastores(
        self,
        *,
        datastore_status: str | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.settle()
            items = [
                datastore_summary(datastore)
                for datastore in self._datastores.values()
                if datastore_status is None or datastore.status == datastore_status
            ]
            token = read_token(next_token, "ListDatastores")
            start = token["o"] if token else 0
            end = start + page_size(max_results)
            output: dict[str, Any] = {"datastoreSummaries": items[start:end]}
            if end < len(items):
                output["nextToken"] = make_token({"k": "ListDatastores", "o": end})
            return output

    def get_datastore(self, *, datastore_id: str) -> dict[str, Any]:
        with self.lock:
            self.settle()
            datastore = self._datastores.get(datastore_id)
            if datastore is None:
                raise not_found(f"Datastore {datastore_id} does not exist")
            return {"datastoreProperties": datastore_summary(datastore)}

    def create_datastore(
        self,
        *,
        client_token: str | None = None,
        datastore_name: str | None = None,
        lossless_storage_format: str | None = None,
        kms_key_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.settle()
            for existing in self._datastores.values():
                if client_token is not None and existing.client_token == client_token:
                    return {
                        "datastoreId": existing.datastore_id,
                        "datastoreStatus": existing.status,
                    }
            now = self.now()
            datastore_id = self.new_id("datastore")
            datastore = Datastore(
                datastore_id=datastore_id,
                name=datastore_name or f"datastore-{datastore_id[:8]}",
                status="CREATING",
                arn=self.datastore_arn(datastore_id),
                created_at=now,
                updated_at=now,
                lossless_storage_format=lossless_storage_format or "HTJ2K",
                kms_key_arn=kms_key_arn,
                tags=dict(tags or {}),
                client_token=client_token,
            )
            self._datastores[datastore_id] = datastore

            def activate(due: datetime) -> None:
                if datastore.status == "CREATING":
                    datastore.status = "ACTIVE"
                    datastore.updated_at = due

            self.schedule(self.update_delay, activate)
            return {"datastoreId": datastore_id, "datastoreStatus": "CREATING"}

    def delete_datastore(self, *, datastore_id: str) -> dict[str, Any]:
        with self.lock:
            self.settle()
            datastore = self.datastore(datastore_id)
            if datastore.status != "ACTIVE":
                raise conflict(f"Datastore {datastore.datastore_id} is {datastore.status}")
            live = [s for s in datastore.image_sets.values() if s.head.state != "DELETED"]
            if live:
                raise conflict(
                    f"Datastore {datastore.datastore_id} still has {len(live)} image sets; "
                    "delete them first"
                )
            datastore.status = "DELETING"
            datastore.updated_at = self.now()

            def finish(due: datetime) -> None:
                datastore.status = "DELETED"
                datastore.updated_at = due

            self.schedule(self.update_delay, finish)
            return {"datastoreId": datastore.datastore_id, "datastoreStatus": "DELETING"}

    # ---------------------------------------------------------------------- tags

    def _tagged(self, arn: str) -> Datastore | ImageSet:
        prefix = f"arn:aws:medical-imaging:{self.region}:{self.account_id}:datastore/"
        if not arn.startswith(prefix):
            raise not_found(f"Resource {arn} does not exist")
        datastore_id, _, rest = arn[len(prefix) :].partition("/")
        if not rest:
            return self.datastore(datastore_id)
        kind, _, image_set_id = rest.partition("/")
        if kind != "imageset":
            raise not_found(f"Resource {arn} does not exist")
        return self.image_set(datastore_id, image_set_id)

    def tag_resource(self, *, resource_arn: str, tags: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            self.settle()
            self._tagged(resource_arn).tags.update(tags)
            return {}

    def untag_resource(self, *, resource_arn: str, tag_keys: Iterable[str]) -> dict[str, Any]:
        with self.lock:
            self.settle()
            resource = self._tagged(resource_arn)
            for key in tag_keys:
                resource.tags.pop(key, None)
            return {}

    def list_tags_for_resource(self, *, resource_arn: str) -> dict[str, Any]:
        with self.lock:
            self.settle()
            return {"tags": dict(self._tagged(resource_arn).tags)}
