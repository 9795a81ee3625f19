"""Every export path, given any frame, writes no value the basic profile removes or replaces.

Property-style (hypothesis is not installed here, so the cases are generated from fixed
seeds): every attribute of table E.1-1 appears, under a random spelling (keyword, camel
case, words, upper snake case, a ``dicom`` prefix, a tag in four notations), in a random
place (a column, a flattened metadata path keyed by UIDs, a dict in a cell, a list of
dicts, JSON or Python text of a dict), with a unique marker value. Each frame goes
through every export path: ``deidentify``, ``to_bytes`` and ``export_frame`` in the three
formats, ``export_dataset``, and the widgets' download and Save. No marker may come out,
unless PHI is kept (then every marker does: the check can fail). Then the same for the
flattened metadata documents and raw search summaries of the demo image sets.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import stat
import warnings

import pandas as pd
import pyarrow.parquet as pq
import pytest
from widget_helpers import downloaded

import hi_widgets as hw
from hi_widgets.export.dataset import export_dataset
from hi_widgets.export.deid import PROFILE, DeidentificationWarning, action_for, deidentify
from hi_widgets.export.files import export_frame, to_bytes
from hi_widgets.widgets._export import ExportPanel
from hi_widgets.widgets._status import StatusArea

FORMATS = ("csv", "json", "parquet")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _words(keyword: str) -> list[str]:
    return _WORDS.findall(keyword)


def _hex(tag: str) -> str:
    return tag.strip("()").replace(",", "")


SPELLINGS = {
    "keyword": lambda kw, tag: kw,
    "camel": lambda kw, tag: kw[0].lower() + kw[1:],
    "words": lambda kw, tag: " ".join(_words(kw)),
    "upper snake": lambda kw, tag: "_".join(_words(kw)).upper(),
    "lower snake": lambda kw, tag: "_".join(_words(kw)).lower(),
    "dicom prefix": lambda kw, tag: "dicom" + kw,
    "DICOM prefix": lambda kw, tag: "DICOM" + kw,
    "tag": lambda kw, tag: tag,
    "tag no brackets": lambda kw, tag: tag.strip("()"),
    "hex": lambda kw, tag: _hex(tag),
    "0x hex": lambda kw, tag: "0x" + _hex(tag).lower(),
}
PLACES = (
    "column",
    "flattened path",
    "DICOMTags dict",
    "nested metadata dict",
    "list of dicts",
    "JSON text",
    "Python text",
)


class Case:
    """One generated frame and the markers that must not leave it."""

    def __init__(self, rng: random.Random, attributes: list[str], rows: int = 3) -> None:
        self.rng = rng
        self.secret: set[str] = set()  # values of removed or replaced attributes
        self.dated: set[str] = set()  # values keep_dates=True may keep
        self.kept: set[str] = set()  # values that must survive de-identification
        self.columns: dict[str, list] = {
            "datastoreId": ["d" * 32] * rows,
            "imageSetId": [f"{i:032x}" for i in range(rows)],
            "versionId": list(range(1, rows + 1)),
            "Modality": [self._kept() for _ in range(rows)],
            "free text notes": [self._marker("unknown") for _ in range(rows)],
        }
        cells: dict[str, list[dict]] = {}
        for keyword in attributes:
            self._place(keyword, rows, cells)
        for column, dicts in cells.items():
            if column == "json text":  # a container column holding JSON
                self.columns["DICOM"] = [json.dumps(d) for d in dicts]
            elif column == "python text":  # a dict column read back from a CSV
                self.columns["Study.DICOM"] = [str(d) for d in dicts]
            elif column == "list":
                self.columns["DerivationCodeSequence"] = [[d] for d in dicts]  # K sequence
            elif column == "Study":
                self.columns["Study"] = [{"Series": {self._uid(): {"DICOM": d}}} for d in dicts]
            else:
                self.columns["DICOMTags"] = dicts
        self.df = pd.DataFrame(self.columns)

    def _marker(self, kind: str) -> str:
        value = f"PHI{kind[:3].upper()}{self.rng.getrandbits(48):012x}"
        self.secret.add(value)
        return value

    def _uid(self) -> str:
        value = f"1.2.826.0.1.3680043.9.{self.rng.getrandbits(60)}"
        self.secret.add(value)
        return value

    def _kept(self) -> str:
        value = f"KEPT{self.rng.getrandbits(48):012x}"
        self.kept.add(value)
        return value

    def _value(self, keyword: str, multi: bool) -> object:
        action = PROFILE[keyword].action
        make = self._uid if action == "U" else (lambda: self._marker("val"))
        values = [make() for _ in range(2 if multi else 1)]
        if keyword.endswith(("Date", "Time", "DateTime")) and "Birth" not in keyword:
            self.dated.update(values)
        return values if multi else values[0]

    def _place(self, keyword: str, rows: int, cells: dict[str, list[dict]]) -> None:
        tag = PROFILE[keyword].tag
        name = SPELLINGS[self.rng.choice(sorted(SPELLINGS))](keyword, tag)
        place = self.rng.choice(PLACES)
        multi = self.rng.random() < 0.2  # a multi-valued attribute: a list of values
        values = [self._value(keyword, multi) for _ in range(rows)]
        if place == "column":
            self.columns[name] = values
        elif place == "flattened path":
            path = f"Study.Series.{self._uid()}.Instances.{self._uid()}.DICOM.{name}"
            self.columns[path] = values
        else:
            column = {
                "DICOMTags dict": "DICOMTags",
                "nested metadata dict": "Study",
                "list of dicts": "list",
                "JSON text": "json text",
                "Python text": "python text",
            }[place]
            if column not in cells:
                cells[column] = [{"Modality": self._kept()} for _ in range(rows)]
            dicts = cells[column]
            for cell, value in zip(dicts, values, strict=True):
                cell[name] = value


def _text(data: bytes, fmt: str) -> str:
    if fmt != "parquet":
        return data.decode("utf-8")
    table = pq.read_table(io.BytesIO(data))
    return json.dumps({"columns": table.column_names, "rows": table.to_pylist()}, default=str)


def _dataset_text(root) -> str:
    return "\n".join(
        _text(path.read_bytes(), "parquet") + path.as_posix() for path in root.rglob("*.parquet")
    )


def _outputs(df: pd.DataFrame, tmp_path, **options) -> dict[str, str]:
    """Export through every path; return what each wrote, as text."""
    include_phi = options.pop("include_phi", False)
    out = {}
    if not include_phi:
        out["deidentify"] = deidentify(df, **options).to_json(
            default_handler=str, date_format="iso"
        )
    for fmt in FORMATS:
        out[f"to_bytes {fmt}"] = _text(to_bytes(df, fmt, include_phi=include_phi, **options), fmt)
        path = export_frame(df, tmp_path / f"x.{fmt}", include_phi=include_phi, **options)
        out[f"export_frame {fmt}"] = _text(path.read_bytes(), fmt)
    root = tmp_path / f"dataset-{len(list(tmp_path.iterdir()))}"
    partitions = ("datastoreId",) if "datastoreId" in df.columns else ()
    export_dataset(df, root, partitions, include_phi=include_phi, key=None, **options)
    out["export_dataset"] = _dataset_text(root)
    if not options:  # the widgets have no keep_dates or uid_key
        panel = ExportPanel(StatusArea(), basename="case")
        panel.set_frame(df)
        panel.include_phi.value = include_phi
        for fmt in FORMATS:
            panel.format.value = fmt
            out[f"widget download {fmt}"] = _text(downloaded(panel), fmt)
            panel.path.value = str(tmp_path / f"saved-{fmt}.{fmt}")
            written = panel.save(overwrite=True) or panel.save(overwrite=True)
            assert written, panel.status.text
            out[f"widget save {fmt}"] = _text((tmp_path / f"saved-{fmt}.{fmt}").read_bytes(), fmt)
    return out


def _cases(seed: int, per_frame: int = 24) -> list[Case]:
    rng = random.Random(seed)
    keywords = sorted(PROFILE)
    rng.shuffle(keywords)
    return [Case(rng, keywords[i : i + per_frame]) for i in range(0, len(keywords), per_frame)]


def _found(secret: str, text: str) -> bool:
    """Whether the value is in the text as a value: not inside a longer number or UID."""
    if secret not in text:
        return False
    # A dot between digits continues a number or UID; before a name it separates a path.
    pattern = rf"(?<![0-9A-Za-z])(?<!\d\.){re.escape(secret)}(?![0-9A-Za-z])(?!\.\d)"
    return bool(re.search(pattern, text))


def _leaks(outputs: dict[str, str], secrets: set[str]) -> dict[str, list[str]]:
    found = {path: sorted(s for s in secrets if _found(s, text)) for path, text in outputs.items()}
    return {path: values[:5] for path, values in found.items() if values}


@pytest.mark.parametrize("seed", [0, 1])
def test_no_export_path_writes_a_removed_or_replaced_value(seed, tmp_path):
    for number, case in enumerate(_cases(seed)):
        folder = tmp_path / f"case-{number}"
        folder.mkdir()
        with pytest.warns(DeidentificationWarning, match="free text notes"):
            outputs = _outputs(case.df, folder)
        assert not _leaks(outputs, case.secret), (seed, number)
        for path, text in outputs.items():  # kept attributes are still there
            assert all(value in text for value in case.kept), (path, number)


@pytest.mark.filterwarnings("ignore::hi_widgets.export.deid.DeidentificationWarning")
def test_keep_dates_keeps_only_dates_and_a_given_key_changes_nothing_else(tmp_path):
    for number, case in enumerate(_cases(2, per_frame=60)):
        folder = tmp_path / f"case-{number}"
        folder.mkdir()
        outputs = _outputs(case.df, folder, keep_dates=True, uid_key="k")
        assert not _leaks(outputs, case.secret - case.dated), number
        if case.dated:
            assert any(value in outputs["to_bytes csv"] for value in case.dated)


def test_the_check_can_fail_every_marker_leaves_when_phi_is_kept(tmp_path):
    case = _cases(3, per_frame=40)[0]
    outputs = _outputs(case.df, tmp_path, include_phi=True)
    for path, text in outputs.items():
        missing = sorted(s for s in case.secret if not _found(s, text))
        assert not missing, (path, missing[:5])


def _dicom_values(value, secret: set[str], kept: set[str], keep: bool = True) -> None:
    """Collect the values of removed or replaced attributes in a metadata document."""
    if isinstance(value, dict):
        for key, item in value.items():
            action = action_for(key)
            uid_key = bool(re.fullmatch(r"\d+(\.\d+)+", key))
            if uid_key:
                secret.add(key)
            inner = keep and (action == "K" or (action is None and not uid_key) or uid_key)
            if key == "Patient":
                inner = False
            _dicom_values(item, secret, kept, inner)
    elif isinstance(value, list):
        for item in value:
            _dicom_values(item, secret, kept, keep)
    elif value is not None and len(str(value)) >= 4:
        (kept if keep else secret).add(str(value))


@pytest.fixture(scope="module")
def demo(box):
    client = box.client()
    datastore_id = box.store.datastore_ids()[0]
    image_set_ids = box.store.image_set_ids(datastore_id)[:4]
    documents = [hw.get_image_set_metadata(client, datastore_id, i) for i in image_set_ids]
    summaries = hw.search_image_sets(client, datastore_id)
    return documents, summaries, datastore_id


def test_flattened_metadata_of_the_demo_image_sets(demo, tmp_path):
    documents, _summaries, _datastore_id = demo
    secret: set[str] = set()
    kept: set[str] = set()
    for document in documents:
        _dicom_values(document, secret, kept)
    secret -= kept  # a value a kept attribute also holds (a modality, a count...)
    assert len(secret) > 50  # names, ids, accession numbers, dates, UIDs, institutions
    assert {"PatientName", "AccessionNumber"} <= {
        key
        for d in documents
        for part in d.values()
        if isinstance(part, dict)
        for key in part.get("DICOM", {})
    }
    df = pd.DataFrame([hw.flatten_metadata(d) for d in documents])
    whole = pd.DataFrame({"document": documents, "Study": [d["Study"] for d in documents]})
    assert len(df.columns) > 800
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeidentificationWarning)  # private tags' names etc.
        for frame in (df, whole):
            outputs = _outputs(frame, tmp_path)
            assert not _leaks(outputs, secret)
    out = deidentify(df)
    assert any(c.endswith(".DICOM.Modality") for c in out.columns)
    assert any(c.endswith(".DICOM.SOPInstanceUID") for c in out.columns)  # replaced, kept


def test_raw_search_summaries_lose_their_dicom_tags_phi(demo, tmp_path):
    _documents, summaries, datastore_id = demo
    raw = pd.DataFrame(summaries)
    secret = {
        str(value)
        for summary in summaries
        for key, value in summary["DICOMTags"].items()
        if action_for(key) not in ("K", None) and value is not None and len(str(value)) >= 4
    }
    assert any(s.startswith("DEMO^") for s in secret)  # patient names are there to leak
    typed = hw.image_sets_frame(summaries, datastore_id=datastore_id)
    for frame in (raw, typed):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeidentificationWarning)  # every column known
            outputs = _outputs(frame, tmp_path)
        assert not _leaks(outputs, secret)
        assert "DICOMSeriesModality" in outputs["to_bytes csv"]


@pytest.mark.parametrize("options", [{"keep_dates": True}, {"include_phi": True}])
def test_files_with_dates_or_phi_are_owner_only_even_over_a_shared_file(tmp_path, options):
    df = pd.DataFrame({"versionId": [1], "StudyDate": ["20240101"]})
    path = tmp_path / "dated.csv"
    path.write_text("old\n")
    os.chmod(path, 0o666)
    export_frame(df, path, **options)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "20240101" in path.read_text()
    written = export_dataset(df.assign(datastoreId="d" * 32), tmp_path / "ds", key=None, **options)
    assert {stat.S_IMODE(os.stat(f).st_mode) for f in written.files} == {0o600}


def test_a_deidentified_file_keeps_the_mode_of_the_shared_file_it_replaces(tmp_path):
    df = pd.DataFrame({"versionId": [1], "StudyDate": ["20240101"]})
    path = tmp_path / "plain.csv"
    path.write_text("old\n")
    os.chmod(path, 0o666)
    export_frame(df, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666
    assert "20240101" not in path.read_text()


def test_the_widgets_save_keeping_phi_is_owner_only_over_a_shared_file(tmp_path):
    panel = ExportPanel(StatusArea(), basename="x")
    panel.set_frame(pd.DataFrame({"versionId": [1], "PatientName": ["DOE^JANE"]}))
    target = tmp_path / "x.csv"
    target.write_text("old\n")
    os.chmod(target, 0o666)
    panel.include_phi.value = True
    panel.path.value = str(target)
    assert panel.save() is None and panel.save(overwrite=True) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "DOE^JANE" in target.read_text()
