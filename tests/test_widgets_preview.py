"""The Images tab (preview panel) of the explorer and the version browser, over HTTP.

The sandbox's demo image sets hold real DICOM (pydicom's test files), so GetImageFrame
serves real HTJ2K frames.
"""

from __future__ import annotations

import sys

import pytest
from widget_helpers import WAIT, ready

from hi_widgets.api.fetch import get_image_set_metadata
from hi_widgets.images.preview import choose_image_frames
from hi_widgets.widgets import ImageSetExplorer, VersionBrowser
from hi_widgets.widgets.version_browser import TAB_IMAGES

pytest.importorskip("imagecodecs")
pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")


@pytest.fixture(scope="module")
def three_frames(box):
    """(datastore, image set, its metadata) of the first demo image set with 3 frames."""
    client = box.client(max_attempts=1)
    ds = box.store.datastore_ids()[0]
    for image_set in box.store.image_set_ids(ds):
        metadata = get_image_set_metadata(client, ds, image_set)
        if len(choose_image_frames(metadata)) == 3:
            return ds, image_set, metadata
    raise AssertionError("no demo image set with three frames to preview")


@pytest.fixture
def frames_denied(sb):
    sb.deny("GetImageFrame")
    yield
    sb.allow("GetImageFrame")


def explore(sb, ds, image_set):
    explorer = ready(ImageSetExplorer, sb, datastore_id=ds, image_set_id=image_set)
    sb.clear_requests()
    return explorer


def show(widget):
    assert widget.preview.show()
    assert widget.wait(WAIT)


def operations(sb):
    return [r.operation for r in sb.requests]


def test_show_images_draws_three_frames_and_caches_them(sb, three_frames):
    ds, image_set, _ = three_frames
    explorer = explore(sb, ds, image_set)
    panel = explorer.preview
    assert not panel.show_button.disabled and panel.image.layout.display == "none"
    panel.show_button.click()
    assert explorer.wait(WAIT)
    assert explorer.status.kind == "info", explorer.status.text
    assert [p.ref.position for p in panel.previews] == ["first", "middle", "last"]
    assert all(p.ok for p in panel.previews)
    assert bytes(panel.image.value[:4]) == b"\x89PNG" and panel.image.layout.display == ""
    assert image_set in panel.message.value and "hi-preview-error" not in panel.message.value
    assert operations(sb).count("GetImageFrame") == 3
    assert explorer.runner.progress_label.value == "Done: 3 / 3 frames"
    # A second look: the frames come from the panel's cache.
    sb.clear_requests()
    panel.show_button.click()
    assert explorer.wait(WAIT)
    assert "GetImageFrame" not in operations(sb)
    assert all(p.ok for p in panel.previews) and len(panel.previews) == 3


def test_a_denied_frame_says_why_in_its_panel(sb, three_frames, frames_denied):
    ds, image_set, _ = three_frames
    explorer = explore(sb, ds, image_set)
    show(explorer)
    panel = explorer.preview
    assert len(panel.previews) == 3 and not any(p.ok for p in panel.previews)
    assert "could not fetch frame" in panel.previews[0].error
    assert "GetImageFrame" in panel.previews[0].error  # the service's words
    assert panel.message.value.count("hi-preview-error") == 3
    assert "first" in panel.message.value and "could not fetch frame" in panel.message.value
    assert bytes(panel.image.value[:4]) == b"\x89PNG"  # the panels carry the errors too
    assert explorer.status.kind == "warning" and "3 of 3" in explorer.status.text


def test_without_imagecodecs_the_panel_names_the_extra(sb, three_frames, monkeypatch):
    ds, image_set, _ = three_frames
    explorer = explore(sb, ds, image_set)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "openjpeg", None)  # the decoder's other codec
    show(explorer)
    assert 'pip install "hi-widgets[images]"' in explorer.preview.message.value.replace(
        "&quot;", '"'
    )
    assert explorer.status.kind == "error" and "imagecodecs" in explorer.status.text
    assert explorer.preview.image.layout.display == "none"


