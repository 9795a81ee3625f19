"""The image set metadata document (Patient/Study/Series/Instances) and its edits.

Documents are treated as immutable: every edit returns a new document that shares the
untouched branches with the old one, so a long version history stays cheap in memory.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any

from hi_widgets.sandbox.backend.errors import validation_error

SCHEMA_VERSION = "1.1"
TOP_LEVEL_KEYS = ("Patient", "Study")


def parse_attributes(blob: bytes | str, what: str) -> dict[str, Any]:
    """Parse an ``updatableAttributes``/``removableAttributes``/``copiableAttributes`` blob."""
    text = blob.decode("utf-8") if isinstance(blob, bytes) else blob
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise validation_error(f"{what} is not valid JSON") from None
    if not isinstance(document, dict):
        raise validation_error(f"{what} must be a JSON object")
    unknown = set(document) - {"SchemaVersion", *TOP_LEVEL_KEYS}
    if unknown:
        raise validation_error(
            f"{what} has unknown top-level keys {sorted(unknown)}; expected "
            "SchemaVersion, Patient, Study"
        )
    return {key: document[key] for key in TOP_LEVEL_KEYS if key in document}


def merge(document: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``document`` with ``updates`` merged in recursively (new values win)."""
    result = dict(document)
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def remove(document: Mapping[str, Any], removals: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``document`` without the leaves named in ``removals``.

    A key whose value in ``removals`` is an empty object or a scalar is removed with its
    whole subtree; a non-empty object recurses.
    """
    result = dict(document)
    for key, value in removals.items():
        if key not in result:
            continue
        if isinstance(value, Mapping) and value and isinstance(result[key], Mapping):
            result[key] = remove(result[key], value)
        else:
            del result[key]
    return result


def rekey(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``document`` with series and instances keyed by their (possibly new) UIDs.

    A forced SeriesInstanceUID or SOPInstanceUID update changes the attribute; the keys of
    ``Study.Series`` and ``Instances`` follow it.
    """
    study = document.get("Study", {})
    series = study.get("Series")
    if not series:
        return dict(document)
    rekeyed: dict[str, Any] = {}
    for uid, node in series.items():
        instances = node.get("Instances")
        if instances:
            node = {
                **node,
                "Instances": {
                    item.get("DICOM", {}).get("SOPInstanceUID", key): item
                    for key, item in instances.items()
                },
            }
        rekeyed[node.get("DICOM", {}).get("SeriesInstanceUID", uid)] = node
    return {**document, "Study": {**study, "Series": rekeyed}}


def select(document: Mapping[str, Any], selection: Mapping[str, Any]) -> dict[str, Any]:
    """Return the part of ``document`` named by ``selection`` (for CopyImageSet).

    ``selection`` follows the copiableAttributes layout, for example
    ``{"Study": {"Series": {"<uid>": {"Instances": {"<uid>": {}}}}}}``; an empty object
    selects the whole subtree, and the ``DICOM`` attributes along the path are kept.
    """
    result: dict[str, Any] = {}
    for key, value in selection.items():
        if key not in document:
            continue
        source = document[key]
        if isinstance(value, Mapping) and value and isinstance(source, Mapping):
            picked = select(source, value)
            if "DICOM" in source and "DICOM" not in picked:
                picked["DICOM"] = source["DICOM"]
            result[key] = picked
        else:
            result[key] = source
    return result


def full_document(
    document: Mapping[str, Any], datastore_id: str, image_set_id: str
) -> dict[str, Any]:
    """Return the document as GetImageSetMetadata describes it (with schema and ids)."""
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "DatastoreID": datastore_id,
        "ImageSetID": image_set_id,
        **{key: document[key] for key in TOP_LEVEL_KEYS if key in document},
    }


def encode(document: Mapping[str, Any], datastore_id: str, image_set_id: str) -> bytes:
    """Serialise a document as GetImageSetMetadata returns it: gzip-compressed JSON."""
    full = full_document(document, datastore_id, image_set_id)
    return gzip.compress(json.dumps(full).encode("utf-8"), mtime=0)


def dicom_tags(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return the SearchImageSets ``DICOMTags`` summary of a document."""
    patient = document.get("Patient", {}).get("DICOM", {})
    study = document.get("Study", {})
    study_dicom = study.get("DICOM", {})
    series = study.get("Series", {})
    first_series: Mapping[str, Any] = next(iter(series.values()), {})
    first: Mapping[str, Any] = first_series.get("DICOM", {})
    tags = {
        "DICOMPatientId": patient.get("PatientID"),
        "DICOMPatientName": patient.get("PatientName"),
        "DICOMPatientBirthDate": patient.get("PatientBirthDate"),
        "DICOMPatientSex": patient.get("PatientSex"),
        "DICOMStudyInstanceUID": study_dicom.get("StudyInstanceUID"),
        "DICOMStudyId": study_dicom.get("StudyID"),
        "DICOMStudyDescription": study_dicom.get("StudyDescription"),
        "DICOMNumberOfStudyRelatedSeries": len(series),
        "DICOMNumberOfStudyRelatedInstances": sum(
            len(item.get("Instances", {})) for item in series.values()
        ),
        "DICOMAccessionNumber": study_dicom.get("AccessionNumber"),
        "DICOMSeriesInstanceUID": first.get("SeriesInstanceUID"),
        "DICOMSeriesModality": first.get("Modality"),
        "DICOMSeriesBodyPart": first.get("BodyPartExamined"),
        "DICOMSeriesNumber": first.get("SeriesNumber"),
        "DICOMStudyDate": study_dicom.get("StudyDate"),
        "DICOMStudyTime": study_dicom.get("StudyTime"),
    }
    return {key: value for key, value in tags.items() if value is not None}


def series_uids(document: Mapping[str, Any]) -> list[str]:
    """Return the SeriesInstanceUIDs of a document."""
    return list(document.get("Study", {}).get("Series", {}))


def study_uid(document: Mapping[str, Any]) -> str | None:
    """Return the StudyInstanceUID of a document."""
    result: str | None = document.get("Study", {}).get("DICOM", {}).get("StudyInstanceUID")
    return result
