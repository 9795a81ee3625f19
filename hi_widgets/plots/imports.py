"""Import jobs on a time axis by status, and an import job's failure reasons counted.

A job has a ``submittedAt`` and, once it ended, an ``endedAt`` (both from AWS), so its
bar is its real duration, not an estimate. A job still SUBMITTED or IN_PROGRESS has no
end yet: its bar runs open-ended to "now" (given, or the time of drawing), hatched, with
an arrow and the word "running" so the open end is never read as an end time.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from hi_widgets.plots._timeline_layout import _date_numbers, _short_id, _thin_ticks
from hi_widgets.plots.axes import _new_axes, _no_data, _utc_date_axis
from hi_widgets.plots.colors import (
    FILE_STATUS_COLORS,
    JOB_STATUS_COLORS,
    MISSING_LABEL,
    RUNNING_EDGE,
    status_color,
)

__all__ = ["import_jobs_order", "plot_failure_reasons", "plot_import_jobs"]

JOB_COLUMNS = ("jobId", "jobStatus", "submittedAt", "endedAt")
"""Columns of an import jobs frame the job timeline needs."""

RUNNING = ("SUBMITTED", "IN_PROGRESS")
"""Job statuses of a job that has not ended (no ``endedAt`` yet)."""

_HATCH = {"SUBMITTED": "..", "IN_PROGRESS": "//", "FAILED": "xx"}
_FILE_HATCH = {"FAILURE": "xx", "WARNING": ".."}
_LABEL_CHARS = 28
_REASON_CHARS = 44


def _check_frame(df: Any, columns: Sequence[str], built_by: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks the column(s) {', '.join(missing)}; build it with {built_by}")


def _duration_text(seconds: float) -> str:
    """``4.2 s``, ``3 min 5 s``, ``2 h 5 min``, ``3 d 4 h``: short, for a bar's label."""
    if not np.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _job_label(row: pd.Series) -> str:
    name = row.get("jobName")
    if isinstance(name, str) and name:
        return _clip(name, _LABEL_CHARS)
    return _short_id(row["jobId"])


def _as_utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    utc: pd.Timestamp = (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    )
    return utc


