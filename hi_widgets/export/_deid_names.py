"""What a column, a metadata path or a mapping key names: the reading half of :mod:`.deid`.

An export decides per name, by an allow-list. A name reads as one of:

``keep``
    Its meaning is known and safe: a HealthImaging field that is not about the patient
    (:data:`SAFE_COLUMNS`), a leaf of the metadata document's own structure (an image frame
    ``ID``...), or a DICOM attribute that table E.1-1 does not name and that
    :data:`KEPT` lists (``Modality``, ``Rows``, ``SOPClassUID``...).
``container``
    It holds other named values (``DICOMTags``, ``Study``, ``Series``, ``DICOM``, an entry
    keyed by a UID...): what is inside is read key by key, by the same rule.
``uid``
    A DICOM UID attribute the table replaces (action U).
``hash``
    A name HealthImaging does not choose: an S3 key or URI, a file name, a job name
    (:data:`HASHED_COLUMNS`). People name files and folders after patients and accession
    numbers, so the value is replaced by a keyed hash, consistently, as a UID is.
``remove``
    An attribute the table removes or blanks (X, Z, D and their compounds), a date or time
    (unless dates are kept), a private attribute, the ``Patient`` module, or a patient
    attribute newer than the table.
``unknown``
    Anything else. An export leaves it out and names it, unless PHI is kept.

DICOM attributes are recognised by keyword or tag in any spelling: ``PatientName``,
``patientName``, ``Patient Name``, ``PATIENT_NAME``, ``dicomPatientName``,
``DICOMPatientName``, ``(0010,0010)``, ``0010,0010``, ``00100010``, ``0x00100010``; and in
every segment of a dotted path (``Study.Series.<uid>.Instances.<uid>.DICOM.SOPInstanceUID``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping

from hi_widgets.export._deid_table import KEPT, TABLE

KEEP, CONTAINER, UID, REMOVE, UNKNOWN = "keep", "container", "uid", "remove", "unknown"
HASH = "hash"

SAFE_COLUMNS: Mapping[str, str] = {
    # api.records.RECORD_FIELDS and the derived columns of a versions frame
    "datastoreId": "the datastore's service identifier",
    "imageSetId": "the image set's service identifier",
    "versionId": "the version number",
    "imageSetState": "ACTIVE, LOCKED or DELETED",
    "imageSetWorkflowStatus": "the service's workflow status",
    "createdAt": "when the image set was created in HealthImaging (not a DICOM date)",
    "updatedAt": "when the version last changed in HealthImaging (not a DICOM date)",
    "deletedAt": "when the image set was deleted in HealthImaging",
    "lastAccessedAt": "when HealthImaging last served the image set",
    "message": "the service's status message of a version, or an error message",
    "imageSetArn": "the image set's ARN (account, region and service identifiers)",
    "forced": "whether the version was written with force",
    "isPrimary": "whether the image set is primary",
    "storageTier": "the storage tier",
    "changedAt": "when the version was made or last changed (updatedAt, else createdAt)",
    "sincePrevious": "the time between this version's change and the previous one's",
    "isLatest": "whether the row is the latest version",
    # what a client observed while following a LOCKED image set (api.observe)
    "seenAt": "when this client saw the state",
    "firstSeenAt": "when this client first saw the state",
    "lastSeenAt": "when this client last saw the state",
    "polls": "how many polls saw the state",
    "observedAtLeast": "the shortest the state can have lasted, as observed",
    "observedAtMost": "the longest the state can have lasted, as observed",
    # the raw service responses' own spellings (ListImageSetVersions, SearchImageSets)
    "ImageSetWorkflowStatus": "the workflow status as ListImageSetVersions spells it",
    "version": "the latest version number (a SearchImageSets summary)",
    # the errors of a bulk fetch (bulk.ERROR_COLUMNS)
    "error": "the error's type name",
    "retryable": "whether the error may pass on a retry",
    # a change log's version columns (changes.log.CHANGES_COLUMNS)
    "previousVersionId": "the version compared with",
    "workflowStatus": "the version's workflow status",
    "kind": "what the version did (initial, modified, revert...)",
    "revertedTo": "the version a revert went back to",
    "level": "study, series or instance",
    "attribute": "the keyword of the DICOM attribute that changed (a name, not a value)",
    "change": "added, removed or changed",
    # datastores (GetDatastore, ListDatastores)
    "datastoreName": "the datastore's name",
    "datastoreStatus": "the datastore's status",
    "datastoreArn": "the datastore's ARN",
    "kmsKeyArn": "the datastore's KMS key ARN",
    "lambdaAuthorizerArn": "the datastore's Lambda authorizer ARN",
    "losslessStorageFormat": "the datastore's storage format",
    # import jobs (api.import_jobs.IMPORT_JOB_COLUMNS) and their outcomes (api.import_outcomes)
    "jobId": "the import job's service identifier",
    "jobStatus": "SUBMITTED, IN_PROGRESS, COMPLETED or FAILED",
    "dataAccessRoleArn": "the IAM role ARN the import job ran as (account and role name)",
    "submittedAt": "when the import job was submitted to HealthImaging",
    "endedAt": "when the import job ended in HealthImaging",
    "duration": "how long the import job ran (endedAt - submittedAt)",
    "status": "what the import did with a file: SUCCESS, WARNING or FAILURE",
    "imageSetVersion": "the image set version an import wrote",
    "exceptionType": "the type of an import failure or warning",
    "reason": "an import failure's message without file names, UIDs or numbers",
    "numberOfMatchedSOPInstances": "how many instances of the import went to the image set",
    "count": "how many files failed for the reason",
}
"""Columns whose meaning is known and carries no PHI, kept as they are, with that meaning."""

HASHED_COLUMNS: Mapping[str, str] = {
    "inputFile": "the S3 key of an imported file",
    "inputS3Uri": "the S3 prefix an import job read",
    "outputS3Uri": "the S3 prefix an import job wrote its results to",
    "successOutputS3Uri": "the S3 prefix of an import job's success list",
    "failureOutputS3Uri": "the S3 prefix of an import job's failure list",
    "warningsOutputS3Uri": "the S3 prefix of an import job's warning list",
    "jobName": "the import job's name, chosen by whoever started it",
    "examples": "input files (S3 keys) of a failure reason",
}
"""Columns of names people choose (files, folders, jobs): replaced by a keyed hash."""

SEARCH_COLUMNS: tuple[str, ...] = (
    "DICOMPatientId",
    "DICOMPatientName",
    "DICOMPatientBirthDate",
    "DICOMPatientSex",
    "DICOMStudyInstanceUID",
    "DICOMStudyId",
    "DICOMStudyDescription",
    "DICOMNumberOfStudyRelatedSeries",
    "DICOMNumberOfStudyRelatedInstances",
    "DICOMAccessionNumber",
    "DICOMSeriesInstanceUID",
    "DICOMSeriesModality",
    "DICOMSeriesBodyPart",
    "DICOMSeriesNumber",
    "DICOMStudyDate",
    "DICOMStudyTime",
)
"""SearchImageSets' DICOM columns (``DICOMTags`` flattened)."""

