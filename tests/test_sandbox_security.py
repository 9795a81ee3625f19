"""Only the sandbox's owner can drive it (issues 15 and 21).

A real HTTP client (boto3, http.client and raw sockets) against a running sandbox:
signatures are verified by default in both forms, with the keys the sandbox prints, over
the hash of the body actually received; signing times outside AWS's 15-minute skew are
refused; Host headers that are not the sandbox's own address are refused; a request is
refused from its headers before its body is read, and a body is capped per operation
however it is framed; slow clients are cut off by per-request deadlines and cannot lock
others out; requests a web page can make are refused even with verification off; the
secret never goes on a command line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from signing_helpers import JSON, raw, read_response, send, sign

from hi_widgets import sandbox


@pytest.fixture(scope="module")
def sb():
    with sandbox.start(quotas=False) as running:
        yield running


@pytest.fixture(scope="module")
def target(sb):
    ds = sb.store.datastore_ids()[0]
    return ds, sb.store.image_set_ids(ds)[1]


def get_image_set_path(ds, image_set):
    return f"/datastore/{ds}/imageSet/{image_set}/getImageSet"


def test_a_correct_hand_signed_request_is_served(sb, target):
    path = get_image_set_path(*target)
    assert send(sb, "POST", path, sign(sb, "POST", path))[0] == 200


def test_a_cross_origin_form_post_cannot_delete(sb, target):
    # What a web page can send without a CORS preflight: a simple form POST, no signature.
    ds, image_set = target
    path = f"/datastore/{ds}/imageSet/{image_set}/deleteImageSet"
    headers = {
        "Host": urlsplit(sb.endpoint_url).netloc,
        "Origin": "http://evil.example",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    status, error, _ = send(sb, "POST", path, headers, b"a=b")
    assert (status, error) == (403, "AccessDeniedException")
    assert sb.store.versions(ds, image_set)[-1]["imageSetState"] == "ACTIVE"


def test_a_signature_from_an_unknown_key_or_secret_is_refused(sb, target):
    path = get_image_set_path(*target)
    for forged in (
        sign(sb, "POST", path, key="AKIAFORGEDFORGED", secret="x"),
        sign(sb, "POST", path, secret="not-the-printed-secret"),
    ):
        status, error, message = send(sb, "POST", path, forged)
        assert (status, error) == (403, "AccessDeniedException")
        assert "signature" in message


def test_presigned_query_strings_are_verified(sb):
    host = {"Host": urlsplit(sb.endpoint_url).netloc}
    client = sb.client(max_attempts=1)
    url = urlsplit(client.generate_presigned_url("list_datastores", Params={}))
    client.close()
    assert send(sb, "GET", f"{url.path}?{url.query}", host)[0] == 200
    # A presigned query string made with another sandbox's secret: no Authorization
    # header, a well-formed signature, the wrong key.
    stranger = sandbox.Sandbox(image_sets=1, clock=sandbox.ManualClock())  # never started
    foreign = boto3.Session(region_name=sb.region, **stranger.credentials()).client(
        "medical-imaging", endpoint_url=sb.endpoint_url, config=Config(inject_host_prefix=False)
    )
    forged = urlsplit(foreign.generate_presigned_url("list_datastores", Params={}))
    foreign.close()
    status, error, _ = send(sb, "GET", f"{forged.path}?{forged.query}", host)
    assert (status, error) == (403, "AccessDeniedException")
    tampered = url.query.replace("X-Amz-Expires=3600", "X-Amz-Expires=3599")
    assert send(sb, "GET", f"{url.path}?{tampered}", host)[0] == 403


@pytest.mark.parametrize(
    ("offset", "served"),
    [
        (timedelta(days=-365 * 6), False),  # a request signed years ago, replayed
        (timedelta(minutes=-16), False),
        (timedelta(minutes=16), False),
        (timedelta(minutes=-14), True),
        (timedelta(minutes=14), True),
    ],
)
def test_signing_time_must_be_within_fifteen_minutes(sb, target, offset, served):
    path = get_image_set_path(*target)
    headers = sign(sb, "POST", path, when=datetime.now(timezone.utc) + offset)
    status, error, message = send(sb, "POST", path, headers)
    if served:
        assert status == 200
    else:
        assert (status, error) == (403, "AccessDeniedException")
        assert "15 minutes" in message


def test_a_foreign_host_header_is_refused(sb, target):
    # DNS rebinding: a page on evil.example resolves its name to 127.0.0.1, so the browser
    # sends its own name as Host (and the signature would cover it).
    path = get_image_set_path(*target)
    port = sb.port
    for host, allowed in (
        (f"evil.example:{port}", False),
        (f"localhost.evil.example:{port}", False),
        (f"localhost:{port}", True),
        (f"127.0.0.1:{port}", True),
    ):
        status, error, message = send(sb, "POST", path, sign(sb, "POST", path, host=host))
        assert (status == 200) is allowed, (host, status, message)
        if not allowed:
            assert error == "AccessDeniedException" and "Host" in message
    no_host = {k: v for k, v in sign(sb, "POST", path).items() if k != "Host"}
    assert send(sb, "POST", path, no_host)[0] == 403


def test_allowed_hosts_admit_a_named_host():
    with sandbox.start(quotas=False, allowed_hosts=["imaging.lan"]) as named:
        ds = named.store.datastore_ids()[0]
        path = get_image_set_path(ds, named.store.image_set_ids(ds)[1])
        host = f"imaging.lan:{named.port}"
        assert send(named, "POST", path, sign(named, "POST", path, host=host))[0] == 200


def test_a_negative_chunk_size_is_refused_without_reading_the_stream(sb, target):
    path = get_image_set_path(*target)
    head = "".join(f"{k}: {v}\r\n" for k, v in sign(sb, "POST", path, headers=JSON).items())
    with raw(sb) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n-1\r\n".encode()
            + b"x" * 65536
        )
        # The answer comes while the client keeps its stream open: nothing waits for EOF.
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 400")
    assert b"ValidationException" in response and b"Connection: close" in response


def test_a_chunked_body_over_the_cap_is_refused_before_it_is_sent(sb, target):
    path = get_image_set_path(*target)
    head = "".join(f"{k}: {v}\r\n" for k, v in sign(sb, "POST", path, headers=JSON).items())
    with raw(sb) as connection:
        big = 64 * 1024 * 1024
        connection.sendall(
            f"POST {path} HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n{big:x}\r\n".encode()
        )
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 400") and b"larger than" in response


def test_the_opt_out_serves_any_well_formed_signature():
    with sandbox.start(quotas=False, verify_signatures=False) as open_box:
        path = "/datastore"
        forged = sign(open_box, "GET", path, key="AKIAANYBODY", secret="whatever")
        assert send(open_box, "GET", path, forged)[0] == 200


def test_each_sandbox_has_its_own_secret_and_prints_it(sb):
    other = sandbox.Sandbox(image_sets=1, clock=sandbox.ManualClock())
    assert (
        other.credentials()["aws_secret_access_key"] != sb.credentials()["aws_secret_access_key"]
    )
    assert sb.env()["AWS_SECRET_ACCESS_KEY"] == sb.credentials()["aws_secret_access_key"]
    fixed = sandbox.Sandbox(image_sets=1, secret_access_key="mine", clock=sandbox.ManualClock())
    assert fixed.credentials()["aws_secret_access_key"] == "mine"
    assert "mine" not in repr(fixed)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_cli_port_out_of_range_is_a_clear_error(port):
    done = subprocess.run(
        [sys.executable, "-m", "hi_widgets.cli", "sandbox", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--port" in done.stderr and "0 to 65535" in done.stderr
    assert "Traceback" not in done.stderr


def test_sandbox_port_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match="port"):
        sandbox.Sandbox(port=99999)


# ------------------------------------------------------------- payload integrity
# AWS: "The request signature we calculated does not match the signature you provided"
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html);
# outside S3 the service hashes the body it received into the canonical request.


def _study_description(client, ds, image_set):
    blob = client.get_image_set_metadata(datastoreId=ds, imageSetId=image_set)
    import gzip

    document = json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read()))
    return document["Study"]["DICOM"].get("StudyDescription")


def _update_with(client, ds, image_set, description):
    latest = client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    attributes = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": description}}}
    return client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(attributes).encode()}
        },
    )


def _forge_body(body: bytes) -> bytes:
    """The same update with another StudyDescription: body B for a signature over A."""
    document = json.loads(body)
    forged = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "FORGED"}}}
    document["DICOMUpdates"]["updatableAttributes"] = base64.b64encode(
        json.dumps(forged).encode()
    ).decode()
    return json.dumps(document).encode()


def _tampering_client(sb, *, claim=None, tamper=True):
    """A boto3 client whose UpdateImageSetMetadata is signed, then its body replaced.

    ``claim(body)`` gives the X-Amz-Content-SHA256 header added before signing (botocore
    then signs over the header's value instead of hashing the body).
    """
    client = sb.client(max_attempts=1)
    event = "medical-imaging.UpdateImageSetMetadata"

    def before_sign(request, **kwargs):
        if claim is not None:
            request.headers["X-Amz-Content-SHA256"] = claim(request.body)

    def before_send(request, **kwargs):
        if tamper:
            request.body = _forge_body(request.body)
            request.headers["Content-Length"] = str(len(request.body))

    client.meta.events.register(f"before-sign.{event}", before_sign)
    client.meta.events.register(f"before-send.{event}", before_send)
    return client


@pytest.fixture
def fresh_sb():
    with sandbox.start(quotas=False, update_delay=0) as running:
        yield running


@pytest.mark.parametrize(
    ("claim", "words"),
    [
        (lambda body: hashlib.sha256(body).hexdigest(), "'x-amz-content-sha256' header"),
        (lambda body: "UNSIGNED-PAYLOAD", "signature we calculated"),
        (None, "signature we calculated"),
    ],
    ids=["sha256-of-A", "unsigned-payload", "no-header"],
)
def test_a_body_other_than_the_signed_one_is_refused(fresh_sb, claim, words):
    ds = fresh_sb.store.datastore_ids()[0]
    image_set = fresh_sb.store.image_set_ids(ds)[1]
    honest = fresh_sb.client(max_attempts=1)
    before = honest.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
    client = _tampering_client(fresh_sb, claim=claim)
    with pytest.raises(client.exceptions.AccessDeniedException) as excinfo:
        _update_with(client, ds, image_set, "SIGNED")
    assert words in excinfo.value.response["Error"]["Message"]
    assert honest.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"] == before
    assert _study_description(honest, ds, image_set) != "FORGED"


def test_a_signed_payload_hash_that_matches_the_body_is_served(fresh_sb):
    ds = fresh_sb.store.datastore_ids()[0]
    image_set = fresh_sb.store.image_set_ids(ds)[1]
    client = _tampering_client(
        fresh_sb, claim=lambda body: hashlib.sha256(body).hexdigest(), tamper=False
    )
    _update_with(client, ds, image_set, "SIGNED")
    assert _study_description(fresh_sb.client(), ds, image_set) == "SIGNED"


# --------------------------------------------------- headers before the body


def _head(method, path, headers):
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"{method} {path} HTTP/1.1\r\n{lines}\r\n".encode()


def _update_path(ds, image_set):
    return f"/datastore/{ds}/imageSet/{image_set}/updateImageSetMetadata?latestVersion=1"


@pytest.mark.parametrize("framing", ["Content-Length: 16777216", "Transfer-Encoding: chunked"])
def test_an_unsigned_body_is_refused_before_it_is_read(sb, target, framing):
    # Only the head is sent: the answer comes without the server waiting for 16 MB.
    path = _update_path(*target)
    name, value = framing.split(": ")
    headers = {"Host": urlsplit(sb.endpoint_url).netloc, **JSON, name: value}
    with raw(sb) as connection:
        connection.sendall(_head("POST", path, headers))
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 403") and b"Connection: close" in response
    assert b"Missing or malformed SigV4 signature" in response


def test_a_wrong_signature_over_a_signed_payload_hash_is_refused_before_the_body(sb, target):
    path = _update_path(*target)
    headers = sign(sb, "POST", path, secret="not-the-secret", headers=JSON, payload_hash="a" * 64)
    with raw(sb) as connection:
        connection.sendall(_head("POST", path, {**headers, "Content-Length": "60000"}))
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 403") and b"signature we calculated" in response


def test_a_body_over_its_operations_limit_is_refused_before_it_is_read(sb, target):
    limit = sb._service.body_limits["UpdateImageSetMetadata"]
    assert limit < 100_000  # metadata updates are small: two 10,000-byte blobs
    path = _update_path(*target)
    headers = {**sign(sb, "POST", path, headers=JSON), "Content-Length": str(limit + 1)}
    with raw(sb) as connection:
        connection.sendall(_head("POST", path, headers))
        response = read_response(connection)
    assert response.startswith(b"HTTP/1.1 400")
    assert f"larger than {limit} bytes".encode() in response
    assert b"UpdateImageSetMetadata" in response


# ---------------------------------------------------------------- slow clients


def test_slow_clients_neither_lock_others_out_nor_stay_connected():
    with sandbox.start(
        quotas=False, max_connections=4, header_timeout=0.5, idle_timeout=0.5
    ) as small:
        slow = [raw(small) for _ in range(4)]  # every slot, each mid-way through a head
        for connection in slow:
            connection.sendall(b"GET /datastore HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        client = small.client(max_attempts=1)
        assert client.list_datastores()["datastoreSummaries"]
        client.close()
        for connection in slow:  # each is closed by the server, at the latest at its deadline
            assert read_response(connection) == b""
            connection.close()
        assert small._server.wait_for_connections(0, timeout=30)


def test_the_head_deadline_is_for_the_whole_head_not_each_read():
    # One byte every 50 ms never leaves a read waiting 1 s; a per-read timeout would
    # keep the connection for all 600 bytes. The whole-head deadline closes it.
    with sandbox.start(quotas=False, header_timeout=1.0) as box:
        connection = raw(box, timeout=60)
        connection.sendall(b"GET /datastore HTTP/1.1\r\nX-Slow: ")
        closed = threading.Event()
        sent = []

        def trickle():
            for _ in range(600):
                if closed.wait(0.05):
                    return
                try:
                    connection.send(b"a")
                except OSError:
                    return
                sent.append(1)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        assert read_response(connection) == b""  # EOF: the server closed it
        closed.set()
        thread.join(30)
        connection.close()
        assert len(sent) < 600


def test_when_every_connection_is_busy_a_newcomer_gets_503_and_threads_stay_bounded():
    with sandbox.start(quotas=False, max_connections=2) as small:
        before = threading.active_count()
        path = "/datastore"
        busy = []
        for _ in range(2):  # admitted heads whose announced body never comes: busy
            connection = raw(small)
            headers = {
                **sign(small, "POST", path, headers=JSON),
                "Content-Length": "100",
                "Expect": "100-continue",
            }
            connection.sendall(_head("POST", path, headers))
            assert connection.recv(25).startswith(b"HTTP/1.1 100 Continue")  # admitted
            busy.append(connection)
        excess = [raw(small) for _ in range(20)]
        answers = [read_response(connection) for connection in excess]
        for connection in excess:
            connection.close()
        assert all(answer.startswith(b"HTTP/1.1 503") for answer in answers)
        assert threading.active_count() <= before + 2
        for connection in busy:
            connection.close()
        assert small._server.wait_for_connections(0, timeout=30)
        client = small.client(max_attempts=1)
        assert client.list_datastores()["datastoreSummaries"]
        client.close()


# ------------------------------------------------------- requests web pages make


@pytest.fixture
def open_box():
    """A sandbox with verification off, where a forged signature passes as well-formed."""
    with sandbox.start(quotas=False, verify_signatures=False, update_delay=0) as running:
        yield running


def _forged_presigned_query():
    """A well-formed presigned signature a page can put in a form's action URL."""
    today = datetime.now(timezone.utc)
    return (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAANYBODY%2F{today:%Y%m%d}%2Fus-east-1%2Fmedical-imaging%2Faws4_request"
        f"&X-Amz-Date={today:%Y%m%dT%H%M%SZ}&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={'0' * 64}"
    )


@pytest.mark.parametrize(
    ("origin", "content_type", "body"),
    [
        ("http://evil.example", "text/plain", b'{"a": 1}'),  # fetch(no-cors) or a form
        (None, "application/x-www-form-urlencoded", b"a=b"),  # a form, Origin stripped
        (None, "multipart/form-data; boundary=x", b"--x--"),
        ("http://evil.example", None, b""),  # fetch(no-cors) without a body
        ("null", "application/json", b"{}"),  # a sandboxed iframe
    ],
)
def test_browser_made_requests_are_refused_with_verification_off(
    open_box, origin, content_type, body
):
    ds = open_box.store.datastore_ids()[0]
    image_set = open_box.store.image_set_ids(ds)[1]
    path = f"/datastore/{ds}/imageSet/{image_set}/deleteImageSet?{_forged_presigned_query()}"
    headers = {"Host": urlsplit(open_box.endpoint_url).netloc}
    if origin is not None:
        headers["Origin"] = origin
    if content_type is not None:
        headers["Content-Type"] = content_type
    status, error, message = send(open_box, "POST", path, headers, body)
    assert (status, error) == (403, "AccessDeniedException"), message
    assert open_box.store.versions(ds, image_set)[-1]["imageSetState"] == "ACTIVE"


def test_a_text_plain_import_job_is_refused_with_verification_off(open_box):
    ds = open_box.store.datastore_ids()[0]
    demo_jobs = open_box.client().list_dicom_import_jobs(datastoreId=ds)["jobSummaries"]
    path = f"/startDICOMImportJob/datastore/{ds}?{_forged_presigned_query()}"
    body = json.dumps(
        {
            "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
            "inputS3Uri": "s3://bucket/in/",
            "outputS3Uri": "s3://bucket/out/",
            "clientToken": "t",
        }
    ).encode()
    headers = {"Host": urlsplit(open_box.endpoint_url).netloc, "Content-Type": "text/plain"}
    status, error, message = send(open_box, "POST", path, headers, body)
    assert (status, error) == (403, "AccessDeniedException") and "text/plain" in message
    after = open_box.client().list_dicom_import_jobs(datastoreId=ds)["jobSummaries"]
    assert after == demo_jobs  # the demo's jobs, and no new one


def test_sdk_requests_and_the_sandboxs_own_origin_are_served_with_verification_off(open_box):
    client = open_box.client(max_attempts=1)
    ds = open_box.store.datastore_ids()[0]
    image_set = open_box.store.image_set_ids(ds)[1]
    _update_with(client, ds, image_set, "BY-BOTO3")
    assert _study_description(client, ds, image_set) == "BY-BOTO3"
    own = {"Origin": open_box.endpoint_url, **JSON}
    path = get_image_set_path(ds, image_set)
    assert send(open_box, "POST", path, sign(open_box, "POST", path, headers=own))[0] == 200


# ------------------------------------------------------------------- the secret

SECRET_ENV = "HI_WIDGETS_SANDBOX_SECRET_ACCESS_KEY"


def _sandbox_command(*argv, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "hi_widgets.sandbox", "--port", "0", "--image-sets", "2", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _printed_exports(process):
    exports = {}
    for line in process.stdout:  # the export lines come first, then the process serves
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value.strip("'")
        if "AWS_DEFAULT_REGION" in exports:
            return exports
    raise AssertionError(process.stderr.read())


def _stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def test_a_secret_on_the_command_line_is_refused_without_repeating_it():
    for argv in (
        ["--secret-access-key", "hunter2-secret"],
        ["--secret-access-key=hunter2-secret"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "hi_widgets.sandbox", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert SECRET_ENV in done.stderr and "--secret-access-key-file" in done.stderr
        assert "/proc" in done.stderr
        assert "hunter2-secret" not in done.stderr + done.stdout


def test_a_secret_from_the_environment_is_served_and_not_in_proc_cmdline():
    secret = "pinned-" + os.urandom(8).hex()
    process = _sandbox_command(env={SECRET_ENV: secret})
    try:
        exports = _printed_exports(process)
        assert exports["AWS_SECRET_ACCESS_KEY"] == secret
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert secret.encode() not in cmdline
        client = boto3.client(
            "medical-imaging",
            endpoint_url=exports["AWS_ENDPOINT_URL_MEDICAL_IMAGING"],
            region_name=exports["AWS_DEFAULT_REGION"],
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret,
            config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
        )
        assert client.list_datastores()["datastoreSummaries"]
    finally:
        _stop(process)


def test_a_secret_file_must_be_readable_by_its_owner_only(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    secret_file.chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "hi_widgets.sandbox", "--secret-access-key-file", str(secret_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "chmod 600" in done.stderr and "0644" in done.stderr
    assert "from-a-file" not in done.stderr
    secret_file.chmod(0o600)
    process = _sandbox_command("--secret-access-key-file", str(secret_file))
    try:
        assert _printed_exports(process)["AWS_SECRET_ACCESS_KEY"] == "from-a-file"
    finally:
        _stop(process)
