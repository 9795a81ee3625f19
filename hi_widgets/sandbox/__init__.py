"""A local AWS HealthImaging-compatible sandbox with deterministic demo data.

The server speaks the real rest-json wire protocol of ``medical-imaging``: routes, query
parameters, validation, serialisation and error status codes all come from the installed
botocore service model, so boto3, the AWS CLI and hi_widgets talk to it as to AWS. It
enforces the published per-operation quotas (token buckets), and can inject latency,
errors, throttling and dropped connections from a seed.

Only its owner can drive it: it binds 127.0.0.1, verifies every SigV4 signature (header
and presigned query forms, over the hash of the body received) with the keys it prints
(:meth:`Sandbox.credentials`; the secret is random per sandbox unless given), refuses
signing times more than 15 minutes from its clock, refuses Host headers that are not an
IP address or ``localhost`` (DNS rebinding) and requests a web page can make, checks the
headers before reading a body and caps each body at what its operation can carry, cuts
off slow clients with per-request deadlines, bounds what an import may decompress
(:class:`ImportLimits`), and never reaches AWS unless ``allow_aws_s3=True``.
``verify_signatures=False`` is the opt-out for clients that sign with keys of their own.

Start it with :func:`start` (a context manager), or from a shell with
``hi-widgets sandbox --port 8080`` / ``python -m hi_widgets.sandbox``.

Demo data (see :mod:`hi_widgets.sandbox.demo.data`): datastores ``demo-radiology`` (30 image
sets, or ``start(image_sets=N)``) and ``demo-oncology`` (14); image set 1 of the first
datastore has 73 versions, so ListImageSetVersions spans two pages.

Timing: UPDATING/COPYING/DELETING/CREATING/IMPORTING last ``update_delay`` seconds of the
sandbox clock (LOCKED always passes; the demo's last operations are still running when a
sandbox starts). With a :class:`ManualClock` they change only when the test calls ``advance``, and
so do the quota buckets: pass ``quotas=False`` when a test makes many calls on a frozen
clock.

Examples
--------
>>> from hi_widgets import sandbox
>>> with sandbox.start(seed=0) as sb:  # doctest: +SKIP
...     client = sb.client()
...     ds = sb.store.datastore_ids()[0]
...     image_set = sb.store.image_set_ids(ds)[1]  # the 73-version demo image set
...     client.get_image_set(datastoreId=ds, imageSetId=image_set)["versionId"]
'73'
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hi_widgets.sandbox.dicom.limits import ImportLimits
    from hi_widgets.sandbox.runner import Sandbox, start
    from hi_widgets.sandbox.runtime.clock import ManualClock, SystemClock
    from hi_widgets.sandbox.runtime.faults import Faults
    from hi_widgets.sandbox.runtime.request_log import RequestLogEntry
    from hi_widgets.sandbox.server.local_s3 import moto_available

# Public name -> submodule. Loaded on first use (PEP 562), so the CLI can build the
# sandbox's argument parser (hi_widgets.sandbox.command) without importing botocore.
_EXPORTS = {
    "Faults": "runtime.faults",
    "ImportLimits": "dicom.limits",
    "ManualClock": "runtime.clock",
    "RequestLogEntry": "runtime.request_log",
    "Sandbox": "runner",
    "SystemClock": "runtime.clock",
    "moto_available": "server.local_s3",
    "start": "runner",
}
__all__ = [
    "Faults",
    "ImportLimits",
    "ManualClock",
    "RequestLogEntry",
    "Sandbox",
    "SystemClock",
    "moto_available",
    "start",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        # Submodules (sandbox.demo.data.LONG_HISTORY) stay reachable as attributes, as they
        # were when this package imported them eagerly.
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
