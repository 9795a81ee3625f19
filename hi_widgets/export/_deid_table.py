"""Table E.1-1 of DICOM PS3.15 (basic profile column), as data; see :mod:`.deid`."""

SOURCE = (
    "DICOM PS3.15 2024b (Security and System Management Profiles), Annex E, "
    "Table E.1-1 'Application Level Confidentiality Profile Attributes', column "
    "'Basic Prof.': https://dicom.nema.org/medical/dicom/2024b/output/chtml/part15/"
    "chapter_E.html#table_E.1-1"
)

# (group,element) action keyword, one attribute a line: every row of SOURCE's table with
# its basic-profile action as the table writes it (hi_widgets.export.deid says what each action
# does to an export). Cross-checked against the 2024b table as transcribed by
# KitwareMedical/dicom-anonymizer (dicomfields_2024b.py); keywords from pydicom's data
# dictionary (PS3.6), checked by tests/test_deid.py.
TABLE = """
(0008,0050) Z       AccessionNumber
(0018,4000) X       AcquisitionComments
(0040,0555) X/Z     AcquisitionContextSequence
(0008,0022) X/Z     AcquisitionDate
(0008,002A) X/Z/D   AcquisitionDateTime
(0018,1400) X/D     AcquisitionDeviceProcessingDescription
(0018,11BB) D       AcquisitionFieldOfViewLabel
(0018,9424) X       AcquisitionProtocolDescription
(0008,0032) X/Z     AcquisitionTime
(0008,0017) U       AcquisitionUID
(0040,4035) X       ActualHumanPerformersSequence
(0010,21B0) X       AdditionalPatientHistory
(0040,A353) X       AddressTrial
(0038,0010) X       AdmissionID
(0038,0020) X       AdmittingDate
(0008,1084) X       AdmittingDiagnosesCodeSequence
(0008,1080) X       AdmittingDiagnosesDescription
(0038,0021) X       AdmittingTime
(0000,1000) X       AffectedSOPInstanceUID
(0010,2110) X       Allergies
(006A,0006) X       AnnotationGroupDescription
(006A,0005) D       AnnotationGroupLabel
(006A,0003) D       AnnotationGroupUID
(0044,0004) X       ApprovalStatusDateTime
(4000,0010) X       Arbitrary
(0044,0104) D       AssertionDateTime
(0044,0105) X       AssertionExpirationDateTime
(0400,0562) D       AttributeModificationDateTime
(0040,A078) X       AuthorObserverSequence
(2200,0005) X/Z     BarcodeValue
(300A,00C3) X       BeamDescription
(300C,0127) D       BeamHoldTransitionDateTime
(300A,00DD) X       BolusDescription
(0010,1081) X       BranchOfService
(0014,407E) X       CalibrationDate
(0018,1203) Z       CalibrationDateTime
(0014,407C) X       CalibrationTime
(0016,004D) X       CameraOwnerName
(0018,1007) X       CassetteID
(0400,0115) D       CertificateOfSigner
(0400,0310) X       CertifiedTimestamp
(0012,0060) Z       ClinicalTrialCoordinatingCenterName
(0012,0082) X       ClinicalTrialProtocolEthicsCommitteeApprovalNumber
(0012,0081) D       ClinicalTrialProtocolEthicsCommitteeName
(0012,0020) D       ClinicalTrialProtocolID
(0012,0021) Z       ClinicalTrialProtocolName
(0012,0072) X       ClinicalTrialSeriesDescription
(0012,0071) X       ClinicalTrialSeriesID
(0012,0030) Z       ClinicalTrialSiteID
(0012,0031) Z       ClinicalTrialSiteName
(0012,0010) D       ClinicalTrialSponsorName
(0012,0040) D       ClinicalTrialSubjectID
(0012,0042) D       ClinicalTrialSubjectReadingID
(0012,0051) X       ClinicalTrialTimePointDescription
(0012,0050) Z       ClinicalTrialTimePointID
(0040,0310) X       CommentsOnRadiationDose
(0040,0280) X       CommentsOnThePerformedProcedureStep
(300A,02EB) X       CompensatorDescription
(0020,9161) U       ConcatenationUID
(3010,000F) Z       ConceptualVolumeCombinationDescription
(3010,0017) Z       ConceptualVolumeDescription
(3010,0006) U       ConceptualVolumeUID
(0040,3001) X       ConfidentialityConstraintOnPatientDataDescription
(3010,0013) U       ConstituentConceptualVolumeUID
(0008,009D) X       ConsultingPhysicianIdentificationSequence
(0008,009C) Z       ConsultingPhysicianName
(0050,001B) X       ContainerComponentID
(0040,051A) X       ContainerDescription
(0040,0512) D       ContainerIdentifier
(0070,0086) X       ContentCreatorIdentificationCodeSequence
(0070,0084) Z/D     ContentCreatorName
(0008,0023) Z/D     ContentDate
(0040,A730) D       ContentSequence
(0008,0033) Z/D     ContentTime
(0008,0107) D       ContextGroupLocalVersion
(0008,0106) D       ContextGroupVersion
(0018,0010) Z/D     ContrastBolusAgent
(0018,1042) X       ContrastBolusStartTime
(0018,1043) X       ContrastBolusStopTime
(0018,A002) X       ContributionDateTime
(0018,A003) X       ContributionDescription
(0010,2150) X       CountryOfResidence
(2100,0040) X       CreationDate
(2100,0050) X       CreationTime
(0040,A307) X       CurrentObserverTrial
(0038,0300) X       CurrentPatientLocation
(5000,3000) X       CurveData
(0008,0025) X       CurveDate
(0008,0035) X       CurveTime
(0040,A07C) X       CustodialOrganizationSequence
(FFFC,FFFC) X       DataSetTrailingPadding
(0040,A121) D       Date
(0040,A110) X       DateOfDocumentOrVerbalTransactionTrial
(0018,1205) X       DateOfInstallation
(0018,1200) X       DateOfLastCalibration
(0018,700C) X/D     DateOfLastDetectorCalibration
(0018,1204) X       DateOfManufacture
(0018,1012) X       DateOfSecondaryCapture
(0040,A120) D       DateTime
(0018,1202) X       DateTimeOfLastCalibration
(0018,9701) D       DecayCorrectionDateTime
(0018,937F) X       DecompositionDescription
(0008,2111) X       DerivationDescription
(2100,0140) D       DestinationAE
(0018,700A) X/D     DetectorID
(3010,001B) Z       DeviceAlternateIdentifier
(0050,0020) X       DeviceDescription
(3010,002D) D       DeviceLabel
(0018,1000) X/Z/D   DeviceSerialNumber
(0016,004B) X       DeviceSettingDescription
(0018,1002) U       DeviceUID
(0400,0105) D       DigitalSignatureDateTime
(0400,0100) U       DigitalSignatureUID
(FFFA,FFFA) X       DigitalSignaturesSequence
(0020,9164) U       DimensionOrganizationUID
(0038,0030) X       DischargeDate
(0038,0040) X       DischargeDiagnosisDescription
(0038,0032) X       DischargeTime
(300A,079A) X       DisplacementReferenceLabel
(4008,011A) X       DistributionAddress
(4008,0119) X       DistributionName
(300A,0016) X       DoseReferenceDescription
(300A,0013) U       DoseReferenceUID
(3010,006E) U       DosimetricObjectiveUID
(0068,6226) D       EffectiveDateTime
(0042,0011) D       EncapsulatedDocument
(0018,9517) X/D     EndAcquisitionDateTime
(3010,0037) X       EntityDescription
(3010,0035) D       EntityLabel
(3010,0038) D       EntityLongLabel
(3010,0036) X       EntityName
(300A,0676) X       EquipmentFrameOfReferenceDescription
(0012,0087) X       EthicsCommitteeApprovalEffectivenessEndDate
(0012,0086) X       EthicsCommitteeApprovalEffectivenessStartDate
(0010,2160) X       EthnicGroup
(0018,9804) D       ExclusionStartDateTime
(0040,4011) X       ExpectedCompletionDateTime
(0008,0058) U       FailedSOPInstanceUIDList
(0070,031A) U       FiducialUID
(0040,2017) Z       FillerOrderNumberImagingServiceRequest
(003A,032B) X       FilterLookupTableDescription
(0040,A023) X       FindingsGroupRecordingDateTrial
(0040,A024) X       FindingsGroupRecordingTimeTrial
(3008,0054) X/D     FirstTreatmentDate
(300A,0196) X       FixationDeviceDescription
(0034,0002) D       FlowIdentifier
(0034,0001) D       FlowIdentifierSequence
(300A,0072) X       FractionGroupDescription
(3010,007F) Z       FractionationNotes
(0018,9074) D       FrameAcquisitionDateTime
(0020,9158) X       FrameComments
(0020,0052) U       FrameOfReferenceUID
(0034,0007) D       FrameOriginTimestamp
(0018,9151) D       FrameReferenceDateTime
(0018,9623) D       FunctionalSyncPulse
(0016,0076) X       GPSAltitude
(0016,0075) X       GPSAltitudeRef
(0016,008C) X       GPSAreaInformation
(0016,007B) X       GPSDOP
(0016,008D) X       GPSDateStamp
(0016,0088) X       GPSDestBearing
(0016,0087) X       GPSDestBearingRef
(0016,008A) X       GPSDestDistance
(0016,0089) X       GPSDestDistanceRef
(0016,0084) X       GPSDestLatitude
(0016,0083) X       GPSDestLatitudeRef
(0016,0086) X       GPSDestLongitude
(0016,0085) X       GPSDestLongitudeRef
(0016,008E) X       GPSDifferential
(0016,0081) X       GPSImgDirection
(0016,0080) X       GPSImgDirectionRef
(0016,0072) X       GPSLatitude
(0016,0071) X       GPSLatitudeRef
(0016,0074) X       GPSLongitude
(0016,0073) X       GPSLongitudeRef
(0016,0082) X       GPSMapDatum
(0016,007A) X       GPSMeasureMode
(0016,008B) X       GPSProcessingMethod
(0016,0078) X       GPSSatellites
(0016,007D) X       GPSSpeed
(0016,007C) X       GPSSpeedRef
(0016,0079) X       GPSStatus
(0016,0077) X       GPSTimeStamp
(0016,007F) X       GPSTrack
(0016,007E) X       GPSTrackRef
(0016,0070) X       GPSVersionID
(0018,1008) X       GantryID
(0018,1005) X       GeneratorID
(0070,0001) D       GraphicAnnotationSequence
(0040,E004) X       HL7DocumentEffectiveTime
(0072,000A) D       HangingProtocolCreationDateTime
(0040,4037) X       HumanPerformerName
(0040,4036) X       HumanPerformerOrganization
(0088,0200) X       IconImageSequence
(0008,4000) X       IdentifyingComments
(0020,4000) X       ImageComments
(0028,4000) X       ImagePresentationComments
(0040,2400) X       ImagingServiceRequestComments
(003A,0314) D       ImpedanceMeasurementDateTime
(4008,0300) X       Impressions
(0068,6270) D       InformationIssueDateTime
(0008,0015) X       InstanceCoercionDateTime
(0008,0012) X/D     InstanceCreationDate
(0008,0013) X/Z/D   InstanceCreationTime
(0008,0014) U       InstanceCreatorUID
(0400,0600) X       InstanceOriginStatus
(0008,0081) X       InstitutionAddress
(0008,0082) X/Z/D   InstitutionCodeSequence
(0008,0080) X/Z/D   InstitutionName
(0008,1040) X       InstitutionalDepartmentName
(0008,1041) X       InstitutionalDepartmentTypeCodeSequence
(0018,9919) Z/D     InstructionPerformedDateTime
(0010,1050) X       InsurancePlanIdentification
(3010,0085) X       IntendedFractionStartTime
(3010,004D) X/D     IntendedPhaseEndDate
(3010,004C) X/D     IntendedPhaseStartDate
(0040,1011) X       IntendedRecipientsOfResultsIdentificationSequence
(300A,0741) D       InterlockDateTime
(300A,0742) D       InterlockDescription
(300A,0783) D       InterlockOriginDescription
(4008,0112) X       InterpretationApprovalDate
(4008,0113) X       InterpretationApprovalTime
(4008,0111) X       InterpretationApproverSequence
(4008,010C) X       InterpretationAuthor
(4008,0115) X       InterpretationDiagnosisDescription
(4008,0200) X       InterpretationID
(4008,0202) X       InterpretationIDIssuer
(4008,0100) X       InterpretationRecordedDate
(4008,0101) X       InterpretationRecordedTime
(4008,0102) X       InterpretationRecorder
(4008,010B) X       InterpretationText
(4008,010A) X       InterpretationTranscriber
(4008,0108) X       InterpretationTranscriptionDate
(4008,0109) X       InterpretationTranscriptionTime
(0018,0035) X       InterventionDrugStartTime
(0018,0027) X       InterventionDrugStopTime
(0008,3010) U       IrradiationEventUID
(0040,2004) X       IssueDateOfImagingServiceRequest
(0040,2005) X       IssueTimeOfImagingServiceRequest
(0038,0011) X       IssuerOfAdmissionID
(0038,0014) X       IssuerOfAdmissionIDSequence
(0012,0022) X       IssuerOfClinicalTrialProtocolID
(0012,0073) X       IssuerOfClinicalTrialSeriesID
(0012,0032) X       IssuerOfClinicalTrialSiteID
(0012,0041) X       IssuerOfClinicalTrialSubjectID
(0012,0043) X       IssuerOfClinicalTrialSubjectReadingID
(0012,0055) X       IssuerOfClinicalTrialTimePointID
(0010,0021) X       IssuerOfPatientID
(0038,0061) X       IssuerOfServiceEpisodeID
(0038,0064) X       IssuerOfServiceEpisodeIDSequence
(0040,0513) Z       IssuerOfTheContainerIdentifierSequence
(0040,0562) Z       IssuerOfTheSpecimenIdentifierSequence
(2200,0002) X/Z     LabelText
(0028,1214) U       LargePaletteColorLookupTableUID
(0010,21D0) X       LastMenstrualDate
(0016,004F) X       LensMake
(0016,0050) X       LensModel
(0016,0051) X       LensSerialNumber
(0016,004E) X       LensSpecification
(0050,0021) X       LongDeviceDescription
(0400,0404) X       MAC
(0016,002B) X       MakerNote
(0018,100B) U       ManufacturerDeviceClassUID
(3010,0043) Z       ManufacturerDeviceIdentifier
(0002,0003) U       MediaStorageSOPInstanceUID
(0010,2000) X       MedicalAlerts
(0010,1090) X       MedicalRecordLocator
(0010,1080) X       MilitaryRank
(0400,0550) X       ModifiedAttributesSequence
(0020,3403) X       ModifiedImageDate
(0020,3406) X       ModifiedImageDescription
(0020,3405) X       ModifiedImageTime
(0020,3401) X       ModifyingDeviceID
(0400,0563) D       ModifyingSystem
(3008,0056) X/D     MostRecentTreatmentDate
(0018,937B) X       MultienergyAcquisitionDescription
(003A,0310) U       MultiplexGroupUID
(0008,1060) X       NameOfPhysiciansReadingStudy
(0040,1010) X       NamesOfIntendedRecipientsOfResults
(0008,1000) X       NetworkID
(0400,0552) X       NonconformingDataElementValue
(0400,0551) X       NonconformingModifiedAttributesSequence
(0040,A032) X/D     ObservationDateTime
(0040,A192) X       ObservationDateTrial
(0040,A033) X       ObservationStartDateTime
(0040,A402) U       ObservationSubjectUIDTrial
(0040,A193) X       ObservationTimeTrial
(0040,A171) U       ObservationUID
(0010,2180) X       Occupation
(0008,1072) X/D     OperatorIdentificationSequence
(0008,1070) X/Z/D   OperatorsName
(0040,2010) X       OrderCallbackPhoneNumber
(0040,2011) X       OrderCallbackTelecomInformation
(0040,2008) X       OrderEnteredBy
(0040,2009) X       OrderEntererLocation
(0400,0561) X       OriginalAttributesSequence
(2100,0070) X       Originator
(0012,0023) X       OtherClinicalTrialProtocolIDsSequence
(0010,1000) X       OtherPatientIDs
(0010,1002) X       OtherPatientIDsSequence
(0010,1001) X       OtherPatientNames
(6000,4000) X       OverlayComments
(6000,3000) X       OverlayData
(0008,0024) X       OverlayDate
(0008,0034) X       OverlayTime
(300A,0760) D       OverrideDateTime
(0028,1199) U       PaletteColorLookupTableUID
(0040,A07A) X       ParticipantSequence
(0040,A082) Z       ParticipationDateTime
(0010,1040) X       PatientAddress
(0010,1010) X       PatientAge
(0010,0030) Z       PatientBirthDate
(0010,1005) X       PatientBirthName
(0010,0032) X       PatientBirthTime
(0010,4000) X       PatientComments
(0010,0020) Z/D     PatientID
(0038,0400) X       PatientInstitutionResidence
(0010,0050) X       PatientInsurancePlanCodeSequence
(0010,1060) X       PatientMotherBirthName
(0010,0010) Z       PatientName
(0010,0101) X       PatientPrimaryLanguageCodeSequence
(0010,0102) X       PatientPrimaryLanguageModifierCodeSequence
(0010,21F0) X       PatientReligiousPreference
(300A,0794) X       PatientSetupPhotoDescription
(300A,0650) U       PatientSetupUID
(0010,0040) Z       PatientSex
(0010,2203) X/Z     PatientSexNeutered
(0010,1020) X       PatientSize
(0038,0500) X       PatientState
(0010,2155) X       PatientTelecomInformation
(0010,2154) X       PatientTelephoneNumbers
(0040,1004) X       PatientTransportArrangements
(300A,0792) X       PatientTreatmentPreparationMethodDescription
(300A,078E) X       PatientTreatmentPreparationProcedureParameterDescription
(0010,1030) X       PatientWeight
(0040,0243) X       PerformedLocation
(0040,0254) X       PerformedProcedureStepDescription
(0040,0250) X       PerformedProcedureStepEndDate
(0040,4051) X       PerformedProcedureStepEndDateTime
(0040,0251) X       PerformedProcedureStepEndTime
(0040,0253) X       PerformedProcedureStepID
(0040,0244) X       PerformedProcedureStepStartDate
(0040,4050) X       PerformedProcedureStepStartDateTime
(0040,0245) X       PerformedProcedureStepStartTime
(0040,0241) X       PerformedStationAETitle
(0040,4030) X       PerformedStationGeographicLocationCodeSequence
(0040,0242) X       PerformedStationName
(0040,4028) X       PerformedStationNameCodeSequence
(0008,1052) X       PerformingPhysicianIdentificationSequence
(0008,1050) X       PerformingPhysicianName
(0040,1102) X       PersonAddress
(0040,1101) D       PersonIdentificationCodeSequence
(0040,A123) D       PersonName
(0040,1104) X       PersonTelecomInformation
(0040,1103) X       PersonTelephoneNumbers
(4008,0114) X       PhysicianApprovingInterpretation
(0008,1048) X       PhysiciansOfRecord
(0008,1049) X       PhysiciansOfRecordIdentificationSequence
(0008,1062) X       PhysiciansReadingStudyIdentificationSequence
(0040,2016) Z       PlacerOrderNumberImagingServiceRequest
(0018,1004) X       PlateID
(3002,0123) X       PositionAcquisitionTemplateDescription
(3002,0121) X       PositionAcquisitionTemplateName
(0040,0012) X       PreMedication
(0010,21C0) X       PregnancyStatus
(300A,000E) X       PrescriptionDescription
(3010,007B) Z       PrescriptionNotes
(3010,0081) Z       PrescriptionNotesSequence
(0070,0082) X       PresentationCreationDate
(0070,0083) X       PresentationCreationTime
(0070,1101) U       PresentationDisplayCollectionUID
(0070,1102) U       PresentationSequenceCollectionUID
(3010,0061) X       PriorTreatmentDoseDescription
(0040,4052) X       ProcedureStepCancellationDateTime
(0044,000B) X       ProductExpirationDateTime
(0018,1030) X/D     ProtocolName
(0008,1088) X       PyramidDescription
(0020,0027) X       PyramidLabel
(0008,0019) U       PyramidUID
(3006,004D) X       ROICreatorSequence
(3006,002D) X       ROIDateTime
(3006,0028) X       ROIDescription
(3006,0038) X       ROIGenerationDescription
(3006,00A6) Z       ROIInterpreter
(3006,004E) X       ROIInterpreterSequence
(3006,0026) Z       ROIName
(3006,002E) X       ROIObservationDateTime
(3006,0088) X       ROIObservationDescription
(3006,0085) X       ROIObservationLabel
(300A,0615) Z       RTAccessoryDeviceSlotID
(300A,0611) Z       RTAccessoryHolderSlotID
(3010,005A) Z       RTPhysicianIntentNarrative
(300A,0006) X/D     RTPlanDate
(300A,0004) X       RTPlanDescription
(300A,0002) D       RTPlanLabel
(300A,0003) X       RTPlanName
(300A,0007) X/D     RTPlanTime
(3010,0054) D       RTPrescriptionLabel
(300A,062A) D       RTToleranceSetLabel
(3010,0056) X/D     RTTreatmentApproachLabel
(3010,003B) U       RTTreatmentPhaseUID
(300A,0619) D       RadiationDoseIdentificationLabel
(300A,0623) D       RadiationDoseInVivoMeasurementLabel
(300A,067D) Z       RadiationGenerationModeDescription
(300A,067C) D       RadiationGenerationModeLabel
(0018,1078) X       RadiopharmaceuticalStartDateTime
(0018,1072) X       RadiopharmaceuticalStartTime
(0018,1079) X       RadiopharmaceuticalStopDateTime
(0018,1073) X       RadiopharmaceuticalStopTime
(300C,0113) X       ReasonForOmissionDescription
(0040,100A) X       ReasonForRequestedProcedureCodeSequence
(0032,1030) X       ReasonForStudy
(3010,005C) Z       ReasonForSuperseding
(0400,0565) D       ReasonForTheAttributeModification
(0040,2001) X       ReasonForTheImagingServiceRequest
(0040,1002) X       ReasonForTheRequestedProcedure
(0032,1066) X       ReasonForVisit
(0032,1067) X       ReasonForVisitCodeSequence
(0074,1234) X       ReceivingAE
(300A,073A) D       RecordedRTControlPointDateTime
(3010,000B) U       ReferencedConceptualVolumeUID
(0040,A13A) D       ReferencedDateTime
(0400,0402) X       ReferencedDigitalSignatureSequence
(300A,0083) U       ReferencedDoseReferenceUID
(3010,006F) U       ReferencedDosimetricObjectiveUID
(3010,0031) U       ReferencedFiducialsUID
(3006,0024) U       ReferencedFrameOfReferenceUID
(0040,4023) U       ReferencedGeneralPurposeScheduledProcedureStepTransactionUID
(0008,1140) X/Z/U*  ReferencedImageSequence
(0040,A172) U       ReferencedObservationUIDTrial
(0038,0004) X       ReferencedPatientAliasSequence
(0010,1100) X       ReferencedPatientPhotoSequence
(0008,1120) X       ReferencedPatientSequence
(0008,1111) X/Z/D   ReferencedPerformedProcedureStepSequence
(0400,0403) X       ReferencedSOPInstanceMACSequence
(0008,1155) U       ReferencedSOPInstanceUID
(0004,1511) U       ReferencedSOPInstanceUIDInFile
(0008,1110) X/Z     ReferencedStudySequence
(300A,0785) U       ReferencedTreatmentPositionGroupUID
(0008,0092) X       ReferringPhysicianAddress
(0008,0096) X       ReferringPhysicianIdentificationSequence
(0008,0090) Z       ReferringPhysicianName
(0008,0094) X       ReferringPhysicianTelephoneNumbers
(0010,2152) X       RegionOfResidence
(3006,00C2) U       RelatedFrameOfReferenceUID
(0040,0275) X       RequestAttributesSequence
(0032,1070) X       RequestedContrastAgent
(0040,1400) X       RequestedProcedureComments
(0032,1060) X/Z     RequestedProcedureDescription
(0040,1001) X       RequestedProcedureID
(0040,1005) X       RequestedProcedureLocation
(0000,1001) U       RequestedSOPInstanceUID
(0018,9937) X       RequestedSeriesDescription
(0074,1236) X       RequestingAE
(0032,1032) X       RequestingPhysician
(0032,1033) X       RequestingService
(0018,9185) X       RespiratoryMotionCompensationTechniqueDescription
(0010,2299) X       ResponsibleOrganization
(0010,2297) X       ResponsiblePerson
(4008,4000) X       ResultsComments
(4008,0118) X       ResultsDistributionListSequence
(4008,0040) X       ResultsID
(4008,0042) X       ResultsIDIssuer
(0008,0054) X       RetrieveAETitle
(300E,0004) Z       ReviewDate
(300E,0005) Z       ReviewTime
(300E,0008) X/Z     ReviewerName
(0100,0420) X       SOPAuthorizationDateTime
(0008,0018) U       SOPInstanceUID
(3008,0162) D       SafePositionExitDate
(3008,0164) D       SafePositionExitTime
(3008,0166) D       SafePositionReturnDate
(3008,0168) D       SafePositionReturnTime
(0038,001A) X       ScheduledAdmissionDate
(0038,001B) X       ScheduledAdmissionTime
(0038,001C) X       ScheduledDischargeDate
(0038,001D) X       ScheduledDischargeTime
(0040,4034) X       ScheduledHumanPerformersSequence
(0038,001E) X       ScheduledPatientInstitutionResidence
(0040,000B) X       ScheduledPerformingPhysicianIdentificationSequence
(0040,0006) X       ScheduledPerformingPhysicianName
(0040,0007) X       ScheduledProcedureStepDescription
(0040,0004) X       ScheduledProcedureStepEndDate
(0040,0005) X       ScheduledProcedureStepEndTime
(0040,4008) X       ScheduledProcedureStepExpirationDateTime
(0040,0009) X       ScheduledProcedureStepID
(0040,0011) X       ScheduledProcedureStepLocation
(0040,4010) X       ScheduledProcedureStepModificationDateTime
(0040,0002) X       ScheduledProcedureStepStartDate
(0040,4005) X       ScheduledProcedureStepStartDateTime
(0040,0003) X       ScheduledProcedureStepStartTime
(0040,0001) X       ScheduledStationAETitle
(0040,4027) X       ScheduledStationGeographicLocationCodeSequence
(0040,0010) X       ScheduledStationName
(0040,4025) X       ScheduledStationNameCodeSequence
(0032,1020) X       ScheduledStudyLocation
(0032,1021) X       ScheduledStudyLocationAETitle
(0032,1000) X       ScheduledStudyStartDate
(0032,1001) X       ScheduledStudyStartTime
(0032,1010) X       ScheduledStudyStopDate
(0032,1011) X       ScheduledStudyStopTime
(0072,005E) D       SelectorAEValue
(0072,005F) D       SelectorASValue
(0072,0061) D       SelectorDAValue
(0072,0063) D       SelectorDTValue
(0072,0066) D       SelectorLOValue
(0072,0068) D       SelectorLTValue
(0072,0065) D       SelectorOBValue
(0072,006A) D       SelectorPNValue
(0072,006C) D       SelectorSHValue
(0072,006E) D       SelectorSTValue
(0072,006B) D       SelectorTMValue
(0072,006D) D       SelectorUNValue
(0072,0071) D       SelectorURValue
(0072,0070) D       SelectorUTValue
(0008,0021) X/D     SeriesDate
(0008,103E) X       SeriesDescription
(0020,000E) U       SeriesInstanceUID
(0008,0031) X/D     SeriesTime
(0038,0062) X       ServiceEpisodeDescription
(0038,0060) X       ServiceEpisodeID
(300A,01B2) X       SetupTechniqueDescription
(300A,01A6) X       ShieldingDeviceDescription
(0040,06FA) X       SlideIdentifier
(0010,21A0) X       SmokingStatus
(3010,0015) U       SourceConceptualVolumeUID
(0018,936A) D       SourceEndDateTime
(0064,0003) U       SourceFrameOfReferenceUID
(0034,0005) D       SourceIdentifier
(0008,2112) X/Z/U*  SourceImageSequence
(300A,0216) X       SourceManufacturer
(0400,0564) Z       SourceOfPreviousValues
(3008,0105) X/Z     SourceSerialNumber
(0018,9369) D       SourceStartDateTime
(300A,022C) D       SourceStrengthReferenceDate
(300A,022E) D       SourceStrengthReferenceTime
(0038,0050) X       SpecialNeeds
(0040,050A) X       SpecimenAccessionNumber
(0040,0602) X       SpecimenDetailedDescription
(0040,0551) D       SpecimenIdentifier
(0040,0610) Z       SpecimenPreparationSequence
(0040,0600) X       SpecimenShortDescription
(0040,0554) U       SpecimenUID
(0018,9516) X/D     StartAcquisitionDateTime
(0008,0055) X       StationAETitle
(0008,1010) X/Z/D   StationName
(0088,0140) U       StorageMediaFileSetUID
(3006,0008) Z       StructureSetDate
(3006,0006) X       StructureSetDescription
(3006,0002) D       StructureSetLabel
(3006,0004) X       StructureSetName
(3006,0009) Z       StructureSetTime
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
(0044,0010) X       SubstanceAdministrationDateTime
(0020,0200) U       SynchronizationFrameOfReferenceUID
(0018,2042) U       TargetUID
(0040,A354) X       TelephoneNumberTrial
(0040,DB0D) U       TemplateExtensionCreatorUID
(0040,DB0C) U       TemplateExtensionOrganizationUID
(0040,DB07) X       TemplateLocalVersion
(0040,DB06) X       TemplateVersion
(4000,4000) X       TextComments
(2030,0020) X       TextString
(0040,A122) D       Time
(0040,A112) X       TimeOfDocumentCreationOrVerbalTransactionTrial
(0018,1201) X       TimeOfLastCalibration
(0018,700E) X/D     TimeOfLastDetectorCalibration
(0018,1014) X       TimeOfSecondaryCapture
(0008,0201) X       TimezoneOffsetFromUTC
(0088,0910) X       TopicAuthor
(0088,0912) X       TopicKeywords
(0088,0906) X       TopicSubject
(0088,0904) X       TopicTitle
(0062,0021) U       TrackingUID
(0008,1195) U       TransactionUID
(0018,5011) X       TransducerIdentificationSequence
(3008,0024) D       TreatmentControlPointDate
(3008,0025) D       TreatmentControlPointTime
(3008,0250) X/D     TreatmentDate
(300A,00B2) X/Z     TreatmentMachineName
(300A,0608) D       TreatmentPositionGroupLabel
(300A,0609) U       TreatmentPositionGroupUID
(300A,0700) U       TreatmentSessionUID
(3010,0077) X/D     TreatmentSite
(300A,000B) X       TreatmentSites
(3010,007A) Z       TreatmentTechniqueNotes
(3008,0251) X/D     TreatmentTime
(300A,0736) D       TreatmentToleranceViolationDateTime
(300A,0734) D       TreatmentToleranceViolationDescription
(0018,100A) X       UDISequence
(0040,A124) U       UID
(0018,1009) X       UniqueDeviceIdentifier
(3010,0033) D       UserContentLabel
(3010,0034) D       UserContentLongLabel
(0040,A358) X       VerbalSourceIdentifierCodeSequenceTrial
(0040,A352) X       VerbalSourceTrial
(0040,A030) D       VerificationDateTime
(0040,A088) Z       VerifyingObserverIdentificationCodeSequence
(0040,A075) D       VerifyingObserverName
(0040,A073) D       VerifyingObserverSequence
(0040,A027) D       VerifyingOrganization
(0038,4000) X       VisitComments
(003A,0329) X       WaveformFilterDescription
(0018,9371) D       XRayDetectorID
(0018,9373) X       XRayDetectorLabel
(0018,9367) D       XRaySourceID
"""

