"""The sandbox through a real boto3 client over HTTP: reads, pagination, errors, auth."""

from __future__ import annotations

import base64
import gzip
import inspect
import json
import re
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime

import boto3
import botocore
import pytest
from botocore.config import Config

from hi_widgets import sandbox
from hi_widgets.api.model import image_set_states, service_model, workflow_statuses
from hi_widgets.sandbox.backend.domain import make_id
from hi_widgets.sandbox.demo.data import LONG_HISTORY, OPERATION_SECONDS

ERROR_CODES = (
    "ThrottlingException",
    "ConflictException",
    "AccessDeniedException",
    "ValidationException",
    "InternalServerException",
    "ResourceNotFoundException",
)


@pytest.fixture(scope="module")
def sb():
    with sandbox.start(seed=0, quotas=False) as running:
        yield running


@pytest.fixture(scope="module")
def client(sb):
    client = sb.client(max_attempts=1)
    yield client
    client.close()


@pytest.fixture(scope="module")
def raw_client(sb):
    """A client that skips botocore's own parameter validation (min/max/required)."""
    client = sb.client(max_attempts=1, config=Config(parameter_validation=False))
    yield client
    client.close()


@pytest.fixture(scope="module")
def ds(sb):
    return sb.store.datastore_ids()[0]


@pytest.fixture(scope="module")
def long_set(sb):
    ds_index, index = LONG_HISTORY
    datastore_id = sb.store.datastore_ids()[ds_index]
    return datastore_id, sb.store.image_set_ids(datastore_id)[index]


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def status_of(excinfo) -> int:
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


# ----------------------------------------------------------------------------- demo data


def test_demo_layout(sb):
    datastores = sb.store.datastore_ids()
    assert len(datastores) >= 2
    sizes = [len(sb.store.image_set_ids(d)) for d in datastores]
    assert sizes[0] >= 30 and sum(sizes) >= 40
    counts = [sb.store.version_count(d, i) for d in datastores for i in sb.store.image_set_ids(d)]
    assert min(counts) == 1 and max(counts) > 50
    assert any(55 <= c <= 120 for c in counts)
    assert sum(counts) < 3000


def test_demo_covers_every_state_and_status_with_messages():
    # A ManualClock: the demo's last operations are still running (LOCKED) until it moves.
    box = sandbox.Sandbox(clock=sandbox.ManualClock())  # built, never started
    versions = [
        v
        for d in box.store.datastore_ids()
        for i in box.store.image_set_ids(d)
        for v in box.store.versions(d, i)
    ]
    assert {v["imageSetState"] for v in versions} >= set(image_set_states())
    assert {v["imageSetWorkflowStatus"] for v in versions} >= set(workflow_statuses())
    message_pattern = re.compile(service_model().shape_for("Message").metadata["pattern"])
    for v in versions:
        if v["imageSetWorkflowStatus"].endswith("_FAILED"):
            assert message_pattern.fullmatch(v["message"])
        assert v["updatedAt"] >= v["createdAt"]
        assert v["imageSetState"] != "DELETED" or "deletedAt" in v
    assert any(v.get("overrides", {}).get("forced") for v in versions)
    assert {v["isPrimary"] for v in versions} == {True, False}
    assert {v["storageTier"] for v in versions} == {"FREQUENT_ACCESS", "ARCHIVE_INSTANT_ACCESS"}


