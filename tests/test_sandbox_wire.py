"""Sandbox protocol pieces without a server: routing, parsing, validation, serialisation."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import urllib.error
import urllib.request
from datetime import datetime, timezone
from urllib.parse import urlencode

import boto3
import pytest
from botocore.serialize import create_serializer
from signing_helpers import JSON, raw, read_response, sign

from hi_widgets import make_client, sandbox
from hi_widgets.api.model import service_model
from hi_widgets.cli.main import main
from hi_widgets.sandbox.backend.errors import ServiceError
from hi_widgets.sandbox.server.sigv4 import signed_access_key
from hi_widgets.sandbox.server.validate import validate_request
from hi_widgets.sandbox.server.wire import (
    Router,
    parse_request,
    serialize_error,
    serialize_response,
)

ID = "0123456789abcdef0123456789abcdef"
SERIALIZER = create_serializer("rest-json", include_validation=False)
ARN = f"arn:aws:medical-imaging:us-east-1:123456789012:datastore/{ID}/imageset/{ID}"


def sample_params(operation):
    params = {}
    for name, member in operation.input_shape.members.items():
        if member.serialization.get("location") == "uri":
            params[name] = ARN if name == "resourceArn" else ID
    return params


@pytest.mark.parametrize("name", service_model().operation_names)
def test_every_model_operation_routes_back_to_itself(name):
    model = service_model()
    operation = model.operation_model(name)
    request = SERIALIZER.serialize_to_request(sample_params(operation), operation)
    query = {k: v if isinstance(v, list) else [v] for k, v in request["query_string"].items()}
    matched = Router(model).match(request["method"], request["url_path"], query)
    assert matched is not None
    assert matched[0].name == name
    assert set(matched[1].values()) <= {ID, ARN}


def test_query_string_header_and_payload_parsing():
    model = service_model()
    operation = model.operation_model("UpdateImageSetMetadata")
    params = {
        "datastoreId": ID,
        "imageSetId": ID,
        "latestVersionId": "4",
        "force": True,
        "updateImageSetMetadataUpdates": {"DICOMUpdates": {"updatableAttributes": b"{}"}},
    }
    request = SERIALIZER.serialize_to_request(params, operation)
    matched = Router(model).match(
        request["method"], request["url_path"], {"latestVersion": ["4"], "force": ["true"]}
    )
    parsed = parse_request(
        operation,
        matched[1],
        {
            k: [str(v).lower() if isinstance(v, bool) else str(v)]
            for k, v in request["query_string"].items()
        },
        dict(request["headers"]),
        request["body"] if isinstance(request["body"], bytes) else request["body"].encode(),
    )
    assert parsed == params


def test_get_image_set_version_travels_as_the_version_query_parameter():
    operation = service_model().operation_model("GetImageSet")
    request = SERIALIZER.serialize_to_request(
        {"datastoreId": ID, "imageSetId": ID, "versionId": "7"}, operation
    )
    assert request["query_string"] == {"version": "7"}
    parsed = parse_request(
        operation, {"datastoreId": ID, "imageSetId": ID}, {"version": ["7"]}, {}, b""
    )
    assert parsed["versionId"] == "7"


def test_bad_query_types_are_validation_errors():
    operation = service_model().operation_model("ListImageSetVersions")
    with pytest.raises(ServiceError) as excinfo:
        parse_request(
            operation, {"datastoreId": ID, "imageSetId": ID}, {"maxResults": ["x"]}, {}, b""
        )
    assert excinfo.value.code == "ValidationException"


def test_validation_messages_follow_aws_wording_and_hide_sensitive_values():
    operation = service_model().operation_model("SearchImageSets")
    with pytest.raises(ServiceError) as excinfo:
        validate_request(
            operation,
            {
                "datastoreId": "BAD",
                "maxResults": 0,
                "searchCriteria": {
                    "filters": [
                        {"values": [{"DICOMStudyInstanceUID": "secret-uid"}], "operator": "EQUAL"}
                    ]
                },
            },
        )
    message = excinfo.value.message
    assert message.startswith("3 validation errors detected: ")
    assert "Value 'BAD' at 'datastoreId' failed to satisfy constraint" in message
    assert "Member must have value greater than or equal to 1" in message
    assert "secret-uid" not in message
    assert "regular expression pattern: [0-9.]+" in message


def test_timestamps_keep_millisecond_precision_on_the_wire():
    operation = service_model().operation_model("GetImageSet")
    moment = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    response = serialize_response(
        operation,
        {
            "datastoreId": ID,
            "imageSetId": ID,
            "versionId": "1",
            "imageSetState": "ACTIVE",
            "createdAt": moment,
            "unknownKey": "dropped",
        },
    )
    body = json.loads(response.body)
    assert body["createdAt"] == pytest.approx(moment.timestamp())
    assert "unknownKey" not in body
    assert datetime.fromtimestamp(body["createdAt"], timezone.utc) == moment


def test_metadata_blob_is_the_raw_payload_with_header_members():
    operation = service_model().operation_model("GetImageSetMetadata")
    blob = gzip.compress(b"{}")
    response = serialize_response(
        operation,
        {
            "imageSetMetadataBlob": blob,
            "contentType": "application/json",
            "contentEncoding": "gzip",
        },
    )
    assert response.body == blob
    assert response.headers == {"Content-Type": "application/json", "Content-Encoding": "gzip"}


def test_error_wire_form():
    response = serialize_error(service_model(), "ConflictException", "stale")
    assert response.status == 409
    assert response.headers["x-amzn-ErrorType"] == "ConflictException"
    assert json.loads(response.body) == {"message": "stale"}


def test_signature_forms():
    good = (
        "AWS4-HMAC-SHA256 Credential=KEY/20250101/us-east-1/medical-imaging/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "a" * 64
    )
    headers = {"Authorization": good, "X-Amz-Date": "20250101T000000Z"}
    assert signed_access_key(headers, {}) == "KEY"
    assert signed_access_key({"Authorization": good}, {}) is None  # no date
    wrong_service = good.replace("medical-imaging", "s3")
    assert signed_access_key({**headers, "Authorization": wrong_service}, {}) is None
    assert signed_access_key({"Authorization": "Bearer x"}, {}) is None
    presigned = {
        "X-Amz-Algorithm": ["AWS4-HMAC-SHA256"],
        "X-Amz-Credential": ["KEY/20250101/us-east-1/medical-imaging/aws4_request"],
        "X-Amz-Date": ["20250101T000000Z"],
        "X-Amz-Expires": ["3600"],
        "X-Amz-SignedHeaders": ["host"],
        "X-Amz-Signature": ["b" * 64],
    }
    assert signed_access_key({}, presigned) == "KEY"
    for missing in ("X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"):
        partial = {k: v for k, v in presigned.items() if k != missing}
        assert signed_access_key({}, partial) is None


def test_presigned_url_is_served():
    with sandbox.start(quotas=False) as sb:
        client = sb.client(max_attempts=1)
        url = client.generate_presigned_url("list_datastores", Params={})
        with urllib.request.urlopen(url, timeout=5) as response:
            names = [d["datastoreName"] for d in json.loads(response.read())["datastoreSummaries"]]
        assert names[0] == "demo-radiology"
        client.close()


def test_oversized_body_is_refused():
    # A signed request announcing more than its operation can carry is refused from its
    # headers (the 64 MB are never sent); tests/test_sandbox_security.py has the rest.
    with sandbox.start(quotas=False) as sb:
        ds = sb.store.datastore_ids()[0]
        path = f"/datastore/{ds}/searchImageSets?{urlencode({'maxResults': 1})}"
        head = sign(sb, "POST", path, headers=JSON)
        with raw(sb) as connection:
            lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
            big = 64 * 1024 * 1024
            connection.sendall(
                f"POST {path} HTTP/1.1\r\n{lines}Content-Length: {big}\r\n\r\n".encode()
            )
            response = read_response(connection)
        assert response.startswith(b"HTTP/1.1 400") and b"larger than" in response


def test_malformed_body_framing_is_answered_and_logged():
    with sandbox.start(quotas=False) as sb:
        ds = sb.store.datastore_ids()[0]
        path = f"/datastore/{ds}/searchImageSets"
        connection = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=5)
        connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for name, value in sign(sb, "POST", path, headers=JSON).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", "not-a-number")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 400
        assert response.getheader("x-amzn-ErrorType") == "ValidationException"
        assert "malformed" in json.loads(response.read())["message"]
        connection.close()
        assert [(e.operation, e.status, e.error) for e in sb.requests] == [
            ("SearchImageSets", 400, "ValidationException")
        ]


def test_deny_unknown_operation_is_a_value_error():
    with sandbox.start() as sb, pytest.raises(ValueError):
        sb.deny("GetImageSetz")


def test_cli_reports_a_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["sandbox", "--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_start_arguments_are_checked():
    with pytest.raises(ValueError):
        sandbox.start(image_sets=0)
    clock = sandbox.ManualClock(datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.now().tzinfo is not None


def test_verified_signatures_accept_the_sandbox_key_and_refuse_others():
    with sandbox.start(verify_signatures=True, quotas=False) as sb:
        client = sb.client(max_attempts=1)
        ds = sb.store.datastore_ids()[0]
        image_set = sb.store.image_set_ids(ds)[1]
        arn = client.get_image_set(datastoreId=ds, imageSetId=image_set)["imageSetArn"]
        # query strings, list query parameters, JSON bodies and percent-encoded labels
        client.get_image_set(datastoreId=ds, imageSetId=image_set, versionId="3")
        client.list_image_set_versions(datastoreId=ds, imageSetId=image_set, maxResults=5)
        client.search_image_sets(
            datastoreId=ds,
            searchCriteria={"filters": [{"values": [{"isPrimary": True}], "operator": "EQUAL"}]},
        )
        client.tag_resource(resourceArn=arn, tags={"a": "b c"})
        client.untag_resource(resourceArn=arn, tagKeys=["a", "x"])
        assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}
        forged = boto3.Session(
            aws_access_key_id=sb.credentials()["aws_access_key_id"],
            aws_secret_access_key="wrong-secret",
            region_name=sb.region,
        )
        impostor = make_client(session=forged, endpoint_url=sb.endpoint_url, max_attempts=1)
        with pytest.raises(impostor.exceptions.AccessDeniedException) as excinfo:
            impostor.list_datastores()
        assert "signature" in excinfo.value.response["Error"]["Message"]
        impostor.close()
        client.close()
