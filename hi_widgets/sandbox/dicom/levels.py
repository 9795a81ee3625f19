"""Which image set level (Patient, Study, Series, Instance) holds each DICOM attribute.

HealthImaging normalises imported DICOM P10 metadata into four levels ("Metadata
normalization" in the developer guide): it lists the Patient, Study and Series level
elements; every other attribute stays with its instance. The tables below hold those
lists by DICOM keyword (PS3.6), module by module as the guide groups them.

The guide's lists are long and keep growing; where an element of the same DICOM module
is missing here it simply stays at the Instance level, which is what the service does with
an attribute it does not normalise.
"""

from __future__ import annotations

# Patient Module, Issuer of Patient ID Macro, Patient Group Macro, Clinical Trial Subject.
PATIENT_KEYWORDS = frozenset(
    {
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "IssuerOfPatientIDQualifiersSequence",
        "TypeOfPatientID",
        "PatientBirthDate",
        "PatientBirthDateInAlternativeCalendar",
        "PatientDeathDateInAlternativeCalendar",
        "PatientAlternativeCalendar",
        "PatientSex",
        "ReferencedPatientPhotoSequence",
        "QualityControlSubject",
        "ReferencedPatientSequence",
        "PatientBirthTime",
        "OtherPatientIDsSequence",
        "OtherPatientNames",
        "EthnicGroup",
        "PatientComments",
        "PatientSpeciesDescription",
        "PatientSpeciesCodeSequence",
        "PatientBreedDescription",
        "PatientBreedCodeSequence",
        "BreedRegistrationSequence",
        "StrainDescription",
        "StrainNomenclature",
        "StrainCodeSequence",
        "StrainAdditionalInformation",
        "StrainStockSequence",
        "GeneticModificationsSequence",
        "ResponsiblePerson",
        "ResponsiblePersonRole",
        "ResponsibleOrganization",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "SourcePatientGroupIdentificationSequence",
        "GroupOfPatientsIdentificationSequence",
        "ClinicalTrialSponsorName",
        "ClinicalTrialProtocolID",
        "ClinicalTrialProtocolName",
        "ClinicalTrialSiteID",
        "ClinicalTrialSiteName",
        "ClinicalTrialSubjectID",
        "ClinicalTrialSubjectReadingID",
        "ClinicalTrialProtocolEthicsCommitteeName",
        "ClinicalTrialProtocolEthicsCommitteeApprovalNumber",
    }
)

# General Study, Patient Study and Clinical Trial Study modules.
STUDY_KEYWORDS = frozenset(
    {
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "ReferringPhysicianIdentificationSequence",
        "ConsultingPhysicianName",
        "ConsultingPhysicianIdentificationSequence",
        "StudyID",
        "AccessionNumber",
        "IssuerOfAccessionNumberSequence",
        "StudyDescription",
        "PhysiciansOfRecord",
        "PhysiciansOfRecordIdentificationSequence",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansReadingStudyIdentificationSequence",
        "RequestingServiceCodeSequence",
        "ReferencedStudySequence",
        "ProcedureCodeSequence",
        "ReasonForPerformedProcedureCodeSequence",
        "AdmittingDiagnosesDescription",
        "AdmittingDiagnosesCodeSequence",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "PatientBodyMassIndex",
        "MeasuredAPDimension",
        "MeasuredLateralDimension",
        "PatientSizeCodeSequence",
        "MedicalAlerts",
        "Allergies",
        "SmokingStatus",
        "PregnancyStatus",
        "LastMenstrualDate",
        "PatientState",
        "Occupation",
        "AdditionalPatientHistory",
        "AdmissionID",
        "IssuerOfAdmissionIDSequence",
        "ServiceEpisodeID",
        "ServiceEpisodeDescription",
        "IssuerOfServiceEpisodeIDSequence",
        "PatientSexNeutered",
        "ReasonForVisit",
        "ReasonForVisitCodeSequence",
        "ClinicalTrialTimePointID",
        "ClinicalTrialTimePointDescription",
        "ConsentForClinicalTrialUseSequence",
    }
)

# General Series and Clinical Trial Series modules.
SERIES_KEYWORDS = frozenset(
    {
        "Modality",
        "SeriesInstanceUID",
        "SeriesNumber",
        "Laterality",
        "SeriesDate",
        "SeriesTime",
        "PerformingPhysicianName",
        "PerformingPhysicianIdentificationSequence",
        "ProtocolName",
        "SeriesDescription",
        "SeriesDescriptionCodeSequence",
        "OperatorsName",
        "OperatorIdentificationSequence",
        "ReferencedPerformedProcedureStepSequence",
        "RelatedSeriesSequence",
        "BodyPartExamined",
        "PatientPosition",
        "SmallestPixelValueInSeries",
        "LargestPixelValueInSeries",
        "RequestAttributesSequence",
        "PerformedProcedureStepID",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "PerformedProcedureStepEndDate",
        "PerformedProcedureStepEndTime",
        "PerformedProcedureStepDescription",
        "PerformedProtocolCodeSequence",
        "CommentsOnThePerformedProcedureStep",
        "AnatomicalOrientationType",
        "ClinicalTrialCoordinatingCenterName",
        "ClinicalTrialSeriesID",
        "ClinicalTrialSeriesDescription",
    }
)

# SOP Common, General Image, Image Pixel and General Equipment modules: not normalised, so
# they stay with each instance. Every keyword in none of the tables stays there too; this
# list names the ones an update is refused for giving at another level.
INSTANCE_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "PhotometricInterpretation",
        "NumberOfFrames",
        "InstitutionName",
    }
)

LEVELS = ("Patient", "Study", "Series", "Instance")

KEYWORDS_BY_LEVEL = {
    "Patient": PATIENT_KEYWORDS,
    "Study": STUDY_KEYWORDS,
    "Series": SERIES_KEYWORDS,
    "Instance": INSTANCE_KEYWORDS,
}
"""The known keywords of each level, for checks that an attribute is given where it lives."""

IMAGE_SET_KEY_KEYWORDS = (
    "PatientID",
    "StudyInstanceUID",
    "StudyDate",
    "AccessionNumber",
    "StudyID",
    "SeriesInstanceUID",
    "SeriesNumber",
)
"""The elements HealthImaging uses to group imported instances into image sets
("Understanding image sets": Study level Study Date, Accession Number, Patient ID, Study
Instance UID, Study ID; Series level Series Instance UID, Series Number). Instances of a
series that disagree on any of them cannot share its primary image set."""

LENGTH_LIMITS = {
    "PatientName": 256,
    "PatientID": 256,
    "PatientBirthDate": 18,
    "PatientSex": 16,
    "StudyInstanceUID": 256,
    "StudyID": 16,
    "StudyDescription": 64,
    "AccessionNumber": 256,
    "StudyDate": 18,
    "StudyTime": 28,
    "SeriesInstanceUID": 256,
    "Modality": 16,
    "BodyPartExamined": 64,
}
"""Maximum lengths enforced at import ("DICOM element constraints"; the Series entries are
the DICOMTags limits of the API reference)."""


def level_of(keyword: str) -> str:
    """Return the image set level (``Patient``, ``Study``, ``Series``, ``Instance``).

    Examples
    --------
    >>> level_of("PatientName"), level_of("StudyDate"), level_of("Modality"), level_of("Rows")
    ('Patient', 'Study', 'Series', 'Instance')
    """
    if keyword in PATIENT_KEYWORDS:
        return "Patient"
    if keyword in STUDY_KEYWORDS:
        return "Study"
    if keyword in SERIES_KEYWORDS:
        return "Series"
    return "Instance"
