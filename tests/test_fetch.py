"""The data layer against botocore's Stubber, which checks requests and responses
against the real service model."""

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import hi_widgets
from hi_widgets.api import errors
from hi_widgets.api.records import RECORD_FIELDS

DS = "a" * 32
IS = "0123456789abcdef0123456789abcdef"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def client():
    return hi_widgets.make_client(region="us-east-1", endpoint_url="http://127.0.0.1:9")


@pytest.fixture
def stub(client):
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def full_response(version=3, **overrides):
    response = {
        "datastoreId": DS,
        "imageSetId": IS,
        "versionId": str(version),
        "imageSetState": "ACTIVE",
        "imageSetWorkflowStatus": "UPDATED",
        "createdAt": T0,
        "updatedAt": T0 + timedelta(seconds=42),
        "deletedAt": T0 + timedelta(days=1),
        "message": "updated by test",
        "imageSetArn": f"arn:aws:medical-imaging:us-east-1:123456789012:datastore/{DS}"
        f"/imageset/{IS}",
        "overrides": {"forced": True},
        "isPrimary": True,
        "lastAccessedAt": T0 + timedelta(days=2),
        "storageTier": "ARCHIVE_INSTANT_ACCESS",
    }
    response.update(overrides)
    return response


def list_item(version, status="UPDATED"):
    return {
        "imageSetId": IS,
        "versionId": str(version),
        "imageSetState": "ACTIVE",
        "ImageSetWorkflowStatus": status,
        "createdAt": T0 + timedelta(hours=version),
        "updatedAt": T0 + timedelta(hours=version, seconds=5),
    }


def test_get_image_set_returns_every_field_normalized(client, stub):
    stub.add_response("get_image_set", full_response(), {"datastoreId": DS, "imageSetId": IS})
    record = hi_widgets.get_image_set(client, DS, IS)
    assert list(record) == list(RECORD_FIELDS)
    assert record == {
        "datastoreId": DS,
        "imageSetId": IS,
        "versionId": 3,
        "imageSetState": "ACTIVE",
        "imageSetWorkflowStatus": "UPDATED",
        "createdAt": T0,
        "updatedAt": T0 + timedelta(seconds=42),
        "deletedAt": T0 + timedelta(days=1),
        "message": "updated by test",
        "imageSetArn": full_response()["imageSetArn"],
        "forced": True,
        "isPrimary": True,
        "lastAccessedAt": T0 + timedelta(days=2),
        "storageTier": "ARCHIVE_INSTANT_ACCESS",
    }
    for field in ("createdAt", "updatedAt", "deletedAt", "lastAccessedAt"):
        assert record[field].utcoffset() == timedelta(0)


def test_get_image_set_sends_version_and_fills_missing_fields_with_none(client, stub):
    minimal = {
        "datastoreId": DS,
        "imageSetId": IS,
        "versionId": "2",
        "imageSetState": "LOCKED",
    }
    stub.add_response(
        "get_image_set", minimal, {"datastoreId": DS, "imageSetId": IS, "versionId": "2"}
    )
    record = hi_widgets.get_image_set(client, f" {DS} ", IS, 2)
    assert record["versionId"] == 2
    assert record["imageSetState"] == "LOCKED"
    missing = set(RECORD_FIELDS) - {"datastoreId", "imageSetId", "versionId", "imageSetState"}
    assert {field: record[field] for field in missing} == dict.fromkeys(missing)


def test_unknown_enum_values_are_kept(client, stub):
    stub.add_response(
        "get_image_set",
        full_response(imageSetWorkflowStatus="NEWLY_INVENTED"),
        {"datastoreId": DS, "imageSetId": IS},
    )
    assert hi_widgets.get_image_set(client, DS, IS)["imageSetWorkflowStatus"] == "NEWLY_INVENTED"


