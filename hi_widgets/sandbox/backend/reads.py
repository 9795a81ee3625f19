"""Backend operations that read image sets: get, list versions, metadata, search."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hi_widgets.sandbox.backend import metadata as md
from hi_widgets.sandbox.backend import search, tiering
from hi_widgets.sandbox.backend.domain import Datastore, ImageSet, make_id
from hi_widgets.sandbox.backend.errors import validation_error
from hi_widgets.sandbox.backend.paging import make_token, page_size, read_token
from hi_widgets.sandbox.backend.state import BackendState, find_version, properties


def image_set_summary(image_set: ImageSet, now: datetime | None = None) -> dict[str, Any]:
    """Return an image set as SearchImageSets summarises it (from its latest version)."""
    latest = image_set.head
    return {
        "imageSetId": image_set.image_set_id,
        "version": latest.version_id,
        "createdAt": image_set.created_at,
        "updatedAt": latest.updated_at,
        "lastAccessedAt": image_set.last_accessed_at,
        "storageTier": tiering.storage_tier(image_set, now),
        "DICOMTags": md.dicom_tags(latest.document),
        "isPrimary": latest.is_primary,
    }


SEARCH_CACHE_SIZE = 8
"""How many searches' sorted matches are kept (each valid until the next change)."""


def _matches(
    datastore: Datastore,
    predicates: list[Callable[[ImageSet], bool]],
    sort: Mapping[str, Any] | None,
) -> list[ImageSet]:
    """Return the image sets a search matches, in its order."""
    candidates = [
        image_set
        for image_set in datastore.image_sets.values()
        if image_set.head.state != "DELETED"
        and all(predicate(image_set) for predicate in predicates)
    ]
    if sort:
        key = search.SORT_KEYS[sort["sortField"]]
        candidates.sort(key=key, reverse=sort["sortOrder"] == "DESC")
    else:
        # SearchImageSets API reference: "By default, SearchImageSets uses the
        # updatedAt field for sorting in descending order from newest to oldest."
        candidates.sort(key=search.SORT_KEYS["updatedAt"], reverse=True)
    return candidates


class ImageSetReads(BackendState):
    """GetImageSet, ListImageSetVersions, GetImageSetMetadata and SearchImageSets."""

    def get_image_set(
        self, *, datastore_id: str, image_set_id: str, version_id: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            return properties(image_set, find_version(image_set, version_id), self.now())

    def list_image_set_versions(
        self,
        *,
        datastore_id: str,
        image_set_id: str,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        size = page_size(max_results)
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            token = read_token(next_token, "ListImageSetVersions")
            if token is not None and token.get("i") != image_set.image_set_id:
                raise validation_error("The nextToken belongs to another image set")
            newest_first = reversed(image_set.versions)
            if token is not None:
                newest_first = (v for v in newest_first if v.version_id <= token["v"])
            page = list(itertools.islice(newest_first, size + 1))
            items = []
            now = self.now()
            for version in page[:size]:
                item = properties(image_set, version, now)
                item["ImageSetWorkflowStatus"] = item.pop("imageSetWorkflowStatus", None)
                items.append(item)
            output: dict[str, Any] = {"imageSetPropertiesList": items}
            if len(page) > size:
                output["nextToken"] = make_token(
                    {"k": "ListImageSetVersions", "i": image_set_id, "v": page[-1].version_id}
                )
            return output

    def get_image_set_metadata(
        self, *, datastore_id: str, image_set_id: str, version_id: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            self.settle()
            image_set = self.image_set(datastore_id, image_set_id)
            version = find_version(image_set, version_id)
            tiering.record_access(image_set, self.now())
            blob = md.encode(version.document, image_set.datastore_id, image_set.image_set_id)
            return {
                "imageSetMetadataBlob": blob,
                "contentType": "application/json",
                "contentEncoding": "gzip",
            }

    def search_image_sets(
        self,
        *,
        datastore_id: str,
        search_criteria: Mapping[str, Any] | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        criteria = search_criteria or {}
        predicates = [search.predicate(item) for item in criteria.get("filters") or []]
        sort = criteria.get("sort")
        with self.lock:
            self.settle()
            datastore = self.datastore(datastore_id)
            fingerprint = make_id(json.dumps(criteria, sort_keys=True, default=str))
            cached = self.search_cache.get((datastore_id, fingerprint))
            if cached is not None and cached[0] == self.generation and cached[1] is datastore:
                candidates = cached[2]
            else:
                candidates = _matches(datastore, predicates, sort)
                if len(self.search_cache) >= SEARCH_CACHE_SIZE:
                    del self.search_cache[next(iter(self.search_cache))]
                self.search_cache[(datastore_id, fingerprint)] = (
                    self.generation,
                    datastore,
                    candidates,
                )
            token = read_token(next_token, "SearchImageSets")
            if token is not None and token.get("q") != fingerprint:
                raise validation_error("The nextToken belongs to different search criteria")
            start = token["o"] if token else 0
            end = start + page_size(max_results)
            output: dict[str, Any] = {
                "imageSetsMetadataSummaries": [
                    image_set_summary(image_set, self.now()) for image_set in candidates[start:end]
                ]
            }
            if sort:
                output["sort"] = sort
            if end < len(candidates):
                output["nextToken"] = make_token(
                    {"k": "SearchImageSets", "o": end, "q": fingerprint}
                )
            return output
