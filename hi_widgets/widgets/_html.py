"""What the widgets show as text: cell texts, time differences, records, plot images."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import ipywidgets as w
import pandas as pd

from hi_widgets.widgets._frontend import PlotImage


def format_value(value: Any) -> str:
    """Return a readable text for one cell: ISO timestamps, blank for missing values."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # lists and other non-scalars
        pass
    if isinstance(value, datetime):  # pd.Timestamp too
        return value.isoformat()
    return str(value)


def record_html(record: Mapping[str, Any], *, css_class: str = "hi-record") -> str:
    """Render a record (one image set version) as a two-column HTML table.

    Parameters
    ----------
    record
        Field name to value; every field is shown, missing values as a dash.
    css_class
        Class of the ``<table>``.

    Returns
    -------
    str
        HTML; values are escaped.
    """
    rows = "".join(
        f"<tr><th style='text-align:left;padding-right:1em;vertical-align:top'>"
        f"{html.escape(str(key))}</th>"
        f"<td style='overflow-wrap:anywhere;word-break:break-all'>"
        f"{html.escape(_record_value(value)) or '—'}</td></tr>"
        for key, value in record.items()
    )
    # table-layout fixed + a max width: a long imageSetArn wraps inside the box.
    return (
        f"<table class='{css_class}' style='table-layout:fixed;width:100%;max-width:60em'>"
        f"<colgroup><col style='width:17em'><col></colgroup><tbody>{rows}</tbody></table>"
    )


def format_duration(value: Any) -> str:
    """Return a time difference as people read it: ``1 min 46 s``, ``2 h 5 min``, ``3 d 4 h``.

    Used for ``sincePrevious`` (the time between two versions) and for times the client
    measured itself; AWS gives no operation durations.

    Missing values give ``""``; under ten seconds one decimal is kept (``4.2 s``).
    """
    if value is None or value is pd.NaT:
        return ""
    try:
        seconds = pd.Timedelta(value).total_seconds()
    except (TypeError, ValueError):
        return str(value)
    if pd.isna(seconds):
        return ""
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 10:
        return f"{sign}{seconds:.1f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    if minutes:
        return f"{sign}{minutes} min {secs} s"
    return f"{sign}{secs} s"


def _record_value(value: Any) -> str:
    if isinstance(value, pd.Timedelta):
        return format_duration(value)
    return format_cell(value)


def format_cell(value: Any) -> str:
    """Return the short text of a table cell: timestamps as ``2025-03-01 12:00:05Z`` (UTC).

    Time zone aware timestamps are converted to UTC and end in ``Z``; naive ones are
    shown as they are, without the ``Z``. Everything else as :func:`format_value`.
    """
    text = format_value(value)
    if text and isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return text


def plot_image(css_class: str, *, fill: bool = True, alt: str = "") -> PlotImage:
    """Return an empty PNG picture widget for a plot.

    Parameters
    ----------
    css_class
        Class added to the widget (and its ``<img>``).
    fill
        Scale the image to the container's width (height in proportion); render the
        PNG at least that wide so it is scaled down, never blurred. With False the image
        keeps its own size, shrunk only when the container is narrower.
    alt
        What the plot shows, for screen readers; update it with the picture.

    Returns
    -------
    PlotImage
    """
    image = PlotImage(value=b"", alt=alt, fill=fill)
    image.layout = w.Layout(width="100%") if fill else w.Layout(max_width="100%")
    image.add_class(css_class)
    return image
