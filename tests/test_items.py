"""The one identifier-list parser (hi_widgets.api.items): text, id files, CSV, pairs."""

from __future__ import annotations

import pandas as pd
import pytest

from hi_widgets import InvalidIdentifierError
from hi_widgets.api.items import (
    LineProblem,
    csv_to_lines,
    parse_id_text,
    read_id_file,
    validated_pairs,
)

DS = "a" * 32
DS2 = "b" * 32
IS1 = "0123456789abcdef0123456789abcdef"
IS2 = "fedcba9876543210fedcba9876543210"


# --------------------------------------------------------------------------- parsing


def test_parse_ids_pairs_comments_header_and_duplicates():
    text = "\n".join(
        [
            "datastoreId,imageSetId",
            "# a comment",
            IS1,
            "",
            f"{DS2},{IS2}",
            f"  {DS2}\t{IS1}  ",
            f"{DS2} ; {IS2}",  # duplicate of line 5
            IS1,  # duplicate of line 3
        ]
    )
    items, problems = parse_id_text(text, DS)
    assert problems == []
    assert items == [(DS, IS1), (DS2, IS2), (DS2, IS1)]


def test_parse_reports_every_bad_line_with_its_number():
    text = "\n".join(
        [
            IS1,
            "SHORT",
            IS1.upper(),
            f"{DS},{IS1},extra",
            f"not-a-datastore,{IS2}",
            f"{DS},{IS2[:-1]}!",
        ]
    )
    items, problems = parse_id_text(text, DS)
    assert items == [(DS, IS1)]
    assert [p.line for p in problems] == [2, 3, 4, 5, 6]
    assert all(isinstance(p, LineProblem) for p in problems)
    assert "imageSetId" in problems[0].message and "5 characters" in problems[0].message
    assert "upper-case" in problems[1].message
    assert "3 fields" in problems[2].message
    assert "datastoreId" in problems[3].message
    assert "imageSetId" in problems[4].message


def test_parse_bare_id_needs_a_valid_default_datastore():
    _items, problems = parse_id_text(IS1, None)
    assert [p.line for p in problems] == [1] and "no datastore" in problems[0].message
    _items, problems = parse_id_text(IS1, "nope")
    assert "default datastore is invalid" in problems[0].message
    items, problems = parse_id_text(f"{DS},{IS1}", None)
    assert items == [(DS, IS1)] and problems == []


def test_csv_to_lines():
    data = f"\ufeffdatastoreId,imageSetId\n{DS},{IS1}\n,{IS2}\n".encode()
    assert csv_to_lines(data).splitlines() == [f"{DS},{IS1}", IS2]
    assert csv_to_lines(f"imageSetId\n{IS1}\n".encode()) == IS1
    with pytest.raises(ValueError, match="imageSetId column"):
        csv_to_lines(b"id,name\n1,2\n")
    with pytest.raises(ValueError, match="could not read"):
        csv_to_lines(b"")


def test_comment_header_and_one_pair_give_one_pair_from_text_file_and_csv(tmp_path):
    # The case of issue 10: the CLI used to read two invalid ids here, the widget one pair.
    text = f"# exported ids\ndatastoreId,imageSetId\n{DS},{IS1}\n"
    assert parse_id_text(text) == ([(DS, IS1)], [])
    path = tmp_path / "ids.csv"
    path.write_bytes(("\ufeff" + text).encode())
    assert read_id_file(path) == ([(DS, IS1)], [])
    assert parse_id_text(csv_to_lines(text.split("\n", 1)[1].encode())) == ([(DS, IS1)], [])


def test_a_header_sets_the_column_order():
    text = f"imageSetId;datastoreId\n{IS1};{DS}\n{IS2}\n"
    assert parse_id_text(text, DS2) == ([(DS, IS1), (DS2, IS2)], [])


def test_a_wide_csv_reads_its_id_columns_and_keeps_quoted_commas_in_other_columns():
    text = (
        "versionId,imageSetId,note,datastoreId\n"
        f'1,{IS1},"a, quoted note",{DS}\n'
        f"2,{IS2},,\n"
        f"3,{IS2}\n"
    )
    items, problems = parse_id_text(text, DS2)
    assert items == [(DS, IS1), (DS2, IS2)]
    assert [(p.line, p.message) for p in problems] == [(4, "2 fields; the header has 4 columns")]


def test_an_image_set_only_header_rejects_pairs():
    items, problems = parse_id_text(f"imageSetId\n{IS1}\n{DS},{IS2}\n", DS)
    assert items == [(DS, IS1)]
    assert [p.line for p in problems] == [3] and "only an imageSetId" in problems[0].message


def test_csv_to_lines_pads_short_rows_and_rejects_an_empty_file():
    assert csv_to_lines(f"imageSetId,datastoreId\n{IS1}\n".encode()) == IS1
    with pytest.raises(ValueError, match="could not read"):
        csv_to_lines(b"\xff\xfe")


def test_validated_pairs_name_every_bad_item_in_one_error_and_keep_order():
    assert validated_pairs([(DS, IS2), (f" {DS}", IS1), (DS, IS2)]) == [(DS, IS2), (DS, IS1)]
    with pytest.raises(InvalidIdentifierError) as info:
        validated_pairs([(DS, "bad"), ("x", IS1)])
    error = info.value
    assert error.message == str(error) == error.args[0]
    assert error.message.startswith("2 of 2 items have an invalid identifier")
    assert (error.field, error.value) == ("imageSetId", "bad")
    frame = pd.DataFrame({"datastoreId": [DS], "imageSetId": [IS1]})
    assert validated_pairs(frame) == [(DS, IS1)]
