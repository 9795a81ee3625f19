"""Fetch the version histories of many image sets at the account's request quotas.

:func:`fetch_versions` runs a pool of threads over one client. Every request first takes a
token from a per-operation :class:`~hi_widgets.limits.ratelimit.RateLimiter` (published quotas by
default), so the pool sends as fast as the quota allows and no faster. Throttling, 5xx
answers and dropped connections are retried here, with exponential backoff and full
jitter, and each throttle slows the operation's bucket down. Every other error is recorded
for its image set, and the other image sets carry on. Pages are walked by
:mod:`hi_widgets.api.walk`, the same walk :func:`hi_widgets.iter_versions` uses.

:func:`refresh` brings a versions frame up to date with far fewer requests: it asks
SearchImageSets which image sets changed since the newest timestamp in the frame, and
lists only those (newest first, stopping at the first version it already knows).

Retries and the client's own retries
------------------------------------
The retry and rate logic lives here, so botocore must not retry underneath it: a botocore
retry would bypass the token bucket and sleep on its own schedule. When the client passed
in retries (its ``retries`` config allows more than one attempt, as boto3's default and
:func:`hi_widgets.make_client`'s default do), the functions here build a twin client for
the duration of the call: same credentials object (refreshing credentials keep
refreshing), region, endpoint and configuration, but one attempt per request and a
connection pool as large as ``max_workers``. Event handlers registered on the original
client (including a ``botocore.stub.Stubber``) are not copied: pass a client built with
``make_client(max_attempts=1)`` to have yours used as is. The twin is built by
:mod:`hi_widgets.api.single_attempt`.

Modules: ``engine`` (the rate-limited, retrying send, and the option checks),
``processes`` (:class:`RequestProcesses`: the sending in child processes, for quotas
beyond one process), ``_pool`` (the threads, one lane per
operation), ``_routing`` (GetImageSet or ListImageSetVersions per image set),
``_checkpoint`` (durable, HMAC-checked progress for resuming), ``_result`` (FetchResult,
FetchStats, StreamedDataset), ``_stream`` (the dataset sink: batches into a Parquet
dataset, then the checkpoint), ``_run`` (the one entry skeleton: each public function
describes its work as a plan and ``run_plan`` does the rest, with a pluggable sink for
completed image sets),
and the public functions in ``_fetch``, ``_datastore`` and ``_refresh``.

:func:`fetch_datastore` enumerates a datastore with SearchImageSets and spreads the work
over the GetImageSet and ListImageSetVersions quotas at once (see ``_routing``).

:func:`sync_datastore` keeps a Parquet dataset of a datastore up to date: each call
searches only what changed since the dataset's high-water mark (``sync``, with its
state file in ``_sync_state`` and its batching sink in ``_sync_sink``).
"""

from hi_widgets.api.items import Item
from hi_widgets.bulk._datastore import fetch_datastore
from hi_widgets.bulk._fetch import fetch_versions
from hi_widgets.bulk._refresh import refresh
from hi_widgets.bulk._result import ERROR_COLUMNS, FetchResult, FetchStats, StreamedDataset
from hi_widgets.bulk.engine import BACKOFF_BASE, BACKOFF_CAP, MAX_ATTEMPTS
from hi_widgets.bulk.processes import RequestProcesses
from hi_widgets.bulk.sync import SyncResult, sync_datastore

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "ERROR_COLUMNS",
    "MAX_ATTEMPTS",
    "FetchResult",
    "FetchStats",
    "Item",
    "RequestProcesses",
    "StreamedDataset",
    "SyncResult",
    "fetch_datastore",
    "fetch_versions",
    "refresh",
    "sync_datastore",
]
