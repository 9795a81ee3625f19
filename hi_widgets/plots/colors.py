"""Colours of workflow statuses and image set states, for :mod:`hi_widgets.plots.timeline`."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FILE_STATUS_COLORS",
    "JOB_STATUS_COLORS",
    "STATE_COLORS",
    "STATUS_COLORS",
    "is_failure",
    "status_color",
]

STATUS_COLORS: dict[str, str] = {
    "CREATED": "#1f77b4",
    "COPIED": "#17becf",
    "COPYING": "#9edae5",
    "COPYING_WITH_READ_ONLY_ACCESS": "#6baed6",
    "COPY_FAILED": "#7a0177",
    "UPDATING": "#fdae6b",
    "UPDATING_FOR_STUDY_CONSISTENCY": "#fdd0a2",
    "UPDATED": "#2ca02c",
    "UPDATE_FAILED": "#d62728",
    "DELETING": "#969696",
    "DELETED": "#252525",
    "IMPORTING": "#c5b0d5",
    "IMPORTED": "#9467bd",
    "IMPORT_FAILED": "#8c510a",
}
"""Colour of each workflow status of the model (deletions grey/black).

The failures differ in hue, not only in shade (UPDATE_FAILED red, COPY_FAILED dark
magenta, IMPORT_FAILED dark brown), and each has at least 3:1 contrast with white (WCAG 2.2
1.4.11), so they stay apart on screen and for colour-blind readers; their bars also carry
a dark edge and a cross.
"""

STATE_COLORS: dict[str, str] = {"ACTIVE": "#2ca02c", "LOCKED": "#ff7f0e", "DELETED": "#252525"}
"""Colour of each image set state."""

JOB_STATUS_COLORS: dict[str, str] = {
    "SUBMITTED": "#56b4e9",
    "IN_PROGRESS": "#e69f00",
    "COMPLETED": "#009e73",
    "FAILED": "#d55e00",
}
"""Colour of each import job status (``jobStatus``), from the Okabe-Ito palette.

Okabe and Ito chose these eight colours to stay apart for the common forms of colour
blindness. COMPLETED (bluish green) and FAILED (vermillion) have at least 3:1 contrast
with white; the lighter SUBMITTED and IN_PROGRESS bars carry a dark edge and a hatch,
and every bar is also labelled with its status in words.
"""

FILE_STATUS_COLORS: dict[str, str] = {
    "SUCCESS": "#009e73",
    "WARNING": "#e69f00",
    "FAILURE": "#d55e00",
}
"""Colour of each file outcome of an import job (``status`` of an outcomes frame)."""

RUNNING_EDGE = "#3b3b3b"
MISSING_COLOR = "#d9d9d9"
MISSING_LABEL = "(none)"
FAILURE_EDGE = "#67000d"
HIGHLIGHT_EDGE = "#000000"

# Colours for values the model does not know yet, picked by a stable hash of the name.
_FALLBACK = (
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#7b4173",
    "#3182bd",
    "#31a354",
)


def status_color(status: Any, palette: dict[str, str] | None = None) -> str:
    """Return the colour of a workflow status (or of any category with ``palette``).

    Parameters
    ----------
    status
        A status name; a missing value gives a light grey.
    palette
        Name-to-colour mapping to look in first; default :data:`STATUS_COLORS`.

    Returns
    -------
    str
        A matplotlib colour. Unknown names always get the same colour, chosen from their
        CRC-32 (not Python's salted ``hash``).
    """
    if status is None or status is pd.NA or (isinstance(status, float) and np.isnan(status)):
        return MISSING_COLOR
    colors = STATUS_COLORS if palette is None else palette
    name = str(status)
    if name in colors:
        return colors[name]
    if name.endswith("_FAILED"):
        return "#cb181d"
    return _FALLBACK[zlib.crc32(name.encode("utf-8")) % len(_FALLBACK)]


def is_failure(status: Any) -> bool:
    """Return whether a workflow status is a failure (``*_FAILED``)."""
    return isinstance(status, str) and status.endswith("_FAILED")
