"""De-identification by the DICOM standard: the basic profile of PS3.15 Annex E, one table.

Every export of hi_widgets (:func:`hi_widgets.export_frame`, :func:`hi_widgets.to_bytes`,
the widgets' downloads and Save, the metadata diff, ``hi-widgets versions``) goes through
:func:`deidentify` unless the user asks to keep PHI. The rule is the Basic Application
Level Confidentiality Profile: table E.1-1 of DICOM PS3.15, Annex E (:data:`SOURCE`),
held once in :data:`PROFILE` (keyword -> tag and action).

Actions, and what they mean in an export
-----------------------------------------
``X`` remove, ``Z`` replace by an empty value, ``D`` replace by a dummy value, and the
compound actions ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D`` (the choice depends on whether the
attribute is mandatory in the dataset's IOD) and ``X/Z/U*`` (a sequence: remove, or keep
with the UIDs inside replaced): an export is a table, not a DICOM dataset that must stay
valid against its IOD, so every one of them **removes** the attribute (the column, or
the diff rows under it).
``U`` replace the UID by another one, consistently: the same UID always gets the same
replacement within one export (or across exports given the same ``uid_key``), so rows
still join and the two sides of a diff still line up. The replacement is an HMAC-SHA256
of the UID under the key, written as a UUID-derived UID (``2.25.<integer>``, PS3.5 B.2).
Anything else is kept (``K``), as in the profile: attributes not in the table are not
identifying (``Modality``, ``SeriesNumber``, ``SOPClassUID``...).

Beyond the table, and stricter than it: private attributes (odd group numbers) and the
whole ``Patient`` module of HealthImaging metadata are removed (the profile removes
private attributes too, unless a Retain Safe Private option applies). Dates and times
(``StudyDate``, ``SeriesTime``, ``AcquisitionDateTime``...) are removed unless the user
keeps them (``keep_dates=True``, as the profile's Retain Longitudinal Temporal
Information with Full Dates option); the patient's birth date and time go in any case.
HealthImaging's own timestamps (``createdAt``, ``updatedAt``) are not DICOM attributes
and are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd

__all__ = [
    "PHI_COLUMNS",
    "PHI_PATH_PREFIXES",
    "PROFILE",
    "SOURCE",
    "UID_COLUMNS",
    "Deidentifier",
    "ProfileAttribute",
    "action_for",
    "deidentify",
]

SOURCE = (
    "DICOM PS3.15 2024b (Security and System Management Profiles), Annex E, "
    "Table E.1-1 'Application Level Confidentiality Profile Attributes', column "
    "'Basic Prof.': https://dicom.nema.org/medical/dicom/2024b/output/chtml/part15/"
    "chapter_E.html#table_E.1-1"
)
"""Where :data:`PROFILE` comes from (standard edition and table)."""

# (group,element) action keyword, one attribute a line, from SOURCE. The actions are the
# table's own; _MEANING below says what each does to an export. Cross-checked against the
# 2024b table as transcribed by KitwareMedical/dicom-anonymizer (dicomfields_2024b.py).
_TABLE = """
(0008,0050) Z       AccessionNumber
(0018,4000) X       AcquisitionComments
(0040,0555) X/Z     AcquisitionContextSequence
(0008,0022) X/Z     AcquisitionDate
(0008,002A) X/Z/D   AcquisitionDateTime
(0018,1400) X/D     AcquisitionDeviceProcessingDescription
(0018,9424) X       AcquisitionProtocolDescription
(0008,0032) X/Z     AcquisitionTime
(0008,0017) U       AcquisitionUID
(0010,21B0) X       AdditionalPatientHistory
(0038,0010) X       AdmissionID
(0038,0020) X       AdmittingDate
(0008,1084) X       AdmittingDiagnosesCodeSequence
(0008,1080) X       AdmittingDiagnosesDescription
(0038,0021) X       AdmittingTime
(0010,2110) X       Allergies
(0010,1081) X       BranchOfService
(0018,1007) X       CassetteID
(0012,0060) Z       ClinicalTrialCoordinatingCenterName
(0012,0081) D       ClinicalTrialProtocolEthicsCommitteeName
(0012,0020) D       ClinicalTrialProtocolID
(0012,0021) Z       ClinicalTrialProtocolName
(0012,0030) Z       ClinicalTrialSiteID
(0012,0031) Z       ClinicalTrialSiteName
(0012,0010) D       ClinicalTrialSponsorName
(0012,0040) D       ClinicalTrialSubjectID
(0012,0042) D       ClinicalTrialSubjectReadingID
(0012,0050) Z       ClinicalTrialTimePointID
(0040,0280) X       CommentsOnThePerformedProcedureStep
(0020,9161) U       ConcatenationUID
(0008,009C) Z       ConsultingPhysicianName
(0070,0084) Z/D     ContentCreatorName
(0008,0023) Z/D     ContentDate
(0040,A730) D       ContentSequence
(0008,0033) Z/D     ContentTime
(0018,0010) Z/D     ContrastBolusAgent
(0018,1042) X       ContrastBolusStartTime
(0018,1043) X       ContrastBolusStopTime
(0010,2150) X       CountryOfResidence
(0038,0300) X       CurrentPatientLocation
(0008,0025) X       CurveDate
(0008,0035) X       CurveTime
(0040,A121) D       Date
(0018,1205) X       DateOfInstallation
(0018,1200) X       DateOfLastCalibration
(0018,700C) X/D     DateOfLastDetectorCalibration
(0018,1204) X       DateOfManufacture
(0018,1012) X       DateOfSecondaryCapture
(0040,A120) D       DateTime
(0018,1202) X       DateTimeOfLastCalibration
(0008,2111) X       DerivationDescription
(0018,700A) X/D     DetectorID
(0018,1000) X/Z/D   DeviceSerialNumber
(0018,1002) U       DeviceUID
(0020,9164) U       DimensionOrganizationUID
(0038,0030) X       DischargeDate
(0038,0040) X       DischargeDiagnosisDescription
(0038,0032) X       DischargeTime
(0018,9517) X/D     EndAcquisitionDateTime
(0010,2160) X       EthnicGroup
(0040,2017) Z       FillerOrderNumberImagingServiceRequest
(0018,9074) D       FrameAcquisitionDateTime
(0020,9158) X       FrameComments
(0020,0052) U       FrameOfReferenceUID
(0018,9151) D       FrameReferenceDateTime
(0018,1008) X       GantryID
(0018,1005) X       GeneratorID
(0008,4000) X       IdentifyingComments
(0020,4000) X       ImageComments
(0028,4000) X       ImagePresentationComments
(0040,2400) X       ImagingServiceRequestComments
(0008,0015) X       InstanceCoercionDateTime
(0008,0012) X/D     InstanceCreationDate
(0008,0013) X/Z/D   InstanceCreationTime
(0008,0014) U       InstanceCreatorUID
(0008,0081) X       InstitutionAddress
(0008,0082) X/Z/D   InstitutionCodeSequence
(0008,0080) X/Z/D   InstitutionName
(0008,1040) X       InstitutionalDepartmentName
(0010,1050) X       InsurancePlanIdentification
(0008,3010) U       IrradiationEventUID
(0040,2004) X       IssueDateOfImagingServiceRequest
(0040,2005) X       IssueTimeOfImagingServiceRequest
(0010,0021) X       IssuerOfPatientID
(0028,1214) U       LargePaletteColorLookupTableUID
(0010,21D0) X       LastMenstrualDate
(0002,0003) U       MediaStorageSOPInstanceUID
(0010,2000) X       MedicalAlerts
(0010,1090) X       MedicalRecordLocator
(0010,1080) X       MilitaryRank
(0008,1060) X       NameOfPhysiciansReadingStudy
(0008,1000) X       NetworkID
(0040,A032) X/D     ObservationDateTime
(0040,A171) U       ObservationUID
(0010,2180) X       Occupation
(0008,1072) X/D     OperatorIdentificationSequence
(0008,1070) X/Z/D   OperatorsName
(0010,1000) X       OtherPatientIDs
(0010,1002) X       OtherPatientIDsSequence
(0010,1001) X       OtherPatientNames
(0008,0024) X       OverlayDate
(0008,0034) X       OverlayTime
(0028,1199) U       PaletteColorLookupTableUID
(0010,1040) X       PatientAddress
(0010,1010) X       PatientAge
(0010,0030) Z       PatientBirthDate
(0010,1005) X       PatientBirthName
(0010,0032) X       PatientBirthTime
(0010,4000) X       PatientComments
(0010,0020) Z/D     PatientID
(0038,0400) X       PatientInstitutionResidence
(0010,1060) X       PatientMotherBirthName
(0010,0010) Z       PatientName
(0010,21F0) X       PatientReligiousPreference
(0010,0040) Z       PatientSex
(0010,2203) X/Z     PatientSexNeutered
(0010,1020) X       PatientSize
(0038,0500) X       PatientState
(0010,2154) X       PatientTelephoneNumbers
(0010,1030) X       PatientWeight
(0040,0243) X       PerformedLocation
(0040,0254) X       PerformedProcedureStepDescription
(0040,0250) X       PerformedProcedureStepEndDate
(0040,0251) X       PerformedProcedureStepEndTime
(0040,0253) X       PerformedProcedureStepID
(0040,0244) X       PerformedProcedureStepStartDate
(0040,0245) X       PerformedProcedureStepStartTime
(0040,0241) X       PerformedStationAETitle
(0040,0242) X       PerformedStationName
(0008,1052) X       PerformingPhysicianIdentificationSequence
(0008,1050) X       PerformingPhysicianName
(0040,A123) D       PersonName
(0008,1048) X       PhysiciansOfRecord
(0008,1049) X       PhysiciansOfRecordIdentificationSequence
(0008,1062) X       PhysiciansReadingStudyIdentificationSequence
(0040,2016) Z       PlacerOrderNumberImagingServiceRequest
(0018,1004) X       PlateID
(0010,21C0) X       PregnancyStatus
(0018,1030) X/D     ProtocolName
(0008,0019) U       PyramidUID
(0018,1078) X       RadiopharmaceuticalStartDateTime
(0018,1072) X       RadiopharmaceuticalStartTime
(0018,1079) X       RadiopharmaceuticalStopDateTime
(0018,1073) X       RadiopharmaceuticalStopTime
(0032,1030) X       ReasonForStudy
(0040,1002) X       ReasonForTheRequestedProcedure
(0032,1066) X       ReasonForVisit
(3006,0024) U       ReferencedFrameOfReferenceUID
(0008,1140) X/Z/U*  ReferencedImageSequence
(0008,1111) X/Z/D   ReferencedPerformedProcedureStepSequence
(0008,1155) U       ReferencedSOPInstanceUID
(0004,1511) U       ReferencedSOPInstanceUIDInFile
(0008,1110) X/Z     ReferencedStudySequence
(0008,0092) X       ReferringPhysicianAddress
(0008,0096) X       ReferringPhysicianIdentificationSequence
(0008,0090) Z       ReferringPhysicianName
(0008,0094) X       ReferringPhysicianTelephoneNumbers
(0010,2152) X       RegionOfResidence
(3006,00C2) U       RelatedFrameOfReferenceUID
(0032,1070) X       RequestedContrastAgent
(0040,1400) X       RequestedProcedureComments
(0032,1060) X/Z     RequestedProcedureDescription
(0040,1001) X       RequestedProcedureID
(0018,9937) X       RequestedSeriesDescription
(0032,1032) X       RequestingPhysician
(0032,1033) X       RequestingService
(0010,2299) X       ResponsibleOrganization
(0010,2297) X       ResponsiblePerson
(0008,0054) X       RetrieveAETitle
(0008,0018) U       SOPInstanceUID
(0040,0006) X       ScheduledPerformingPhysicianName
(0040,0007) X       ScheduledProcedureStepDescription
(0040,0009) X       ScheduledProcedureStepID
(0040,0011) X       ScheduledProcedureStepLocation
(0008,0021) X/D     SeriesDate
(0008,103E) X       SeriesDescription
(0020,000E) U       SeriesInstanceUID
(0008,0031) X/D     SeriesTime
(0010,21A0) X       SmokingStatus
(0008,2112) X/Z/U*  SourceImageSequence
(0040,0554) U       SpecimenUID
(0018,9516) X/D     StartAcquisitionDateTime
(0008,0055) X       StationAETitle
(0008,1010) X/Z/D   StationName
(0088,0140) U       StorageMediaFileSetUID
(0032,1040) X       StudyArrivalDate
(0032,1041) X       StudyArrivalTime
(0032,4000) X       StudyComments
(0032,1050) X       StudyCompletionDate
(0032,1051) X       StudyCompletionTime
(0008,0020) Z       StudyDate
(0008,1030) X       StudyDescription
(0020,0010) Z       StudyID
(0032,0012) X       StudyIDIssuer
(0020,000D) U       StudyInstanceUID
(0032,0034) X       StudyReadDate
(0032,0035) X       StudyReadTime
(0008,0030) Z       StudyTime
(0032,0032) X       StudyVerifiedDate
(0032,0033) X       StudyVerifiedTime
(0020,0200) U       SynchronizationFrameOfReferenceUID
(0040,A122) D       Time
(0018,1201) X       TimeOfLastCalibration
(0018,700E) X/D     TimeOfLastDetectorCalibration
(0018,1014) X       TimeOfSecondaryCapture
(0008,0201) X       TimezoneOffsetFromUTC
(0062,0021) U       TrackingUID
(0008,1195) U       TransactionUID
(0018,100A) X       UDISequence
(0040,A124) U       UID
(0018,1009) X       UniqueDeviceIdentifier
(0038,4000) X       VisitComments
(0018,9371) D       XRayDetectorID
(0018,9367) D       XRaySourceID
"""


class ProfileAttribute(NamedTuple):
    """One row of table E.1-1: an attribute and its basic-profile action."""

    keyword: str
    """DICOM keyword, e.g. ``"AccessionNumber"``."""
    tag: str
    """``"(GGGG,EEEE)"``, e.g. ``"(0008,0050)"``."""
    action: str
    """The action as the table writes it: ``X``, ``Z``, ``D``, ``U``, ``X/Z/D``..."""

    @property
    def removed(self) -> bool:
        """True if an export leaves the attribute out (every action but ``U``)."""
        return self.action != "U"


def _parse(table: str) -> dict[str, ProfileAttribute]:
    rows = {}
    for line in table.strip().splitlines():
        tag, action, keyword = line.split()
        rows[keyword] = ProfileAttribute(keyword, tag, action)
    return rows


PROFILE: Mapping[str, ProfileAttribute] = _parse(_TABLE)
"""Table E.1-1 of :data:`SOURCE` (basic profile), keyword -> :class:`ProfileAttribute`."""

_BY_TAG: dict[str, str] = {
    attribute.tag.strip("()").replace(",", ""): keyword for keyword, attribute in PROFILE.items()
}

PHI_PATH_PREFIXES: tuple[str, ...] = ("Patient.",)
"""Metadata paths under these prefixes (HealthImaging's patient module) are always removed."""

# SearchImageSets' DICOMTags members whose name is not "DICOM" + the DICOM keyword.
_COLUMN_ALIASES = {
    "DICOMPatientId": "PatientID",
    "DICOMStudyId": "StudyID",
    "DICOMSeriesModality": "Modality",
    "DICOMSeriesBodyPart": "BodyPartExamined",
}
_SEARCH_COLUMNS = (
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
# A DICOMPatient* column the table does not name (a tag newer than this module) is PHI.
_PATIENT_COLUMN = "DICOMPatient"
_ALWAYS_REMOVED = ("PatientBirthDate", "PatientBirthTime")
_UID_SEGMENT = re.compile(r"^\d+$")
_INDEX = re.compile(r"\[\d+\]")
_PRIVATE_TAG = re.compile(r"^[0-9A-Fa-f]{3}[13579BDFbdf][0-9A-Fa-f]{4}$")
# A path under a prefix, the prefix's root itself ("Patient" replaced by a value) or a
# list under it ("Patient[0]...").
_PHI_PATH = re.compile(
    "|".join(rf"{re.escape(p.rstrip('.'))}(?:$|[.\[])" for p in PHI_PATH_PREFIXES)
)
_DIFF_COLUMNS = ("path", "change", "old", "new")  # hi_widgets.diff.DIFF_COLUMNS


def _column_keyword(column: Any) -> str | None:
    if not isinstance(column, str):
        return None
    if column in _COLUMN_ALIASES:
        return _COLUMN_ALIASES[column]
    if column.startswith("DICOM") and len(column) > 5:
        return column[5:]
    return column


def _is_digits(segment: str) -> bool:
    return bool(_UID_SEGMENT.match(segment))


def _is_temporal(keyword: str) -> bool:
    return keyword.endswith(("Date", "Time", "DateTime")) and keyword not in _ALWAYS_REMOVED


def action_for(name: str) -> str:
    """Return the basic-profile action for an attribute, a frame column or a tag.

    Parameters
    ----------
    name
        A DICOM keyword (``"StudyDate"``), a SearchImageSets column (``"DICOMStudyDate"``)
        or a tag as 8 hex digits (``"00080020"``).

    Returns
    -------
    str
        The action of :data:`PROFILE` (``"Z"``, ``"X/Z/D"``, ``"U"``...), ``"X"`` for a
        private tag or a patient column the table does not name, ``"K"`` otherwise.
    """
    if _PRIVATE_TAG.match(name):
        return "X"
    keyword = _BY_TAG.get(name.upper()) or _column_keyword(name) or name
    if keyword in PROFILE:
        return PROFILE[keyword].action
    if name.startswith(_PATIENT_COLUMN):
        return "X"
    return "K"


PHI_COLUMNS: tuple[str, ...] = tuple(c for c in _SEARCH_COLUMNS if action_for(c) not in "UK")
"""SearchImageSets columns an export removes (actions X, Z, D and their compounds)."""

UID_COLUMNS: tuple[str, ...] = tuple(c for c in _SEARCH_COLUMNS if action_for(c) == "U")
"""SearchImageSets columns whose UIDs an export replaces (action U)."""


class Deidentifier:
    """Apply the basic profile with one key: the same UID gets the same replacement.

    Parameters
    ----------
    uid_key
        Key of the HMAC that replaces UIDs. ``None`` draws a random one (UIDs are then
        consistent within what this object de-identifies, and cannot be linked back).
        Give the same key to several exports to keep their UIDs joinable.
    keep_dates
        Keep dates and times (the patient's birth date and time are removed anyway).
    """

    def __init__(self, uid_key: bytes | str | None = None, keep_dates: bool = False) -> None:
        if uid_key is None:
            uid_key = secrets.token_bytes(32)
        elif isinstance(uid_key, str):
            uid_key = uid_key.encode("utf-8")
        if not isinstance(uid_key, bytes) or not uid_key:
            raise ValueError("uid_key must be non-empty bytes or str, or None for a random key")
        self._key = uid_key
        self.keep_dates = bool(keep_dates)
        self._uids: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the key
        return f"Deidentifier(keep_dates={self.keep_dates})"

    def uid(self, value: str) -> str:
        """Return the replacement of a UID: ``2.25.<HMAC-SHA256 of it, 128 bits>``."""
        known = self._uids.get(value)
        if known is None:
            digest = hmac.new(self._key, value.strip().encode("utf-8"), hashlib.sha256)
            known = self._uids[value] = f"2.25.{int.from_bytes(digest.digest()[:16], 'big')}"
        return known

    def removes(self, name: str) -> bool:
        """Tell whether an export leaves out the attribute (keyword, column or hex tag)."""
        action = action_for(name)
        if action in ("U", "K"):
            return False
        keyword = _BY_TAG.get(name.upper()) or _column_keyword(name) or name
        return not (self.keep_dates and _is_temporal(keyword))

    def _uid_value(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            if value.startswith("["):  # a multi-valued UID attribute, as JSON
                with contextlib.suppress(ValueError, TypeError):
                    return json.dumps([self.uid(str(v)) for v in json.loads(value)])
            return self.uid(value)
        return value

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """De-identify a frame's columns (``DICOM<Keyword>`` or ``<Keyword>`` names).

        Removed attributes' columns are dropped; UID columns get their replacements; a
        diff frame (``path``, ``change``, ``old``, ``new``) goes to :meth:`diff`. The input
        is not modified.
        """
        if tuple(df.columns) == _DIFF_COLUMNS:
            return self.diff(df)
        drop = [c for c in df.columns if isinstance(c, str) and self.removes(c)]
        out = df.drop(columns=drop) if drop else df
        uids = [c for c in out.columns if isinstance(c, str) and action_for(c) == "U"]
        if uids:
            out = out.copy(deep=False)
            for column in uids:
                out[column] = self._map(out[column])
        return out

    def _map(self, series: pd.Series) -> pd.Series:
        if isinstance(series.dtype, pd.CategoricalDtype):
            return series.cat.rename_categories(
                [self._uid_value(v) for v in series.cat.categories]
            )
        mapped = series.map(self._uid_value, na_action="ignore")
        return mapped.astype(series.dtype) if series.dtype != object else mapped

    def _path(self, path: str) -> tuple[str | None, str | None]:
        """Return the path with its UIDs replaced and its last keyword, or Nones.

        (None, None) when any segment of the path is an attribute the profile removes.
        """
        if _PHI_PATH.match(path):
            return None, None
        out: list[str] = []
        keyword = None
        # Mapping keys are used as they are, so a UID key ("1.2.840...") spans several
        # all-digit segments; a lone all-digit segment is a name (a tag such as 00091001).
        for digits, group in itertools.groupby(path.split("."), _is_digits):
            segments = list(group)
            if digits and len(segments) > 1:
                out.append(self.uid(".".join(segments)))
                continue
            for segment in segments:
                name = _INDEX.sub("", segment)
                if name and self.removes(name):
                    return None, None
                keyword = name
                out.append(segment)
        return ".".join(out), keyword

    def diff(self, diff: pd.DataFrame) -> pd.DataFrame:
        """De-identify a diff (:func:`hi_widgets.diff.diff_metadata`).

        Rows of removed attributes (or under them) go; UIDs in paths and in the values of
        UID attributes are replaced.
        """
        keep, paths, olds, news = [], [], [], []
        for position, (path, old, new) in enumerate(
            zip(diff["path"], diff["old"], diff["new"], strict=True)
        ):
            if not isinstance(path, str):
                continue
            new_path, keyword = self._path(path)
            if new_path is None:
                continue
            uid = keyword is not None and action_for(keyword) == "U"
            keep.append(position)
            paths.append(new_path)
            olds.append(self._uid_value(old) if uid and not pd.isna(old) else old)
            news.append(self._uid_value(new) if uid and not pd.isna(new) else new)
        out = diff.iloc[keep].reset_index(drop=True)
        for column, values in (("path", paths), ("old", olds), ("new", news)):
            out[column] = pd.array(values, dtype=diff[column].dtype)
        return out


def deidentify(
    df: pd.DataFrame,
    *,
    uid_key: bytes | str | None = None,
    keep_dates: bool = False,
) -> pd.DataFrame:
    """Return a frame de-identified by the basic profile of PS3.15 Annex E.

    Parameters
    ----------
    df
        Any frame: columns named ``DICOM<Keyword>`` (SearchImageSets) or ``<Keyword>``
        are matched against :data:`PROFILE`; a diff frame from
        :func:`hi_widgets.diff.diff_metadata` is de-identified row by row. Not modified.
    uid_key
        HMAC key for UID replacement; ``None``: a random key for this call.
    keep_dates
        Keep dates and times (not the patient's birth date).

    Returns
    -------
    pandas.DataFrame
        Removed attributes left out, UIDs replaced, everything else as it was.

    Examples
    --------
    >>> import pandas as pd
    >>> out = deidentify(pd.DataFrame({"DICOMAccessionNumber": ["A1"], "DICOMSeriesNumber": [3]}))
    >>> list(out.columns)
    ['DICOMSeriesNumber']
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    return Deidentifier(uid_key, keep_dates).frame(df)
