"""fetch_datastore: a whole datastore over two operations' quotas, each version once."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from records_factory import STUB_DS, STUB_IS, STUB_TIME, got_version, listed_version

import hi_widgets
from hi_widgets import (
    AccessDeniedError,
    fetch_datastore,
    fetch_versions,
    image_sets_frame,
    sandbox,
)
from hi_widgets.api.tables import VERSION_KEY
from hi_widgets.bulk._routing import GET, LIST, Router
from hi_widgets.limits.ratelimit import RateLimiter

DS, IS, T0 = STUB_DS, STUB_IS, STUB_TIME
FAST = {"ListImageSetVersions": (5000, 5000), "GetImageSet": (5000, 5000)}


@pytest.fixture
def sb():
    with sandbox.start(seed=2, image_sets=80, quotas=False) as box:
        yield box


def searchable_truth(sb, ds):
    """(imageSetId, versionId) of every image set SearchImageSets returns."""
    found = sb.client().search_image_sets(datastoreId=ds, maxResults=50)
    ids = {s["imageSetId"] for s in found["imageSetsMetadataSummaries"]}
    token = found.get("nextToken")
    while token:
        found = sb.client().search_image_sets(datastoreId=ds, maxResults=50, nextToken=token)
        ids |= {s["imageSetId"] for s in found["imageSetsMetadataSummaries"]}
        token = found.get("nextToken")
    return {(i, v["versionId"]) for i in ids for v in sb.store.versions(ds, i)}


def searchable_truth_ids(sb, ds):
    return {image_set for image_set, _ in searchable_truth(sb, ds)}


def test_every_version_of_every_image_set_once_using_both_operations(sb):
    ds = sb.store.datastore_ids()[0]
    calls = []
    result = fetch_datastore(
        sb.client(),
        ds,
        quota_rates=FAST,
        progress=lambda p: calls.append((p.done, p.total, p.item)),
    )
    sent = list(sb.requests)
    assert result.ok and result.errors.empty
    frame = result.frame
    rows = set(zip(frame["imageSetId"], frame["versionId"].astype(int), strict=True))
    assert rows == {(i, int(v)) for i, v in searchable_truth(sb, ds)}
    assert not result.frame.duplicated(list(VERSION_KEY)).any()
    operations = collections.Counter(r.operation for r in sent)
    assert operations["GetImageSet"] > 0 and operations["ListImageSetVersions"] > 0
    assert result.stats.requests == len(sent)
    assert [c[0] for c in calls] == list(range(1, result.stats.items + 1))
    # A single-version image set fetched by GetImageSet carries GetImageSet's fields.
    by_get = result.frame[result.frame["imageSetArn"].notna()]
    assert len(by_get) > 0


def test_search_criteria_narrow_the_datastore(sb):
    ds = sb.store.datastore_ids()[0]
    first = sb.client().search_image_sets(datastoreId=ds, maxResults=1)
    patient = first["imageSetsMetadataSummaries"][0]["DICOMTags"]["DICOMPatientId"]
    criteria = {"filters": [{"values": [{"DICOMPatientId": patient}], "operator": "EQUAL"}]}
    result = fetch_datastore(sb.client(), ds, search_criteria=criteria, quota_rates=FAST)
    assert result.ok and 0 < result.stats.items < len(sb.store.image_set_ids(ds))


def test_search_keywords_narrow_the_datastore_like_search_image_sets(sb):
    ds = sb.store.datastore_ids()[0]
    first = sb.client().search_image_sets(datastoreId=ds, maxResults=1)
    patient = first["imageSetsMetadataSummaries"][0]["DICOMTags"]["DICOMPatientId"]
    expected = {
        s["imageSetId"] for s in hi_widgets.search_image_sets(sb.client(), ds, patient_id=patient)
    }
    result = fetch_datastore(sb.client(), ds, patient_id=patient, quota_rates=FAST)
    assert result.ok and set(result.frame["imageSetId"]) == expected
    everything = (dt.date(2000, 1, 1), None)  # an open end: up to now
    dated = fetch_datastore(sb.client(), ds, created_between=everything, quota_rates=FAST)
    assert dated.stats.items == len(searchable_truth_ids(sb, ds))
    with pytest.raises(ValueError, match="not both"):
        fetch_datastore(sb.client(), ds, patient_id=patient, search_criteria={"filters": []})


def test_the_router_balances_the_two_queues_and_prefers_get_for_single_versions():
    router = Router(RateLimiter())
    assert router.route(1) == GET  # a tie: the same cost, a fuller record
    assert router.route(30) == LIST
    assert router.route(None) == LIST  # unknown history: one listing shows it
    lanes = [router.route(v) for v in [1] * 10 + [5] * 40]
    assert lanes.count(GET) >= 10 and lanes.count(LIST) > 0
    assert abs(router.queued[GET] - router.queued[LIST]) <= 5 / 25


def test_bad_arguments_before_any_request(sb):
    with pytest.raises(ValueError, match="datastoreId"):
        fetch_datastore(sb.client(), "nope")
    with pytest.raises(TypeError, match="search_criteria"):
        fetch_datastore(sb.client(), DS, search_criteria=[("a", 1)])
    with pytest.raises(ValueError, match="unknown HealthImaging operation"):
        fetch_datastore(sb.client(), DS, quota_rates={"GetImageSets": (1, 1)})
    assert sb.requests == []


# --------------------------------------------------------------------- stubbed client


def search_returns(stub, version):
    summary = {"imageSetId": IS, "version": version, "createdAt": T0, "updatedAt": T0}
    stub.add_response(
        "search_image_sets",
        {"imageSetsMetadataSummaries": [summary]},
        {"datastoreId": DS, "maxResults": 50},
    )


def test_an_image_set_updated_after_the_search_is_completed_by_listing(stubbed):
    client, stub = stubbed
    search_returns(stub, 1)  # planned as one GetImageSet ...
    stub.add_response("get_image_set", got_version(3), {"datastoreId": DS, "imageSetId": IS})
    stub.add_response(  # ... but it has three versions now: listed, each once
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(3), listed_version(2), listed_version(1)]},
        {"datastoreId": DS, "imageSetId": IS, "maxResults": 50},
    )
    result = fetch_datastore(client, DS, quota_rates=FAST)
    assert result.ok
    assert sorted(result.frame["versionId"].astype(int)) == [1, 2, 3]
    latest = result.frame.set_index("versionId").loc[3]
    assert latest["imageSetArn"].startswith("arn:")  # GetImageSet's record kept for it


def test_a_failed_first_search_page_raises(stubbed):
    client, stub = stubbed
    stub.add_client_error("search_image_sets", "AccessDeniedException", "denied", 403)
    with pytest.raises(AccessDeniedError, match="SearchImageSets"):
        fetch_datastore(client, DS, quota_rates=FAST)


def test_fetch_versions_of_a_search_frame_routes_by_its_known_versions(sb):
    ds = sb.store.datastore_ids()[0]
    summaries = sb.client().search_image_sets(datastoreId=ds, maxResults=50)
    found = image_sets_frame(summaries["imageSetsMetadataSummaries"], datastore_id=ds)
    sent = len(sb.requests)
    result = fetch_versions(sb.client(), found, quota_rates=FAST)
    operations = collections.Counter(r.operation for r in sb.requests[sent:])
    assert operations["GetImageSet"] > 0 and operations["ListImageSetVersions"] > 0
    assert result.ok and result.stats.items == len(found)
    truth = {
        (i, int(v["versionId"])) for i in found["imageSetId"] for v in sb.store.versions(ds, i)
    }
    frame = result.frame
    assert set(zip(frame["imageSetId"], frame["versionId"].astype(int), strict=True)) == truth
    assert not frame.duplicated(list(VERSION_KEY)).any()
    # An explicit strategy keeps its meaning: "list" lists every image set.
    sent = len(sb.requests)
    fetch_versions(sb.client(), found, quota_rates=FAST, strategy="list")
    assert {r.operation for r in sb.requests[sent:]} == {"ListImageSetVersions"}


def test_every_request_in_flight_has_a_pooled_connection(caplog):
    # Two lanes of 8 workers and the search: 17 requests in flight, more than botocore's
    # default pool of 10. A connection that does not fit in the pool is discarded with a
    # urllib3 warning per request (a notebook full of them) and opened again next time.
    with sandbox.start(seed=2, image_sets=120, quotas=False, latency_ms=30) as box:
        ds = box.store.datastore_ids()[0]
        with caplog.at_level("WARNING", logger="urllib3"):
            result = fetch_datastore(box.client(), ds, max_workers=8, quota_rates=FAST)
    assert result.errors.empty and result.stats.completed == 120
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
