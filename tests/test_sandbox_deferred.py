"""The deferred demo datastore (issue 23): searches answer from heads, reads write histories.

``demo-radiology`` starts with deferred image sets (:mod:`hi_widgets.sandbox.demo.deferred`):
each answers SearchImageSets from a head the light pass computed, and writes its history
through the demo builder on first read. These tests hold the two to the same answers; the
golden test (``test_sandbox_demo_golden.py``) holds both to what the eager build answered.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from hi_widgets import fetch_datastore, sandbox
from hi_widgets.sandbox.backend.domain import ImageSet, Version
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.backend.reads import image_set_summary
from hi_widgets.sandbox.demo.data import populate
from hi_widgets.sandbox.demo.deferred import delay_ticks
from hi_widgets.sandbox.demo.story import OPERATION_SECONDS
from hi_widgets.sandbox.runtime.clock import ManualClock

FAST = {
    "ListImageSetVersions": (5000, 5000),
    "GetImageSet": (5000, 5000),
    "SearchImageSets": (5000, 5000),
}


def _demo(seed: int, image_sets: int) -> tuple[Backend, str]:
    store = Backend(ManualClock(), id_seed=seed)
    populate(store, seed=seed, image_sets=image_sets)
    return store, store.datastore_ids()[0]


def _seen(image_set: ImageSet, version: Version, store: Backend) -> dict[str, Any]:
    """What a search, and GetImageSet of the latest version, answer of an image set."""
    return {
        "summary": image_set_summary(image_set, store.now()),
        "version": (
            version.version_id,
            version.state,
            version.workflow_status,
            version.created_at,
            version.updated_at,
            version.message,
            version.forced,
            version.is_primary,
        ),
        "created_at": image_set.created_at,
        "count": image_set.version_count,
    }


def test_delay_ticks_are_the_microseconds_of_timedelta() -> None:
    rng = random.Random(23)
    for low, high in OPERATION_SECONDS.values():
        for _ in range(20_000):
            delay = round(rng.uniform(low, high), 3)
            assert delay_ticks(delay) == timedelta(seconds=delay) // timedelta(microseconds=1)


@pytest.mark.parametrize(("seed", "image_sets"), [(0, 400), (11, 253)])
def test_every_head_is_the_latest_version_the_builder_writes(seed: int, image_sets: int) -> None:
    store, datastore_id = _demo(seed, image_sets)
    image_sets_found = [
        store.image_set(datastore_id, i) for i in store.image_set_ids(datastore_id)
    ]
    assert len(image_sets_found) == image_sets
    assert all(image_set.is_deferred for image_set in image_sets_found)
    for image_set in image_sets_found:
        before = _seen(image_set, image_set.head, store)
        image_set.versions  # noqa: B018  (writes the history)
        assert not image_set.is_deferred
        assert _seen(image_set, image_set.latest, store) == before, image_set.image_set_id
        assert [v.version_id for v in image_set.versions] == list(range(1, before["count"] + 1))


def test_searches_and_counts_write_no_history() -> None:
    store, datastore_id = _demo(3, 120)
    criteria: list[dict[str, Any]] = [
        {},
        {"sort": {"sortField": "createdAt", "sortOrder": "ASC"}},
        {"filters": [{"operator": "EQUAL", "values": [{"isPrimary": False}]}]},
        {"filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "DEMO-0007"}]}]},
    ]
    found = []
    for search_criteria in criteria:
        token = None
        while True:
            page = store.search_image_sets(
                datastore_id=datastore_id,
                search_criteria=search_criteria,
                **({"next_token": token} if token else {}),
            )
            found += page["imageSetsMetadataSummaries"]
            token = page.get("nextToken")
            if not token:
                break
    counts = [store.version_count(datastore_id, i) for i in store.image_set_ids(datastore_id)]
    assert found and sum(counts) > len(counts)
    image_sets = [store.image_set(datastore_id, i) for i in store.image_set_ids(datastore_id)]
    assert all(image_set.is_deferred for image_set in image_sets)


def test_the_first_read_writes_its_group_only() -> None:
    store, datastore_id = _demo(0, 30)
    ids = store.image_set_ids(datastore_id)
    store.get_image_set(datastore_id=datastore_id, image_set_id=ids[2])  # the late duplicate
    written = [
        i
        for i, image_set_id in enumerate(ids)
        if not store.image_set(datastore_id, image_set_id).is_deferred
    ]
    assert written == [1, 2]  # image set 1 and its late duplicate share a history
    store.list_image_set_versions(datastore_id=datastore_id, image_set_id=ids[13])
    written = [
        i
        for i, image_set_id in enumerate(ids)
        if not store.image_set(datastore_id, image_set_id).is_deferred
    ]
    assert written == [1, 2, 13, 14]  # 14 is the second series of 13's study


def test_an_update_of_a_deferred_image_set_is_searched_as_written() -> None:
    store, datastore_id = _demo(0, 60)
    image_set_id = store.image_set_ids(datastore_id)[40]
    latest = store.image_set(datastore_id, image_set_id).head.version_id
    first = store.search_image_sets(datastore_id=datastore_id, search_criteria={}, max_results=1)
    assert first["imageSetsMetadataSummaries"][0]["imageSetId"] != image_set_id
    answer = store.update_image_set_metadata(
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        latest_version_id=str(latest),
        update_image_set_metadata_updates={
            "DICOMUpdates": {
                "updatableAttributes": b'{"Study": {"DICOM": {"StudyDescription": "CHANGED"}}}'
            }
        },
    )
    assert answer["latestVersionId"] == str(latest + 1)
    store.clock.advance(60)  # type: ignore[attr-defined]
    page = store.search_image_sets(
        datastore_id=datastore_id, search_criteria={}, max_results=1
    )  # newest updatedAt first
    (summary,) = page["imageSetsMetadataSummaries"]
    assert summary["imageSetId"] == image_set_id
    assert summary["version"] == latest + 1
    assert summary["DICOMTags"]["DICOMStudyDescription"] == "CHANGED"


def _all_pages(store: Backend, datastore_id: str, criteria: dict[str, Any]) -> list[Any]:
    summaries, token = [], None
    while True:
        page = store.search_image_sets(
            datastore_id=datastore_id,
            search_criteria=criteria,
            **({"next_token": token} if token else {}),
        )
        summaries += page["imageSetsMetadataSummaries"]
        token = page.get("nextToken")
        if not token:
            return summaries


def test_searches_see_every_change_between_their_pages() -> None:
    store, datastore_id = _demo(1, 90)
    by_created = {"sort": {"sortField": "createdAt", "sortOrder": "ASC"}}
    before = _all_pages(store, datastore_id, {})
    assert len(before) == len(_all_pages(store, datastore_id, by_created)) == 90
    victim = before[10]["imageSetId"]
    store.delete_image_set(datastore_id=datastore_id, image_set_id=victim)
    deleting = _all_pages(store, datastore_id, {})
    assert deleting[0]["imageSetId"] == victim  # DELETING: updatedAt is now
    store.clock.advance(60)  # type: ignore[attr-defined]
    after = _all_pages(store, datastore_id, {})
    assert victim not in {summary["imageSetId"] for summary in after}
    assert [s["imageSetId"] for s in after] == [
        s["imageSetId"] for s in before if s["imageSetId"] != victim
    ]
    assert len(_all_pages(store, datastore_id, by_created)) == 89


@pytest.fixture(scope="module")
def big() -> Any:
    with sandbox.start(seed=4, image_sets=5000, quotas=False, clock=sandbox.ManualClock()) as sb:
        yield sb


def test_search_pages_through_every_image_set_of_a_5000_datastore_once(big: Any) -> None:
    datastore_id = big.store.datastore_ids()[0]
    client = big.client(max_attempts=1)
    summaries, token = [], None
    while True:
        page = client.search_image_sets(
            datastoreId=datastore_id, maxResults=50, **({"nextToken": token} if token else {})
        )
        summaries += page["imageSetsMetadataSummaries"]
        token = page.get("nextToken")
        if not token:
            break
    ids = [summary["imageSetId"] for summary in summaries]
    assert len(ids) == len(set(ids)) == 5000
    assert set(ids) == set(big.store.image_set_ids(datastore_id))
    updated = [summary["updatedAt"] for summary in summaries]
    assert updated == sorted(updated, reverse=True)  # the default order: newest first
    deferred = [
        big.store.image_set(datastore_id, image_set_id).is_deferred for image_set_id in ids
    ]
    assert all(deferred)  # the pages were answered without writing any history


def test_fetch_datastore_of_a_few_image_sets_of_a_5000_datastore(big: Any) -> None:
    datastore_id = big.store.datastore_ids()[0]
    patient = "DEMO-0321"  # studies 641 and 642 (two a patient): image sets 640, 641, 642
    ids = big.store.image_set_ids(datastore_id)
    matching = ids[640:643]  # 642 is 641's late duplicate
    result = fetch_datastore(
        big.client(max_attempts=1), datastore_id, patient_id=patient, quota_rates=FAST
    )
    assert result.ok
    for image_set_id in matching:
        document = big.store.metadata_document(datastore_id, image_set_id)
        assert document["Patient"]["DICOM"]["PatientID"] == patient
    expected = {
        (image_set_id, version["versionId"], version["updatedAt"])
        for image_set_id in matching
        for version in big.store.versions(datastore_id, image_set_id)
    }
    frame = result.frame
    got = set(
        zip(frame["imageSetId"], frame["versionId"].astype(str), frame["updatedAt"], strict=True)
    )
    assert got == expected
