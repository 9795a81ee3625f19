"""Helpers the widget tests share: start a widget, count table rows, read a download."""

from __future__ import annotations

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


def downloaded(panel: Any) -> bytes:
    """Press an ExportPanel's download button as the browser does; return the file sent.

    The button's front end sends ``{"event": "download"}``; the kernel answers with one
    custom message carrying the file as a buffer, which is what this returns.
    """
    sent: list[tuple[dict, list]] = []
    button = panel.download_button
    original = button.send
    button.send = lambda content, buffers=None: sent.append((content, buffers or []))
    try:
        button._handle_custom_msg({"event": "download"}, [])
    finally:
        button.send = original
    assert len(sent) == 1, "no file was sent (see the status area)"
    content, buffers = sent[0]
    assert content["event"] == "file" and content["filename"] == panel.filename
    return bytes(buffers[0])


def downloaded_csv(panel: Any) -> pd.DataFrame:
    """Read the CSV an ExportPanel's download button sends."""
    return pd.read_csv(io.BytesIO(downloaded(panel)))


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


def timeline_bar_on_page(canvas: Any, frame: pd.DataFrame, version: int) -> tuple[float, float]:
    """Page coordinates of a version's bar in a browser's timeline canvas (Playwright).

    Waits until the page's figure has the width its output area asked for (the kernel
    redraws it after the front end reported the width), then draws the same figure here.
    """
    from hi_widgets.widgets._timeline import DPI, MIN_WIDTH_INCHES, TOOLBAR_PX, InteractiveTimeline

    canvas.scroll_into_view_if_needed()
    width = canvas.evaluate(
        """(canvas, [toolbar, minimum]) => new Promise((resolve, reject) => {
            // A bound only: the answer comes from the ResizeObserver.
            setTimeout(() => reject(new Error("the timeline never fit its area")), 60000);
            const probe = canvas.closest(".hi-interactive-timeline")
                .querySelector(".hi-timeline-probe");
            const check = () => {
                const wanted = Math.max(minimum, probe.getBoundingClientRect().width - toolbar);
                const now = canvas.getBoundingClientRect().width;
                if (Math.abs(now - wanted) <= 8) { resolve(now); return true; }
                return false;
            };
            if (check()) { return; }
            const observer = new ResizeObserver(() => { if (check()) observer.disconnect(); });
            observer.observe(canvas);
        })""",
        [TOOLBAR_PX, MIN_WIDTH_INCHES * DPI],
    )
    timeline = InteractiveTimeline()
    timeline.width_inches = width / DPI
    timeline.set_frame(frame)
    index = timeline.rows.index[timeline.rows["versionId"] == version][0]
    x, y = timeline._bars.get_paths()[index].vertices[:4].mean(axis=0)
    px, py = timeline.figure.axes[0].transData.transform((x, y))
    box = canvas.bounding_box()
    assert box is not None
    return box["x"] + px, box["y"] + timeline.figure.bbox.height - py
