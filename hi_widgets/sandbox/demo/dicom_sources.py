"""The demo's pixels and attributes from real DICOM: pydicom's own test files, imported.

Each demo image set is made from one of a few files that pydicom ships
(:data:`SOURCE_FILES`), read by the DICOM import pipeline
(:func:`hi_widgets.sandbox.dicom.read.read_instance`: metadata normalised into levels,
frames re-encoded as HTJ2K; the result is cached per user, see
:mod:`~hi_widgets.sandbox.demo.cache`) and then re-identified as the demo's own patient,
study, series and instances: the identifying attributes are the demo's obviously fake ones
(``DEMO^PATIENT^017``, ``DEMO-0017``, UIDs under 2.25), everything else (SOP class,
modality, rows and columns, pixel data, the rest of the file's attributes) is the real
file's. The re-identified instances are grouped into an image set by the pipeline's
:func:`~hi_widgets.sandbox.dicom.pipeline.group_instances`, and their frames are stored so
GetImageFrame serves them.

Without pydicom and imagecodecs (the ``sandbox`` extra) :func:`realize` returns None and
the demo keeps its synthetic instances.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hi_widgets.sandbox.backend.domain import make_id
from hi_widgets.sandbox.demo import cache as demo_cache
from hi_widgets.sandbox.dicom.pipeline import group_instances
from hi_widgets.sandbox.dicom.read import Instance, read_instance

if TYPE_CHECKING:
    from hi_widgets.sandbox.backend.operations import Backend

SOURCE_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG-lossy.dcm",
    "examples_rgb_color.dcm",
    "SC_rgb_small_odd.dcm",
)
"""pydicom test files (``pydicom.data.get_testdata_file``) the demo is made of."""

# The demo sets these itself (obviously fake); the real file's values are dropped.
_SERIES_KEEP_REAL = frozenset({"Modality", "BodyPartExamined"})


@cache
def templates() -> tuple[Instance, ...]:
    """Return the source files as the import pipeline reads them, once per process (or ()).

    A per-user cache (:mod:`~hi_widgets.sandbox.demo.cache`) spares a new process the
    reading and re-encoding, and the import of pydicom.
    """
    sources = demo_cache.source_paths(SOURCE_FILES) or _testdata_files()
    if not sources:
        return ()
    return demo_cache.cached(sources, _read_templates)


def _testdata_files() -> dict[str, Path]:
    """Return the source files pydicom finds (it may fetch them), or {} without pydicom."""
    try:
        from pydicom.data import get_testdata_file
    except ImportError:  # the sandbox extra is not installed
        return {}
    found = {name: get_testdata_file(name) for name in SOURCE_FILES}
    return {name: Path(path) for name, path in found.items() if path is not None}


def _read_templates(sources: dict[str, Path]) -> tuple[Instance, ...]:
    """Read ``sources`` (name: path) with the import pipeline; () without pydicom."""
    try:
        import pydicom  # noqa: F401  (read_instance needs it; without it there is no demo)
    except ImportError:
        return ()
    found = []
    for name, path in sources.items():
        result = read_instance(f"pydicom/{name}", path.read_bytes())
        if isinstance(result, Instance) and result.frames:
            found.append(result)
    return tuple(found)


def _clone(
    template: Instance, levels_json: str, document: dict[str, Any], instance: dict[str, Any]
) -> Instance:
    """Return ``template`` re-identified as one instance of the demo ``document``.

    ``levels_json`` is ``template.levels`` as JSON: loading it is a deep copy, several
    times faster than ``copy.deepcopy`` (the demo clones about a hundred instances).
    """
    study = document["Study"]
    (series,) = study["Series"].values()
    levels = json.loads(levels_json)
    levels["Patient"] = dict(document["Patient"]["DICOM"])
    levels["Study"].update(study["DICOM"])
    levels["Series"].update(
        {k: v for k, v in series["DICOM"].items() if k not in _SERIES_KEEP_REAL}
    )
    sop_uid = instance["DICOM"]["SOPInstanceUID"]
    levels["Instance"].update(
        SOPInstanceUID=sop_uid, InstanceNumber=instance["DICOM"]["InstanceNumber"]
    )
    frames = [
        # The pipeline derives a frame id from its instance and pixels; the clone's pixels
        # are the template's, so its id derives from the template frame's id.
        dataclasses.replace(frame, frame_id=make_id("frame", sop_uid, index, frame.frame_id))
        for index, frame in enumerate(template.frames)
    ]
    return Instance(f"demo/{template.input_file}", levels, dict(template.vrs), frames)


def template_for(study_instance_uid: str) -> Instance | None:
    """Return the source file a demo study is made of (the same for all its series)."""
    found = templates()
    if not found:
        return None
    return found[zlib.crc32(study_instance_uid.encode()) % len(found)]


def realize(store: Backend, document: dict[str, Any]) -> dict[str, Any] | None:
    """Return the demo ``document`` made of real DICOM, its frames stored in ``store``.

    ``document`` is a synthetic demo image set (fake identifiers, one series); the result
    keeps its identifiers and takes everything else from a pydicom test file, through the
    import pipeline. None without pydicom.
    """
    template = template_for(document["Study"]["DICOM"]["StudyInstanceUID"])
    if template is None:
        return None
    (series,) = document["Study"]["Series"].values()
    levels_json = json.dumps(template.levels)
    instances = [
        _clone(template, levels_json, document, item) for item in series["Instances"].values()
    ]
    (draft,) = group_instances(instances)
    for frame in draft.frames():
        store.frames.put(frame.frame_id, frame.htj2k)
    realized = draft.document()
    modality = realized["Study"]["Series"][draft.series_instance_uid]["DICOM"].get("Modality")
    realized["Study"]["DICOM"]["StudyDescription"] = study_description(modality)
    return realized


def study_description(modality: str | None) -> str:
    """Return the StudyDescription of a realized demo study of ``modality``."""
    return f"DEMO {modality or 'OT'} STUDY"


def realized_series_elements(
    study_instance_uid: str, series: dict[str, Any]
) -> dict[str, Any] | None:
    """Return a demo series' elements as :func:`realize` makes them (or None without pydicom).

    The source file's Modality and BodyPartExamined (where the file has them) replace the
    demo's; the other demo elements are kept. Elements only the file has are left out.
    """
    template = template_for(study_instance_uid)
    if template is None:
        return None
    real = template.levels["Series"]
    kept = {key: value for key, value in series.items() if key not in _SERIES_KEEP_REAL}
    return kept | {key: real[key] for key in sorted(_SERIES_KEEP_REAL) if key in real}