# (group,element) keyword, one attribute a line: standard attributes that table E.1-1 does
# not name, so the profile keeps them, and that an export keeps as it is. The allow-list
# half of hi_widgets.export.deid: the attributes HealthImaging's metadata and search results
# carry (image pixel, geometry, acquisition and series attributes), checked against
# pydicom's data dictionary and against TABLE by tests/test_deid.py. An attribute in
# neither list is of unknown meaning to an export, and is left out unless PHI is kept.
KEPT = """
(0018,1310) AcquisitionMatrix
(0020,0012) AcquisitionNumber
(0018,0071) AcquisitionTerminationCondition
(0018,1242) ActualFrameDuration
(0008,2218) AnatomicRegionSequence
(0028,0100) BitsAllocated
(0028,0101) BitsStored
(0018,0015) BodyPartExamined
(0018,11A0) BodyPartThickness
(0028,0301) BurnedInAnnotation
(0008,0104) CodeMeaning
(0008,0100) CodeValue
(0008,0102) CodingSchemeDesignator
(0008,0103) CodingSchemeVersion
(0018,1181) CollimatorType
(0028,0011) Columns
(0018,11A2) CompressionForce
(0018,1040) ContrastBolusRoute
(0008,0064) ConversionType
(0018,1210) ConvolutionKernel
(0028,0051) CorrectedImage
(0018,1243) CountRate
(0018,0070) CountsAccumulated
(0018,9345) CTDIvol
(0018,9313) DataCollectionCenterPatient
(0018,0090) DataCollectionDiameter
(0018,1318) dBdt
(0054,1102) DecayCorrection
(0008,9215) DerivationCodeSequence
(0018,7004) DetectorType
(0054,0020) DetectorVector
(0018,1110) DistanceSourceToDetector
(0040,0306) DistanceSourceToEntrance
(0018,1111) DistanceSourceToPatient
(0018,0086) EchoNumbers
(0018,0081) EchoTime
(0018,0091) EchoTrainLength
(0054,0010) EnergyWindowVector
(0018,1114) EstimatedRadiographicMagnificationFactor
(0018,1152) Exposure
(0018,1411) ExposureIndex
(0018,1153) ExposureInuAs
(0018,1150) ExposureTime
(0018,1147) FieldOfViewShape
(0018,1160) FilterType
(0018,1314) FlipAngle
(0018,1190) FocalSpots
(0028,0009) FrameIncrementPointer
(0018,1063) FrameTime
(0018,1120) GantryDetectorTilt
(0018,1170) GeneratorPower
(0028,0102) HighBit
(0018,0085) ImagedNucleus
(0054,0400) ImageID
(0020,0062) ImageLaterality
(0020,0037) ImageOrientationPatient
(0020,0032) ImagePositionPatient
(0018,1164) ImagerPixelSpacing
(0020,1002) ImagesInAcquisition
(0008,0008) ImageType
(0018,0084) ImagingFrequency
(0018,1312) InPlanePhaseEncodingDirection
(0020,0013) InstanceNumber
(0018,0060) KVP
(0028,0107) LargestImagePixelValue
(0020,0060) Laterality
(0028,2110) LossyImageCompression
(0028,2114) LossyImageCompressionMethod
(0028,2112) LossyImageCompressionRatio
(0018,0087) MagneticFieldStrength
(0008,0070) Manufacturer
(0008,1090) ManufacturerModelName
(0008,0060) Modality
(0018,0023) MRAcquisitionType
(0018,0083) NumberOfAverages
(0054,0021) NumberOfDetectors
(0054,0011) NumberOfEnergyWindows
(0028,0008) NumberOfFrames
(0018,0089) NumberOfPhaseEncodingSteps
(0054,0081) NumberOfSlices
(0008,2124) NumberOfStages
(0020,1208) NumberOfStudyRelatedInstances
(0020,1206) NumberOfStudyRelatedSeries
(0008,212A) NumberOfViewsInStage
(0020,0020) PatientOrientation
(0018,5100) PatientPosition
(0018,0094) PercentPhaseFieldOfView
(0018,0093) PercentSampling
(0028,0004) PhotometricInterpretation
(0028,0034) PixelAspectRatio
(0018,0095) PixelBandwidth
(0028,1040) PixelIntensityRelationship
(0028,1041) PixelIntensityRelationshipSign
(0028,0120) PixelPaddingValue
(0028,0103) PixelRepresentation
(0028,0030) PixelSpacing
(0028,0006) PlanarConfiguration
(0018,1508) PositionerType
(0020,1040) PositionReferenceIndicator
(0008,0068) PresentationIntentType
(0040,A170) PurposeOfReferenceCodeSequence
(0018,1100) ReconstructionDiameter
(0008,1150) ReferencedSOPClassUID
(0018,0080) RepetitionTime
(0028,1052) RescaleIntercept
(0028,1053) RescaleSlope
(0028,1054) RescaleType
(0018,9305) RevolutionTime
(0028,0010) Rows
(0028,0002) SamplesPerPixel
(0018,1316) SAR
(0018,1302) ScanLength
(0018,0020) ScanningSequence
(0018,0022) ScanOptions
(0018,1300) ScanVelocity
(0018,0021) SequenceVariant
(0020,0011) SeriesNumber
(0054,1000) SeriesType
(0018,9306) SingleCollimationWidth
(0020,1041) SliceLocation
(0018,0050) SliceThickness
(0028,0106) SmallestImagePixelValue
(0018,1020) SoftwareVersions
(0008,0016) SOPClassUID
(0018,0088) SpacingBetweenSlices
(0008,0005) SpecificCharacterSet
(0018,9311) SpiralPitchFactor
(0008,2122) StageNumber
(0018,9310) TableFeedPerRotation
(0018,1130) TableHeight
(0018,9309) TableSpeed
(0018,1131) TableTraverse
(0018,9307) TotalCollimationWidth
(0002,0010) TransferSyntaxUID
(0054,1001) Units
(0018,1315) VariableFlipAngleFlag
(0008,2128) ViewNumber
(0018,5101) ViewPosition
(0028,1056) VOILUTFunction
(0018,1301) WholeBodyTechnique
(0028,1050) WindowCenter
(0028,1055) WindowCenterWidthExplanation
(0028,1051) WindowWidth
(0018,1151) XRayTubeCurrent
"""
