"""The data grid's cell wording: time differences, timestamps, key columns first, escaping."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hi_widgets.widgets._grid import FrameGrid, display_frame
from hi_widgets.widgets._html import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "0.2 s"),
        (4.24, "4.2 s"),
        (46.4, "46 s"),
        (106.233, "1 min 46 s"),
        (3_600 * 2 + 300, "2 h 5 min"),
        (86_400 * 3 + 3_600 * 4, "3 d 4 h"),
        (-90, "-1 min 30 s"),
    ],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert format_duration(pd.Timedelta(seconds=seconds)) == text


def test_missing_durations_are_blank():
    assert format_duration(pd.NaT) == "" and format_duration(None) == ""


def test_display_frame_orders_formats_and_escapes():
    frame = pd.DataFrame(
        {
            "message": ["<b>bold</b>", None],
            "versionId": pd.array([2, 10], dtype="Int64"),
            "updatedAt": pd.to_datetime(["2025-03-01T13:00:05.250+01:00", None], utc=True),
            "sincePrevious": pd.to_timedelta([106.233, None], unit="s"),
        }
    )
    shown = display_frame(frame, key_columns=("versionId", "updatedAt"))
    assert list(shown.columns) == ["versionId", "updatedAt", "message", "sincePrevious"]
    assert list(shown["versionId"]) == [2, 10]  # numbers, so 10 sorts after 2
    assert list(shown["updatedAt"]) == ["2025-03-01 12:00:05Z", ""]
    assert shown["sincePrevious"][0] == "1 min 46 s" and pd.isna(shown["sincePrevious"][1])
    assert shown["message"][0] == "<b>bold</b>"  # itables escapes it (allow_html is off)
    escaped = display_frame(frame, html_columns=("versionId",))
    assert escaped["message"][0] == "&lt;b&gt;bold&lt;/b&gt;"


def test_durations_sort_by_length_not_as_text():
    seconds = [7_500, 4.2, None, 106, 30, 106.4]  # 2 h 5 min, 4.2 s, -, 1 min 46 s, ...
    grid = FrameGrid("version")
    grid.set_frame(pd.DataFrame({"sincePrevious": pd.to_timedelta(seconds, unit="s")}))
    render, numeric = grid.grid._dt_args["columnDefs"]  # itables sorts the column by rank
    assert render["targets"] == 0 and "type === 'sort' ? data" in render["render"]
    assert numeric == {"targets": [0], "type": "num"}  # the ranks as numbers, not text
    categories = [
        "4.2 s",
        "30 s",
        "1 min 46 s",
        "2 h 5 min",
    ]  # as text: 1 min 46 s, 2 h 5 min, 30 s, 4.2 s
    assert json.dumps(categories) in render["render"]
    ranks = [row[0] for row in json.loads(grid.grid._dt_args["data_json"])]
    assert ranks == [4, 1, 0, 3, 2, 3]  # 0: missing, shown blank


def test_grid_holds_every_row_and_pins_the_first_key_column():
    grid = FrameGrid("version", key_columns=("versionId",))
    grid.set_frame(pd.DataFrame({"x": range(5_000), "versionId": range(5_000)}))
    assert grid.count.value == "5000 versions"
    options = grid.grid._dt_args
    assert len(json.loads(options["data_json"])) == 5_000  # no down-sampling
    assert options["fixedColumns"] == {"left": 1} and options["scrollX"]
    grid.set_frame(None)
    assert grid.count.value == "0 versions" and grid.shown is None