def test_list_strategy_reads_all_three_pages_with_the_capital_i_key(client, stub):
    versions = list(range(120, 0, -1))  # newest first, as the service returns them
    pages = [versions[:50], versions[50:100], versions[100:]]
    tokens = [None, "page-2", "page-3"]
    for i, page in enumerate(pages):
        expected = {"datastoreId": DS, "imageSetId": IS, "maxResults": 50}
        if tokens[i]:
            expected["nextToken"] = tokens[i]
        response = {"imageSetPropertiesList": [list_item(v) for v in page]}
        if i + 1 < len(pages):
            response["nextToken"] = tokens[i + 1]
        stub.add_response("list_image_set_versions", response, expected)
    seen = []
    records = list(
        hi_widgets.iter_versions(
            client,
            DS,
            IS,
            strategy="list",
            progress=lambda p: seen.append((p.done, p.total, p.unit)),
        )
    )
    assert [r["versionId"] for r in records] == versions
    assert {r["imageSetWorkflowStatus"] for r in records} == {"UPDATED"}
    assert {r["datastoreId"] for r in records} == {DS}
    assert seen == [(50, 120, "versions"), (100, 120, "versions"), (120, 120, "versions")]


def test_get_strategy_walks_down_and_records_a_gap(client, stub):
    stub.add_response("get_image_set", full_response(5), {"datastoreId": DS, "imageSetId": IS})
    for version in (4, 3, 2, 1):
        expected = {"datastoreId": DS, "imageSetId": IS, "versionId": str(version)}
        if version == 3:
            stub.add_client_error(
                "get_image_set",
                "ResourceNotFoundException",
                "Image set version not found",
                404,
                expected_params=expected,
            )
        else:
            stub.add_response("get_image_set", full_response(version), expected)
    missing = []
    records = list(
        hi_widgets.iter_versions(
            client, DS, IS, strategy="get", on_missing=lambda v, e: missing.append((v, e))
        )
    )
    assert [r["versionId"] for r in records] == [5, 4, 2, 1]
    assert [v for v, _ in missing] == [3]
    assert isinstance(missing[0][1], hi_widgets.ResourceNotFoundError)
    assert "version 3" in missing[0][1].message


def test_get_strategy_logs_a_gap_without_a_callback(client, stub, caplog):
    stub.add_response("get_image_set", full_response(2), {"datastoreId": DS, "imageSetId": IS})
    stub.add_client_error(
        "get_image_set",
        "ResourceNotFoundException",
        "not found",
        404,
        expected_params={"datastoreId": DS, "imageSetId": IS, "versionId": "1"},
    )
    records = list(hi_widgets.iter_versions(client, DS, IS, strategy="get"))
    assert [r["versionId"] for r in records] == [2]
    assert "has no version 1" in caplog.text


def test_auto_falls_back_to_get_when_listing_is_denied(client, stub):
    stub.add_client_error(
        "list_image_set_versions",
        "AccessDeniedException",
        "not authorized to perform medical-imaging:ListImageSetVersions",
        403,
    )
    stub.add_response("get_image_set", full_response(2), {"datastoreId": DS, "imageSetId": IS})
    stub.add_response(
        "get_image_set",
        full_response(1),
        {"datastoreId": DS, "imageSetId": IS, "versionId": "1"},
    )
    records = list(hi_widgets.iter_versions(client, DS, IS))
    assert [r["versionId"] for r in records] == [2, 1]


def test_list_strategy_does_not_fall_back(client, stub):
    stub.add_client_error("list_image_set_versions", "AccessDeniedException", "denied", 403)
    with pytest.raises(hi_widgets.AccessDeniedError, match="medical-imaging:ListImageSetVersions"):
        list(hi_widgets.iter_versions(client, DS, IS, strategy="list"))


def test_cancel_stops_before_the_next_request(client, stub):
    import threading

    cancel = threading.Event()
    stub.add_response("get_image_set", full_response(9), {"datastoreId": DS, "imageSetId": IS})
    walk = hi_widgets.iter_versions(client, DS, IS, strategy="get", cancel=cancel)
    assert next(walk)["versionId"] == 9
    cancel.set()
    assert list(walk) == []  # no further request: the Stubber has nothing queued


