"""The demo datastores answer every read exactly as they did before the lazy build (issue 23).

A golden test of behaviour preserved across a refactor: the digests below were computed on
``main`` at 34bf473, BEFORE the demo build was made lazy (image set histories generated on
first access, the search fields from a light pass), by this very file. They are not a
result anybody chose: they fingerprint every answer of the unchanged sandbox, so any
change to an id, a timestamp, a version, a metadata document, a search page or an image
frame of the demo data fails them. If the demo data is ever changed on purpose, recompute
them (``python tests/test_sandbox_demo_golden.py``) and say why in the commit.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.demo.data import populate
from hi_widgets.sandbox.demo.documents import document_blob
from hi_widgets.sandbox.runtime.clock import ManualClock

START = datetime(2025, 1, 1, tzinfo=timezone.utc)

# (seed, image_sets) -> sha256 of every answer; computed on unchanged main (see above).
GOLDEN = {
    (0, 30): "d79d06ad08aaa8dc3e58da07e4b4a8e1e4c26401ae4529cfb9366e1a82b0aec1",
    (0, 300): "3b10057a90d53a15a9bd648c1f5c91e16b1a869a2e0ebec9e130cca1e6f58aee",
    (7, 61): "0e1e82e9bef7770a13418ab08b055e7613c00635db53b7c4d299e072af31512d",
    (3, 62): "75ed42e5b17d98c8c91ca8087a3ce01ea76c09bdad5750640d8c1ec5886f0c16",
}


class _Digest:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, label: str, answer: Any) -> None:
        text = json.dumps(answer, default=_plain, ensure_ascii=False)
        self._hash.update(f"{label}\n{text}\n".encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    raise TypeError(type(value))


def _pages(call: Any, key: str, **arguments: Any) -> list[dict[str, Any]]:
    pages, token = [], None
    while True:
        page = call(**arguments, **({"next_token": token} if token else {}))
        pages.append(page)
        token = page.get("nextToken")
        if not token:
            return pages


SEARCHES: list[dict[str, Any]] = [
    {},
    {"sort": {"sortField": "createdAt", "sortOrder": "ASC"}},
    {"sort": {"sortField": "DICOMStudyDateAndTime", "sortOrder": "DESC"}},
    {"filters": [{"operator": "EQUAL", "values": [{"isPrimary": False}]}]},
    {
        "filters": [
            {
                "operator": "BETWEEN",
                "values": [
                    {"updatedAt": datetime(2024, 3, 1, tzinfo=timezone.utc)},
                    {"updatedAt": datetime(2024, 9, 1, tzinfo=timezone.utc)},
                ],
            }
        ],
        "sort": {"sortField": "updatedAt", "sortOrder": "ASC"},
    },
    {
        "filters": [
            {
                "operator": "BETWEEN",
                "values": [
                    {"createdAt": datetime(2024, 2, 1, tzinfo=timezone.utc)},
                    {"createdAt": datetime(2024, 4, 1, tzinfo=timezone.utc)},
                ],
            }
        ]
    },
    {
        "filters": [
            {
                "operator": "BETWEEN",
                "values": [
                    {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20240201"}},
                    {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20240415"}},
                ],
            }
        ]
    },
]


def _searches_for(store: Backend, datastore_id: str) -> list[dict[str, Any]]:
    """The searches above, and EQUAL filters on the fields of a few image sets."""
    criteria = list(SEARCHES)
    for image_set_id in store.image_set_ids(datastore_id)[:12:3]:
        document = store.metadata_document(datastore_id, image_set_id)
        study = document["Study"]["DICOM"]
        (series_uid,) = list(document["Study"]["Series"])[:1]
        for attribute, value in (
            ("DICOMPatientId", document["Patient"]["DICOM"]["PatientID"]),
            ("DICOMAccessionNumber", study["AccessionNumber"]),
            ("DICOMStudyId", study["StudyID"]),
            ("DICOMStudyInstanceUID", study["StudyInstanceUID"]),
            ("DICOMSeriesInstanceUID", series_uid),
            ("DICOMStudyDateAndTime", {"DICOMStudyDate": study["StudyDate"]}),
        ):
            criteria.append({"filters": [{"operator": "EQUAL", "values": [{attribute: value}]}]})
    return criteria


def _reads(store: Backend, digest: _Digest, label: str) -> None:
    """Every property answer of every image set, and every search (none records an access)."""
    for datastore_id in store.datastore_ids():
        digest.add(f"{label} datastore", store.get_datastore(datastore_id=datastore_id))
        for image_set_id in store.image_set_ids(datastore_id):
            where = {"datastore_id": datastore_id, "image_set_id": image_set_id}
            digest.add(f"{label} get", store.get_image_set(**where))
            for page in _pages(store.list_image_set_versions, "", **where, max_results=20):
                digest.add(f"{label} list", page)
        for criteria in _searches_for(store, datastore_id):
            for page in _pages(
                store.search_image_sets,
                "",
                datastore_id=datastore_id,
                search_criteria=criteria,
                max_results=37,
            ):
                digest.add(f"{label} search {criteria}", page)


def _data_reads(store: Backend, digest: _Digest) -> None:
    """Every version's metadata, and the image frames of a few image sets (accesses)."""
    for datastore_id in store.datastore_ids():
        for position, image_set_id in enumerate(store.image_set_ids(datastore_id)):
            where = {"datastore_id": datastore_id, "image_set_id": image_set_id}
            count = store.version_count(datastore_id, image_set_id)
            for version_id in range(1, count + 1):
                answer = store.get_image_set_metadata(**where, version_id=str(version_id))
                blob = gzip.decompress(answer["imageSetMetadataBlob"])
                digest.add("metadata", {**answer, "imageSetMetadataBlob": blob})
            if position % 7 == 0 and store.get_image_set(**where)["imageSetState"] != "DELETED":
                document = store.metadata_document(datastore_id, image_set_id)
                for series in document["Study"]["Series"].values():
                    for instance in series["Instances"].values():
                        for frame in instance.get("ImageFrames", []):
                            answer = store.get_image_frame(
                                **where, image_frame_information={"imageFrameId": frame["ID"]}
                            )
                            digest.add("frame", answer)