def test_demo_operations_take_as_long_as_their_kind_does(sb, long_set):
    # The long history has every kind; a copy takes minutes, a failed update seconds. When
    # each operation started is the sandbox's own record (Version.created_at): AWS reports
    # only the image set's createdAt and each version's updatedAt, so no duration can be
    # read over the wire (CLI reference, list-image-set-versions example,
    # https://docs.aws.amazon.com/healthimaging/latest/devguide/list-image-set-versions.html).
    kinds = {
        "IMPORTED": ("import",),
        "UPDATED": ("update", "force", "revert"),
        "COPIED": ("copy",),
        "UPDATE_FAILED": ("fail-update",),
        "COPY_FAILED": ("fail-copy",),
    }
    seconds_by_status: dict[str, list[float]] = {}
    for version in sb.store.image_set(*long_set).versions:
        status = version.workflow_status
        seconds = (version.updated_at - version.created_at).total_seconds()
        low = min(OPERATION_SECONDS[k][0] for k in kinds[status])
        high = max(OPERATION_SECONDS[k][1] for k in kinds[status])
        assert low - 0.002 <= seconds <= high + 0.002, (version.version_id, status, seconds)
        seconds_by_status.setdefault(status, []).append(seconds)
    assert set(seconds_by_status) == set(kinds)
    assert len({round(s) for s in seconds_by_status["UPDATED"]}) > 20  # not one fixed delay


def test_demo_is_deterministic_and_seeded():
    # Same seed and same clock, same data. (The demo's last access times are drawn relative
    # to the sandbox's start, so the storage tiers follow its clock.)
    def started(seed):
        return sandbox.start(seed=seed, clock=sandbox.ManualClock(datetime(2025, 6, 1)))

    with started(0) as a, started(0) as b, started(1) as c:
        ds_a, ds_c = a.store.datastore_ids()[0], c.store.datastore_ids()[0]
        assert a.store.datastore_ids() == b.store.datastore_ids()
        first = a.store.image_set_ids(ds_a)[1]
        assert a.store.versions(ds_a, first) == b.store.versions(ds_a, first)
        assert ds_a != ds_c
        assert len(c.store.versions(ds_c, c.store.image_set_ids(ds_c)[1])) == 73


def test_bigger_first_datastore():
    with sandbox.start(image_sets=220) as big:
        ds = big.store.datastore_ids()[0]
        assert len(big.store.image_set_ids(ds)) == 220


def test_synthetic_dicom_tags_are_obviously_fake(client, ds):
    summaries = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    for summary in summaries:
        tags = summary["DICOMTags"]
        assert re.fullmatch(r"DEMO\^PATIENT\^\d{3}", tags["DICOMPatientName"])
        assert re.fullmatch(r"DEMO-\d{4}", tags["DICOMPatientId"])


# ---------------------------------------------------------------------------- datastores


def test_list_and_get_datastores(client, sb):
    pages = list(
        client.get_paginator("list_datastores").paginate(PaginationConfig={"PageSize": 1})
    )
    summaries = [s for page in pages for s in page["datastoreSummaries"]]
    assert len(pages) == len(sb.store.datastore_ids())
    assert [s["datastoreId"] for s in summaries] == sb.store.datastore_ids()
    assert summaries[0]["datastoreName"] == "demo-radiology"
    assert all(s["datastoreStatus"] == "ACTIVE" for s in summaries)
    props = client.get_datastore(datastoreId=summaries[0]["datastoreId"])["datastoreProperties"]
    assert props["datastoreArn"].endswith(summaries[0]["datastoreId"])
    filtered = client.list_datastores(datastoreStatus="DELETED")["datastoreSummaries"]
    assert filtered == []


# ----------------------------------------------------------------------------- image sets


def test_get_image_set_latest_and_by_version(client, sb, long_set):
    ds, image_set = long_set
    truth = sb.store.versions(ds, image_set)
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)
    assert latest["versionId"] == "73"
    third = client.get_image_set(datastoreId=ds, imageSetId=image_set, versionId="3")
    expected = dict(truth[2])
    got = {k: v for k, v in third.items() if k != "ResponseMetadata"}
    assert got == expected
    assert sb.requests[-1].params["versionId"] == "3"


def test_get_image_set_unknown_version_is_not_found(client, long_set):
    ds, image_set = long_set
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.get_image_set(datastoreId=ds, imageSetId=image_set, versionId="999")
    assert status_of(excinfo) == 404