def test_unknown_strategy_is_rejected_before_any_call(client, stub):
    with pytest.raises(ValueError, match="strategy must be one of"):
        list(hi_widgets.iter_versions(client, DS, IS, strategy="fast"))


ERRORS = [
    ("ThrottlingException", 429, errors.ThrottlingError, True, "quota"),
    ("ConflictException", 409, errors.ConflictError, False, "another operation"),
    ("AccessDeniedException", 403, errors.AccessDeniedError, False, "GetImageSet"),
    ("ValidationException", 400, errors.ValidationError, False, "invalid"),
    ("InternalServerException", 500, errors.InternalServerError, True, "retry"),
    ("ResourceNotFoundException", 404, errors.ResourceNotFoundError, False, "Not found"),
]


@pytest.mark.parametrize(("code", "status", "cls", "retryable", "hint"), ERRORS)
def test_each_service_error_maps_to_its_class(client, stub, code, status, cls, retryable, hint):
    stub.add_client_error(
        "get_image_set",
        code,
        f"the service says {code}",
        status,
        expected_params={"datastoreId": DS, "imageSetId": IS, "versionId": "4"},
        response_meta={"RequestId": "req-1234"},
    )
    with pytest.raises(cls) as info:
        hi_widgets.get_image_set(client, DS, IS, "4")
    error = info.value
    assert isinstance(error, hi_widgets.HealthImagingError)
    assert error.retryable is retryable
    assert error.code == code
    assert error.operation == "GetImageSet"
    assert error.identifiers == {"datastoreId": DS, "imageSetId": IS, "versionId": "4"}
    assert error.request_id == "req-1234"
    assert hint in error.message
    assert f"the service says {code}" in error.message
    assert "req-1234" in error.details()
    assert isinstance(error.__cause__, ClientError)


def test_access_denied_names_the_iam_action(client, stub):
    stub.add_client_error("get_image_set", "AccessDeniedException", "nope", 403)
    with pytest.raises(hi_widgets.AccessDeniedError) as info:
        hi_widgets.get_image_set(client, DS, IS)
    assert "IAM action medical-imaging:GetImageSet" in info.value.message


@pytest.mark.parametrize(
    ("service_message", "subject"),
    [
        ("Datastore does not exist", f"datastore {DS}"),
        ("The image set was not found", f"image set {IS}"),
        ("Requested version does not exist", "version 7"),
    ],
)
def test_not_found_says_which_identifier(client, stub, service_message, subject):
    stub.add_client_error("get_image_set", "ResourceNotFoundException", service_message, 404)
    with pytest.raises(hi_widgets.ResourceNotFoundError) as info:
        hi_widgets.get_image_set(client, DS, IS, 7)
    assert info.value.message.startswith(f"Not found: {subject}")


def test_an_unknown_5xx_error_is_treated_as_internal(client, stub):
    stub.add_client_error("get_image_set", "ServiceUnavailable", "down", 503)
    with pytest.raises(hi_widgets.InternalServerError):
        hi_widgets.get_image_set(client, DS, IS)


def test_an_unknown_4xx_error_keeps_its_code(client, stub):
    stub.add_client_error("get_image_set", "BrandNewException", "new", 418)
    with pytest.raises(hi_widgets.UnknownServiceError) as info:
        hi_widgets.get_image_set(client, DS, IS)
    assert info.value.code == "BrandNewException"


def test_list_datastores_reads_every_page(client, stub):
    def summary(i):
        return {"datastoreId": f"{i:032d}", "datastoreName": f"ds{i}", "datastoreStatus": "ACTIVE"}

    stub.add_response(
        "list_datastores", {"datastoreSummaries": [summary(1)], "nextToken": "t"}, {}
    )
    stub.add_response("list_datastores", {"datastoreSummaries": [summary(2)]}, {"nextToken": "t"})
    assert [d["datastoreName"] for d in hi_widgets.list_datastores(client)] == ["ds1", "ds2"]


