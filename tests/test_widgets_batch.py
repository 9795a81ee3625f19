"""BatchFetcher against the sandbox over HTTP (its parser: tests/test_items.py)."""

from __future__ import annotations

import html
from datetime import datetime, timezone

import ipywidgets as w
import pytest
from widget_helpers import WAIT, downloaded_csv, grid_text, ready

from hi_widgets.export.deid import PHI_COLUMNS
from hi_widgets.widgets import BatchFetcher
from hi_widgets.widgets.connection import MODE_SANDBOX

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")
DS = "a" * 32
DS2 = "b" * 32
IS1 = "0123456789abcdef0123456789abcdef"
IS2 = "fedcba9876543210fedcba9876543210"


# --------------------------------------------------------------------------- widget


@pytest.fixture
def ids(box):
    ds = box.store.datastore_ids()[0]
    return {
        "ds": ds,
        "image_sets": box.store.image_set_ids(ds),
        "ds2": box.store.datastore_ids()[1],
    }


def make(sb, **kwargs):
    return ready(BatchFetcher, sb, **kwargs)


def test_fetch_pasted_ids_with_one_failure(sb, ids):
    fetcher = make(sb)
    assert isinstance(fetcher, w.VBox) and "hi-batch" in fetcher._dom_classes
    assert fetcher.datastore.uses_dropdown and fetcher.datastore.value == ids["ds"]
    assert fetcher.fetch_button.disabled  # nothing pasted yet
    chosen = ids["image_sets"][:4]
    other = sb.store.image_set_ids(ids["ds2"])[2]
    missing = "0" * 32
    fetcher.ids.value = "\n".join([*chosen, f"{ids['ds2']},{other}", missing])
    assert fetcher.summary.value == "6 image sets ready"
    assert not fetcher.fetch_button.disabled
    seen = []
    fetcher.on_result(seen.append)
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    result = fetcher.result
    assert seen == [result]
    frame = result.frame
    expected = sum(sb.store.version_count(ids["ds"], i) for i in chosen) + sb.store.version_count(
        ids["ds2"], other
    )
    assert len(frame) == expected
    assert set(frame["imageSetId"]) == {*chosen, other}
    assert len(result.errors) == 1
    assert missing in grid_text(fetcher.errors_table)
    assert fetcher.errors_table.count.value == "1 error"
    assert fetcher.table.count.value == f"{expected} versions"
    assert len(fetcher.table.shown) == expected
    assert list(fetcher.table.shown.columns[:2]) == ["imageSetId", "versionId"]
    assert len(fetcher.timeline.rows) == expected  # one bar a version
    assert fetcher.state_counts.value[:4] == b"\x89PNG"
    assert "1 error" in fetcher.status.text and fetcher.status.kind == "warning"
    assert fetcher.runner.progress.value == fetcher.runner.progress.max == 6
    exported = downloaded_csv(fetcher.export)
    assert len(exported) == expected
    assert not set(PHI_COLUMNS) & set(exported.columns)
    assert not fetcher.fetch_button.disabled


def test_bad_lines_block_the_fetch_and_send_nothing(sb, ids):
    fetcher = make(sb)
    before = len(sb.requests)
    fetcher.ids.value = "\n".join([ids["image_sets"][0], "TOO-SHORT", ids["image_sets"][1] + "x"])
    assert fetcher.fetch_button.disabled
    problems = fetcher.problems_box.value
    assert "line 2" in problems and "line 3" in problems and "2 lines to fix" in problems
    fetcher.fetch_button.click()
    assert not fetcher.fetch()
    assert fetcher.wait(WAIT)
    assert len(sb.requests) == before
    assert fetcher.result is None
    fetcher.ids.value = ids["image_sets"][0]
    assert fetcher.problems_box.value == "" and not fetcher.fetch_button.disabled


