"""SearchImageSets semantics: filters (EQUAL/BETWEEN on the model's attributes) and sorting.

Every attribute is read from the image set's latest version (its ``head``, which a
deferred demo image set answers without writing its history): the DICOM attributes from its
metadata document (a SeriesInstanceUID matches any series), ``createdAt`` from the first
version, ``updatedAt`` and ``isPrimary`` from the latest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hi_widgets.sandbox.backend import metadata as md
from hi_widgets.sandbox.backend.domain import ImageSet
from hi_widgets.sandbox.backend.errors import validation_error
from hi_widgets.sandbox.runtime.clock import to_millis


def date_time_key(date: str | None, time: str | None) -> str:
    """Return a DICOM date and time as one sortable text, ``YYYYMMDDHHMMSS[.FFFFFF]``.

    A missing time is the start of the day (AWS CLI reference, ``search-image-sets``: a
    DICOMStudyDateAndTime bound without DICOMStudyTime means 00:00:00 of that date); a
    time given as HH or HHMM is padded with zero minutes and seconds (DICOM TM).
    """
    clock, dot, fraction = (time or "").partition(".")
    return f"{date or ''}{clock.ljust(6, '0')}{dot}{fraction}"


def _study_date_time(image_set: ImageSet) -> str:
    study = image_set.head.document.get("Study", {}).get("DICOM", {})
    # Imported files may hold empty values, stored as None (as AWS's metadata does).
    return f"{study.get('StudyDate') or ''}{study.get('StudyTime') or ''}"


def _study_date_time_key(image_set: ImageSet) -> str:
    study = image_set.head.document.get("Study", {}).get("DICOM", {})
    return date_time_key(study.get("StudyDate"), study.get("StudyTime"))


SORT_KEYS: dict[str, Callable[[ImageSet], Any]] = {
    "createdAt": lambda s: s.created_at,
    "updatedAt": lambda s: s.head.updated_at,
    "DICOMStudyDateAndTime": _study_date_time,
}


def _attribute_values(image_set: ImageSet, attribute: str) -> list[Any]:
    latest = image_set.head
    document = latest.document
    study = document.get("Study", {})
    study_dicom = study.get("DICOM", {})
    if attribute == "DICOMPatientId":
        return [document.get("Patient", {}).get("DICOM", {}).get("PatientID")]
    if attribute == "DICOMAccessionNumber":
        return [study_dicom.get("AccessionNumber")]
    if attribute == "DICOMStudyId":
        return [study_dicom.get("StudyID")]
    if attribute == "DICOMStudyInstanceUID":
        return [study_dicom.get("StudyInstanceUID")]
    if attribute == "DICOMSeriesInstanceUID":
        return md.series_uids(document)
    if attribute == "createdAt":
        return [image_set.created_at]
    if attribute == "updatedAt":
        return [latest.updated_at]
    if attribute == "DICOMStudyDateAndTime":
        return [_study_date_time(image_set)]
    if attribute == "isPrimary":
        return [latest.is_primary]
    raise validation_error(f"Search attribute {attribute} is not supported")


def _filter_value(value: dict[str, Any]) -> tuple[str, Any]:
    (attribute, raw), *_ = value.items()
    if attribute == "DICOMStudyDateAndTime":
        raw = f"{raw.get('DICOMStudyDate', '')}{raw.get('DICOMStudyTime', '')}"
    elif attribute in ("createdAt", "updatedAt"):
        raw = to_millis(raw)
    return attribute, raw


def predicate(search_filter: dict[str, Any]) -> Callable[[ImageSet], bool]:
    """Return a test for image sets from one validated ``SearchFilter``.

    Raises
    ------
    ServiceError
        ValidationException if the filter mixes attributes or has the wrong number of
        values for its operator (EQUAL: 1, BETWEEN: 2).
    """
    operator = search_filter["operator"]
    values = [_filter_value(value) for value in search_filter["values"]]
    attributes = {attribute for attribute, _ in values}
    if len(attributes) != 1:
        raise validation_error("All values of a search filter must use the same attribute")
    (attribute,) = attributes
    if operator == "BETWEEN" and attribute == "DICOMStudyDateAndTime":
        if len(values) != 2:
            raise validation_error("A BETWEEN filter takes exactly two values")
        low, high = (
            date_time_key(raw.get("DICOMStudyDate"), raw.get("DICOMStudyTime"))
            for raw in (item["DICOMStudyDateAndTime"] for item in search_filter["values"])
        )
        return lambda s: (
            bool(s.head.document.get("Study", {}).get("DICOM", {}).get("StudyDate"))
            and low <= _study_date_time_key(s) <= high
        )
    if operator == "EQUAL":
        if len(values) != 1:
            raise validation_error("An EQUAL filter takes exactly one value")
        wanted = values[0][1]
        if attribute == "DICOMStudyDateAndTime":
            return lambda s: any(
                str(v).startswith(wanted) for v in _attribute_values(s, attribute)
            )
        return lambda s: wanted in _attribute_values(s, attribute)
    if len(values) != 2:
        raise validation_error("A BETWEEN filter takes exactly two values")
    if attribute == "isPrimary":
        raise validation_error("isPrimary supports only the EQUAL operator")
    low, high = values[0][1], values[1][1]
    return lambda s: any(
        v is not None and low <= v <= high for v in _attribute_values(s, attribute)
    )