ROW_COLUMNS: tuple[str, ...] = ("path", "old", "new", "series")
"""Columns known only in a diff or a change log, where they are de-identified row by row."""

# The image set metadata document's own structure (GetImageSetMetadata): containers hold
# named values; leaves are HealthImaging's, not DICOM's.
CONTAINERS: frozenset[str] = frozenset(
    {
        "Study",
        "Series",
        "Instances",
        "DICOM",
        "DICOMVRs",
        "ImageFrames",
        "PixelDataChecksumFromBaseToFullResolution",
        "DICOMTags",  # SearchImageSets' summary member
        "overrides",  # GetImageSet's {"forced": ...}
    }
)
STRUCTURE_LEAVES: frozenset[str] = frozenset(
    {
        "SchemaVersion",
        "DatastoreID",
        "ImageSetID",
        "ID",
        "FrameSizeInBytes",
        "MinPixelValue",
        "MaxPixelValue",
        "Width",
        "Height",
        "Checksum",
        "StoredTransferSyntaxUID",
    }
)
PHI_MODULES: frozenset[str] = frozenset({"Patient"})
"""Metadata modules removed whole (HealthImaging's patient module)."""

PRIVATE = "<private>"
"""What :func:`attribute_keyword` returns for a private attribute (odd group)."""

# SearchImageSets' DICOMTags members whose name is not "DICOM" + the DICOM keyword.
_ALIASES = {"seriesmodality": "Modality", "seriesbodypart": "BodyPartExamined"}
_ALWAYS_REMOVED = ("PatientBirthDate", "PatientBirthTime")
_TAG = re.compile(r"^(?:0x|x)?([0-9a-f]{8})$")
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_INDEX = re.compile(r"\[\d+\]")
_DIGITS = re.compile(r"^\d+$")