def test_csv_upload_fills_the_list(sb, ids):
    fetcher = make(sb)
    chosen = ids["image_sets"][2:5]
    csv = "imageSetId,datastoreId\n" + "\n".join(f"{i},{ids['ds']}" for i in chosen)
    upload = {
        "name": "ids.csv",
        "type": "text/csv",
        "size": len(csv),
        "content": memoryview(csv.encode()),
        "last_modified": datetime(2025, 1, 1, tzinfo=timezone.utc),
    }
    fetcher.upload.value = (upload,)
    assert fetcher.items == [(ids["ds"], i) for i in chosen]
    assert "ids.csv" in fetcher.status.text
    assert fetcher.upload.value == ()  # ready for the next file
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    assert set(fetcher.result.frame["imageSetId"]) == set(chosen)
    bad = dict(upload, content=memoryview(b"name\nx\n"))
    fetcher.upload.value = (bad,)
    assert fetcher.status.kind == "error" and "imageSetId column" in fetcher.status.text
    assert fetcher.items == [(ids["ds"], i) for i in chosen]  # the list is kept


def test_every_item_failing_lands_in_the_errors_table(sb, ids):
    fetcher = make(sb)
    fetcher.ids.value = ids["image_sets"][2]
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    assert len(fetcher.result.frame) and fetcher.status.kind == "info"
    sb.deny("ListImageSetVersions")
    sb.deny("GetImageSet")
    fetcher.ids.value = "\n".join(ids["image_sets"][2:4])
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    errors = fetcher.result.errors
    assert len(errors) == 2 and set(errors["error"]) == {"AccessDeniedError"}
    assert fetcher.errors_table.count.value == "2 errors"
    assert "medical-imaging:" in grid_text(fetcher.errors_table)
    assert fetcher.status.kind == "warning" and "2 errors" in fetcher.status.text
    assert fetcher.tabs.selected_index == 1  # the errors tab, as nothing was fetched
    assert not fetcher.fetch_button.disabled


def test_cancel_mid_fetch(sb, ids, hold_request):
    fetcher = make(sb, max_workers=1)
    fetcher.ids.value = "\n".join(ids["image_sets"][:20])
    sb.clear_requests()
    gate = hold_request(fetcher.client, "ListImageSetVersions", nth=2)
    fetcher.fetch_button.click()
    gate.wait_reached()  # one worker, on its second request
    # Fetch is disabled while it runs, and the summary beside it says why.
    assert fetcher.fetch_button.disabled
    assert fetcher.summary.value == "20 image sets; wait for the running job"
    fetcher.runner.cancel_button.click()
    gate.release()
    assert fetcher.wait(WAIT)
    # The request held when Cancel was pressed completes; no further one is sent.
    assert [r.operation for r in sb.requests] == ["ListImageSetVersions"] * 2
    assert fetcher.status.kind == "warning" and "Cancelled" in fetcher.status.text
    assert "not fetched" in fetcher.status.text
    assert fetcher.status.text.lower().count("cancel") == 1, fetcher.status.text  # said once
    assert not fetcher.fetch_button.disabled
    assert fetcher.summary.value == "20 image sets ready"


def test_connection_panel_sandbox_choice(box):
    fetcher = BatchFetcher(sandbox_options={"seed": 0, "quotas": False})
    panel = fetcher.connection
    assert panel is not None and "hi-connection" in panel._dom_classes
    panel.mode.value = MODE_SANDBOX
    panel.connect_button.click()
    assert fetcher.wait(WAIT), fetcher.status.text
    assert fetcher.client is not None and fetcher.datastore.uses_dropdown
    started = panel.sandbox
    fetcher.ids.value = started.store.image_set_ids(fetcher.datastore.value)[0]
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    assert len(fetcher.result.frame) == 1
    fetcher.close()
    assert not started.running


def test_a_failed_fetch_marks_the_earlier_results_and_withdraws_the_download(sb, ids, monkeypatch):
    from hi_widgets.widgets import batch

    fetcher = make(sb)
    fetcher.ids.value = ids["image_sets"][2]
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    shown = grid_text(fetcher.table)

    def broken(_frame):
        raise RuntimeError("plot broke")

    monkeypatch.setattr(batch, "plot_state_counts", broken)
    fetcher.ids.value = ids["image_sets"][3]
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    assert fetcher.status.kind == "error" and "plot broke" in fetcher.status.text
    assert grid_text(fetcher.table) == shown and "failed" in fetcher.table.note.value
    assert fetcher.export.frame is None and fetcher.export.download_button.disabled


