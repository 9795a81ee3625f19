"""Fetching for :func:`hi_widgets.changes.log.fetch_changes`: versions, then every document.

ListImageSetVersions pages are walked in the calling thread (:mod:`hi_widgets.api.walk`); each
version's GetImageSetMetadata is handed to a small thread pool as soon as its page
arrives, so the second page overlaps with the first page's documents. Every request goes
through the bulk engine's rate-limited, retrying send (:class:`hi_widgets.bulk.engine.Engine`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from hi_widgets.api.errors import HealthImagingError, ResourceNotFoundError
from hi_widgets.api.metadata_blob import decode_metadata
from hi_widgets.api.progress import ProgressCallback, report
from hi_widgets.api.records import ImageSetRecord
from hi_widgets.api.walk import Cancelled, walk_versions
from hi_widgets.bulk.engine import Engine

log = logging.getLogger(__name__)


def fetch_documents(
    engine: Engine,
    ids: dict[str, str],
    wanted: list[int] | None,
    max_workers: int,
    progress: ProgressCallback | None,
    parse: Callable[[dict[str, Any]], Any],
) -> tuple[dict[int, ImageSetRecord], dict[int, Any]]:
    """List the versions and fetch their documents as pages arrive.

    Returns the records of the versions listed (by version number), and for each version
    fetched ``parse(document)``, the error that stopped it, or None if cancelled.
    ``parse`` runs in the worker, while the other workers wait on the network.
    """
    records: dict[int, ImageSetRecord] = {}
    futures: dict[Future[Any], int] = {}
    listed: set[int] = set()
    selection = None if wanted is None else set(wanted)

    def fetch(version_id: int) -> Any:
        params = {**ids, "versionId": str(version_id)}
        try:
            return parse(decode_metadata(engine.send("GetImageSetMetadata", params)))
        except Cancelled:
            return None
        except HealthImagingError as error:
            return error
        except Exception as error:  # a corrupt document must not lose the other versions
            log.warning("metadata of version %d unreadable: %s", version_id, error)
            return error

    outcomes: dict[int, Any] = {}
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="hi-changes") as pool:
        try:
            try:
                listing = walk_versions(
                    engine.send, ids["datastoreId"], ids["imageSetId"], strategy="list"
                )
                for record in listing:  # newest first, each version once
                    version_id = record["versionId"]
                    listed.add(version_id)
                    if selection is not None and version_id not in selection:
                        continue
                    records[version_id] = record
                    futures[pool.submit(fetch, version_id)] = version_id
            except Cancelled:
                pass
            missing = [] if engine.stopped() or selection is None else sorted(selection - listed)
            if missing:
                raise ResourceNotFoundError(
                    f"Not found: version(s) {', '.join(map(str, missing))} of image set "
                    f"{ids['imageSetId']} (version_ids=). The image set has versions "
                    f"{min(listed, default=0)} to {max(listed, default=0)}.",
                    operation="ListImageSetVersions",
                    identifiers=ids,
                )
            total = len(futures)
            for done, future in enumerate(as_completed(futures), start=1):
                outcomes[futures[future]] = future.result()
                report(progress, done, total, "documents")
        except BaseException:
            engine.abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return records, outcomes
