"""The interactive timeline: hover and click arrive as the browser sends them (ipympl)."""

from __future__ import annotations

import pytest
from widget_helpers import WAIT, ready

from hi_widgets.widgets import ImageSetExplorer, VersionBrowser
from hi_widgets.widgets import _timeline as timeline_module
from hi_widgets.widgets._timeline import InteractiveTimeline

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")


@pytest.fixture(scope="module")
def ids(box):
    ds = box.store.datastore_ids()[0]
    return {"ds": ds, "long": box.store.image_set_ids(ds)[1]}


def bar_point(timeline: InteractiveTimeline, version: int) -> tuple[float, float]:
    """Browser coordinates (origin top left, as ipympl's front end sends) of a bar's centre."""
    index = timeline.rows.index[timeline.rows["versionId"] == version][0]
    path = timeline._bars.get_paths()[index]
    x, y = path.vertices[:4].mean(axis=0)
    px, py = timeline.figure.axes[0].transData.transform((x, y))
    return px, timeline.figure.bbox.height - py


def send(timeline: InteractiveTimeline, kind: str, point: tuple[float, float], buttons=0):
    x, y = point
    timeline.canvas._handle_message(
        timeline.canvas,
        {
            "type": kind,
            "x": x,
            "y": y,
            "button": 0,
            "buttons": buttons,
            "modifiers": [],
            "guiEvent": None,
            "step": 0,
        },
        [],
    )


def test_hover_names_the_version_and_click_selects_it_in_the_browser(sb, ids):
    browser = ready(VersionBrowser, sb, ids["ds"], ids["long"])
    timeline = browser.timeline
    assert timeline.canvas.toolbar_visible == "visible"  # zoom and pan
    send(timeline, "motion_notify", bar_point(timeline, 12))
    assert timeline.hovered_version == 12
    text = timeline.hover.value
    row = browser.versions[browser.versions["versionId"] == 12].iloc[0]
    assert "v12" in text and str(row["imageSetState"]) in text
    assert str(row["imageSetWorkflowStatus"]) in text and "last changed 20" in text
    # createdAt is named as the image set's; the time since v11, never a "took".
    assert "image set created 20" in text and "after the previous version" in text
    assert "took" not in text
    assert timeline._annotation.get_visible()
    send(timeline, "motion_notify", (2.0, 2.0))  # off the axes
    assert timeline.hovered_version is None and not timeline._annotation.get_visible()
    send(timeline, "button_press", bar_point(timeline, 30), buttons=1)
    assert browser.wait(WAIT)
    assert timeline.selected_version == 30 and browser.selected_version == 30
    assert ">30<" in browser.properties.value
    assert (browser.from_version_id.value, browser.to_version_id.value) == (29, 30)


def test_zoom_is_kept_when_another_version_is_highlighted(sb, ids):
    browser = ready(VersionBrowser, sb, ids["ds"], ids["long"])
    ax = browser.timeline.figure.axes[0]
    ax.set_xlim(ax.get_xlim()[0], sum(ax.get_xlim()) / 2)
    zoomed = ax.get_xlim()
    browser.slider.value = 5
    assert browser.timeline.figure.axes[0].get_xlim() == pytest.approx(zoomed)


def test_a_click_in_the_explorer_sets_the_form_version(sb, ids):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ids["ds"], image_set_id=ids["long"])
    explorer.fetch_all()
    assert explorer.wait(WAIT)
    send(explorer.timeline, "button_press", bar_point(explorer.timeline, 40), buttons=1)
    assert explorer.form.version.value == "40"


def bar_box(timeline: InteractiveTimeline, version: int) -> tuple[float, float, float, float]:
    """A bar's left, right, top and bottom in browser coordinates (pixels)."""
    index = timeline.rows.index[timeline.rows["versionId"] == version][0]
    vertices = timeline._bars.get_paths()[index].vertices[:4]
    pixels = timeline.figure.axes[0].transData.transform(vertices)
    height = timeline.figure.bbox.height
    return (
        pixels[:, 0].min(),
        pixels[:, 0].max(),
        height - pixels[:, 1].max(),
        height - pixels[:, 1].min(),
    )


def test_the_figure_fits_the_width_the_front_end_reports(sb, ids):
    browser = ready(VersionBrowser, sb, ids["ds"], ids["long"])
    timeline = browser.timeline
    timeline.highlight(40)
    # What the width probe's front end sends when the output area is 700 px wide (say,
    # JupyterLab with the file browser open).
    timeline.probe.width = 700
    assert timeline.figure.bbox.width == pytest.approx(700 - timeline_module.TOOLBAR_PX)
    assert timeline.selected_version == 40  # the highlight is kept
    timeline.probe.width = 0  # a hidden tab: nothing changes
    assert timeline.figure.bbox.width == pytest.approx(700 - timeline_module.TOOLBAR_PX)
    timeline.fit(10)  # never narrower than the smallest readable figure
    assert timeline.figure.bbox.width == pytest.approx(timeline_module.MIN_WIDTH_INCHES * 100)


def test_bars_are_tall_enough_to_hover_and_the_nearest_wins(sb, ids):
    browser = ready(VersionBrowser, sb, ids["ds"], ids["long"])
    timeline = browser.timeline
    assert len(timeline.rows) == 73
    left, right, top, bottom = bar_box(timeline, 30)
    assert bottom - top >= 7, (top, bottom)  # was about 3 px
    middle = (left + right) / 2
    # Just above and below the bar (inside the pick radius, nearer it than any other).
    for y in (top - 1, bottom + 1):
        send(timeline, "motion_notify", (middle, y))
        assert timeline.hovered_version == 30, y


def test_the_tooltip_is_whole_and_opens_towards_the_middle(sb, ids):
    browser = ready(VersionBrowser, sb, ids["ds"], ids["long"])
    timeline = browser.timeline
    rows = browser.versions
    failed = rows[rows["message"].notna() & (rows["message"].astype(str) != "")]
    version = int(failed["versionId"].iloc[-1])
    send(timeline, "motion_notify", bar_point(timeline, version))
    annotation = timeline._annotation
    message = str(failed["message"].iloc[-1])
    assert "".join(message.split()) in "".join(annotation.get_text().split())
    assert "…" not in annotation.get_text()
    # The late versions are drawn at the right and bottom: the tooltip opens left and up,
    # inside the axes, away from the legend on the right.
    timeline.figure.canvas.draw()
    box = annotation.get_window_extent()
    axes = timeline.figure.axes[0].get_window_extent()
    assert box.x1 <= axes.x1 + 1 and box.x0 >= 0 and box.y0 >= 0, (box, axes)


def test_tooltip_text_wraps_instead_of_cutting():
    import pandas as pd

    row = pd.Series(
        {
            "versionId": 7,
            "imageSetState": "ACTIVE",
            "imageSetWorkflowStatus": "COPY_FAILED",
            "message": "INVALID_REQUEST:  Series of SourceImageSet and "
            "DestinationImageSet don't match.",
        }
    )
    text = timeline_module.tooltip_text(row, width=30)
    lines = text.split("\n")
    assert lines[0] == "v7 · ACTIVE · COPY_FAILED"
    assert all(len(line) <= 30 for line in lines[1:])
    assert " ".join(lines[1:]).split() == row["message"].split()
