"""The sandbox's layout: an explicit operation registry, no upward imports, no cycles."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore import xform_name

from hi_widgets import sandbox
from hi_widgets.api.model import service_model
from hi_widgets.limits.bucket import TokenBucket
from hi_widgets.limits.quotas import PUBLISHED_QUOTAS
from hi_widgets.limits.ratelimit import RateLimiter
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.backend.state import BackendState
from hi_widgets.sandbox.runtime.clock import ManualClock
from hi_widgets.sandbox.runtime.quota_table import QuotaTable
from hi_widgets.sandbox.server.registry import OperationRegistry

SANDBOX_DIR = Path(sandbox.__file__).parent
# The shared leaves (see tests/test_layout.py, which checks every import of every room).
ALLOWED_UPWARD = {
    "hi_widgets._version",
    "hi_widgets.api",
    "hi_widgets.api.model",
    "hi_widgets.export",
    "hi_widgets.export.atomic",
    "hi_widgets.limits",
    "hi_widgets.limits.bucket",
    "hi_widgets.limits.quotas",
}


@pytest.fixture(scope="module")
def backend():
    return Backend(ManualClock())


@pytest.fixture(scope="module")
def registry(backend):
    return OperationRegistry.for_backend(service_model(), backend)


def test_registry_is_exactly_the_installed_models_operations(registry):
    assert set(registry) == set(service_model().operation_names)


def test_each_operation_is_the_backend_method_botocore_names_it(registry, backend):
    for operation, handler in registry.items():
        assert handler.method.__self__ is backend
        assert handler.method.__name__ == xform_name(operation)


def test_backend_helpers_are_not_operations(registry, backend):
    handlers = {handler.method.__name__ for handler in registry.values()}
    for helper in ("versions", "settle", "datastore_ids", "image_set_ids", "metadata_document"):
        assert callable(getattr(backend, helper))  # public on the backend...
        assert helper not in handlers  # ...and still no operation


def test_a_request_for_a_helper_name_is_no_operation():
    with sandbox.start(quotas=False) as sb:
        client = sb.client(max_attempts=1)
        client.list_datastores()  # the sandbox answers
        endpoint = sb.endpoint_url
        for path in ("/settle", "/versions", "/datastore/x/versions"):
            request = urllib.request.Request(endpoint + path, method="POST", data=b"{}")
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=10)
            assert info.value.code in (403, 404)


class _Reads(BackendState):
    """An operation group answering only GetImageSet (the registry skips the others)."""


def test_registry_refuses_a_method_that_does_not_take_the_operations_members():
    class Extra(_Reads):
        def get_image_set(self, *, datastore_id, image_set_id, version_id=None, sneaky=None):
            return {}

    class Missing(_Reads):
        def get_image_set(self, *, datastore_id, version_id=None):
            return {}

    class Positional(_Reads):
        def get_image_set(self, datastore_id, *, image_set_id, version_id=None):
            return {}

    model = service_model()
    with pytest.raises(ValueError, match=r"Extra\.get_image_set takes 'sneaky', which is no"):
        OperationRegistry(model, Extra(ManualClock()))
    with pytest.raises(ValueError, match=r"required input member\(s\) of GetImageSet: imageSetId"):
        OperationRegistry(model, Missing(ManualClock()))
    with pytest.raises(ValueError, match="'datastore_id' must be keyword-only"):
        OperationRegistry(model, Positional(ManualClock()))

    class Right(_Reads):
        def get_image_set(self, *, datastore_id, image_set_id, version_id=None):
            return {"imageSetId": image_set_id, "versionId": version_id or "1"}

    registry = OperationRegistry(model, Right(ManualClock()))
    assert list(registry) == ["GetImageSet"]
    handler = registry["GetImageSet"]
    assert handler({"datastoreId": "d" * 32, "imageSetId": "i" * 32, "versionId": "2"}) == {
        "imageSetId": "i" * 32,
        "versionId": "2",
    }


def test_registry_refuses_an_operation_provided_twice():
    class Twice(BackendState):
        def get_image_set(self, *, datastore_id, image_set_id, version_id=None):
            return {}

    class Doubled(Backend, Twice):
        pass

    with pytest.raises(
        ValueError, match="GetImageSet is provided by both ImageSetReads and Twice"
    ):
        OperationRegistry(service_model(), Doubled(ManualClock()))


def test_a_member_the_backend_does_not_take_is_refused_by_name():
    # CreateDatastore's lambdaAuthorizerArn has no sandbox counterpart: said, not ignored.
    with sandbox.start(quotas=False) as sb:
        client = sb.client(max_attempts=1)
        with pytest.raises(client.exceptions.ValidationException, match="lambdaAuthorizerArn"):
            client.create_datastore(
                datastoreName="x",
                lambdaAuthorizerArn="arn:aws:lambda:us-east-1:123456789012:function:auth",
            )
        assert client.create_datastore(datastoreName="y")["datastoreStatus"] == "CREATING"


# ---------------------------------------------------------------------------- imports


def test_running_the_sandbox_loads_no_other_part_of_the_package():
    probe = (
        "import sys, hi_widgets.sandbox.runner, hi_widgets.sandbox.command\n"
        "print(' '.join(m for m in sys.modules if m.startswith('hi_widgets')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    outside = {m for m in loaded if not m.startswith("hi_widgets.sandbox")} - {"hi_widgets"}
    assert outside <= ALLOWED_UPWARD


# ----------------------------------------------------------------------------- quotas


def test_server_quotas_are_the_published_table():
    table = QuotaTable(ManualClock().monotonic)
    assert table.rates == dict(PUBLISHED_QUOTAS)


def test_server_and_client_share_the_one_bucket_and_the_one_quota_check():
    # One TokenBucket class in the package, in the shared leaf; the sandbox's table uses it.
    defining = [
        path.name
        for path in Path(sandbox.__file__).parents[1].rglob("*.py")
        if "class TokenBucket" in path.read_text()
    ]
    assert defining == ["bucket.py"]
    clock = ManualClock()
    table = QuotaTable(clock.monotonic, quota_rates={"GetImageSet": (2.0, 3.0)})
    admitted = [table.try_acquire("GetImageSet") for _ in range(4)]
    assert admitted == [True, True, True, False]  # the burst, then empty
    assert isinstance(table._buckets["GetImageSet"], TokenBucket)
    clock.advance(0.5)  # exactly one token at 2/s: a call exactly at the rate passes
    assert [table.try_acquire("GetImageSet") for _ in range(2)] == [True, False]
    # The client's limiter refuses the same overrides with the same messages.
    for bad in ({"GetImageSet": (0, 1)}, {"GetImageSet": 5}, {"Bogus": (1, 1)}):
        with pytest.raises(ValueError) as server:
            QuotaTable(clock.monotonic, quota_rates=bad)
        with pytest.raises(ValueError) as client:
            RateLimiter(bad)
        assert str(server.value) == str(client.value)


def test_a_misspelt_operation_in_rates_is_an_error_naming_it():
    # Issue 15: quota_rates={'Bogus': ...} was silently ignored.
    with pytest.raises(ValueError, match="'Bogus'"):
        QuotaTable(ManualClock().monotonic, quota_rates={"Bogus": (1.0, 1.0)})
    with pytest.raises(ValueError, match="'GetImageSte'"):
        sandbox.Sandbox(quota_rates={"GetImageSte": (1.0, 2.0)})
    box = sandbox.Sandbox()
    with pytest.raises(ValueError, match="'Bogus'"):
        box.set_quotas(True, {"Bogus": (1.0, 1.0)})
