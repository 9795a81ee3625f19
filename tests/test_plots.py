from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib import _pylab_helpers
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from records_factory import BASE, record_builder

from hi_widgets.api.model import workflow_statuses
from hi_widgets.api.tables import versions_frame
from hi_widgets.plots.axes import NO_DATA_TEXT, figure_to_png
from hi_widgets.plots.colors import STATUS_COLORS, status_color
from hi_widgets.plots.counts import plot_activity, plot_state_counts
from hi_widgets.plots.timeline import plot_version_timeline, timeline_png

pytestmark = pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")


def image_set_id(n: int) -> str:
    return f"{n:08x}" + "a" * 24


record = record_builder(image_set_id, updated_after=timedelta(minutes=20))


@pytest.fixture
def history() -> pd.DataFrame:
    """Three image sets, eight versions: a failure, a deletion, an unknown status."""
    return versions_frame(
        [
            record(1, 1),
            record(1, 2),
            record(1, 3, imageSetWorkflowStatus="UPDATE_FAILED", message="bad tag"),
            record(2, 1),
            record(2, 2, imageSetWorkflowStatus="UPDATED"),
            record(
                2,
                3,
                imageSetState="DELETED",
                imageSetWorkflowStatus="DELETED",
                deletedAt=BASE + timedelta(days=2, hours=5),
            ),
            record(3, 1, imageSetWorkflowStatus="IMPORTED"),
            record(3, 2, imageSetWorkflowStatus="SOMETHING_NEW"),
        ]
    )


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    before = _pylab_helpers.Gcf.get_num_fig_managers()
    yield
    assert _pylab_helpers.Gcf.get_num_fig_managers() == before == 0


def by_gid(ax, gid):
    found = [c for c in ax.collections if c.get_gid() == gid]
    assert len(found) <= 1
    return found[0] if found else None


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def drawn(ax):
    ax.figure.canvas.draw()
    return ax


def assert_no_data(ax):
    assert [t.get_text() for t in ax.texts] == [NO_DATA_TEXT]
    assert len(ax.collections) == 0
    assert len(ax.patches) == 0


# --- timeline -------------------------------------------------------------------------


def test_timeline_one_bar_per_version(history):
    ax = drawn(plot_version_timeline(history))
    bars = by_gid(ax, "versions")
    assert isinstance(bars, PolyCollection)
    assert len(bars.get_paths()) == len(history) == 8
    assert len(ax.collections) == 3  # bars, failures, deletions


def test_timeline_returns_new_figure_without_pyplot(history):
    ax = plot_version_timeline(history)
    assert isinstance(ax.figure, Figure)
    assert type(ax.figure.canvas).__name__ == "FigureCanvasAgg"


def test_timeline_draws_on_given_axes(history):
    figure = Figure()
    ax = figure.add_subplot()
    assert plot_version_timeline(history, ax) is ax
    figure.canvas.draw()


def test_timeline_legend_lists_present_statuses_in_category_order(history):
    ax = plot_version_timeline(history)
    assert legend_labels(ax) == [
        "CREATED",
        "UPDATED",
        "UPDATE_FAILED",
        "DELETED",
        "IMPORTED",
        "SOMETHING_NEW",
    ]


def test_timeline_colours_follow_status(history):
    ax = plot_version_timeline(history)
    colours = [tuple(c) for c in by_gid(ax, "versions").get_facecolors()]
    for status, expected in history["imageSetWorkflowStatus"].value_counts().items():
        if expected:
            assert colours.count(to_rgba(status_color(status))) == expected, status


def test_timeline_marks_deletions_and_failures(history):
    ax = plot_version_timeline(history)
    deletions = by_gid(ax, "deletions")
    failures = by_gid(ax, "failures")
    assert isinstance(deletions, PathCollection)
    assert len(deletions.get_offsets()) == history["deletedAt"].notna().sum() == 1
    assert len(failures.get_offsets()) == 1
    deleted_x = deletions.get_offsets()[0][0]
    assert deleted_x == pytest.approx(mdates.date2num(datetime(2024, 5, 3, 17, 0)))
    widths = by_gid(ax, "versions").get_linewidths()
    assert (np.asarray(widths) > 1).sum() == 1  # the failed version's edge


def test_timeline_without_deletions_or_failures_has_no_marks():
    ax = plot_version_timeline(versions_frame([record(1, 1), record(2, 1)]))
    assert by_gid(ax, "deletions") is None
    assert by_gid(ax, "failures") is None


