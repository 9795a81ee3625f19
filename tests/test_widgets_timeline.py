"""The interactive timeline: hover and click arrive as the browser sends them (ipympl)."""

from __future__ import annotations

import pytest
from widget_helpers import WAIT, ready

from hi_widgets.widgets import ImageSetExplorer, VersionBrowser
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