def list_requests(sb):
    return [r for r in sb.requests if r.operation == "ListImageSetVersions"]


def test_a_cancelled_batch_resumes_from_its_checkpoint(sb, ids, hold_request, tmp_path):
    path = tmp_path / "batch.checkpoint"
    chosen = ids["image_sets"][:8]
    fetcher = make(sb, max_workers=1, checkpoint=path)
    assert fetcher.checkpoint.value == str(path)
    fetcher.ids.value = "\n".join(chosen)
    gate = hold_request(fetcher.client, "ListImageSetVersions", nth=3)
    fetcher.fetch_button.click()
    gate.wait_reached()  # one worker, on its third request
    fetcher.runner.cancel_button.click()
    gate.release()
    assert fetcher.wait(WAIT)
    first = fetcher.last_result
    assert first.pending and "Cancelled" in fetcher.status.text
    kept = set(zip(first.frame["datastoreId"], first.frame["imageSetId"], strict=True))

    # As after a kernel restart: a new widget, the same ids and checkpoint file.
    again = make(sb)
    again.ids.value = "\n".join(chosen)
    again.checkpoint.value = str(path)
    sb.clear_requests()
    again.fetch_button.click()
    assert again.wait(WAIT)
    result = again.result
    assert result.ok and again.status.kind == "info"
    missing = [i for i in chosen if (ids["ds"], i) not in kept]
    assert 0 < len(missing) < len(chosen)
    pages = sum(-(-sb.store.version_count(ids["ds"], i) // 50) for i in missing)
    assert len(list_requests(sb)) == pages  # only what the checkpoint did not hold
    assert {r.params.get("imageSetId") for r in list_requests(sb)} <= set(missing)
    assert len(result.frame) == sum(sb.store.version_count(ids["ds"], i) for i in chosen)
    assert not result.frame.duplicated(["imageSetId", "versionId"]).any()


def test_a_checkpoint_for_other_ids_is_refused_in_the_status_area(sb, ids, tmp_path):
    path = tmp_path / "other.checkpoint"
    fetcher = make(sb, checkpoint=str(path))
    fetcher.ids.value = ids["image_sets"][0]
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT) and fetcher.status.kind == "info"
    fetcher.ids.value = ids["image_sets"][1]
    sb.clear_requests()
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    assert fetcher.status.kind == "error"
    assert str(path) in fetcher.status.text and "other inputs" in fetcher.status.text
    assert sb.requests == []  # refused before any request
    assert not fetcher.fetch_button.disabled


def test_the_last_download_is_withdrawn_while_a_new_fetch_runs(sb, ids, hold_request):
    fetcher = make(sb)
    fetcher.ids.value = ids["image_sets"][2]
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT) and not fetcher.export.download_button.disabled
    fetcher.ids.value = ids["image_sets"][3]
    gate = hold_request(fetcher.client, "ListImageSetVersions", nth=1)
    fetcher.fetch_button.click()
    gate.wait_reached()
    # The first run's file would pass for the second's: not offered until that is in.
    assert fetcher.export.download_button.disabled and fetcher.export.frame is None
    assert "Fetching" in fetcher.export.download.value
    gate.release()
    assert fetcher.wait(WAIT)
    assert not fetcher.export.download_button.disabled
    assert set(fetcher.export.frame["imageSetId"]) == {ids["image_sets"][3]}


def test_the_errors_table_lines_up_and_shows_whole_messages_as_tooltips(sb, ids):
    fetcher = make(sb)
    fetcher.ids.value = "\n".join([ids["image_sets"][2], "0" * 32])
    fetcher.fetch_button.click()
    assert fetcher.wait(WAIT)
    assert len(fetcher.errors_table.frame) == 1
    # Drawn while its tab is hidden: one table (header and rows together) lines up.
    options = fetcher.errors_table.grid._dt_args
    assert "scrollY" not in options and "scrollX" not in options
    message = str(fetcher.errors_table.frame["message"].iloc[0])
    cell = fetcher.errors_table.shown["message"].iloc[0]
    assert "hi-cell-clip" in cell and f"title='{html.escape(message, quote=True)}'" in cell