def test_cancel_stops_fetching_frames(sb, three_frames, hold_request):
    ds, image_set, _ = three_frames
    explorer = explore(sb, ds, image_set)
    gate = hold_request(explorer.client, "GetImageFrame", nth=1)
    explorer.preview.show_button.click()
    gate.wait_reached()
    assert explorer.busy and explorer.preview.show_button.disabled
    explorer.runner.cancel_button.click()
    gate.release()
    assert explorer.wait(WAIT)
    assert operations(sb).count("GetImageFrame") == 1
    assert len(explorer.preview.previews) == 1
    assert explorer.status.kind == "warning" and "Cancelled" in explorer.status.text
    assert not explorer.preview.show_button.disabled


def test_a_failed_metadata_fetch_keeps_the_earlier_images_marked(sb, three_frames):
    ds, image_set, _ = three_frames
    explorer = explore(sb, ds, image_set)
    show(explorer)
    picture = bytes(explorer.preview.image.value)
    sb.deny("GetImageSetMetadata")
    show(explorer)
    panel = explorer.preview
    assert explorer.status.kind == "error"
    assert "GetImageSetMetadata" in panel.message.value
    assert "from before" in panel.message.value
    assert bytes(panel.image.value) == picture


def test_invalid_form_shows_nothing_and_sends_nothing(sb, three_frames):
    ds, _, _ = three_frames
    explorer = explore(sb, ds, "NOT-AN-ID")
    assert explorer.preview.show_button.disabled
    assert not explorer.preview.show()
    assert sb.requests == []


def test_the_browser_previews_the_selected_version(sb, three_frames):
    ds, image_set, _ = three_frames
    browser = ready(VersionBrowser, sb, ds, image_set)
    version = browser.selected_version
    sb.clear_requests()
    browser.tabs.selected_index = TAB_IMAGES
    browser.preview.show_button.click()
    assert browser.wait(WAIT)
    assert browser.status.kind == "info", browser.status.text
    assert f"version {version}" in browser.preview.message.value
    (metadata,) = [r for r in sb.requests if r.operation == "GetImageSetMetadata"]
    assert metadata.params.get("versionId") == str(version)
    assert operations(sb).count("GetImageFrame") == 3


def test_no_phi_reaches_widget_state(sb, three_frames):
    ds, image_set, metadata = three_frames
    patient = metadata.get("Patient", {}).get("DICOM", {})
    study = metadata["Study"]["DICOM"]
    values = (patient.get("PatientName"), patient.get("PatientID"), study.get("AccessionNumber"))
    secrets = [str(v) for v in values if v]
    assert secrets
    explorer = explore(sb, ds, image_set)
    show(explorer)

    def states(widget):
        yield widget.get_state()
        for child in getattr(widget, "children", ()):
            yield from states(child)

    texts = [
        str(value)
        for state in states(explorer.preview)
        for value in state.values()
        if isinstance(value, str)
    ]
    assert not [s for s in secrets for text in texts if s in text]


def test_a_frame_that_cannot_be_decoded_says_why(sb, three_frames):
    ds, image_set, metadata = three_frames
    explorer = explore(sb, ds, image_set)
    first = choose_image_frames(metadata)[0]
    # A damaged frame in the panel's cache stands for a corrupt answer of the service.
    explorer.preview.cache.put((ds, image_set, first.frame_id), b"not htj2k", "image/jph")
    show(explorer)
    broken, *others = explorer.preview.previews
    assert not broken.ok and broken.error and all(p.ok for p in others)
    message = explorer.preview.message.value
    assert message.count("hi-preview-error") == 1 and "first" in message
    assert explorer.status.kind == "warning" and "1 of 3" in explorer.status.text
    assert operations(sb).count("GetImageFrame") == 2


def test_show_images_before_any_image_set_says_why_and_sends_nothing(sb, three_frames):
    # Issue 22: "Show images" before an image set was chosen did nothing at all.
    ds, _, _ = three_frames
    explorer = explore(sb, ds, "")
    assert explorer.preview.show() is False
    assert "Nothing to show yet" in explorer.preview.message.value
    assert "GetImageFrame" not in operations(sb)