def test_unknown_image_set_and_datastore_are_not_found(client, ds):
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_image_set(datastoreId=ds, imageSetId="0" * 32)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_datastore(datastoreId="0" * 32)


def test_list_image_set_versions_paginates_newest_first(client, sb, long_set):
    ds, image_set = long_set
    sb.clear_requests()
    pages = list(
        client.get_paginator("list_image_set_versions").paginate(
            datastoreId=ds, imageSetId=image_set
        )
    )
    assert [len(p["imageSetPropertiesList"]) for p in pages] == [50, 23]
    assert "nextToken" not in pages[-1]
    items = [item for page in pages for item in page["imageSetPropertiesList"]]
    assert [int(i["versionId"]) for i in items] == list(range(73, 0, -1))
    assert all("ImageSetWorkflowStatus" in i and "imageSetWorkflowStatus" not in i for i in items)
    truth = {v["versionId"]: v for v in sb.store.versions(ds, image_set)}
    for item in items:
        assert item["ImageSetWorkflowStatus"] == truth[item["versionId"]]["imageSetWorkflowStatus"]
        assert item["createdAt"] == truth[item["versionId"]]["createdAt"]
    assert [e.operation for e in sb.requests] == ["ListImageSetVersions"] * 2


@pytest.mark.parametrize("count", [50, 51])
def test_list_image_set_versions_page_boundaries(client, sb, count):
    ds = sb.store.datastore_ids()[1]
    image_set = next(
        i for i in sb.store.image_set_ids(ds) if sb.store.version_count(ds, i) == count
    )
    pages = list(
        client.get_paginator("list_image_set_versions").paginate(
            datastoreId=ds, imageSetId=image_set, PaginationConfig={"PageSize": 7}
        )
    )
    versions = [i["versionId"] for p in pages for i in p["imageSetPropertiesList"]]
    assert versions == [str(v) for v in range(count, 0, -1)]
    # At the service's page size: exactly 50 is one page, no token, no empty page after.
    full = list(
        client.get_paginator("list_image_set_versions").paginate(
            datastoreId=ds, imageSetId=image_set, PaginationConfig={"PageSize": 50}
        )
    )
    assert [len(p["imageSetPropertiesList"]) for p in full] == ([50] if count == 50 else [50, 1])
    assert "nextToken" not in full[-1]


def test_get_image_set_metadata_is_gzip_json_and_versions_differ(client, long_set):
    ds, image_set = long_set
    response = client.get_image_set_metadata(datastoreId=ds, imageSetId=image_set, versionId="2")
    assert response["contentType"] == "application/json"
    assert response["contentEncoding"] == "gzip"
    raw = response["imageSetMetadataBlob"].read()
    assert raw[:2] == b"\x1f\x8b"
    second = json.loads(gzip.decompress(raw))
    assert second["ImageSetID"] == image_set and second["DatastoreID"] == ds
    assert {"Patient", "Study"} <= set(second)
    series = second["Study"]["Series"]
    assert all("Instances" in s for s in series.values())
    latest_raw = client.get_image_set_metadata(datastoreId=ds, imageSetId=image_set)[
        "imageSetMetadataBlob"
    ].read()
    assert json.loads(gzip.decompress(latest_raw)) != second


