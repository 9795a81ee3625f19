"""The one walk over HealthImaging's version and search pages.

Every path that reads version histories or search results goes through this module:
:func:`hi_widgets.iter_versions` and :func:`hi_widgets.search_image_sets` (one request
at a time, straight to the client), and :func:`hi_widgets.fetch_versions`,
:func:`hi_widgets.fetch_datastore` and :func:`hi_widgets.refresh` (each request through
the rate limiter and the retries). The walks differ only in the :data:`Send` callable
they are given, so they share every rule:

- ListImageSetVersions and SearchImageSets are read page by page until the service
  returns no ``nextToken`` (never only the first page), ``maxResults`` :data:`PAGE_SIZE`.
- A version is yielded once, even if a page boundary shifts under a concurrent update
  and the service repeats it on the next page.
- ``strategy="auto"`` falls back from ListImageSetVersions to GetImageSet only when the
  *first* page is denied: a principal allowed that page may list, so a denial later is an
  error of its own, reported as such.
- A version missing in a GetImageSet walk (ResourceNotFound for a number below the
  latest) goes to ``on_missing`` if given, else it is logged as a **warning**: the
  history returned has a gap the caller did not ask for.
- ``stop_at(record)`` ends a walk at the first record it accepts (refresh uses it to stop
  at the first version it already knows, newest first).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

from hi_widgets.api.errors import AccessDeniedError, ResourceNotFoundError, translate
from hi_widgets.api.metadata_blob import read_metadata_blob
from hi_widgets.api.progress import ProgressCallback, report
from hi_widgets.api.records import ImageSetRecord, normalize_image_set

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = [
    "PAGE_SIZE",
    "STRATEGIES",
    "Cancelled",
    "MissingCallback",
    "Send",
    "Strategy",
    "direct_send",
    "get_version",
    "import_job_summaries",
    "search_summaries",
    "walk_versions",
]

log = logging.getLogger(__name__)

PAGE_SIZE = 50
"""maxResults of ListImageSetVersions, SearchImageSets and ListDICOMImportJobs (each
operation's maximum)."""

Strategy = Literal["auto", "list", "get"]
STRATEGIES: tuple[str, ...] = ("auto", "list", "get")

Send = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``send(operation, params) -> response``: one request, errors as hi_widgets errors.

It raises :class:`Cancelled` instead of sending when the caller has been cancelled."""

MissingCallback = Callable[[int, ResourceNotFoundError], None]
"""``on_missing(version_number, error)`` for a version a GetImageSet walk did not find."""

StopAt = Callable[[ImageSetRecord], bool]

_METHODS = {
    "GetImageSet": "get_image_set",
    "GetImageSetMetadata": "get_image_set_metadata",
    "ListImageSetVersions": "list_image_set_versions",
    "SearchImageSets": "search_image_sets",
    "ListDICOMImportJobs": "list_dicom_import_jobs",
    "GetDICOMImportJob": "get_dicom_import_job",
}
_ID_KEYS = ("datastoreId", "imageSetId", "versionId", "jobId")


class Cancelled(Exception):
    """Raised by a :data:`Send` that was cancelled before sending its request."""


def direct_send(
    client: HealthImagingClient, is_cancelled: Callable[[], bool] | None = None
) -> Send:
    """Return a :data:`Send` calling ``client`` directly, one attempt per request."""

    def send(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if is_cancelled is not None and is_cancelled():
            raise Cancelled
        ids = {key: params[key] for key in _ID_KEYS if key in params}
        with translate(operation, **ids):
            response = getattr(client, _METHODS[operation])(**params)
            if operation == "GetImageSetMetadata":  # read inside: a dropped body is retryable
                read_metadata_blob(response)
            return cast("dict[str, Any]", response)

    return send


def _pages(send: Send, operation: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a paginated operation, following ``nextToken``."""
    token: str | None = None
    while True:
        request = {**params, "maxResults": PAGE_SIZE}
        if token:
            request["nextToken"] = token
        page = send(operation, request)
        yield page
        token = page.get("nextToken")
        if not token:
            return


def get_version(
    send: Send, datastore_id: str, image_set_id: str, version: int | str | None = None
) -> ImageSetRecord:
    """One GetImageSet (the latest version when ``version`` is None), normalized."""
    params = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    if version is not None:
        params["versionId"] = str(version)
    response = send("GetImageSet", params)
    return normalize_image_set(response, datastore_id=datastore_id, image_set_id=image_set_id)


def _list_walk(
    send: Send,
    datastore_id: str,
    image_set_id: str,
    progress: ProgressCallback | None,
    stop_at: StopAt | None,
    seen: set[int],
    if_denied: Callable[[], Iterator[ImageSetRecord]] | None,
) -> Iterator[ImageSetRecord]:
    params = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    pages = _pages(send, "ListImageSetVersions", params)
    try:
        first = next(pages)
    except AccessDeniedError:
        if if_denied is None:
            raise
        log.info("ListImageSetVersions denied for %s; walking with GetImageSet", image_set_id)
        yield from if_denied()
        return
    total: int | None = None
    for page in itertools.chain([first], pages):
        records = [
            normalize_image_set(item, datastore_id=datastore_id, image_set_id=image_set_id)
            for item in page.get("imageSetPropertiesList", [])
        ]
        if total is None and records:
            total = max(record["versionId"] for record in records)
        fresh = []
        stopped = False
        for record in records:
            if stop_at is not None and stop_at(record):
                stopped = True
                break
            if record["versionId"] not in seen:
                seen.add(record["versionId"])
                fresh.append(record)
        report(progress, len(seen), total, "versions")
        yield from fresh
        if stopped:
            return


def _get_walk(
    send: Send,
    datastore_id: str,
    image_set_id: str,
    progress: ProgressCallback | None,
    stop_at: StopAt | None,
    on_missing: MissingCallback | None,
    latest: ImageSetRecord | None,
    seen: set[int],
) -> Iterator[ImageSetRecord]:
    if latest is None:
        latest = get_version(send, datastore_id, image_set_id)
    total = latest["versionId"]
    if stop_at is not None and stop_at(latest):
        return
    seen.add(total)
    report(progress, len(seen), total, "versions")
    yield latest
    for number in range(total - 1, 0, -1):
        try:
            record = get_version(send, datastore_id, image_set_id, number)
        except ResourceNotFoundError as error:
            if on_missing is not None:
                on_missing(number, error)
            else:
                log.warning("image set %s has no version %d; skipped", image_set_id, number)
            report(progress, len(seen), total, "versions")
            continue
        if stop_at is not None and stop_at(record):
            return
        seen.add(number)
        report(progress, len(seen), total, "versions")
        yield record


def walk_versions(
    send: Send,
    datastore_id: str,
    image_set_id: str,
    *,
    strategy: Strategy = "auto",
    progress: ProgressCallback | None = None,
    on_missing: MissingCallback | None = None,
    stop_at: StopAt | None = None,
    latest: ImageSetRecord | None = None,
) -> Iterator[ImageSetRecord]:
    """Yield every version of one image set once, newest first (identifiers pre-checked).

    Parameters
    ----------
    send
        Sends one request (:func:`direct_send`, or the rate-limited, retrying one of
        :mod:`hi_widgets.bulk`).
    strategy
        ``"list"``, ``"get"`` or ``"auto"`` (list; get if the first page is denied).
    progress, on_missing, stop_at
        See the module notes, :class:`~hi_widgets.api.progress.Progress` (counting
        versions; the total is the latest version number once known) and
        :data:`MissingCallback`.
    latest
        ``"get"`` only: the latest version's record if already fetched (not sent again).
    """
    seen: set[int] = set()

    def by_get() -> Iterator[ImageSetRecord]:
        return _get_walk(
            send, datastore_id, image_set_id, progress, stop_at, on_missing, latest, seen
        )

    if strategy == "get":
        return by_get()
    if_denied = by_get if strategy == "auto" else None
    return _list_walk(send, datastore_id, image_set_id, progress, stop_at, seen, if_denied)


def search_summaries(
    send: Send,
    datastore_id: str,
    search_criteria: dict[str, Any] | None = None,
    *,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield SearchImageSets summaries, every page, at most ``limit`` of them."""
    params: dict[str, Any] = {"datastoreId": datastore_id}
    if search_criteria:
        params["searchCriteria"] = search_criteria
    count = 0
    for page in _pages(send, "SearchImageSets", params):
        for summary in page.get("imageSetsMetadataSummaries", []):
            if limit is not None and count >= limit:
                return
            count += 1
            yield summary
        if limit is not None and count >= limit:
            return


def import_job_summaries(
    send: Send, datastore_id: str, job_status: str | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every ListDICOMImportJobs summary of a datastore, every page.

    ``job_status`` is the service's own filter (``jobStatus``); None lists every job.
    """
    params: dict[str, Any] = {"datastoreId": datastore_id}
    if job_status is not None:
        params["jobStatus"] = job_status
    for page in _pages(send, "ListDICOMImportJobs", params):
        yield from page.get("jobSummaries", [])
