import boto3
import pytest
from botocore.awsrequest import AWSResponse

import hi_widgets
from hi_widgets import CredentialsError, make_client

DS = "a" * 32
IS = "b" * 32


class _Sent:
    """Answers every request from a before-send hook, so nothing leaves the process."""

    def __init__(self, client):
        self.requests = []
        client.meta.events.register("before-send.medical-imaging", self)

    def __call__(self, request, **kwargs):
        self.requests.append(request)
        body = (
            b'{"datastoreId":"%s","imageSetId":"%s","versionId":"1","imageSetState":"ACTIVE"}'
            % (DS.encode(), IS.encode())
        )
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw(body))


class _Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def _session():
    return boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="dummy", region_name="eu-west-1"
    )


def test_retry_mode_attempts_and_user_agent():
    client = make_client(session=_session(), max_attempts=3, retry_mode="adaptive")
    config = client.meta.config
    assert config.retries == {"total_max_attempts": 3, "mode": "adaptive"}
    assert f"hi-widgets/{hi_widgets.__version__}" in config.user_agent_extra
    assert client.meta.region_name == "eu-west-1"


def test_custom_endpoint_turns_host_prefix_injection_off():
    client = make_client(session=_session(), endpoint_url="http://127.0.0.1:8080")
    sent = _Sent(client)
    hi_widgets.get_image_set(client, DS, IS, 1)
    (request,) = sent.requests
    assert request.url == (
        f"http://127.0.0.1:8080/datastore/{DS}/imageSet/{IS}/getImageSet?version=1"
    )
    assert request.headers["Authorization"].startswith(b"AWS4-HMAC-SHA256")


def test_endpoint_from_the_environment_turns_host_prefix_injection_off(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_MEDICAL_IMAGING", "http://127.0.0.1:9999")
    client = make_client(session=_session())
    sent = _Sent(client)
    hi_widgets.get_image_set(client, DS, IS)
    assert sent.requests[0].url.startswith("http://127.0.0.1:9999/datastore/")


def test_aws_endpoints_keep_the_runtime_host_prefix():
    client = make_client(session=_session())
    sent = _Sent(client)
    hi_widgets.get_image_set(client, DS, IS)
    assert sent.requests[0].url.startswith("https://runtime-medical-imaging.eu-west-1.")


def test_user_agent_is_sent():
    client = make_client(session=_session(), endpoint_url="http://127.0.0.1:8080")
    sent = _Sent(client)
    hi_widgets.get_image_set(client, DS, IS)
    assert b"hi-widgets/" in sent.requests[0].headers["User-Agent"]


def test_missing_profile_is_a_credentials_error():
    with pytest.raises(CredentialsError, match="no-such-profile"):
        make_client(profile="no-such-profile")


def test_missing_region_is_a_credentials_error():
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="dummy")
    with pytest.raises(CredentialsError, match="No AWS region") as info:
        make_client(session=session)
    # Issue 22: in a fresh shell this is the first error a sandbox user meets.
    assert "export lines `hi-widgets sandbox` printed" in info.value.message


def test_a_stale_sandbox_secret_says_to_paste_the_new_export_lines():
    # Issue 22: keys from an earlier start were reported as "ask an administrator to
    # allow the IAM action", which sends people to the wrong place.
    from hi_widgets import sandbox

    with sandbox.start(quotas=False) as old:
        stale = dict(old.credentials())
    with sandbox.start(quotas=False) as sb:
        session = boto3.Session(region_name=sb.region, **stale)
        client = make_client(session=session, endpoint_url=sb.endpoint_url, max_attempts=1)
        with pytest.raises(hi_widgets.AccessDeniedError) as info:
            hi_widgets.list_datastores(client)
    assert "paste the export lines it printed this time" in info.value.message
    assert "administrator" not in info.value.message


def test_no_credentials_is_reported_before_anything_is_sent():
    client = make_client(region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    sent = _Sent(client)
    with pytest.raises(CredentialsError, match="sandbox") as info:
        hi_widgets.get_image_set(client, DS, IS)
    assert info.value.operation == "GetImageSet"
    assert sent.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endpoint_url": "127.0.0.1:8080"}, "endpoint_url must be an http"),
        ({"endpoint_url": "ftp://host"}, "endpoint_url must be an http"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"retry_mode": "eager"}, "retry_mode"),
        ({"profile": "x", "session": object()}, "either session or profile"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_client(region="us-east-1", **kwargs)


def test_client_repr_and_config_hold_no_secret():
    client = make_client(session=_session(), endpoint_url="http://127.0.0.1:8080")
    assert "dummy" not in repr(client)
    assert "dummy" not in repr(client.meta.config.__dict__)