def test_search_paginates_to_the_last_page(client, sb, ds):
    pages = list(
        client.get_paginator("search_image_sets").paginate(
            datastoreId=ds, PaginationConfig={"PageSize": 7}
        )
    )
    ids = [s["imageSetId"] for p in pages for s in p["imageSetsMetadataSummaries"]]
    latest = {i: sb.store.versions(ds, i)[-1] for i in sb.store.image_set_ids(ds)}
    live = [i for i, v in latest.items() if v["imageSetState"] != "DELETED"]
    # With no sort, newest updatedAt first (SearchImageSets API reference: "By default,
    # SearchImageSets uses the updatedAt field for sorting in descending order from newest
    # to oldest."); ties keep creation order.
    assert ids == sorted(live, key=lambda i: latest[i]["updatedAt"], reverse=True)
    assert len(pages) == -(-len(live) // 7)


def test_search_without_matches_is_one_empty_page(client, ds):
    criteria = {"filters": [{"values": [{"DICOMPatientId": "NOBODY"}], "operator": "EQUAL"}]}
    pages = list(
        client.get_paginator("search_image_sets").paginate(datastoreId=ds, searchCriteria=criteria)
    )
    assert [p["imageSetsMetadataSummaries"] for p in pages] == [[]]
    assert "nextToken" not in pages[0]


def test_search_filters_and_sort(client, sb, ds):
    everything = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    patient = everything[3]["DICOMTags"]["DICOMPatientId"]
    equal = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={
            "filters": [{"values": [{"DICOMPatientId": patient}], "operator": "EQUAL"}]
        },
    )["imageSetsMetadataSummaries"]
    assert equal and all(s["DICOMTags"]["DICOMPatientId"] == patient for s in equal)
    assert len(equal) == sum(s["DICOMTags"]["DICOMPatientId"] == patient for s in everything)

    uid = everything[5]["DICOMTags"]["DICOMStudyInstanceUID"]
    by_uid = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={
            "filters": [{"values": [{"DICOMStudyInstanceUID": uid}], "operator": "EQUAL"}]
        },
    )["imageSetsMetadataSummaries"]
    # A study of several series is several image sets (one series each).
    assert [s["imageSetId"] for s in by_uid] == [
        s["imageSetId"] for s in everything if s["DICOMTags"]["DICOMStudyInstanceUID"] == uid
    ]

    created = sorted(s["createdAt"] for s in everything)
    low, high = created[5], created[15]
    response = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={
            "filters": [
                {"values": [{"createdAt": low}, {"createdAt": high}], "operator": "BETWEEN"}
            ],
            "sort": {"sortField": "createdAt", "sortOrder": "DESC"},
        },
    )
    between = response["imageSetsMetadataSummaries"]
    assert len(between) == 11
    assert [s["createdAt"] for s in between] == sorted(created[5:16], reverse=True)
    assert response["sort"] == {"sortField": "createdAt", "sortOrder": "DESC"}

    primaries = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={"filters": [{"values": [{"isPrimary": False}], "operator": "EQUAL"}]},
    )["imageSetsMetadataSummaries"]
    assert primaries and all(s["isPrimary"] is False for s in primaries)

    dates = sorted(s["DICOMTags"]["DICOMStudyDate"] for s in everything)
    study_range = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={
            "filters": [
                {
                    "values": [
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": dates[0]}},
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": dates[9]}},
                    ],
                    "operator": "BETWEEN",
                }
            ],
            "sort": {"sortField": "DICOMStudyDateAndTime", "sortOrder": "ASC"},
        },
    )["imageSetsMetadataSummaries"]
    got_dates = [s["DICOMTags"]["DICOMStudyDate"] for s in study_range]
    assert got_dates == sorted(got_dates)

    # AWS CLI reference, search-image-sets
    # (https://docs.aws.amazon.com/cli/latest/reference/medical-imaging/search-image-sets.html):
    # a bound without DICOMStudyTime is the start of its day, so a study later on the
    # upper bound's date is outside the range.
    def moment(tags):
        time = (tags.get("DICOMStudyTime") or "").partition(".")[0]
        return tags["DICOMStudyDate"] + time.ljust(6, "0")

    expected = {
        s["imageSetId"]
        for s in everything
        if dates[0] + "000000" <= moment(s["DICOMTags"]) <= dates[9] + "000000"
    }
    assert {s["imageSetId"] for s in study_range} == expected and len(expected) >= 5


# -------------------------------------------------------------------------------- errors