def plot_import_jobs(df: pd.DataFrame, ax: Axes | None = None, *, now: Any = None) -> Axes:
    """Draw each import job as a bar from ``submittedAt`` to ``endedAt``, by status.

    One row per job, the earliest submitted at the top, labelled with its ``jobName`` (or
    the first 8 characters of its ``jobId``). Each bar is coloured by ``jobStatus``
    (:data:`~hi_widgets.plots.colors.JOB_STATUS_COLORS`, colour-blind safe) and labelled
    in words: the status and the job's duration. FAILED bars are cross-hatched.

    A job that has not ended (SUBMITTED or IN_PROGRESS, no ``endedAt``) runs open-ended
    to ``now``: its bar is hatched, has a dark edge and ends in an arrow, and its label
    says "running for ..." (time so far, not a duration). A job that ended without an
    ``endedAt`` (which AWS should not send) is a thin tick at ``submittedAt`` labelled
    "no end time". Jobs without ``submittedAt`` are not drawn.

    Parameters
    ----------
    df
        An import jobs frame (:func:`hi_widgets.fetch_import_jobs`): ``jobId``,
        ``jobStatus``, ``submittedAt``, ``endedAt`` and, if present, ``jobName``.
    ax
        Axes to draw on; default a new Figure (no pyplot).
    now
        Where running jobs' bars end (a timestamp; naive means UTC). Default: the
        current time when drawing. Pass it to draw the same picture twice.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes. Bars are the rectangles with gid ``"jobs"`` (in row order, the order
        of :func:`import_jobs_order`), their labels the texts with gid
        ``"job-labels"``; the arrows of running jobs are the scatter with gid
        ``"running"``.

    Raises
    ------
    ValueError
        If ``df`` lacks a column the plot needs.

    Examples
    --------
    >>> jobs = hw.fetch_import_jobs(client, datastore_id)
    >>> ax = hw.plot_import_jobs(jobs)
    >>> ax.get_xlabel()
    'time (UTC)'
    """
    _check_frame(df, JOB_COLUMNS, "hi_widgets.fetch_import_jobs()")
    frame = import_jobs_order(df)
    ax = _new_axes(ax, height=min(10.0, 1.8 + 0.4 * max(len(frame), 1)))
    if len(frame) == 0:
        return _no_data(ax, "No import jobs to show")
    now_number = float(_date_numbers(pd.Series([_as_utc(now or pd.Timestamp.now("UTC"))]))[0])
    start = _date_numbers(frame["submittedAt"])
    end = _date_numbers(frame["endedAt"])
    statuses = [None if pd.isna(s) else str(s) for s in frame["jobStatus"]]
    running = np.array([s in RUNNING for s in statuses]) & np.isnan(end)
    end = np.where(running, np.fmax(now_number, start), end)
    no_end = np.isnan(end)
    span = float(np.nanmax(np.r_[end, start]) - np.nanmin(start))
    min_width = span * 0.004 if span > 0 else 1.0 / (24 * 60)
    widths = np.where(no_end, min_width, np.fmax(end - start, min_width))
    y = np.arange(len(frame), dtype=float)
    colors = [status_color(s, JOB_STATUS_COLORS) for s in statuses]
    bars = ax.barh(
        y,
        widths,
        left=start,
        height=0.6,
        color=colors,
        edgecolor=[RUNNING_EDGE if r else "white" for r in running],
        linewidth=[1.2 if r else 0.5 for r in running],
        gid="jobs",
    )
    for bar, status in zip(bars.patches, statuses, strict=True):
        bar.set_hatch(_HATCH.get(status or "", ""))
    if running.any():
        ax.scatter(
            start[running] + widths[running],
            y[running],
            marker=">",
            s=60,
            color=RUNNING_EDGE,
            zorder=3,
            gid="running",
        )
    seconds = (end - start) * 86400.0
    for i, status in enumerate(statuses):
        words = MISSING_LABEL if status is None else status
        if running[i]:
            words += f" · running for {_duration_text(seconds[i])}"
        elif no_end[i]:
            words += " · no end time"
        else:
            words += f" · {_duration_text(seconds[i])}"
        ax.annotate(
            words,
            (start[i] + widths[i], y[i]),
            xytext=(8 if running[i] else 4, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
            gid="job-labels",
        )
    present = [s for s in (*JOB_STATUS_COLORS, *sorted({s for s in statuses if s}))]
    present = list(dict.fromkeys(s for s in present if s in statuses))
    handles = [
        Patch(
            facecolor=status_color(s, JOB_STATUS_COLORS),
            edgecolor=RUNNING_EDGE if s in RUNNING else "none",
            hatch=_HATCH.get(s, ""),
            label=s,
        )
        for s in present
    ]
    ax.legend(
        handles=handles,
        title="job status",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )
    # Room on the right for the labels of the last bars.
    ax.set_xlim(
        float(np.nanmin(start)) - span * 0.02 - min_width,
        float(np.nanmax(start + widths)) + span * 0.3 + min_width * 10,
    )
    ax.set_ylim(len(frame) - 0.5, -0.5)
    _thin_ticks(ax, [_job_label(row) for _, row in frame.iterrows()])
    _utc_date_axis(ax)
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    counts = pd.Series([s or MISSING_LABEL for s in statuses]).value_counts()
    ax.set_title(
        f"{len(frame)} import job(s): " + ", ".join(f"{int(n)} {s}" for s, n in counts.items()),
        loc="left",
        fontsize="medium",
    )
    return ax


def import_jobs_order(df: pd.DataFrame) -> pd.DataFrame:
    """Return the jobs :func:`plot_import_jobs` draws, in its row order (earliest first).

    Jobs without ``submittedAt`` are left out; ties keep the frame's order.
    """
    _check_frame(df, JOB_COLUMNS, "hi_widgets.fetch_import_jobs()")
    drawn = df[df["submittedAt"].notna()]
    result: pd.DataFrame = drawn.sort_values("submittedAt", kind="stable")
    return result


def _wrapped(reason: str) -> str:
    """Return a reason in at most three lines of _REASON_CHARS, cut with "…" beyond."""
    lines = textwrap.wrap(" ".join(reason.split()), _REASON_CHARS)
    if len(lines) > 3:
        lines = [*lines[:2], _clip(lines[2] + " …", _REASON_CHARS)]
    return "\n".join(lines)


def _examples_text(value: Any, count: int, shown: int) -> str:
    if value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value)):
        return ""
    items = (
        [str(v) for v in value] if isinstance(value, (list, tuple, np.ndarray)) else [str(value)]
    )
    items = [i for i in items if i][:shown]
    if not items:
        return ""
    # The file's own name: the folders of an S3 key are mostly shared, and long.
    clipped = [_clip(i.rstrip("/").rsplit("/", 1)[-1], 32) for i in items]
    more = count - len(items)
    return "e.g. " + ", ".join(clipped) + (f" (+{more} more)" if more > 0 else "")