def test_timeline_rows_per_image_set_with_short_labels(history):
    ax = plot_version_timeline(history)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [image_set_id(n)[:8] + "…" for n in (1, 2, 3)]
    assert sorted(ax.get_ylim()) == [-0.5, 2.5]
    rows = {round(float(np.mean(p.vertices[:, 1]))) for p in by_gid(ax, "versions").get_paths()}
    assert rows == {0, 1, 2}


def test_timeline_rows_per_version_for_one_image_set(history):
    one = history[history["imageSetId"] == image_set_id(1)]
    ax = plot_version_timeline(one)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["v1", "v2", "v3"]
    assert len(by_gid(ax, "versions").get_paths()) == 3


def test_timeline_bars_run_from_the_previous_version_to_this_one(history):
    one = history[history["imageSetId"] == image_set_id(1)]
    ax = plot_version_timeline(one)
    paths = by_gid(ax, "versions").get_paths()
    spans = [(p.vertices[:4, 0].min(), p.vertices[:4, 0].max()) for p in paths]
    times = [mdates.date2num(datetime(2024, 5, 2, h, 20)) for h in (13, 14, 15)]
    # Version 1: a thin tick ending at its time; later versions: from the previous one's.
    exact = {"abs": 1e-6}  # days: a tenth of a second
    assert spans[0][1] == pytest.approx(times[0], **exact) and spans[0][0] < times[0]
    assert spans[1] == pytest.approx((times[0], times[1]), **exact)
    assert spans[2] == pytest.approx((times[1], times[2]), **exact)
    # The failure mark sits at the failed version's time.
    assert by_gid(ax, "failures").get_offsets()[0][0] == pytest.approx(times[2], **exact)


def test_timeline_bars_do_not_start_at_the_image_sets_creation(history):
    # createdAt is the image set's creation (AWS gives it on every version): a year older
    # image set draws the same bars.
    one = history[history["imageSetId"] == image_set_id(1)]
    older = one.assign(createdAt=one["createdAt"] - pd.Timedelta(days=365))
    paths = [by_gid(plot_version_timeline(df), "versions").get_paths() for df in (one, older)]
    for now, then in zip(*paths, strict=True):
        np.testing.assert_allclose(now.vertices, then.vertices)


def test_timeline_highlight_version(history):
    ax = plot_version_timeline(history, highlight_version_id=2)
    highlight = by_gid(ax, "highlight")
    assert len(highlight.get_paths()) == (history["versionId"] == 2).sum() == 3
    assert by_gid(plot_version_timeline(history), "highlight") is None
    assert by_gid(plot_version_timeline(history, highlight_version_id=99), "highlight") is None


def test_timeline_date_axis_is_concise_and_utc(history):
    ax = plot_version_timeline(history)
    formatter = ax.xaxis.get_major_formatter()
    assert isinstance(formatter, mdates.ConciseDateFormatter)
    assert formatter._tz == timezone.utc
    assert "UTC" in ax.get_xlabel()


def test_timeline_empty_frame():
    assert_no_data(drawn(plot_version_timeline(versions_frame([]))))


def test_timeline_one_row():
    ax = drawn(plot_version_timeline(versions_frame([record()])))
    assert len(by_gid(ax, "versions").get_paths()) == 1
    assert legend_labels(ax) == ["CREATED"]
    left, right = ax.get_xlim()
    assert right > left


def test_timeline_zero_length_and_missing_times_stay_visible():
    created = BASE
    df = versions_frame(
        [
            record(1, 1, updatedAt=created, createdAt=created),
            record(2, 1, updatedAt=None),
            record(3, 1, createdAt=None),
        ]
    )
    ax = drawn(plot_version_timeline(df))
    for path in by_gid(ax, "versions").get_paths():
        xs = path.vertices[:4, 0]
        assert xs.max() > xs.min()


def test_timeline_missing_status_is_labelled():
    ax = plot_version_timeline(versions_frame([record(1, 1, imageSetWorkflowStatus=None)]))
    assert legend_labels(ax) == ["(none)"]


def test_timeline_many_rows_thins_tick_labels():
    df = versions_frame([record(n, 1) for n in range(200)])
    ax = drawn(plot_version_timeline(df))
    assert len(ax.get_yticks()) <= 30
    assert len(by_gid(ax, "versions").get_paths()) == 200