def _rows(table: str) -> dict[str, tuple[str, str]]:
    """``(GGGG,EEEE) [action] Keyword`` lines -> {keyword: (8 hex digits, action)}."""
    rows = {}
    for line in table.strip().splitlines():
        tag, *action, keyword = line.split()
        rows[keyword] = (tag.strip("()").replace(",", "").upper(), action[0] if action else "K")
    return rows


_ROWS = {**_rows(TABLE), **_rows(KEPT)}
ACTIONS: Mapping[str, str] = {keyword: action for keyword, (_tag, action) in _ROWS.items()}
"""Keyword -> basic-profile action: table E.1-1's, or ``K`` for the kept attributes."""
_TAGS = {tag: keyword for keyword, (tag, _action) in _ROWS.items()}
_NORMAL = {_NOT_ALNUM.sub("", keyword.lower()): keyword for keyword in ACTIONS} | _ALIASES


def _normal(name: str) -> str:
    return _NOT_ALNUM.sub("", name.lower())


def attribute_keyword(name: str) -> str | None:
    """Return the DICOM keyword a name spells, :data:`PRIVATE`, or None if it spells none.

    Only attributes of table E.1-1 and of :data:`KEPT` are known by keyword; any tag of an
    odd group is private.
    """
    normal = _normal(name)
    tag = _TAG.match(normal)
    if tag:
        digits = tag.group(1).upper()
        return PRIVATE if int(digits[3], 16) % 2 else _TAGS.get(digits)
    if normal in _NORMAL:
        return _NORMAL[normal]
    if normal.startswith("dicom"):
        return _NORMAL.get(normal[5:])
    return None


def is_temporal(keyword: str) -> bool:
    """Tell whether ``keep_dates=True`` keeps the attribute (a date or time, not a birth)."""
    return keyword.endswith(("Date", "Time", "DateTime")) and keyword not in _ALWAYS_REMOVED


def read_attribute(name: str, keep_dates: bool) -> str:
    """Read one name as a DICOM attribute: :data:`UID`, :data:`KEEP`, :data:`REMOVE`..."""
    keyword = attribute_keyword(name)
    if keyword == PRIVATE:
        return REMOVE
    if keyword is None:
        normal = _normal(name)
        # A patient attribute newer than the table is PHI, not merely unknown.
        patient = normal.removeprefix("dicom").startswith("patient")
        return REMOVE if patient else UNKNOWN
    action = ACTIONS[keyword]
    if action == "U":
        return UID
    if action == "K" or (keep_dates and is_temporal(keyword)):
        return KEEP
    return REMOVE


def read_segment(name: str, keep_dates: bool) -> str:
    """Read one segment of a path (no dots, no ``[i]``)."""
    if name in HASHED_COLUMNS:
        return HASH
    if name in SAFE_COLUMNS or name in STRUCTURE_LEAVES:
        return KEEP
    if name in CONTAINERS:
        return CONTAINER
    if name in PHI_MODULES:
        return REMOVE
    return read_attribute(name, keep_dates)


def read_path(text: str, keep_dates: bool, uid: Callable[[str], str]) -> tuple[str, str]:
    """Read a column name, a metadata path or a key: ``(kind, the name with UIDs replaced)``.

    The kind is that of the last segment, unless a segment on the way removes the whole
    path (:data:`REMOVE`) or is unknown (:data:`UNKNOWN`, the name still with its UIDs
    replaced, as a warning shows it). A UID used as a key (several
    all-digit segments: ``Series.1.2.840.1``) is replaced by ``uid`` and reads as a
    container; a lone all-digit segment is a name (a tag such as ``00100010``).
    """
    parts: list[tuple[bool, str]] = []  # (is a UID key, text), UIDs already replaced
    for digits, group in itertools.groupby(text.split("."), lambda s: bool(_DIGITS.match(s))):
        segments = list(group)
        if digits and len(segments) > 1:
            parts.append((True, uid(".".join(segments))))
        else:
            parts.extend((False, segment) for segment in segments)
    renamed = ".".join(part for _is_uid, part in parts)
    kind = UNKNOWN
    for is_uid, part in parts:
        kind = CONTAINER if is_uid else read_segment(_INDEX.sub("", part), keep_dates)
        if kind in (REMOVE, UNKNOWN):
            # An unknown name is shown in a warning: with its UIDs replaced.
            return kind, renamed
    return kind, renamed
