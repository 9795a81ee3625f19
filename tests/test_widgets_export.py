"""The export panel: downloads built on request, Save's default folder, overwrite, suffix."""

from __future__ import annotations

import pandas as pd
import pytest
from widget_helpers import downloaded, downloaded_csv

from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._status import StatusArea

pytestmark = pytest.mark.usefixtures("no_swallowed_callback_errors")


@pytest.fixture
def panel():
    panel = ExportPanel(StatusArea(), basename="versions-x")
    panel.set_frame(pd.DataFrame({"versionId": [1, 2], "DICOMPatientName": ["A^B", "C^D"]}))
    return panel


def test_nothing_to_download_or_save_without_a_frame():
    panel = ExportPanel(StatusArea())
    assert panel.download_button.disabled and panel.save_button.disabled
    assert panel.download_button.send_file() is None
    assert panel.save() is None and "Nothing to export" in panel.status.text


def test_the_download_is_built_when_asked_and_leaves_phi_out(panel):
    assert panel.download_button.filename == "versions-x.csv"
    frame = downloaded_csv(panel)
    assert list(frame.columns) == ["versionId"]  # no PHI column unless asked
    panel.include_phi.value = True
    assert b"A^B" in downloaded(panel)
    panel.set_frame(panel.frame)  # a new frame: consent does not carry over
    assert not panel.include_phi.value


def test_save_defaults_to_the_exports_folder(panel, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert panel.path.placeholder == "exports/versions-x.csv"
    written = panel.save()
    # Relative to the kernel's folder; the message names the absolute path.
    assert written == str(tmp_path / "exports" / "versions-x.csv")
    assert len(pd.read_csv(tmp_path / "exports" / "versions-x.csv")) == 2
    assert written in panel.status.text and written in panel.save_message.value


def test_save_asks_before_overwriting(panel, tmp_path):
    target = tmp_path / "history.csv"
    target.write_text("precious\n")
    panel.path.value = str(target)
    assert panel.save() is None
    assert target.read_text() == "precious\n"
    assert panel.status.kind == "warning" and "already exists" in panel.status.text
    assert panel.overwrite_button.layout.display == ""
    panel.overwrite_button.click()
    assert len(pd.read_csv(target)) == 2
    assert panel.overwrite_button.layout.display == "none"
    assert panel.save() is None  # the next Save asks again


def test_the_format_follows_the_paths_suffix(panel, tmp_path):
    assert panel.format.value == "csv"
    panel.path.value = str(tmp_path / "history.parquet")
    assert panel.format.value == "parquet"
    assert panel.save() == str(tmp_path / "history.parquet")
    assert len(pd.read_parquet(tmp_path / "history.parquet")) == 2


def test_save_never_writes_one_format_under_another_suffix(panel, tmp_path):
    panel.path.value = str(tmp_path / "history.parquet")
    panel.format.value = "csv"  # chosen again after the path: the two disagree
    assert panel.save() is None
    assert panel.status.kind == "error"
    assert "'.parquet'" in panel.status.text and "csv" in panel.status.text
    assert "&#x27;.parquet&#x27;" in panel.save_message.value  # beside the button too
    assert not (tmp_path / "history.parquet").exists()
    panel.path.value = str(tmp_path / "history.txt")
    assert panel.save() is None and ".txt" in panel.save_message.value
    assert not (tmp_path / "history.txt").exists()


def test_a_name_without_suffix_gets_the_formats(panel, tmp_path):
    panel.format.value = "json"
    panel.path.value = str(tmp_path / "history")
    assert panel.save() == str(tmp_path / "history.json")


def test_columns_of_unknown_meaning_are_left_out_and_named_in_the_status(tmp_path):
    panel = ExportPanel(StatusArea(), basename="x")
    df = pd.DataFrame({"versionId": [1], "Patient Name": ["DOE^JANE"], "notes": ["DOE called"]})
    panel.set_frame(df)
    data = downloaded(panel)
    assert b"DOE" not in data and b"notes" not in data and b"versionId" in data
    assert panel.status.kind == "warning" and "notes" in panel.status.text
    assert "Patient Name" not in panel.status.text  # PHI is removed, not "unknown"
    panel.path.value = str(tmp_path / "x.csv")
    assert panel.save() == str(tmp_path / "x.csv")
    assert "Saved 1 rows" in panel.status.text and "notes" in panel.status.text
    assert "DOE" not in (tmp_path / "x.csv").read_text()
    panel.include_phi.value = True
    assert b"DOE called" in downloaded(panel)
