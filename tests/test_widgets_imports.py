"""The explorer's Imports tab driven as a user would, on the sandbox's demo datastores.

The demo datastores hold import jobs (completed, completed with failed files, failed)
whose output sits in the sandbox's local S3; tests that need a job of their own shape
show hand-built frames (tests/import_frames.py) through the view's ``show_*`` methods.
The end-to-end path with a real import is tests/test_imports_end_to_end.py.
"""

from __future__ import annotations

import pandas as pd
import pytest
from import_frames import DS, files_frame, job, job_id, jobs_frame
from widget_helpers import WAIT, ready

from hi_widgets.api.import_outcomes import ImportOutcomes
from hi_widgets.widgets import ImageSetExplorer
from hi_widgets.widgets._imports_view import files_in_order

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")

SANDBOX_OPTIONS = {"seed": 0, "quotas": False, "demo_s3": True}


def make(sb, **kwargs):
    explorer = ready(ImageSetExplorer, sb, **kwargs)
    explorer.imports.s3_client = sb.s3_client()
    return explorer


def outcomes_of(files: pd.DataFrame) -> ImportOutcomes:
    image_sets = pd.DataFrame({"imageSetId": files["imageSetId"].dropna().unique()})
    return ImportOutcomes(files=files, image_sets=image_sets, summary={})


def test_files_in_order_lists_failures_first_grouped_by_the_most_frequent_reason():
    files = files_frame(2, {"rare": 1, "common": 3})
    files = files.iloc[[0, 2, 3, 1, 4, 5]].reset_index(drop=True)  # mixed up
    ordered = files_in_order(files)
    reasons = [r.removeprefix("ValidationException: ") for r in ordered["reason"].fillna("-")]
    assert reasons == ["common"] * 3 + ["rare"] + ["-"] * 2
    assert list(ordered["inputFile"][:3]) == [f"in/bad-1-{i}.dcm" for i in range(3)]
    assert list(ordered["status"][-2:]) == ["SUCCESS", "SUCCESS"]
    assert len(files_in_order(files.iloc[0:0])) == 0


def test_buttons_wait_for_a_datastore_and_a_job(sb):
    explorer = make(sb)
    view = explorer.imports
    explorer.form.datastore.value = ""
    assert view.list_button.disabled and view.open_button.disabled
    assert view.history_button.disabled
    assert not view.list_jobs()
    assert "Choose a datastore" in explorer.status.text
    explorer.form.datastore.value = sb.store.datastore_ids()[0]
    assert not view.list_button.disabled
    assert view.open_button.disabled  # no job listed yet


def test_every_control_has_an_accessible_name(sb):
    view = make(sb).imports
    for control in (view.status_filter, view.job_picker, view.image_set_picker):
        assert control.description
    for button in (view.list_button, view.open_button, view.history_button):
        assert button.description
    assert view.export.include_phi.description == "Include PHI (S3 keys, file names)"


def test_shown_jobs_fill_the_grid_plot_and_picker_newest_first(sb):
    explorer = make(sb)
    view = explorer.imports
    jobs = jobs_frame(
        [job(0), job(1, "FAILED", 1, message="no access"), job(2, "IN_PROGRESS", None)]
    )
    results = []
    explorer.on_result(results.append)
    view.show_jobs(jobs, DS)
    assert view.jobs_grid.count.value == "3 import jobs"
    assert [value for _label, value in view.job_picker.options] == [
        job_id(2),
        job_id(1),
        job_id(0),
    ]
    assert view.job_picker.value == job_id(2)
    assert "1 COMPLETED" in view.summary.value and "1 FAILED" in view.summary.value
    assert view.jobs_plot.value.startswith(b"\x89PNG") and "3 import jobs" in view.jobs_plot.alt
    assert results == [jobs]
    # A running job has no files yet: opening it says so and starts nothing.
    assert not view.open_job(job_id(2))
    assert "IN_PROGRESS" in explorer.status.text and not explorer.busy


