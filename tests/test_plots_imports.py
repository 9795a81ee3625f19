"""Import job plots: jobs on a time axis by status, failure reasons counted and grouped."""

from __future__ import annotations

from datetime import timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from import_frames import T0, files_frame, job, jobs_frame, reasons_frame
from matplotlib import _pylab_helpers
from matplotlib.colors import to_rgba
from test_colors import _contrast

import hi_widgets as hw
from hi_widgets.plots.axes import figure_to_png
from hi_widgets.plots.colors import JOB_STATUS_COLORS, RUNNING_EDGE
from hi_widgets.plots.imports import import_jobs_order, plot_failure_reasons, plot_import_jobs

pytestmark = pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")

NOW = T0 + timedelta(hours=3, minutes=20)


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    before = _pylab_helpers.Gcf.get_num_fig_managers()
    yield
    assert _pylab_helpers.Gcf.get_num_fig_managers() == before == 0


@pytest.fixture
def jobs() -> pd.DataFrame:
    # Given out of order: the plot sorts by submittedAt.
    return jobs_frame(
        [
            job(2, "IN_PROGRESS", None),
            job(0, "COMPLETED", 5),
            job(3, "SUBMITTED", None),
            job(1, "FAILED", 2, message="Access denied to the input"),
        ]
    )


def bars_of(ax, gid):
    return [p for p in ax.patches if p.get_gid() == gid]


def label_texts(ax, gid="job-labels"):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def test_jobs_one_bar_per_job_from_submitted_to_ended(jobs):
    ax = plot_import_jobs(jobs, now=NOW)
    bars = bars_of(ax, "jobs")
    assert len(bars) == 4
    order = import_jobs_order(jobs)
    assert list(order["jobName"]) == ["job-0", "job-1", "job-2", "job-3"]
    completed = bars[0]
    assert completed.get_x() == pytest.approx(mdates.date2num(T0))
    assert completed.get_width() == pytest.approx(days(timedelta(minutes=5)))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["job-0", "job-1", "job-2", "job-3"]
    assert ax.get_xlabel() == "time (UTC)"


def test_jobs_are_coloured_by_status_and_labelled_in_words(jobs):
    ax = plot_import_jobs(jobs, now=NOW)
    bars = bars_of(ax, "jobs")
    statuses = ["COMPLETED", "FAILED", "IN_PROGRESS", "SUBMITTED"]
    for bar, status in zip(bars, statuses, strict=True):
        assert bar.get_facecolor() == pytest.approx(to_rgba(JOB_STATUS_COLORS[status]))
    texts = label_texts(ax)
    assert texts[0] == "COMPLETED · 5 min" and texts[1] == "FAILED · 2 min"
    # Not by colour alone: failed and running bars are hatched, running ones edged.
    assert bars[0].get_hatch() in (None, "") and bars[1].get_hatch() == "xx"
    assert (
        bars[2].get_hatch() and bars[3].get_hatch() and bars[2].get_hatch() != bars[3].get_hatch()
    )
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED"]
    assert ax.get_title(loc="left").startswith("4 import job(s)")


def test_running_jobs_run_open_ended_to_now_and_say_so(jobs):
    ax = plot_import_jobs(jobs, now=NOW)
    bars = bars_of(ax, "jobs")
    in_progress, submitted = bars[2], bars[3]
    assert in_progress.get_x() + in_progress.get_width() == pytest.approx(mdates.date2num(NOW))
    assert submitted.get_x() == pytest.approx(mdates.date2num(T0 + timedelta(hours=3)))
    assert submitted.get_width() == pytest.approx(days(timedelta(minutes=20)))
    assert in_progress.get_edgecolor() == pytest.approx(to_rgba(RUNNING_EDGE))
    texts = label_texts(ax)
    assert texts[2] == "IN_PROGRESS · running for 1 h 20 min"
    assert texts[3] == "SUBMITTED · running for 20 min"
    (arrows,) = [c for c in ax.collections if c.get_gid() == "running"]
    assert len(arrows.get_offsets()) == 2
    # Another "now" moves the open ends, not the finished jobs.
    later = plot_import_jobs(jobs, now=NOW + timedelta(hours=1))
    assert bars_of(later, "jobs")[2].get_width() == pytest.approx(
        in_progress.get_width() + days(timedelta(hours=1))
    )
    assert bars_of(later, "jobs")[0].get_width() == pytest.approx(bars[0].get_width())


def test_a_naive_now_is_utc(jobs):
    aware = plot_import_jobs(jobs, now=NOW)
    naive = plot_import_jobs(jobs, now=NOW.replace(tzinfo=None))
    assert bars_of(naive, "jobs")[2].get_width() == pytest.approx(
        bars_of(aware, "jobs")[2].get_width()
    )


def test_an_ended_job_without_an_end_time_is_a_tick_and_says_so():
    frame = jobs_frame([job(0, "COMPLETED", None)])
    ax = plot_import_jobs(frame, now=NOW)
    assert label_texts(ax) == ["COMPLETED · no end time"]
    assert not [c for c in ax.collections if c.get_gid() == "running"]


