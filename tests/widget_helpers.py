"""Helpers the widget tests share: start a widget, count table rows, read a download."""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

import pandas as pd

WAIT = 120.0
"""Bound of every wait for a widget's worker thread; generous for loaded CI machines."""


def ready(widget_class: type, sb: Any, *args: Any, **kwargs: Any) -> Any:
    """Build a widget on a single-attempt sandbox client and wait for its first job."""
    widget = widget_class(sb.client(max_attempts=1), *args, **kwargs)
    assert widget.wait(WAIT), widget.status.text
    return widget


def rows(html: str) -> int:
    """Number of ``<tr>`` in the ``<tbody>`` of a table's HTML."""
    body = re.search(r"<tbody>(.*)</tbody>", html, re.S)
    return 0 if body is None else body.group(1).count("<tr")


def downloaded(link_html: str) -> bytes:
    """The file an ExportPanel's ``data:`` download link holds (decoded)."""
    payload = re.search(r"base64,([A-Za-z0-9+/=]+)", link_html).group(1)
    return base64.b64decode(payload)


def downloaded_csv(link_html: str) -> pd.DataFrame:
    """Read the CSV an ExportPanel's ``data:`` download link holds."""
    return pd.read_csv(io.BytesIO(downloaded(link_html)))


def update_metadata(client: Any, sb: Any, ds: str, image_set: str, updates: dict) -> int:
    """Apply DICOM updates to the latest version; return the new version number."""
    latest = sb.store.versions(ds, image_set)[-1]["versionId"]
    client.update_image_set_metadata(
        datastoreId=ds,
        imageSetId=image_set,
        latestVersionId=latest,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(updates).encode()}
        },
    )
    return int(latest) + 1


def grid_text(grid: Any) -> str:
    """Everything a FrameGrid shows, as CSV text ("" when empty), for comparisons."""
    return "" if grid.shown is None else grid.shown.to_csv(index=False)