def test_timeline_many_versions_of_one_image_set_labels_do_not_overlap():
    df = versions_frame([record(1, v) for v in range(1, 74)])
    ax = drawn(plot_version_timeline(df))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # The first version, then every 5th: a round step, as many as the height allows.
    assert labels == ["v1"] + [f"v{v}" for v in range(5, 74, 5)]
    assert len(by_gid(ax, "versions").get_paths()) == 73
    # The figure grew with the versions (not one row's height), and no two labels overlap.
    assert ax.figure.get_figheight() >= 4.5
    boxes = [t.get_window_extent() for t in ax.get_yticklabels()]
    assert all(a.y0 >= b.y1 or b.y0 >= a.y1 for a, b in pairwise(boxes))


def test_timeline_requires_versions_columns():
    with pytest.raises(ValueError, match="versions_frame"):
        plot_version_timeline(pd.DataFrame({"a": [1]}))


def test_timeline_draws_10000_versions_as_one_collection():
    # Speed is measured in benchmarks/frames_and_plots.py, not here.
    recs = [
        record(i // 10, i % 10 + 1, imageSetWorkflowStatus=("UPDATED", "UPDATE_FAILED")[i % 2])
        for i in range(10_000)
    ]
    df = versions_frame(recs)
    ax = plot_version_timeline(df)
    ax.figure.canvas.draw()
    assert len(by_gid(ax, "versions").get_paths()) == 10_000
    assert len(by_gid(ax, "failures").get_offsets()) == 5_000


# --- colours --------------------------------------------------------------------------


def test_every_model_status_has_a_colour():
    assert set(workflow_statuses()) <= set(STATUS_COLORS)


def test_update_failures_are_red_and_deletions_dark():
    # The failures differ in hue from each other (tests/test_colors.py); UPDATE_FAILED
    # stays red.
    r, g, b, _ = to_rgba(STATUS_COLORS["UPDATE_FAILED"])
    assert r > 0.6 and r > 2 * g and r > 2 * b
    for status in ("DELETED", "DELETING"):
        r, g, b, _ = to_rgba(STATUS_COLORS[status])
        assert abs(r - g) < 0.05 and abs(g - b) < 0.05, status  # grey or black


def test_unknown_status_colour_is_stable():
    assert status_color("SOMETHING_NEW") == status_color("SOMETHING_NEW")
    assert "SOMETHING_NEW" not in STATUS_COLORS
    assert to_rgba(status_color("NEW_THING_FAILED"))[0] > 0.6
    assert status_color(None) == status_color(pd.NA) == status_color(float("nan"))


# --- state counts ---------------------------------------------------------------------


def test_state_counts_bars_match_counts(history):
    ax = drawn(plot_state_counts(history))
    widths = [p.get_width() for p in ax.patches]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    counts = history["imageSetWorkflowStatus"].value_counts()
    assert labels == [
        "CREATED",
        "UPDATED",
        "UPDATE_FAILED",
        "DELETED",
        "IMPORTED",
        "SOMETHING_NEW",
    ]
    assert widths == [counts[label] for label in labels]
    assert sum(widths) == len(history)
    assert tuple(ax.patches[0].get_facecolor()) == to_rgba(STATUS_COLORS["CREATED"])


def test_state_counts_by_state(history):
    ax = drawn(plot_state_counts(history, by="imageSetState"))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["ACTIVE", "DELETED"]
    assert [p.get_width() for p in ax.patches] == [7, 1]


def test_state_counts_missing_values_counted():
    df = versions_frame([record(1, 1), record(1, 2, imageSetWorkflowStatus=None)])
    ax = plot_state_counts(df)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CREATED", "(none)"]
    assert [p.get_width() for p in ax.patches] == [1, 1]


def test_state_counts_bad_column(history):
    with pytest.raises(ValueError, match="by must be a column"):
        plot_state_counts(history, by="nope")


def test_state_counts_empty_and_one_row():
    assert_no_data(drawn(plot_state_counts(versions_frame([]))))
    ax = drawn(plot_state_counts(versions_frame([record()])))
    assert [p.get_width() for p in ax.patches] == [1]


# --- activity -------------------------------------------------------------------------


def test_activity_one_bar_per_day_including_quiet_days(history):
    ax = drawn(plot_activity(history))
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 3  # 2 May to 4 May
    assert heights == [3, 3, 2]
    assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    gap = versions_frame([record(1, 1), record(5, 1)])
    assert [p.get_height() for p in plot_activity(gap).patches] == [1, 0, 0, 0, 1]


def test_activity_weekly_and_monthly(history):
    assert sum(p.get_height() for p in plot_activity(history, "W").patches) == 8
    monthly = plot_activity(history, freq="M")
    assert [p.get_height() for p in monthly.patches] == [8]


def test_activity_bars_span_their_period(history):
    ax = plot_activity(history)
    first = ax.patches[0]
    assert first.get_x() == pytest.approx(mdates.date2num(datetime(2024, 5, 2)))
    assert first.get_width() == pytest.approx(0.9)


def test_activity_too_many_periods(history):
    spread = versions_frame([record(1, 1), record(900, 1)])
    with pytest.raises(ValueError, match="coarser"):
        plot_activity(spread, freq="h")
    plot_activity(history, freq="h")


def test_activity_empty_and_one_row():
    assert_no_data(drawn(plot_activity(versions_frame([]))))
    assert_no_data(drawn(plot_activity(versions_frame([record(1, 2, updatedAt=None)]))))
    ax = drawn(plot_activity(versions_frame([record()])))
    assert [p.get_height() for p in ax.patches] == [1]


# --- png ------------------------------------------------------------------------------


def test_figure_to_png(history):
    data = figure_to_png(plot_version_timeline(history).figure)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure_to_png(Figure())[:4] == b"\x89PNG"


def _png_size(data: bytes) -> tuple[int, int]:
    # PNG IHDR: width and height are the big-endian ints at bytes 16..24.
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_figure_to_png_crops_to_what_is_drawn_and_keeps_outside_labels():
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    plain_width, _ = _png_size(figure_to_png(fig, dpi=100))
    assert plain_width < 400  # blank margins cropped
    ax.text(1.6, 0.5, "a label right of the figure", transform=ax.transAxes)
    width, _ = _png_size(figure_to_png(ax, dpi=100))  # an Axes works too
    assert width > 400  # the label is kept whole, not cut at the figure's edge


def test_figure_to_png_renders_at_a_given_width():
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [0, 1])
    narrow, _ = _png_size(figure_to_png(fig, dpi=100))
    wide, _ = _png_size(figure_to_png(fig, dpi=100, width=8))
    assert wide > 1.8 * narrow and fig.get_figheight() == 3