def test_every_error_code_is_on_the_wire_with_model_status(client, raw_client, sb, long_set):
    ds, image_set = long_set
    model = service_model()
    seen = {}

    def record(call):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            call()
        code = error_code(excinfo)
        seen[code] = status_of(excinfo)
        assert (
            excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
        )
        assert excinfo.value.response["Error"]["Message"]

    record(lambda: raw_client.get_image_set(datastoreId="nope", imageSetId=image_set))
    record(lambda: client.get_image_set(datastoreId=ds, imageSetId="f" * 32))
    record(
        lambda: client.update_image_set_metadata(
            datastoreId=ds,
            imageSetId=image_set,
            latestVersionId="1",
            updateImageSetMetadataUpdates={"revertToVersionId": "1"},
        )
    )
    sb.deny("GetImageSet")
    try:
        record(lambda: client.get_image_set(datastoreId=ds, imageSetId=image_set))
    finally:
        sb.allow("GetImageSet")
    sb.set_faults(error_rate=1.0, operations=["GetImageSet"])
    try:
        record(lambda: client.get_image_set(datastoreId=ds, imageSetId=image_set))
    finally:
        sb.set_faults()
    sb.set_faults(throttle_rate=1.0)
    try:
        record(lambda: client.get_image_set(datastoreId=ds, imageSetId=image_set))
    finally:
        sb.set_faults()
    assert set(seen) == set(ERROR_CODES)
    for code, status in seen.items():
        assert status == model.shape_for(code).metadata["error"]["httpStatusCode"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"datastoreId": "ABC", "imageSetId": "a" * 32}, "regular expression pattern"),
        ({"datastoreId": "a" * 31, "imageSetId": "a" * 32}, "datastoreId"),
        ({"datastoreId": "a" * 32, "imageSetId": "a" * 32, "versionId": "v1"}, "versionId"),
    ],
)
def test_pattern_violations_are_validation_errors(raw_client, kwargs, fragment):
    with pytest.raises(raw_client.exceptions.ValidationException) as excinfo:
        raw_client.get_image_set(**kwargs)
    assert fragment in excinfo.value.response["Error"]["Message"]
    assert status_of(excinfo) == 400


@pytest.mark.parametrize("max_results", [0, 51])
@pytest.mark.parametrize("operation", ["list_image_set_versions", "search_image_sets"])
def test_max_results_out_of_range(raw_client, long_set, operation, max_results):
    ds, image_set = long_set
    kwargs = {"datastoreId": ds, "maxResults": max_results}
    if operation == "list_image_set_versions":
        kwargs["imageSetId"] = image_set
    with pytest.raises(raw_client.exceptions.ValidationException) as excinfo:
        getattr(raw_client, operation)(**kwargs)
    message = excinfo.value.response["Error"]["Message"]
    assert "maxResults" in message
    assert ("greater than or equal to 1" if max_results == 0 else "less than or equal to 50") in (
        message
    )


def test_max_results_51_with_a_default_client(client, long_set):
    # botocore checks min but not max client-side: the server must reject 51.
    ds, image_set = long_set
    with pytest.raises(client.exceptions.ValidationException):
        client.list_image_set_versions(datastoreId=ds, imageSetId=image_set, maxResults=51)


def test_enum_union_and_required_violations(raw_client, ds, long_set):
    _, image_set = long_set
    with pytest.raises(raw_client.exceptions.ValidationException) as excinfo:
        raw_client.search_image_sets(
            datastoreId=ds,
            searchCriteria={
                "filters": [{"values": [{"DICOMPatientId": "x"}], "operator": "LIKE"}]
            },
        )
    assert "enum value set" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(raw_client.exceptions.ValidationException) as excinfo:
        raw_client.search_image_sets(
            datastoreId=ds,
            searchCriteria={
                "filters": [
                    {"values": [{"DICOMPatientId": "x", "DICOMStudyId": "y"}], "operator": "EQUAL"}
                ]
            },
        )
    assert "exactly one" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(raw_client.exceptions.ValidationException) as excinfo:
        raw_client.update_image_set_metadata(
            datastoreId=ds, imageSetId=image_set, updateImageSetMetadataUpdates={}
        )
    message = excinfo.value.response["Error"]["Message"]
    assert "latestVersionId" in message and "must not be null" in message