def plot_failure_reasons(
    df: pd.DataFrame,
    ax: Axes | None = None,
    *,
    examples: int = 2,
    max_reasons: int = 15,
) -> Axes:
    """Draw one bar per failure reason of an import job, with its count and examples.

    The same reason across many files is one bar. Bars are sorted by count (most
    frequent at the top); each is labelled with its count and up to ``examples`` of its
    files ("e.g. a.dcm, b.dcm (+3 more)"). Reasons past ``max_reasons`` are summed in one
    "(N other reasons)" bar. Files that were imported with warnings (status WARNING)
    have bars of their own colour and hatch, named in a legend.

    Parameters
    ----------
    df
        Either the failure reasons of :func:`hi_widgets.failure_reasons` (``reason``,
        ``count``, and if present ``status`` and ``examples``), or a files frame of
        :func:`hi_widgets.fetch_import_outcomes` (``outcomes.files``), whose failures
        are counted here.
    ax
        Axes to draw on; default a new Figure (no pyplot).
    examples
        How many example files to name per reason (0: none).
    max_reasons
        How many reasons get a bar of their own.

    Returns
    -------
    matplotlib.axes.Axes
        Horizontal bars (rectangles with gid ``"reasons"``), one per reason, top first.

    Raises
    ------
    ValueError
        If ``df`` is neither frame, or ``examples`` or ``max_reasons`` is out of range.

    Examples
    --------
    >>> files = hw.import_files_frame([
    ...     {"inputFile": f"in/{n}.txt", "exception": {
    ...         "exceptionType": "ValidationException", "message": "Not DICOM P10"}}
    ...     for n in range(3)])
    >>> ax = hw.plot_failure_reasons(files)
    >>> ax.get_title(loc="left")
    '3 failed file(s), 1 reason(s)'
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if examples < 0:
        raise ValueError(f"examples must be 0 or more, got {examples!r}")
    if max_reasons < 1:
        raise ValueError(f"max_reasons must be 1 or more, got {max_reasons!r}")
    if "count" not in df.columns and {"status", "reason"} <= set(df.columns):
        from hi_widgets.api.import_outcomes import failure_reasons

        df = failure_reasons(df)
    _check_frame(df, ("reason", "count"), "hi_widgets.failure_reasons()")
    reasons = df.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
    reasons = reasons[reasons["count"] > 0]
    ax = _new_axes(ax, height=min(12.0, 1.6 + 0.75 * max(min(len(reasons), max_reasons + 1), 1)))
    if len(reasons) == 0:
        return _no_data(ax, "No failed files")
    total = int(reasons["count"].sum())
    labels = [MISSING_LABEL if pd.isna(r) else _wrapped(str(r)) for r in reasons["reason"]]
    counts = [int(c) for c in reasons["count"]]
    kinds = (
        [str(k) if k == "WARNING" else "FAILURE" for k in reasons["status"].astype(object)]
        if "status" in reasons.columns
        else ["FAILURE"] * len(reasons)
    )
    notes = [
        _examples_text(row.get("examples"), counts[i], examples) if examples else ""
        for i, (_, row) in enumerate(reasons.iterrows())
    ]
    if len(reasons) > max_reasons:
        rest = counts[max_reasons:]
        labels = [*labels[:max_reasons], f"({len(rest)} other reasons)"]
        counts = [*counts[:max_reasons], sum(rest)]
        notes = [*notes[:max_reasons], ""]
        kinds = [
            *kinds[:max_reasons],
            "FAILURE" if "FAILURE" in kinds[max_reasons:] else "WARNING",
        ]
    y = np.arange(len(counts))
    bars = ax.barh(
        y - (0.12 if any(notes) else 0.0),
        counts,
        height=0.5,
        color=[FILE_STATUS_COLORS[k] for k in kinds],
        edgecolor="white",
        linewidth=0.5,
        gid="reasons",
    )
    for bar, kind in zip(bars.patches, kinds, strict=True):
        bar.set_hatch(_FILE_HATCH[kind])
    if "WARNING" in kinds:  # two kinds of bar: say which is which, in words too
        ax.legend(
            handles=[
                Patch(facecolor=FILE_STATUS_COLORS[k], hatch=_FILE_HATCH[k], label=words)
                for k, words in (("FAILURE", "not imported"), ("WARNING", "imported, warned"))
            ],
            loc="lower right",
            fontsize="small",
            frameon=False,
        )
    ax.bar_label(bars, labels=[str(c) for c in counts], padding=3, fontsize="small")
    for row, note in enumerate(notes):
        if note:  # under its bar, inside the axes: the layout does not shrink the bars
            text = ax.annotate(
                note,
                (0, row + 0.27),
                xytext=(2, 0),
                textcoords="offset points",
                va="top",
                fontsize="x-small",
                color="0.25",
                gid="examples",
            )
            text.set_in_layout(False)
    ax.set_yticks(y, labels)
    ax.set_ylim(len(counts) - 0.5, -0.5)
    ax.set_xlim(0, max(counts) * 1.15)
    ax.set_xlabel("files")
    locator: Any = ax.xaxis.get_major_locator()
    locator.set_params(integer=True)
    warned = sum(c for c, k in zip(counts, kinds, strict=True) if k == "WARNING")
    ax.set_title(
        f"{total - warned} failed file(s)"
        + (f", {warned} with warnings" if warned else "")
        + f", {len(reasons)} reason(s)",
        loc="left",
        fontsize="medium",
    )
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    return ax
