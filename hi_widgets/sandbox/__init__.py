"""A local AWS HealthImaging-compatible sandbox with deterministic demo data.

The server speaks the real rest-json wire protocol of ``medical-imaging`` (routes,
parameters, validation and serialisation all come from the installed botocore model), so
boto3, the AWS CLI and hi_widgets talk to it exactly as to AWS.

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

from .clock import ManualClock, SystemClock
from .faults import Faults
from .requestlog import RequestLogEntry
from .runner import Sandbox, start

__all__ = ["Faults", "ManualClock", "RequestLogEntry", "Sandbox", "SystemClock", "start"]