def test_invalid_next_token_is_a_validation_error(client, long_set):
    ds, image_set = long_set
    with pytest.raises(client.exceptions.ValidationException):
        client.list_image_set_versions(datastoreId=ds, imageSetId=image_set, nextToken="garbage")


def forged_token(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("list_image_set_versions", {"k": "ListImageSetVersions", "i": None, "v": "x"}),
        ("list_image_set_versions", {"k": "ListImageSetVersions", "i": None}),
        ("list_datastores", {"k": "ListDatastores"}),
        ("list_datastores", {"k": "ListDatastores", "o": -1}),
        ("list_datastores", {"k": "ListDatastores", "o": True}),
        ("search_image_sets", {"k": "SearchImageSets", "q": make_id("{}")}),  # no criteria
        ("list_datastores", ["ListDatastores", 1]),
    ],
)
def test_forged_next_tokens_are_validation_errors_not_server_errors(
    client, sb, long_set, operation, payload
):
    ds, image_set = long_set
    if isinstance(payload, dict) and payload.get("i", "") is None:
        payload = {**payload, "i": image_set}
    kwargs = {"nextToken": forged_token(payload)}
    if operation != "list_datastores":
        kwargs["datastoreId"] = ds
    if operation == "list_image_set_versions":
        kwargs["imageSetId"] = image_set
    with pytest.raises(client.exceptions.ValidationException):
        getattr(client, operation)(**kwargs)
    assert sb.requests[-1].status == 400


# ---------------------------------------------------------------------------------- auth


