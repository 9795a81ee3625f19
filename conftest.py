"""Doctests: the ``Examples`` in hi_widgets' docstrings run against one local sandbox.

``pytest`` collects them with ``--doctest-modules`` (see pyproject.toml). Each example
finds in its namespace:

- ``hw``: ``import hi_widgets as hw``;
- ``sb``: a sandbox (``sandbox.start(seed=0, quotas=False)``), shared by the session;
- ``client``: ``sb.client()``, a boto3 ``medical-imaging`` client for it;
- ``datastore_id``: the first demo datastore; ``image_set_id``: its image set with 73
  versions (two pages of ListImageSetVersions).

No AWS credentials, profile or endpoint of the person running the tests are visible.
The AWS isolation below applies to every test; the unit tests' own fixtures are in
tests/conftest.py.
"""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def doctest_sandbox():
    """Start the sandbox the docstring examples run against (one per session)."""
    from hi_widgets import sandbox

    with sandbox.start(seed=0, quotas=False) as sb:
        yield sb


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
    # boto3's module-level default session caches the credentials it resolved first
    # (boto3.client(...) uses it): each test starts without one.
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture(autouse=True)
def _doctest_globals(request, doctest_namespace, isolated_aws_environment):
    if type(request.node).__name__ != "DoctestItem":
        return
    import hi_widgets

    sb = request.getfixturevalue("doctest_sandbox")
    sb.set_faults()
    datastore_id = sb.store.datastore_ids()[0]
    doctest_namespace.update(
        hw=hi_widgets,
        sb=sb,
        client=sb.client(),
        datastore_id=datastore_id,
        image_set_id=sb.store.image_set_ids(datastore_id)[1],
    )