def test_search_builds_filters_and_stops_at_the_limit(client, stub):
    start, end = T0, T0 + timedelta(days=30)
    expected = {
        "datastoreId": DS,
        "maxResults": 50,
        "searchCriteria": {
            "filters": [
                {"values": [{"DICOMPatientId": "DEMO-1"}], "operator": "EQUAL"},
                {"values": [{"createdAt": start}, {"createdAt": end}], "operator": "BETWEEN"},
            ],
            "sort": {"sortField": "createdAt", "sortOrder": "DESC"},
        },
    }
    summaries = [{"imageSetId": f"{i:032d}", "version": 1} for i in range(3)]
    stub.add_response(
        "search_image_sets",
        {"imageSetsMetadataSummaries": summaries, "nextToken": "more"},
        expected,
    )
    found = hi_widgets.search_image_sets(
        client,
        DS,
        patient_id=" DEMO-1 ",
        created_between=(start, end),
        sort=("createdAt", "DESC"),
        limit=2,
    )
    assert [s["imageSetId"] for s in found] == [f"{i:032d}" for i in range(2)]


def test_search_rejects_too_many_criteria_before_any_call(client, stub):
    with pytest.raises(ValueError, match="at most 2 criteria"):
        hi_widgets.search_image_sets(
            client, DS, patient_id="p", accession_number="a", study_id="s"
        )
    with pytest.raises(ValueError, match="starts after it ends"):
        hi_widgets.search_image_sets(client, DS, created_between=(T0, T0 - timedelta(days=1)))


def test_get_image_set_metadata_gunzips(client, stub):
    import gzip
    import io
    import json

    from botocore.response import StreamingBody

    document = {"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientID": "DEMO-1"}}}
    blob = gzip.compress(json.dumps(document).encode())
    stub.add_response(
        "get_image_set_metadata",
        {
            "imageSetMetadataBlob": StreamingBody(io.BytesIO(blob), len(blob)),
            "contentType": "application/json",
            "contentEncoding": "gzip",
        },
        {"datastoreId": DS, "imageSetId": IS, "versionId": "2"},
    )
    assert hi_widgets.get_image_set_metadata(client, DS, IS, "2") == document


def test_the_metadata_body_is_read_in_one_module():
    # Issue 19: fetch.py and walk.py each read (and changes gunzipped) the blob.
    from pathlib import Path

    package = Path(hi_widgets.__file__).parent
    readers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "sandbox" not in path.parts and "imageSetMetadataBlob" in path.read_text()
    )
    assert readers == ["api/metadata_blob.py"]


def test_an_unreachable_endpoint_is_a_retryable_connection_error():
    import boto3

    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="dummy", region_name="us-east-1"
    )
    client = hi_widgets.make_client(
        session=session, endpoint_url="http://127.0.0.1:9", max_attempts=1
    )
    with pytest.raises(hi_widgets.ConnectionFailedError) as info:
        hi_widgets.get_image_set(client, DS, IS)
    assert info.value.retryable
    assert "endpoint URL" in info.value.message


def test_a_missing_datastore_is_not_said_to_be_in_an_image_set(client, stub):
    # Issue 22: "Not found: datastore X in image set Y" had the two the wrong way round.
    stub.add_client_error("get_image_set", "ResourceNotFoundException", "Datastore missing", 404)
    with pytest.raises(hi_widgets.ResourceNotFoundError) as info:
        hi_widgets.get_image_set(client, DS, IS)
    assert info.value.message.startswith(f"Not found: datastore {DS} (GetImageSet)")
    assert "in image set" not in info.value.message


def test_a_missing_version_is_scoped_by_its_image_set_and_datastore(client, stub):
    stub.add_client_error("get_image_set", "ResourceNotFoundException", "version missing", 404)
    with pytest.raises(hi_widgets.ResourceNotFoundError) as info:
        hi_widgets.get_image_set(client, DS, IS, 7)
    assert info.value.message.startswith(f"Not found: version 7 in image set {IS}, datastore {DS}")