def test_unsigned_request_is_access_denied_urllib(sb, long_set):
    ds, image_set = long_set
    url = f"{sb.endpoint_url}/datastore/{ds}/imageSet/{image_set}/getImageSet"
    request = urllib.request.Request(url, data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "message" in json.loads(excinfo.value.read())
    excinfo.value.close()
    assert sb.requests[-1].error == "AccessDeniedException"


def test_unsigned_request_is_access_denied_botocore(sb, long_set):
    ds, image_set = long_set
    unsigned = sb.client(max_attempts=1, config=Config(signature_version=botocore.UNSIGNED))
    with pytest.raises(unsigned.exceptions.AccessDeniedException):
        unsigned.get_image_set(datastoreId=ds, imageSetId=image_set)


def test_unknown_route_is_404(sb):
    request = urllib.request.Request(f"{sb.endpoint_url}/nowhere", method="GET")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert excinfo.value.code == 404
    excinfo.value.close()


def test_allowed_access_key_ids():
    with sandbox.start(access_key_ids={"SOMEONEELSE"}) as locked:
        client = locked.client(max_attempts=1)
        with pytest.raises(client.exceptions.AccessDeniedException):
            client.list_datastores()
        client.close()


def test_deny_only_some_image_sets(client, sb, ds):
    first, second = sb.store.image_set_ids(ds)[:2]
    sb.deny("ListImageSetVersions", image_set_ids=[first])
    try:
        with pytest.raises(client.exceptions.AccessDeniedException):
            client.list_image_set_versions(datastoreId=ds, imageSetId=first)
        client.list_image_set_versions(datastoreId=ds, imageSetId=second)
        client.get_image_set(datastoreId=ds, imageSetId=first)
    finally:
        sb.allow("ListImageSetVersions")
    client.list_image_set_versions(datastoreId=ds, imageSetId=first)


# ------------------------------------------------------------------------- plain clients


def test_plain_boto3_with_only_env(sb, monkeypatch, tmp_path, long_set):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for key, value in sb.env().items():
        monkeypatch.setenv(key, value)
    ds, image_set = long_set
    plain = boto3.client("medical-imaging")
    assert plain.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"] == "73"
    pages = plain.get_paginator("list_image_set_versions").paginate(
        datastoreId=ds, imageSetId=image_set
    )
    assert sum(len(p["imageSetPropertiesList"]) for p in pages) == 73


def test_env_contents(sb):
    env = sb.env()
    assert env["AWS_ENDPOINT_URL_MEDICAL_IMAGING"] == sb.endpoint_url
    assert env["AWS_DISABLE_HOST_PREFIX_INJECTION"] == "true"
    assert env["AWS_DEFAULT_REGION"] == sb.region == "us-east-1"
    # The AWS SDK for JavaScript v3 reads AWS_REGION, not AWS_DEFAULT_REGION (issue 20;
    # https://docs.aws.amazon.com/sdk-for-javascript/latest/developer-guide/setting-region.html).
    assert env["AWS_REGION"] == sb.region
    assert "DUMMY" in env["AWS_ACCESS_KEY_ID"] and "dummy" in env["AWS_SECRET_ACCESS_KEY"]
    assert sb.endpoint_url.startswith("http://127.0.0.1:")


def test_start_takes_the_keyword_arguments_of_sandbox():
    assert (
        inspect.signature(sandbox.start).parameters
        == inspect.signature(sandbox.Sandbox).parameters
    )
    with pytest.raises(TypeError, match="no_such_option"):
        sandbox.start(no_such_option=1)


# --------------------------------------------------------------------------- request log


def test_request_log_counts_calls(client, sb, ds):
    sb.clear_requests()
    assert sb.requests == []
    client.list_datastores()
    client.get_datastore(datastoreId=ds)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_datastore(datastoreId="0" * 32)
    log = sb.requests
    assert Counter(e.operation for e in log) == {"ListDatastores": 1, "GetDatastore": 2}
    assert log[1] == sandbox.RequestLogEntry("GetDatastore", {"datastoreId": ds}, 200, None)
    assert log[2].status == 404 and log[2].error == "ResourceNotFoundException"
    log.append("not shared")
    assert len(sb.requests) == 3


@pytest.mark.parametrize(
    ("attribute", "tag"),
    [
        ("DICOMPatientId", "DICOMPatientId"),
        ("DICOMAccessionNumber", "DICOMAccessionNumber"),
        ("DICOMStudyId", "DICOMStudyId"),
        ("DICOMStudyInstanceUID", "DICOMStudyInstanceUID"),
        ("DICOMSeriesInstanceUID", "DICOMSeriesInstanceUID"),
    ],
)
def test_search_equal_on_each_dicom_attribute(client, ds, attribute, tag):
    everything = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    wanted = everything[7]["DICOMTags"][tag]
    found = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={"filters": [{"values": [{attribute: wanted}], "operator": "EQUAL"}]},
    )["imageSetsMetadataSummaries"]
    assert everything[7]["imageSetId"] in {s["imageSetId"] for s in found}
    assert all(s["DICOMTags"][tag] == wanted for s in found)


def test_search_two_filters_are_and_ed_and_updated_at_between(client, ds):
    everything = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"]
    updated = sorted(s["updatedAt"] for s in everything)
    window = [{"updatedAt": updated[0]}, {"updatedAt": updated[-1]}]
    both = client.search_image_sets(
        datastoreId=ds,
        searchCriteria={
            "filters": [
                {"values": window, "operator": "BETWEEN"},
                {"values": [{"isPrimary": True}], "operator": "EQUAL"},
            ],
            "sort": {"sortField": "updatedAt", "sortOrder": "ASC"},
        },
    )["imageSetsMetadataSummaries"]
    assert [s["imageSetId"] for s in both] == [
        s["imageSetId"] for s in sorted(everything, key=lambda s: s["updatedAt"]) if s["isPrimary"]
    ]