def _mutations(store: Backend, clock: ManualClock, digest: _Digest) -> None:
    """An update, a study-wide update, a copy and a delete on demo image sets."""
    datastore_id = store.datastore_ids()[0]
    ids = store.image_set_ids(datastore_id)

    def latest(image_set_id: str) -> str:
        answer = store.get_image_set(datastore_id=datastore_id, image_set_id=image_set_id)
        return str(answer["versionId"])

    updates = {"Study": {"DICOM": {"StudyDescription": "GOLDEN UPDATE"}}}
    digest.add(
        "update",
        store.update_image_set_metadata(
            datastore_id=datastore_id,
            image_set_id=ids[-2],
            latest_version_id=latest(ids[-2]),
            update_image_set_metadata_updates={
                "DICOMUpdates": {"updatableAttributes": document_blob(updates)}
            },
            include_study_image_sets=True,
        ),
    )
    digest.add(
        "copy",
        store.copy_image_set(
            datastore_id=datastore_id,
            source_image_set_id=ids[2],
            copy_image_set_information={
                "sourceImageSet": {"latestVersionId": latest(ids[2])},
                "destinationImageSet": {"imageSetId": ids[1], "latestVersionId": latest(ids[1])},
            },
            force=True,
        ),
    )
    digest.add(
        "delete",
        store.delete_image_set(datastore_id=datastore_id, image_set_id=ids[len(ids) // 2]),
    )
    clock.advance(3600)
    for image_set_id in (ids[-2], ids[-3], ids[1], ids[2], ids[len(ids) // 2]):
        where = {"datastore_id": datastore_id, "image_set_id": image_set_id}
        digest.add("after", _pages(store.list_image_set_versions, "", **where))
        answer = store.get_image_set_metadata(**where)
        digest.add("after metadata", gzip.decompress(answer["imageSetMetadataBlob"]))


def fingerprint(seed: int, image_sets: int) -> str:
    """Return the sha256 of every answer of a demo sandbox built with ``seed``, ``image_sets``."""
    clock = ManualClock(START)
    store = Backend(clock, id_seed=seed)
    populate(store, seed=seed, image_sets=image_sets)
    digest = _Digest()
    _reads(store, digest, "start")
    clock.advance(timedelta(hours=1).total_seconds())  # the demo's running operations end
    _reads(store, digest, "settled")
    _data_reads(store, digest)
    _reads(store, digest, "accessed")
    _mutations(store, clock, digest)
    _reads(store, digest, "mutated")
    return digest.hexdigest()


@pytest.mark.parametrize(("seed", "image_sets"), sorted(GOLDEN))
def test_demo_answers_as_before(seed: int, image_sets: int) -> None:
    pytest.importorskip("pydicom")  # the digests are of the demo made of real DICOM
    pytest.importorskip("imagecodecs")
    assert fingerprint(seed, image_sets) == GOLDEN[(seed, image_sets)]


if __name__ == "__main__":
    for seed, image_sets in sorted(GOLDEN):
        print(f"    ({seed}, {image_sets}): {fingerprint(seed, image_sets)!r},")