def test_shown_outcomes_list_failures_first_and_a_row_picks_its_image_set(sb):
    explorer = make(sb)
    view = explorer.imports
    view.show_jobs(jobs_frame([job(0)]), DS)
    files = files_frame(3, {"Not DICOM P10": 2})
    view.show_outcomes(outcomes_of(files), view.job_picker.value)
    shown = view.files_grid.frame
    assert list(shown["status"]) == ["FAILURE"] * 2 + ["SUCCESS"] * 3
    assert view.files_grid.count.value == "5 files"
    assert "2 failed (1 reasons)" in view.job_summary.value
    assert "ValidationException: Not DICOM P10: 2" in view.reasons_plot.alt
    assert [v for _l, v in view.image_set_picker.options] == list(files["imageSetId"].dropna())
    view.files_grid.grid.selected_rows = [0]  # a failed file: its reason, no image set
    assert "failed" in explorer.status.text and "Not DICOM P10" in explorer.status.text
    view.files_grid.grid.selected_rows = [4]
    assert view.image_set_picker.value == shown["imageSetId"].iloc[4]
    assert "Open version history" in explorer.status.text
    assert view.export.filename.startswith(f"import-files-{view.job_id}")


def test_open_history_puts_the_image_set_in_the_form_and_fetches_its_versions(sb):
    ds = sb.store.datastore_ids()[0]
    image_set = sb.store.image_set_ids(ds)[2]
    explorer = make(sb, datastore_id=ds)
    view = explorer.imports
    view.show_jobs(jobs_frame([job(0)]), ds)
    files = files_frame(1)
    files.loc[0, "imageSetId"] = image_set
    view.show_outcomes(outcomes_of(files), view.job_picker.value)
    assert view.open_history()
    assert explorer.wait(WAIT), explorer.status.text
    assert explorer.form.image_set.value == image_set
    assert set(explorer.versions["imageSetId"]) == {image_set}


def test_the_demo_jobs_list_open_and_lead_to_the_long_history(sb):
    ds = sb.store.datastore_ids()[0]
    long_history = sb.store.image_set_ids(ds)[1]
    explorer = make(sb, datastore_id=ds)
    view = explorer.imports
    view.status_filter.value = "COMPLETED"
    assert view.list_jobs()
    assert explorer.wait(WAIT), explorer.status.text
    assert len(view.jobs) == 4 and set(view.jobs["jobStatus"].astype(str)) == {"COMPLETED"}
    view.status_filter.value = ""
    assert view.list_jobs()
    assert explorer.wait(WAIT), explorer.status.text
    assert sorted(view.jobs["jobStatus"].astype(str)) == ["COMPLETED"] * 4 + ["FAILED"]
    # The job that made the 73-version image set had six failed files of four reasons.
    for listed in view.jobs.loc[view.jobs["jobStatus"] == "COMPLETED", "jobId"]:
        assert view.open_job(listed) and explorer.wait(WAIT), explorer.status.text
        if long_history in set(view.files_grid.frame["imageSetId"].dropna()):
            break
    files = view.files_grid.frame
    assert list(files["status"][:6]) == ["FAILURE"] * 6
    assert files["reason"][:6].nunique() == 4
    assert files["reason"].iloc[0] == files["reason"].iloc[1]  # the most frequent first
    assert view.image_set_picker.value == long_history
    assert view.open_history()
    assert explorer.wait(WAIT), explorer.status.text
    assert len(explorer.versions) == 73


def test_a_failed_job_cannot_be_opened_for_files_it_never_wrote(sb):
    explorer = make(sb, datastore_id=sb.store.datastore_ids()[0])
    view = explorer.imports
    view.status_filter.value = "FAILED"
    assert view.list_jobs() and explorer.wait(WAIT), explorer.status.text
    (failed,) = view.jobs["jobId"]
    assert "NoSuchBucket" in view.jobs["message"].iloc[0]
    assert view.open_job(failed) and explorer.wait(WAIT)
    assert len(view.files_grid.frame) == 0
    assert "FAILED before importing any file" in explorer.status.text
    assert "NoSuchBucket" in view.job_summary.value


def test_cancel_while_listing_keeps_the_tab_usable(sb, hold_request):
    explorer = make(sb, datastore_id=sb.store.datastore_ids()[0])
    view = explorer.imports
    gate = hold_request(explorer.client, "ListDICOMImportJobs")
    assert view.list_jobs()
    gate.wait_reached()
    assert view.list_button.disabled and not explorer.runner.cancel_button.disabled
    explorer.cancel()
    gate.release()
    assert explorer.wait(WAIT)
    assert not view.list_button.disabled
    assert explorer.runner.cancelled
    assert "Cancelled" in explorer.status.text
    assert "partial" in view.jobs_grid.note.value and view.jobs is not None