def test_timeline_png_is_the_static_timeline(history):
    data = timeline_png(history, highlight_version_id=int(history["versionId"].iloc[0]))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_size(data)[0] > 1000  # rendered wide, for sharp down-scaling


def test_new_figures_and_axes_show_themselves_in_jupyter(history):
    ax = plot_state_counts(history)
    assert ax._repr_png_()[:4] == b"\x89PNG"
    assert ax.figure._repr_png_()[:4] == b"\x89PNG"


def test_timeline_needs_only_the_core_columns(history):
    core = history[["datastoreId", "imageSetId", "versionId", "createdAt", "updatedAt"]]
    ax = drawn(plot_version_timeline(core))
    assert len(by_gid(ax, "versions").get_paths()) == len(history)
    assert legend_labels(ax) == ["(none)"]
    assert by_gid(ax, "deletions") is None


def test_timeline_rows_ordered_by_first_version_time():
    early = BASE - timedelta(days=30)
    df = versions_frame(
        [record(1, 1), record(9, 1, createdAt=early, updatedAt=early), record(9, 2)]
    )
    ax = plot_version_timeline(df)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [image_set_id(9)[:8] + "…", image_set_id(1)[:8] + "…"]


@pytest.mark.parametrize(
    ("freq", "words"), [("D", "day"), ("W", "week"), ("M", "month"), ("2D", "2 days")]
)
def test_activity_axis_names_the_period(history, freq, words):
    assert plot_activity(history, freq).get_ylabel() == f"versions per {words}"


def test_activity_counts_versions_at_their_own_time_not_the_image_sets_creation():
    # Every version of an image set has the same createdAt (AWS): counting by it would put
    # a month of updates on the creation day.
    df = versions_frame([record(1, v, updatedAt=BASE + timedelta(days=v)) for v in (1, 2, 3)])
    assert [p.get_height() for p in plot_activity(df).patches] == [1, 1, 1]
