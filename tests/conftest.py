"""Shared test setup: no test may see real AWS credentials, profiles or endpoints."""

import pytest

_AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_MEDICAL_IMAGING",
    "AWS_DISABLE_HOST_PREFIX_INJECTION",
)


@pytest.fixture(autouse=True)
def isolated_aws_environment(monkeypatch, tmp_path_factory):
    """Point boto3 at empty config files and drop AWS variables from the environment."""
    empty = tmp_path_factory.getbasetemp() / "aws-empty-config"
    empty.touch()
    for name in _AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