def test_jobs_without_submitted_at_are_not_drawn_and_empty_frames_say_so(jobs):
    jobs.loc[0, "submittedAt"] = pd.NaT
    assert len(bars_of(plot_import_jobs(jobs, now=NOW), "jobs")) == 3
    empty = plot_import_jobs(jobs.iloc[0:0])
    assert [t.get_text() for t in empty.texts] == ["No import jobs to show"]


def test_jobs_plot_checks_its_frame():
    with pytest.raises(ValueError, match="endedAt"):
        plot_import_jobs(pd.DataFrame({"jobId": [], "jobStatus": [], "submittedAt": []}))
    with pytest.raises(TypeError, match="DataFrame"):
        plot_import_jobs([job(0)])


def test_job_colours_have_contrast_or_an_edge():
    # WCAG 2.2 1.4.11: finished bars have 3:1 against white; the lighter running colours
    # get RUNNING_EDGE, which has.
    assert _contrast(JOB_STATUS_COLORS["COMPLETED"], "#ffffff") >= 3.0
    assert _contrast(JOB_STATUS_COLORS["FAILED"], "#ffffff") >= 3.0
    assert _contrast(RUNNING_EDGE, "#ffffff") >= 3.0


def test_reasons_one_bar_per_reason_most_frequent_first_with_counts_and_examples():
    reasons = reasons_frame({"Pixel data verification failed": 2, "Not DICOM P10": 5})
    ax = plot_failure_reasons(reasons)
    bars = bars_of(ax, "reasons")
    assert [b.get_width() for b in bars] == [5, 2]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Not DICOM P10",
        "Pixel data verification failed",
    ]
    counts = [t.get_text() for t in ax.texts if t.get_gid() != "examples"]
    assert counts == ["5", "2"]
    # Examples by the file's own name (the key's folders are shared), under their bar.
    assert label_texts(ax, "examples") == [
        "e.g. bad-1-0.dcm, bad-1-1.dcm (+3 more)",
        "e.g. bad-0-0.dcm, bad-0-1.dcm",
    ]
    assert ax.get_title(loc="left") == "7 failed file(s), 2 reason(s)"
    assert label_texts(plot_failure_reasons(reasons, examples=0), "examples") == []


def test_reasons_past_the_limit_are_one_bar_and_long_reasons_are_clipped():
    counts = {f"reason {i} " + "x" * 200: 10 - i for i in range(5)}
    ax = plot_failure_reasons(reasons_frame(counts), max_reasons=3)
    bars = bars_of(ax, "reasons")
    assert [b.get_width() for b in bars] == [10, 9, 8, 7 + 6]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "(2 other reasons)"
    # A long reason wraps to three lines at most, cut with an ellipsis.
    lines = labels[0].split("\n")
    assert lines[0].startswith("reason 0 ") and len(lines) == 3
    assert lines[2].endswith("…") and all(len(line) <= 44 for line in lines)


def test_reasons_from_a_files_frame_and_warnings_apart():
    files = files_frame(2, {"Not DICOM P10": 3})
    ax = plot_failure_reasons(files)
    assert [b.get_width() for b in bars_of(ax, "reasons")] == [3]
    assert ax.get_title(loc="left") == "3 failed file(s), 1 reason(s)"
    reasons = reasons_frame({"bad": 2, "odd": 1})
    reasons["status"] = ["FAILURE", "WARNING"]
    ax = plot_failure_reasons(reasons)
    bars = bars_of(ax, "reasons")
    assert bars[0].get_facecolor() != bars[1].get_facecolor()
    assert bars[0].get_hatch() != bars[1].get_hatch()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["not imported", "imported, warned"]
    assert ax.get_title(loc="left") == "2 failed file(s), 1 with warnings, 2 reason(s)"


def test_reasons_without_failures_say_so():
    ax = plot_failure_reasons(reasons_frame({}))
    assert [t.get_text() for t in ax.texts] == ["No failed files"]


def test_reasons_check_their_arguments():
    with pytest.raises(ValueError, match="examples"):
        plot_failure_reasons(reasons_frame({"a": 1}), examples=-1)
    with pytest.raises(ValueError, match="max_reasons"):
        plot_failure_reasons(reasons_frame({"a": 1}), max_reasons=0)
    with pytest.raises(ValueError, match="count"):
        plot_failure_reasons(pd.DataFrame({"reason": ["a"]}))


def test_both_plots_render_and_are_public(jobs):
    assert hw.plot_import_jobs is plot_import_jobs
    assert hw.plot_failure_reasons is plot_failure_reasons
    for ax in (plot_import_jobs(jobs, now=NOW), plot_failure_reasons(reasons_frame({"a": 3}))):
        png = figure_to_png(ax)
        assert png.startswith(b"\x89PNG")
    assert np.isfinite(plot_import_jobs(jobs).get_xlim()).all()  # default now: the clock