def test_search_filter_misuse_is_a_validation_error(client, ds):
    bad_filters = [
        [{"values": [{"DICOMPatientId": "a"}, {"DICOMPatientId": "b"}], "operator": "EQUAL"}],
        [{"values": [{"DICOMPatientId": "a"}], "operator": "BETWEEN"}],
        [{"values": [{"DICOMPatientId": "a"}, {"DICOMStudyId": "b"}], "operator": "BETWEEN"}],
    ]
    for filters in bad_filters:
        with pytest.raises(client.exceptions.ValidationException):
            client.search_image_sets(datastoreId=ds, searchCriteria={"filters": filters})


def test_search_next_token_is_bound_to_the_criteria(client, ds):
    first = client.search_image_sets(datastoreId=ds, maxResults=2)
    with pytest.raises(client.exceptions.ValidationException):
        client.search_image_sets(
            datastoreId=ds,
            maxResults=2,
            nextToken=first["nextToken"],
            searchCriteria={"sort": {"sortField": "createdAt", "sortOrder": "ASC"}},
        )


@pytest.mark.parametrize("size", [1, 5])
def test_small_first_datastore_still_shows_every_state_and_status(size):
    small = sandbox.Sandbox(image_sets=size, clock=sandbox.ManualClock())  # never started
    versions = [
        v
        for d in small.store.datastore_ids()
        for i in small.store.image_set_ids(d)
        for v in small.store.versions(d, i)
    ]
    assert {v["imageSetWorkflowStatus"] for v in versions} >= set(workflow_statuses())
    assert {v["imageSetState"] for v in versions} >= set(image_set_states())
    assert len(small.store.image_set_ids(small.store.datastore_ids()[0])) == size


def test_every_history_over_http_matches_the_store(client, sb):
    paginator = client.get_paginator("list_image_set_versions")
    for ds in sb.store.datastore_ids():
        for image_set in sb.store.image_set_ids(ds):
            truth = sb.store.versions(ds, image_set)
            listed = [
                item
                for page in paginator.paginate(datastoreId=ds, imageSetId=image_set)
                for item in page["imageSetPropertiesList"]
            ]
            assert [i["versionId"] for i in listed] == [v["versionId"] for v in reversed(truth)]
            for item, expected in zip(listed, reversed(truth), strict=True):
                assert item["ImageSetWorkflowStatus"] == expected["imageSetWorkflowStatus"]
                assert item["imageSetState"] == expected["imageSetState"]
                assert item.get("message") == expected.get("message")
                assert item.get("overrides") == expected.get("overrides")
                assert item.get("deletedAt") == expected.get("deletedAt")


def test_study_date_and_time_of_an_image_set_with_empty_values_is_empty():
    # Imported DICOM with an empty StudyDate/StudyTime keeps them as None (AWS's metadata
    # does the same); sorting and BETWEEN filters must see "", never "NoneNone".
    from datetime import datetime, timezone

    from hi_widgets.sandbox.backend.domain import ImageSet, Version
    from hi_widgets.sandbox.backend.search import SORT_KEYS

    now = datetime(2024, 1, 1, tzinfo=timezone.utc)

    def image_set(study: dict) -> ImageSet:
        document = {"Study": {"DICOM": study}}
        version = Version(1, "ACTIVE", "IMPORTED", now, now, document)
        return ImageSet("d" * 32, "i" * 32, "arn", [version])

    key = SORT_KEYS["DICOMStudyDateAndTime"]
    assert key(image_set({"StudyDate": None, "StudyTime": None})) == ""
    assert key(image_set({"StudyDate": "20240105", "StudyTime": None})) == "20240105"
    assert key(image_set({"StudyDate": "20240105", "StudyTime": "101500"})) == "20240105101500"
